"""What the user sees of a corpus run: a progress bar over the whole corpus on a terminal (or one
line per finished source in a log), then a final table. Kept apart from the runner, so the
Python API runs the same code silently."""
from __future__ import annotations

import time
from pathlib import Path

from auvid.corpus.summary import SummaryRow


class CorpusView:
    """files done/total, frames/s over the corpus, ETA by files; a line per source off a terminal."""

    def __init__(self, console) -> None:
        self.console = console
        self.progress = None
        self.total = self.done = 0
        self.frames_done = 0
        self._in_flight: dict[str, int] = {}
        self._started = time.perf_counter()

    def start(self, total: int, skipped: int, executor: str) -> None:
        self.total, self.done = total, skipped
        self._started = time.perf_counter()
        if skipped:
            self.console.print(f"{skipped} of {total} source(s) already done (same file, model and options): skipped")
        if self.console.is_terminal and self.done < total:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(TextColumn(f"[bold]corpus[/] ({executor})"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("files  {task.fields[fps]:.0f} frames/s"), TimeRemainingColumn(),
                                     console=self.console, transient=True)
            self._task = self.progress.add_task("corpus", total=total, completed=skipped, fps=0.0)
            self.progress.start()

    def _fps(self) -> float:
        elapsed = time.perf_counter() - self._started
        return (self.frames_done + sum(self._in_flight.values())) / elapsed if elapsed > 0 else 0.0

    def frames(self, source: str, count: int) -> None:
        self._in_flight[source] = count
        if self.progress is not None:
            self.progress.update(self._task, fps=self._fps())

    def finished(self, task, row: SummaryRow) -> None:
        self._in_flight.pop(task.source, None)
        self.frames_done += row.frames
        self.done += 1
        if self.progress is not None:
            self.progress.update(self._task, completed=self.done, fps=self._fps())
        else:
            detail = row.error or f"{row.frames} frames, {row.faces} faces, {row.fps:.0f} fps"
            if not detail.startswith(task.source):
                detail = f"{task.source}: {detail}"
            self.console.print(f"[{self.done}/{self.total}] {row.status:<11} {detail}", markup=False,
                               highlight=False, soft_wrap=True)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def print_report(console, report, command_hint: str = "the same command") -> None:
    """The final table: counts per status, every source that was not ok, totals and throughput."""
    from rich.table import Table

    counts = report.counts()
    frames = sum(r.frames for r in report.analysed)
    clips = sum(1 for r in report.analysed if r.status in ("ok", "no_face"))  # finished, not tried
    if frames and report.seconds > 0:
        rate = f"{frames} frames in {report.seconds:.1f} s = {frames / report.seconds:.1f} frames/s"
        if clips:
            rate += f", {60 * clips / report.seconds:.1f} clips/min"
    else:
        rate = f"no frame analysed ({len(report.analysed)} source(s) tried in {report.seconds:.1f} s)"
    sources = f"{len(report.rows)} source(s)"
    if report.not_started:
        sources += f" ({report.not_started} more not started)"
    console.print(f"{sources}, executor {report.executor}: {rate}", soft_wrap=True)
    table = Table(show_edge=False)
    for column in ("status", "sources", "frames", "faces"):
        table.add_column(column, justify="left" if column == "status" else "right")
    for status in ("ok", "no_face", "failed", "interrupted", "skipped"):
        if counts.get(status):
            rows = [r for r in report.rows if r.status == status]
            table.add_row(status, str(len(rows)), str(sum(r.frames for r in rows)), str(sum(r.faces for r in rows)))
    console.print(table)
    problems = [r for r in report.rows if r.status in ("failed", "no_face", "interrupted") or r.warning]
    if problems:
        detail = Table(show_edge=False)
        for column in ("source", "status", "reason"):
            detail.add_column(column, overflow="fold")
        for row in problems[:20]:
            fallback = "no face in any frame" if row.status == "no_face" else ""
            detail.add_row(_short(row.source), row.status, row.error or row.warning or fallback)
        console.print(detail)
        if len(problems) > 20:
            console.print(f"... and {len(problems) - 20} more in {report.summary_path}")
    console.print(f"wrote {report.summary_path}")
    if report.exit_code == 130:
        console.print(f"interrupted: finished CSVs are kept; run {command_hint} again to resume "
                      "(finished sources are skipped)")


def _short(source: str) -> str:
    path = Path(source)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return source
