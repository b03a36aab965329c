import os
import sys

# OpenCV 5 warns on every YuNet it creates (setPreferableTarget); the CLI silences it the same way.
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")

import click


@click.command()
@click.option("--quick", is_flag=True, help="A few seconds per figure (CI); no claims should be read from it.")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="JSON results file.")
@click.option("--video", type=click.Path(dir_okay=False), default=None, help="Clip (default: the 640x480 webcam clip).")
@click.option("--repeats", type=int, default=None, help="Runs per figure (default 3, quick 1).")
@click.option("--corpus", is_flag=True, help="Corpus throughput instead (sequential, --workers 2, Ray; memory over 100 files).")
@click.option("--compare-model", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Another model (.onnx): user-timed fps and live p99 of both, alternating, in this run.")
@click.option("--gpu", is_flag=True, help="GPU figures: every backend's model throughput, and --backend torch on CUDA vs the CPU default.")
def cli(quick, out, video, repeats, corpus, compare_model, gpu):
    if corpus:
        from benchmarks.corpus import main as corpus_main

        sys.exit(corpus_main(quick=quick, out=out))
    if gpu:
        from benchmarks.gpu import main as gpu_main

        sys.exit(gpu_main(out=out, video=video, repeats=repeats or 3))
    from benchmarks.run import main

    sys.exit(main(quick=quick, out=out, video=video, repeats=repeats, compare_model=compare_model))


cli()
