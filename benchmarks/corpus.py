"""Corpus throughput: the same clips through `auvid process DIR --out-dir` sequentially (one
process, ``--workers 0``), with ``--workers 2`` and with ``--executor ray`` in one run, as a user
runs them (own process, start-up included); peak RSS of the driver and of every worker; and
whether a worker's memory grows with the number of files (>= 100 sources of a short clip).

    python -m benchmarks --corpus [--quick] [--out benchmarks/results/corpus.json]
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.run import MODELS_DIR, REPO, SHARED

VIDEOS = SHARED / "videos"
# Short real clips of different sizes and codecs (h264 / mpeg4), 60-300 frames each.
CLIPS = ["single_face.mp4", "d0.mp4", "pcavs_00067.mp4", "pcavs_00104.mp4", "deepavsr_00001.mp4",
         "deepavsr_00022.mp4", "styletalk_furious_talk2_clip1.mp4", "styletalk_happyenglish_clip1.mp4",
         "d12.mp4", "pcavs_620900105.mp4", "styletalk_sadgirl_clip1.mp4", "deepavsr_00008.mp4"]
REPEATED = "single_face.mp4"


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(parent, []).append(int(entry.name))
    return tree


def _descendants(root: int) -> list[int]:
    tree, found, stack = _children(), [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(tree.get(pid, []))
    return found


def _memory(pid: int) -> tuple[str, int, int] | None:
    """(role, VmRSS kB, VmHWM kB) of a process of the run, or None once it is gone."""
    try:
        cmdline = (Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    except OSError:
        return None
    if "auvid.corpus.pool_worker" in cmdline or (cmdline.startswith("ray::") and "Agent" not in cmdline):
        role = "worker"
    elif "auvid.cli" in cmdline:
        role = "driver"
    else:
        role = "other"  # Ray's own services (GCS, raylet, ...), multiprocessing's resource tracker
    kb = lambda key: int(fields.get(key, "0 kB").split()[0])  # noqa: E731
    return role, kb("VmRSS"), kb("VmHWM")


class MemoryWatch:
    """Samples every process of a run: each one's peak (VmHWM), and workers' current RSS against
    how many CSVs are done, to see whether memory grows with the number of files."""

    def __init__(self, root: int, out_dir: Path, interval: float = 0.25) -> None:
        self.root, self.out_dir, self.interval = root, out_dir, interval
        self.peaks: dict[int, tuple[str, int]] = {}
        self.samples: list[tuple[int, dict[int, int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            current = {}
            for pid in _descendants(self.root):
                info = _memory(pid)
                if info is None:
                    continue
                role, rss, hwm = info
                known_role, known_peak = self.peaks.get(pid, (role, 0))
                role = known_role if known_role != "other" else role  # an exiting process's cmdline reads empty
                self.peaks[pid] = (role, max(hwm, known_peak))
                if role == "worker":
                    current[pid] = rss
            done = sum(1 for p in self.out_dir.rglob("*.csv") if p.name != "auvid-summary.csv") if self.out_dir.exists() else 0
            self.samples.append((done, current))
            self._stop.wait(self.interval)

    def peak_mb(self, role: str) -> list[float]:
        return sorted(round(kb / 1024, 1) for r, kb in self.peaks.values() if r == role)


def run_corpus_cli(folder: Path, out_dir: Path, extra: list[str]) -> dict:
    """One `auvid process FOLDER --out-dir OUT ...` as a user runs it; wall time, frames, memory."""
    env = dict(os.environ, AUVID_MODELS_DIR=str(MODELS_DIR), RAY_ADDRESS="")
    command = [sys.executable, "-m", "auvid.cli", "process", str(folder), "--out-dir", str(out_dir), "-q", *extra]
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with MemoryWatch(process.pid, out_dir) as watch:
        _, stderr = process.communicate()
    wall = time.perf_counter() - start
    if process.returncode not in (0, 3):  # 3: some clip had no face, still a full run
        raise RuntimeError(f"{' '.join(command)} exited {process.returncode}: {stderr.strip()[-500:]}")
    with open(out_dir / "auvid-summary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    frames = sum(int(r["frames"]) for r in rows)
    return {"command": " ".join(["auvid", *command[3:]]), "sources": len(rows), "frames": frames, "wall_s": wall,
            "frames_per_s": frames / wall, "clips_per_min": 60 * len(rows) / wall,
            "statuses": sorted({r["status"] for r in rows}), "peak_rss_mb": {
                "driver": watch.peak_mb("driver"), "workers": watch.peak_mb("worker"),
                "others_total": round(sum(watch.peak_mb("other")), 1)}, "samples": watch.samples}


def memory_growth(samples: list[tuple[int, dict[int, int]]], sources: int) -> dict:
    """Each worker's RSS once a tenth of the sources are done vs its last sample (same process)."""
    early: dict[int, int] = {}
    late: dict[int, int] = {}
    for done, rss in samples:
        for pid, kb in rss.items():
            if done >= sources // 10:
                early.setdefault(pid, kb)
            late[pid] = kb
    common = sorted(set(early) & set(late))
    if not common:
        return {"note": "too few samples"}
    return {"workers": len(common), "rss_mb_after_10pct": [round(early[p] / 1024, 1) for p in common],
            "rss_mb_at_end": [round(late[p] / 1024, 1) for p in common],
            "growth_mb": [round((late[p] - early[p]) / 1024, 1) for p in common]}


