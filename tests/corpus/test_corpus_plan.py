"""Corpus planning without decoding anything: discovery, output names, resume keys (pure units)."""
from pathlib import Path

import pytest

from auvid.corpus.plan import discover, output_paths, unique_names
from auvid.errors import InputError


def _touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_folder_discovery_is_recursive_and_keeps_image_folders_whole(tmp_path):
    _touch(tmp_path / "study" / "s01" / "take1.mp4")
    _touch(tmp_path / "study" / "s01" / "take2.MOV")
    _touch(tmp_path / "study" / "notes.txt")
    _touch(tmp_path / "study" / ".hidden" / "x.mp4")
    for i in range(3):
        _touch(tmp_path / "study" / "stills" / f"{i:03d}.png")
    found = discover([str(tmp_path / "study")])
    assert {(p.path.name, p.relative.as_posix()) for p in found} == {
        ("take1.mp4", "s01/take1"), ("take2.MOV", "s01/take2"), ("stills", "stills")}


def test_globs_keep_the_path_below_their_fixed_part(tmp_path):
    _touch(tmp_path / "a" / "x" / "one.mp4")
    _touch(tmp_path / "a" / "y" / "two.avi")
    _touch(tmp_path / "a" / "y" / "skip.txt")
    found = discover([str(tmp_path / "a" / "**" / "*.*")])
    assert sorted(p.relative.as_posix() for p in found) == ["x/one", "y/two"]
    with pytest.raises(InputError, match="matches no file"):
        discover([str(tmp_path / "nothing" / "*.mp4")])


def test_a_missing_file_is_kept_for_the_summary_and_duplicates_are_dropped(tmp_path):
    clip = _touch(tmp_path / "c.mp4")
    found = discover([str(clip), str(clip), str(tmp_path / "gone.mp4")])
    assert [(p.path.name, p.missing) for p in found] == [("c.mp4", False), ("gone.mp4", True)]


def test_names_are_unique_and_do_not_depend_on_argument_order(tmp_path):
    files = [_touch(tmp_path / "x" / "a.mp4"), _touch(tmp_path / "y" / "a.mp4"), _touch(tmp_path / "x" / "a.avi"),
             _touch(tmp_path / "x" / "b.mp4")]
    forward = discover([str(f) for f in files])
    backward = discover([str(f) for f in reversed(files)])
    name_of = lambda found: {str(d.path): n.as_posix() for d, n in zip(found, unique_names(found))}  # noqa: E731
    names = name_of(forward)
    assert names == name_of(backward)
    assert names[str(files[3])] == "b"
    assert names[str(files[2])] == "a.avi"
    assert {names[str(files[0])], names[str(files[1])]} == {"a.mp4", "a.mp4-2"}
    assert len(set(names.values())) == 4


def test_output_paths_mirror_the_tree(tmp_path):
    paths = output_paths(tmp_path, Path("s01/take1"), ("csv", "jsonl", "overlay"))
    assert paths == {"csv": str(tmp_path / "s01" / "take1.csv"), "jsonl": str(tmp_path / "s01" / "take1.jsonl"),
                     "overlay": str(tmp_path / "s01" / "take1.overlay.mp4")}
