"""BP4D, DISFA and EmotioNet in their released layouts, end to end through the real CLI.

Each tree is built from shared frames: frames of a few shared clips written where the data set
keeps its images or videos, with the teacher's labels (../shared/data/labels/openface/*.static.csv)
rewritten into the data set's own label format; BP4D's AU24, which the teacher does not code, is
9 (not coded) on those frames and comes from AFAR's human-coded BP4D frames (F001, M011), the only
AU24 codes in the shared data. Runs are tiny (1 epoch of a small network) and check the protocol,
the AU lists and the report's shape, not accuracy.
"""
from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest
import torch

from tests.conftest import LABELS, REPO, SHARED, VIDEOS, needs_shared, read_csv, run_cli

pytestmark = needs_shared

BP4D_COLUMNS = (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24)
DISFA_CODED = (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)
# (subject, clip): two subjects in each of the protocol's three folds.
BP4D_SUBJECTS = (("F001", "d3"), ("M007", "d9"), ("M011", "d12"), ("F003", "d0"), ("F007", "d10"), ("F015", "d14"))
DISFA_SUBJECTS = (("SN001", "d3"), ("SN002", "d9"), ("SN011", "d12"), ("SN013", "d0"), ("SN003", "d10"), ("SN029", "d14"))
FRAMES = 60  # the first frames of each clip
TINY = ("--set", "model.backbone=mobileface", "--set", "model.width=0.25", "--set", "model.feature_dim=32",
        "--set", "model.input_size=48", "--set", "train.epochs=1", "--set", "train.batch_size=32",
        "--set", "train.unlabelled_batch_size=16", "--set", "train.threads=2")


def _teacher(clip: str):
    from trainer.data.openface_csv import read_openface_csv

    return read_openface_csv(LABELS / f"{clip}.static.csv")


def _frames(clip: str, count: int = FRAMES):
    from auvid.io.sources import VideoFileSource

    return [(f.index, f.image) for f in VideoFileSource(VIDEOS / f"{clip}.mp4", max_frames=count)]


def _teacher_rows(clip: str) -> dict[int, int]:
    teacher = _teacher(clip)
    valid = teacher.valid(0.75)
    return {int(float(k)): i for i, k in enumerate(teacher.keys) if valid[i]}