def _folder(root: Path, clips: list[str], copies: int = 1) -> Path:
    folder = root / f"corpus-{copies}x{len(clips)}"
    folder.mkdir()
    for n in range(copies):
        for name in clips:
            (folder / f"{Path(name).stem}-{n:03d}{Path(name).suffix}").symlink_to(VIDEOS / name)
    return folder


def main(quick: bool = False, out: str | None = None, repeated: int = 100) -> int:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    missing = [c for c in CLIPS + [REPEATED] if not (VIDEOS / c).is_file()]
    if missing:
        console.print(f"corpus bench: error: {missing[0]} is not in {VIDEOS}")
        return 2
    clips = CLIPS[:4] if quick else CLIPS
    try:
        import ray  # noqa: F401

        has_ray = True
    except ImportError:
        has_ray = False
    results: dict = {"created": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "cores": len(os.sched_getaffinity(0)),
                     "clips": clips, "mode": "quick" if quick else "full", "runs": {}}
    with tempfile.TemporaryDirectory(prefix="auvid-corpus-bench-") as scratch:
        root = Path(scratch)
        folder = _folder(root, clips)
        runs = {"sequential (--workers 0)": ["--workers", "0"], "--workers 2": ["--workers", "2"]}
        if has_ray:
            runs["--executor ray (local, 2 CPUs)"] = ["--executor", "ray", "--workers", "2"]
        for n, (name, extra) in enumerate(runs.items()):
            console.print(f"{name} on {len(clips)} clips ...")
            run = run_corpus_cli(folder, root / f"out-{n}", extra)
            run.pop("samples")
            results["runs"][name] = run
        copies = max(1, (20 if quick else repeated))
        console.print(f"memory: {copies} copies of {REPEATED} with --workers 2 ...")
        many = run_corpus_cli(_folder(root, [REPEATED], copies), root / "out-many", ["--workers", "2"])
        results["memory"] = {"sources": many["sources"], "frames_per_s": many["frames_per_s"],
                             "clips_per_min": many["clips_per_min"], "peak_rss_mb": many["peak_rss_mb"],
                             **memory_growth(many["samples"], many["sources"])}
    table = Table(title=f"corpus: {len(clips)} clips, {results['runs'][next(iter(runs))]['frames']} frames, "
                        f"{results['cores']} cores (wall time includes start-up)")
    for column in ("run", "frames/s", "clips/min", "wall s", "driver peak MB", "worker peak MB"):
        table.add_column(column, justify="left" if column == "run" else "right")
    for name, run in results["runs"].items():
        table.add_row(name, f"{run['frames_per_s']:.1f}", f"{run['clips_per_min']:.1f}", f"{run['wall_s']:.1f}",
                      ", ".join(map(str, run["peak_rss_mb"]["driver"])),
                      ", ".join(map(str, run["peak_rss_mb"]["workers"])) or "-")
    console.print(table)
    memory = results["memory"]
    console.print(f"memory over {memory['sources']} sources (--workers 2): worker RSS after 10% "
                  f"{memory.get('rss_mb_after_10pct')} MB, at the end {memory.get('rss_mb_at_end')} MB "
                  f"(growth {memory.get('growth_mb')} MB); peaks {memory['peak_rss_mb']['workers']} MB; "
                  f"{memory['frames_per_s']:.1f} frames/s, {memory['clips_per_min']:.1f} clips/min")
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(results, indent=2))
        console.print(f"wrote {out}")
    return 0
