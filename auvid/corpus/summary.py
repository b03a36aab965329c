"""``auvid-summary.csv``: one row per source, rewritten atomically as sources finish, so a crash
at any moment leaves a true record of what finished. Its fingerprint and settings columns are
what a resume compares against, so no sidecar file is needed beside each CSV."""
from __future__ import annotations

import csv
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

SUMMARY_NAME = "auvid-summary.csv"
STATUSES = ("ok", "no_face", "failed", "interrupted", "skipped")
COLUMNS = ["source", "status", "frames", "faces", "face_ids", "seconds", "fps", "error", "warning",
           "outputs", "source_size", "source_mtime_ns", "settings"]


@dataclass
class SummaryRow:
    source: str  # absolute path: the key a resume looks rows up by
    status: str
    frames: int = 0
    faces: int = 0
    face_ids: list[int] = field(default_factory=list)
    seconds: float = 0.0
    fps: float = 0.0
    error: str = ""
    warning: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    source_size: int | None = None
    source_mtime_ns: int | None = None
    settings: str = ""

    def to_csv(self) -> dict[str, str]:
        return {"source": self.source, "status": self.status, "frames": str(self.frames), "faces": str(self.faces),
                "face_ids": " ".join(map(str, self.face_ids)), "seconds": f"{self.seconds:.3f}",
                "fps": f"{self.fps:.1f}", "error": _one_line(self.error), "warning": _one_line(self.warning),
                "outputs": json.dumps(self.outputs, sort_keys=True),
                "source_size": "" if self.source_size is None else str(self.source_size),
                "source_mtime_ns": "" if self.source_mtime_ns is None else str(self.source_mtime_ns),
                "settings": self.settings}

    @classmethod
    def from_csv(cls, row: dict[str, str]) -> "SummaryRow":
        def number(text: str, kind=int):
            return kind(text) if text not in ("", None) else None

        return cls(source=row["source"], status=row["status"], frames=number(row["frames"]) or 0,
                   faces=number(row["faces"]) or 0, face_ids=[int(v) for v in (row.get("face_ids") or "").split()],
                   seconds=number(row["seconds"], float) or 0.0, fps=number(row["fps"], float) or 0.0,
                   error=row.get("error") or "", warning=row.get("warning") or "",
                   outputs=json.loads(row.get("outputs") or "{}"), source_size=number(row.get("source_size")),
                   source_mtime_ns=number(row.get("source_mtime_ns")), settings=row.get("settings") or "")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class Summary:
    """The summary file of one output folder: rows by source, kept on disk after every change.

    Rows of sources that this run does not touch are kept, so one folder can collect several
    runs. Writes go to a temporary file that replaces the summary, never a half-written file;
    with thousands of rows they are spaced ``min_interval`` seconds apart (``flush`` forces one).
    """

    def __init__(self, out_dir: Path, min_interval: float = 0.5) -> None:
        self.path = Path(out_dir) / SUMMARY_NAME
        self.rows: dict[str, SummaryRow] = {}
        self.min_interval = min_interval
        self._written_at = 0.0
        self._dirty = False
        if self.path.is_file():
            try:
                with open(self.path, newline="") as handle:
                    for row in csv.DictReader(handle):
                        try:
                            parsed = SummaryRow.from_csv(row)
                        except (KeyError, ValueError, TypeError):
                            continue  # a row from another tool or version: that source is simply redone
                        self.rows[parsed.source] = parsed
            except (OSError, csv.Error, UnicodeDecodeError) as exc:
                log.warning("%s is unreadable (%s): every source is redone and the file rewritten", self.path, exc)
                self.rows = {}

    def previous(self, source: str) -> SummaryRow | None:
        return self.rows.get(source)

    def record(self, row: SummaryRow) -> None:
        self.rows[row.source] = row
        self._dirty = True
        if len(self.rows) < 200 or time.monotonic() - self._written_at >= self.min_interval:
            self.flush()

    def flush(self) -> None:
        if not self._dirty and self.path.exists():
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(temporary, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            for row in self.rows.values():
                writer.writerow(row.to_csv())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
        self._written_at = time.monotonic()
        self._dirty = False
