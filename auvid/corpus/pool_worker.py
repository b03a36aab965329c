"""A process-pool worker: ``python -m auvid.corpus.pool_worker TASK_FD RESULT_FD THREADS``.

Started as its own program, not by multiprocessing's spawn, so it never re-imports the caller's
``__main__`` (a notebook or a script without an ``if __name__ == "__main__"`` guard would run
again in every worker). Tasks arrive pickled on one pipe; ("frames", n) and ("done", result)
go back on the other. SIGINT only sets a flag, checked after each frame: the driver forwards
Ctrl-C, a terminal sends it to the whole process group, and either way the source in hand ends
as ``interrupted`` with its rows kept in ``.partial`` files.
"""
from __future__ import annotations

import signal
import sys
import threading
from multiprocessing.connection import Connection


def main(task_fd: int, result_fd: int, threads: int) -> None:
    import cv2

    from auvid.corpus.worker import EngineCache, run_task

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    cv2.setNumThreads(threads)
    tasks, results = Connection(task_fd, writable=False), Connection(result_fd, readable=False)
    engines = EngineCache()
    while True:
        try:
            task = tasks.recv()
        except EOFError:
            return
        if task is None:
            return
        result = run_task(task, engines, stop.is_set, lambda frames, total: results.send(("frames", frames)),
                          threads=threads)
        results.send(("done", result))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
