"""What a corpus run will do: which sources (files, folders, globs), where each one's outputs go,
and which of them a resume may skip.

Output names mirror the input tree: a video found under a folder SOURCE keeps its path relative
to that folder, a file or glob match goes at the top of ``out_dir``. Two sources that would get
the same name get their extension and then a counter appended, by a rule that depends only on the
set of sources, so a re-run with the same sources finds the same names.
"""
from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from auvid.errors import InputError
from auvid.io.sources import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".wmv", ".mpg", ".mpeg", ".flv", ".3gp",
                  ".ts", ".mts", ".m2ts", ".ogv", ".asf", ".vob", ".y4m"}
OUTPUT_KINDS = ("csv", "jsonl", "overlay")
_GLOB_CHARS = set("*?[")


@dataclass
class Discovered:
    """A source and the path its outputs are named after (relative, without suffix)."""

    path: Path
    relative: Path
    missing: bool = False


@dataclass
class SourceTask:
    """One unit of corpus work: everything a worker needs, all of it picklable."""

    source: str
    outputs: dict[str, str]  # kind (csv, jsonl, overlay) -> path
    options: object  # AnalyzerOptions, whole, so options added to it reach the workers unchanged
    max_frames: int | None = None
    fps: float = 30.0
    fingerprint: dict = field(default_factory=dict)
    settings: str = ""
    missing: bool = False


def discover(specs: list[str], exclude: Path | None = None) -> list[Discovered]:
    """Sources named by files, folders (searched recursively) and glob patterns, in a stable order.

    A folder whose own files include no video but some images is one image sequence, as for a
    single ``auvid process FOLDER``. Folders and globs take files with a video suffix (other
    files are skipped and counted in the log); a file named on its own is always tried. A name
    that is neither a path nor a glob is kept as a missing source, so the summary says so and the
    rest of the corpus still runs (a glob that matches nothing is an error: likely a typo).
    """
    found: list[Discovered] = []
    seen: set[Path] = set()

    def add(path: Path, relative: Path, missing: bool = False) -> None:
        key = Path(os.path.abspath(path))  # not resolve(): two links to one file are two sources
        if key in seen or (exclude is not None and _inside(key, exclude)):
            return
        seen.add(key)
        found.append(Discovered(path, relative, missing))

    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            for source, relative in _walk_folder(path):
                add(source, relative)
        elif path.is_file():
            add(path, Path(path.stem))
        elif _GLOB_CHARS & set(spec):
            matches = sorted(glob.glob(spec, recursive=True))
            if not matches:
                raise InputError(f"{spec}: the pattern matches no file")
            base = _glob_base(spec)
            for match in map(Path, matches):
                if match.is_dir():
                    for source, relative in _walk_folder(match):
                        add(source, _relative_to(match, base) / relative)
                elif match.suffix.lower() in VIDEO_SUFFIXES:
                    add(match, _relative_to(match, base).with_suffix(""))
        else:
            add(path, Path(path.stem), missing=True)
    return found


def _walk_folder(root: Path) -> list[tuple[Path, Path]]:
    """(source, relative output stem) for every video under ``root`` and every images-only folder."""
    sources = []
    ignored = 0
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        folder_path = Path(folder)
        videos = sorted(f for f in files if Path(f).suffix.lower() in VIDEO_SUFFIXES and not f.startswith("."))
        images = [f for f in files if Path(f).suffix.lower() in IMAGE_SUFFIXES]
        ignored += len(files) - len(videos) - len(images)
        for name in videos:
            sources.append((folder_path / name, (folder_path / name).relative_to(root).with_suffix("")))
        if images and not videos:
            relative = folder_path.relative_to(root)
            sources.append((folder_path, relative if relative.parts else Path(root.resolve().name)))
    if ignored:
        log.info("%s: %d file(s) skipped: not videos or images by their names", root, ignored)
    return sources


def _glob_base(pattern: str) -> Path:
    parts = []
    for part in Path(pattern).parts:
        if _GLOB_CHARS & set(part):
            break
        parts.append(part)
    return Path(*parts) if parts else Path(".")