def _train(config: str, root, cache, out, fold: int, *extra: str):
    result = run_cli("train", "--config", f"trainer/configs/{config}", "--set", f"data.protocol.root={root}",
                     "--set", f"data.protocol.fold={fold}", "--set", f"data.root={SHARED}",
                     "--set", f"data.cache={cache}", "--set", f"out={out}", *TINY, *extra, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def bp4d_tree(tmp_path_factory):
    """<root>/AUCoding/AU_OCC/<subject>_<task>.csv (frame column "0", AU columns by number, 9 =
    not coded, extra AU columns as BP4D has them) and <root>/images/<subject>/<task>/<frame>.jpg."""
    from auvid.aus import OCCURRENCE_AUS

    root = tmp_path_factory.mktemp("BP4D")
    labels = root / "AUCoding" / "AU_OCC"
    labels.mkdir(parents=True)
    header = ["0", *(str(n) for n in sorted(BP4D_COLUMNS + (3, 5, 9, 11)))]
    for subject, clip in BP4D_SUBJECTS:
        teacher, rows = _teacher(clip), _teacher_rows(clip)
        folder = root / "images" / subject / "T1"
        folder.mkdir(parents=True)
        lines = []
        for index, image in _frames(clip)[::2]:
            if index not in rows:
                continue
            cv2.imwrite(str(folder / f"{index:04d}.jpg"), image)
            codes = {n: int(teacher.occurrence[rows[index], OCCURRENCE_AUS.index(f"AU{n:02d}")])
                     for n in BP4D_COLUMNS if f"AU{n:02d}" in OCCURRENCE_AUS}
            lines.append([index, *(codes.get(int(h), 9) for h in header[1:])])
        _write_csv(labels / f"{subject}_T1.csv", header, lines)
    # AFAR's human-coded frames of two BP4D subjects, the shared data's only AU24 codes.
    afar = list(csv.DictReader(open(SHARED / "afar" / "labels.csv")))
    for subject in ("F001", "M011"):
        folder = root / "images" / subject / "T8"
        folder.mkdir(parents=True)
        lines = []
        for row in (r for r in afar if r["image"].split("/")[1].startswith(subject)):
            frame = int(row["image"].rsplit("/", 1)[1].split(".")[0])
            image = cv2.imread(str(SHARED / "afar" / row["image"]))
            # AFAR's frames are tight crops of BP4D's full frames; a border gives back some context.
            cv2.imwrite(str(folder / f"{frame:04d}.jpg"), cv2.copyMakeBorder(image, 60, 60, 60, 60, cv2.BORDER_REPLICATE))
            lines.append([frame, *(int(row.get(f"AU{int(h):02d}", 9)) for h in header[1:])])
        _write_csv(labels / f"{subject}_T8.csv", header, lines)
    return root


@pytest.fixture(scope="module")
def disfa_tree(tmp_path_factory):
    """<root>/ActionUnit_Labels/<SN>/<SN>_au<N>.txt ("frame,intensity", every coded AU) and the left
    camera's videos <root>/Videos_LeftCamera/LeftVideo<SN>_comp.avi."""
    from auvid.aus import INTENSITY_AUS

    root = tmp_path_factory.mktemp("DISFA")
    (root / "Videos_LeftCamera").mkdir()
    for subject, clip in DISFA_SUBJECTS:
        teacher, rows = _teacher(clip), _teacher_rows(clip)
        frames = _frames(clip)
        height, width = frames[0][1].shape[:2]
        writer = cv2.VideoWriter(str(root / "Videos_LeftCamera" / f"LeftVideo{subject}_comp.avi"),
                                 cv2.VideoWriter_fourcc(*"MJPG"), 20, (width, height))
        for _, image in frames:
            writer.write(image)
        writer.release()
        folder = root / "ActionUnit_Labels" / subject
        folder.mkdir(parents=True)
        for n in DISFA_CODED:
            j = INTENSITY_AUS.index(f"AU{n:02d}")
            (folder / f"{subject}_au{n}.txt").write_text("".join(
                f"{i},{int(round(float(teacher.intensity[rows[i], j])))}\n" for i, _ in frames if i in rows))
    return root


def _write_csv(path, header, lines):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(lines)


def test_bp4d_reader_keeps_the_12_aus_and_9_as_unknown(bp4d_tree):
    from trainer.data.protocols import BP4D_AUS, bp4d_rows

    layout = bp4d_rows(bp4d_tree)
    assert layout.occurrence_aus == BP4D_AUS and "AU24" in layout.occurrence_aus and layout.intensity_aus == ()
    by_image = {r["image"]: r for r in layout.rows}
    assert by_image["images/F001/T8/1468.jpg"]["AU24_c"] == 1  # AFAR's human code
    assert {r["AU24_c"] for r in layout.rows if "/T1/" in r["image"]} == {-1}  # 9: the teacher has no AU24
    assert {r["subject"] for r in layout.rows} == {s for s, _ in BP4D_SUBJECTS}


@pytest.fixture(scope="module")
def bp4d_runs(bp4d_tree, tmp_path_factory):
    """The three folds trained through `auvid train` (fold 1 also exported to ONNX)."""
    work = tmp_path_factory.mktemp("bp4d-runs")
    for fold in (1, 2, 3):
        _train("bp4d_fold1.yaml", bp4d_tree, work / "cache", work / f"fold{fold}", fold,
               *(() if fold == 1 else ("--no-export",)))
    return work


def test_bp4d_three_folds_train_on_12_aus_and_eval_prints_per_fold_and_mean_rows(bp4d_runs):
    work = bp4d_runs
    checkpoints = [work / f"fold{fold}" / "last.pt" for fold in (1, 2, 3)]
    state = torch.load(checkpoints[0], weights_only=True)
    assert state["model_config"]["occurrence_aus"] == ["AU01", "AU02", "AU04", "AU06", "AU07", "AU10", "AU12",
                                                       "AU14", "AU15", "AU17", "AU23", "AU24"]
    data = json.loads(state["data"])
    assert data["teacher"] is None and data["unlabelled_sources"] == []
    assert data["val_identities"] == ["F001", "M007"] and "F001" not in data["train_identities"]
    card = (work / "fold1" / "CARD.md").read_text()
    assert "no teacher (OpenFace) labels" in card and "Unlabelled pool (co-regularization only" in card
    assert "| AU24 |" in card and "none." in card
    out = work / "bp4d.json"
    result = run_cli("eval", "--data", "benchmark", "--data-root", str(SHARED), "--json", str(out),
                     *(a for c in checkpoints for a in ("--fold", str(c))))
    assert result.returncode == 0, result.stderr[-3000:]
    for row in ("fold 1", "fold 2", "fold 3", "mean", "AU24", "Avg.", "F1 (%)"):
        assert row in result.stdout
    report = json.loads(out.read_text())
    f1 = report["tables"]["f1"]
    assert len(f1["aus"]) == 12 and list(f1["rows"]) == ["fold 1", "fold 2", "fold 3", "mean"]
    assert all(len(values) == 13 for values in f1["rows"].values())  # 12 AUs + the average
    assert report["folds"][0]["occurrence"]["AU24"]["base_rate"] > 0  # F001's AU24 frame is in fold 1


def test_bp4d_model_writes_openface_columns_with_its_own_aus(bp4d_runs, tmp_path):
    """The runtime still writes OpenFace's columns; the AUs a BP4D model lacks stay empty and
    its AU24 gets a column of its own."""
    out = tmp_path / "single.csv"
    result = run_cli("process", str(VIDEOS / "single_face.mp4"), "--out", str(out), "--model",
                     str(bp4d_runs / "fold1" / "model.onnx"), "--backend", "onnxruntime", "-q")
    assert result.returncode == 0, result.stderr[-2000:]
    table = read_csv(out)
    assert "AU24_c" in table.columns and "AU45_c" in table.columns and "AU12_r" in table.columns
    faces = table[table.success == 1]
    assert len(faces) > 50
    assert faces["AU24_c"].isin([0, 1]).all() and faces["AU12_c"].isin([0, 1]).all()
    assert faces["AU45_c"].isna().all() and faces["AU12_r"].isna().all()  # BP4D codes neither


def test_disfa_three_folds_give_f1_and_intensity_for_8_aus_with_a_graph(disfa_tree, tmp_path_factory):
    work = tmp_path_factory.mktemp("disfa-runs")
    checkpoints = []
    for fold in (1, 2, 3):
        _train("disfa_fold1.yaml", disfa_tree, work / "cache", work / f"fold{fold}", fold, "--no-export")
        checkpoints.append(work / f"fold{fold}" / "last.pt")
    state = torch.load(checkpoints[0], weights_only=True)
    eight = ["AU01", "AU02", "AU04", "AU06", "AU09", "AU12", "AU25", "AU26"]
    assert state["model_config"]["occurrence_aus"] == eight and state["model_config"]["intensity_aus"] == eight
    graph = state["adjacency_raw"].numpy()
    assert graph.shape == (8, 8) and (graph - np.diag(np.diag(graph))).max() > 0.1  # occurrence labels exist
    out = work / "disfa.json"
    result = run_cli("eval", "--data", "benchmark", "--data-root", str(SHARED), "--json", str(out),
                     *(a for c in checkpoints for a in ("--fold", str(c))))
    assert result.returncode == 0, result.stderr[-3000:]
    for text in ("F1 (%)", "ICC(3,1)", "PCC", "MAE", "fold 3", "mean", "AU26"):
        assert text in result.stdout
    report = json.loads(out.read_text())
    assert set(report["tables"]) == {"f1", "icc", "pcc", "mae"}
    assert report["tables"]["f1"]["aus"] == eight
    assert all(f["frames"] > 40 for f in report["folds"])
    mae = report["tables"]["mae"]["rows"]["mean"]
    assert all(value is not None and 0 <= value <= 5 for value in mae)


def test_disfa_occurrence_is_intensity_two_or_more(disfa_tree):
    from trainer.data.protocols import disfa_rows

    layout = disfa_rows(disfa_tree)
    assert layout.rows[0]["video"] == "Videos_LeftCamera/LeftVideoSN001_comp.avi"
    for row in layout.rows:
        for au in layout.occurrence_aus:
            assert row[f"{au}_c"] == int(row[f"{au}_r"] >= 2)
    from trainer.data.protocols import DISFA_ALL_AUS, in_any_fold

    assert disfa_rows(disfa_tree, aus=DISFA_ALL_AUS).occurrence_aus == DISFA_ALL_AUS  # all 12, on request
    # People outside the published folds (BP4D+ subjects, say) are never trained or tested on.
    assert in_any_fold(np.array(["F001", "F040", "SN001"]), "bp4d").tolist() == [True, False, False]


def test_benchmark_configs_keep_teacher_labels_out(tmp_path):
    from trainer.config import load_config

    for name in ("bp4d_fold1.yaml", "bp4d_semi_fold1.yaml", "disfa_fold1.yaml", "emotionet_mlcr.yaml",
                 "emotionet_pretrain.yaml"):
        config = load_config(REPO / "trainer" / "configs" / name)
        assert config["data"]["protocol"] and config["data"]["fer"] is False and not config["data"]["manifests"], name
    result = run_cli("train", "--config", "trainer/configs/bp4d_fold1.yaml", "--set", "data.fer=true",
                     "--set", f"data.root={SHARED}", "--set", f"out={tmp_path}", "--no-export")
    assert result.returncode == 2 and "teacher-labelled FER2013 faces" in result.stderr
    assert "Traceback" not in result.stderr


def test_semi_supervised_split_withholds_labels_from_the_training_folds(bp4d_tree, tmp_path):
    from trainer.config import load_config
    from trainer.datasets import build

    config = load_config(REPO / "trainer" / "configs" / "bp4d_semi_fold1.yaml",
                         [f"data.protocol.root={bp4d_tree}", f"data.root={SHARED}", f"data.cache={tmp_path}",
                          "data.protocol.labelled_fraction=0.25", "data.unlabelled_fer=true", "data.fer_limit=40"])
    data = build(config, tmp_path)
    withheld = data.unlabelled.subset(data.unlabelled.source != "fer2013")
    assert abs(len(data.train) - 0.25 * (len(data.train) + len(withheld))) <= 1
    assert set(withheld.group) <= {"M011", "F003", "F007", "F015"}  # the training folds only
    assert (data.unlabelled.occurrence == -1).all() and (data.train.occurrence_aus == data.val.occurrence_aus)
    assert 20 <= (data.unlabelled.source == "fer2013").sum() <= 40  # explicit, and without its teacher labels
    assert set(data.train.source) <= {"F001/T1", "F001/T8", "M007/T1", "M011/T1", "M011/T8", "F003/T1",
                                      "F007/T1", "F015/T1"}  # never a FER2013 face in the labelled set
    assert "labels withheld" in data.description["unlabelled_sources"][0]
    assert data.description["unlabelled_sources"][1] == "FER2013 faces, labels not used"


def test_emotionet_layout_trains_and_evaluates_one_random_fold(tmp_path):
    """The manually annotated CSV as released (quoted "'AU 1'" headers, 999 = not coded), images
    at the URL's path after /Images/; AU43, which the teacher cannot code, stays 999."""
    from auvid.aus import OCCURRENCE_AUS

    root = tmp_path / "images"
    names = ("AU 1", "AU 2", "AU 4", "AU 5", "AU 6", "AU 9", "AU 12", "AU 17", "AU 20", "AU 25", "AU 26", "AU 43")
    lines = ["URL,URL orig," + ",".join(f"'{n}'" for n in names)]
    url = "http://emotionet.example/Images"
    for clip in ("d3", "d9", "d12", "d0", "d10", "d14"):
        teacher, rows = _teacher(clip), _teacher_rows(clip)
        (root / clip).mkdir(parents=True)
        for index, image in _frames(clip, 40)[::2]:
            if index not in rows:
                continue
            cv2.imwrite(str(root / clip / f"{index}.jpg"), image)
            codes = [str(int(teacher.occurrence[rows[index], OCCURRENCE_AUS.index(f"AU{int(n[3:]):02d}")]))
                     if f"AU{int(n[3:]):02d}" in OCCURRENCE_AUS else "999" for n in names]
            lines.append(f"'{url}/{clip}/{index}.jpg','http://orig/{index}.jpg'," + ",".join(codes))
    labels = tmp_path / "EmotioNet_FACS_aws_2020_24600.csv"
    labels.write_text("\n".join(lines) + "\n")
    from trainer.data.protocols import emotionet_rows, random_folds

    layout = emotionet_rows(root, [labels])
    assert "AU43" not in layout.occurrence_aus and len(layout.occurrence_aus) == 11  # never coded here
    folds = random_folds(np.array([r["image"] for r in layout.rows]))
    assert abs(np.bincount(folds)[1:] - len(folds) / 3).max() <= 1
    out = tmp_path / "run"
    _train("emotionet_mlcr.yaml", root, tmp_path / "cache", out, 1, "--set", f"data.protocol.labels={labels}",
           "--set", "data.unlabelled_folders=[]", "--no-export")
    result = run_cli("eval", "--data", "benchmark", "--fold", str(out / "last.pt"), "--data-root", str(SHARED))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "EmotioNet F1 (%)" in result.stdout and "fold 1" in result.stdout and "only fold(s) [1]" in result.stdout


def test_benchmark_eval_errors_are_one_line():
    result = run_cli("eval", "--data", "benchmark", "--data-root", str(SHARED))
    assert result.returncode == 2 and "--fold" in result.stderr and "Traceback" not in result.stderr
    shipped = REPO / "auvid" / "models" / "default" / "auvid-default.pt"
    result = run_cli("eval", "--data", "benchmark", "--fold", str(shipped), "--data-root", str(SHARED))
    assert result.returncode == 2 and "not a benchmark run" in result.stderr and "Traceback" not in result.stderr


def test_fine_tuning_across_au_sets_keeps_the_shared_aus_rows(tmp_path):
    """EmotioNet pre-training -> BP4D: the AUs both sets have keep their classifier rows."""
    from trainer.checkpoint import save_checkpoint
    from trainer.loop import _init_from
    from trainer.model import ModelConfig, TwoViewAUModel

    shape = dict(backbone="mobileface", width=0.25, feature_dim=32, input_size=48)
    source = TwoViewAUModel(ModelConfig(**shape, occurrence_aus=("AU01", "AU43", "AU12"), intensity_aus=("AU12",)),
                            np.eye(3))
    save_checkpoint(tmp_path / "pre.pt", source, {})
    target_config = ModelConfig(**shape, occurrence_aus=("AU12", "AU24", "AU01"), intensity_aus=())
    target = TwoViewAUModel(target_config, np.eye(3))
    fresh = target.classifier.initial.detach().clone()
    _init_from(target, target_config, tmp_path / "pre.pt")
    theirs, ours = source.classifier.initial.detach(), target.classifier.initial.detach()
    assert torch.equal(ours[:, 0], theirs[:, 2]) and torch.equal(ours[:, 2], theirs[:, 0])  # AU12, AU01
    assert torch.equal(ours[:, 1], fresh[:, 1])  # AU24: not in EmotioNet, left as initialised
    assert torch.equal(target.views[0].state_dict()[next(iter(target.views[0].state_dict()))],
                       source.views[0].state_dict()[next(iter(source.views[0].state_dict()))])


def test_fine_tuning_may_change_the_input_size_but_not_the_layers(tmp_path):
    """96 px weights start a 112 px run (convolutions and global pooling fit any size): every
    weight is carried over and the model runs at the new size; a different width is refused."""
    from auvid.errors import ConfigError
    from trainer.checkpoint import save_checkpoint
    from trainer.loop import _init_from
    from trainer.model import ModelConfig, TwoViewAUModel

    shape = dict(backbone="mobileface", width=0.25, feature_dim=32)
    source = TwoViewAUModel(ModelConfig(**shape, input_size=48), np.eye(18))
    save_checkpoint(tmp_path / "small.pt", source, {})
    bigger = ModelConfig(**shape, input_size=64)
    target = TwoViewAUModel(bigger, np.eye(18))
    _init_from(target, bigger, tmp_path / "small.pt")
    theirs = source.state_dict()
    assert all(torch.equal(value, theirs[key]) for key, value in target.state_dict().items()
               if not key.endswith("adjacency"))
    prob, intensity = target.eval()(torch.rand(2, 1, 64, 64) * 255)
    assert prob.shape[0] == 2 and torch.isfinite(intensity).all()
    wider = ModelConfig(**{**shape, "width": 0.5}, input_size=48)
    with pytest.raises(ConfigError, match="model.width=0.25"):
        _init_from(TwoViewAUModel(wider, np.eye(18)), wider, tmp_path / "small.pt")
