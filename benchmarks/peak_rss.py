"""Runs ``auvid`` with the given arguments and reports its own peak RSS (VmHWM) at exit.

Why not ``getrusage(RUSAGE_CHILDREN)`` in the parent: the child is forked (or vforked) from the
benchmark process, which holds torch and is far larger than ``auvid process``; Linux carries the
parent's high-water mark into the child's ``ru_maxrss`` across exec. ``VmHWM`` belongs to the
address space created by exec, so it is the CLI's own peak.
"""
from __future__ import annotations

import atexit
import sys
from pathlib import Path


def _report(target: Path) -> None:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            target.write_text(line.split()[1])  # kB


if __name__ == "__main__":
    atexit.register(_report, Path(sys.argv[1]))
    sys.argv = ["auvid", *sys.argv[2:]]
    from auvid.cli import main

    main()
