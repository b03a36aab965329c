"""Third-party model files (the YuNet detector): found locally or fetched once, sha256-checked.

Search order: an explicit directory (``--models-dir``), ``$AUVID_MODELS_DIR``, the user cache
(``$AUVID_CACHE_DIR`` or ``~/.cache/auvid/models``); only then is the file downloaded from its
canonical public location into the cache. A file whose sha256 does not match is never used.
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from auvid.errors import ModelError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelFile:
    name: str
    sha256: str
    url: str


YUNET = ModelFile(
    name="face_detection_yunet_2023mar.onnx",
    sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
    url="https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/"
    "face_detection_yunet_2023mar.onnx",
)


def cache_dir() -> Path:
    root = os.environ.get("AUVID_CACHE_DIR")
    return Path(root) if root else Path.home() / ".cache" / "auvid" / "models"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve(model: ModelFile, models_dir: str | Path | None = None, download: bool = True) -> Path:
    """Return a verified local path to ``model``, downloading it into the cache if allowed."""
    candidates = [Path(d) for d in (models_dir, os.environ.get("AUVID_MODELS_DIR")) if d]
    for directory in candidates:
        path = directory / model.name
        if path.is_file():
            _verify(path, model)
            return path
    if candidates:
        raise ModelError(f"{model.name} not found in {', '.join(map(str, candidates))}; "
                         "put the file there or drop --models-dir/AUVID_MODELS_DIR to download it")
    cached = cache_dir() / model.name
    if cached.is_file():
        _verify(cached, model)
        return cached
    if not download:
        raise ModelError(f"{model.name} is not cached; run once with network access or pass --models-dir")
    return _download(model, cached)


def _verify(path: Path, model: ModelFile) -> None:
    actual = sha256_of(path)
    if actual != model.sha256:
        raise ModelError(f"{path} has sha256 {actual[:16]}..., expected {model.sha256[:16]}...; "
                         "delete it or point --models-dir at a good copy")


def _download(model: ModelFile, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s from %s", model.name, model.url)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(model.url, timeout=60) as response:
            for block in iter(lambda: response.read(1 << 16), b""):
                out.write(block)
        _verify(Path(tmp_name), model)
        os.replace(tmp_name, target)
    except OSError as exc:
        raise ModelError(f"could not download {model.name} ({exc}); "
                         "download it by hand and pass --models-dir or set AUVID_MODELS_DIR") from exc
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return target