def _relative_to(path: Path, base: Path) -> Path:
    try:
        return path.relative_to(base)
    except ValueError:
        return Path(path.name)


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(Path(os.path.abspath(folder)))
        return True
    except ValueError:
        return False


def unique_names(sources: list[Discovered]) -> list[Path]:
    """Relative output stems, made unique: ``a`` twice becomes ``a.mp4`` and ``a.avi``, and where
    that is not enough, ``a.mp4``, ``a.mp4-2``, ... in the order of the sources' full paths."""
    names = [s.relative for s in sources]
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        groups.setdefault(name.as_posix().lower(), []).append(i)
    for members in groups.values():
        if len(members) < 2:
            continue
        for i in members:
            suffix = sources[i].path.suffix
            names[i] = names[i].with_name(names[i].name + (suffix or ".dir"))
    groups = {}
    for i, name in enumerate(names):
        groups.setdefault(name.as_posix().lower(), []).append(i)
    for members in groups.values():
        if len(members) < 2:
            continue
        ordered = sorted(members, key=lambda i: str(sources[i].path.resolve()))
        for n, i in enumerate(ordered[1:], start=2):
            names[i] = names[i].with_name(f"{names[i].name}-{n}")
    return names


def output_paths(out_dir: Path, stem: Path, kinds: tuple[str, ...]) -> dict[str, str]:
    base = out_dir / stem
    suffixes = {"csv": ".csv", "jsonl": ".jsonl", "overlay": ".overlay.mp4"}
    return {kind: str(base.with_name(base.name + suffixes[kind])) for kind in kinds}


def fingerprint(path: Path) -> dict:
    """What identifies a source's content cheaply: size and modification time (ns)."""
    try:
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            stats = [p.stat() for p in files]
            return {"size": sum(s.st_size for s in stats), "mtime_ns": max((s.st_mtime_ns for s in stats), default=0),
                    "files": len(files)}
        stat = path.stat()
        return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    except OSError:
        return {}


# Raised when the meaning of an output changes for the same settings, so that older outputs are
# redone rather than resumed beside new ones: 2 = timestamps count from the first frame.
OUTPUT_FORMAT = 2


def settings_key(options, kinds: tuple[str, ...], max_frames: int | None, fps: float) -> str:
    """A short hash of everything that changes a source's outputs: the model file's bytes, every
    analyzer option (except thread counts and paths to the detector), the frame limit and the
    outputs asked for. Options added to AnalyzerOptions later are covered without code here."""
    from auvid.io.model_files import sha256_of
    from engines.select import default_onnx_model

    fields = dataclasses.asdict(options)
    for name in ("threads", "models_dir"):
        fields.pop(name, None)
    # No --model: the graph the default runs as here (INT8 on a CPU where shipped, else FP32), so
    # output made with one is never resumed as the other's.
    model = Path(fields.pop("model") or default_onnx_model())
    fields["model_sha256"] = sha256_of(model) if model.is_file() else str(model)
    fields.update(outputs=sorted(kinds), max_frames=max_frames, fps=fps,
                  output_format=OUTPUT_FORMAT)
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:16]


def make_tasks(specs: list[str], out_dir: Path, options, kinds: tuple[str, ...] = ("csv",),
               max_frames: int | None = None, fps: float = 30.0) -> list[SourceTask]:
    """The plan: one task per discovered source, with its outputs, fingerprint and settings key."""
    sources = discover(specs, exclude=out_dir)
    if not sources:
        raise InputError(f"{', '.join(specs)}: no video or image folder found")
    key = settings_key(options, kinds, max_frames, fps)
    tasks = []
    for discovered, stem in zip(sources, unique_names(sources)):
        tasks.append(SourceTask(source=str(discovered.path), outputs=output_paths(out_dir, stem, kinds),
                                options=options, max_frames=max_frames, fps=fps,
                                fingerprint=fingerprint(discovered.path), settings=key,
                                missing=discovered.missing))
    return tasks
