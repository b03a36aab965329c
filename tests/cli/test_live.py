"""`auvid live` in a real pseudo-terminal: the screen, Ctrl-C, dropped frames, camera errors."""
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

from tests.conftest import MODELS, REPO, clip, needs_shared, read_csv, run_cli


def _run_in_pty(args, seconds: float, interrupt: bool = True) -> tuple[int, str]:
    master, slave = pty.openpty()
    env = dict(os.environ, AUVID_MODELS_DIR=str(MODELS), COLUMNS="80", LINES="24", TERM="xterm-256color")
    process = subprocess.Popen([sys.executable, "-m", "auvid.cli", *args], stdin=slave, stdout=slave, stderr=slave,
                               env=env, cwd=REPO, start_new_session=True)
    os.close(slave)
    output = b""
    deadline = time.time() + seconds
    sent = False
    while True:
        if interrupt and not sent and time.time() > deadline:
            os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
            sent = True
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        elif process.poll() is not None:
            break
        if time.time() > deadline + 30:
            process.kill()
            break
    process.wait(timeout=30)
    os.close(master)
    return process.returncode, re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output.decode(errors="replace"))


@needs_shared
def test_live_screen_shows_bars_and_fps_and_ctrl_c_leaves_a_complete_csv(tmp_path):
    out = tmp_path / "live.csv"
    code, screen = _run_in_pty(["live", "--camera", str(clip("2015-10-15-15-14.avi")), "--realtime",
                                "--out", str(out)], seconds=6)
    assert code == 130, screen[-2000:]
    assert re.search(r"\d+\.\d fps", screen) and "AU12" in screen and "█" in screen
    assert "latency p50" in screen and "dropped" in screen
    assert "Traceback" not in screen
    table = read_csv(out)  # the final name: a complete file
    assert len(table) > 5 and table["frame"].is_monotonic_increasing  # it ran on; speed is the benchmark's
    assert (table["success"] == 1).mean() > 0.95


@needs_shared
def test_a_slow_analyser_drops_frames_instead_of_queueing(tmp_path):
    out = tmp_path / "live.csv"
    code, screen = _run_in_pty(["live", "--camera", str(clip("single_face.mp4")), "--realtime", "--out", str(out),
                                "--slow-ms", "80"], seconds=60, interrupt=False)
    assert code == 0, screen[-2000:]
    dropped = int(re.search(r"(\d+) dropped;", screen).group(1))
    table = read_csv(out)
    assert dropped > 20 and len(table) + dropped == 72
    latency_p99 = float(re.search(r"p99 ([\d.]+) ms", screen.split("stopped after")[-1]).group(1))
    assert latency_p99 < 400  # bounded: never more than about one frame of backlog


@needs_shared
def test_camera_failures_are_one_line(tmp_path):
    result = run_cli("live", "--camera", "7")
    assert result.returncode == 2 and "could not be opened" in result.stderr and "Traceback" not in result.stderr
    result = run_cli("live", "--camera", "rtsp://127.0.0.1:9/none", timeout=60)  # nothing listens there
    assert result.returncode == 2 and "could not be opened" in result.stderr and "Traceback" not in result.stderr
    result = run_cli("live", "--camera", str(clip("single_face.mp4")))
    assert result.returncode == 2 and "--realtime" in result.stderr
    result = run_cli("live", "--camera", str(clip("single_face.mp4")), "--realtime", "--show",
                     env={"DISPLAY": "", "WAYLAND_DISPLAY": ""})
    assert result.returncode == 2 and "needs a display" in result.stderr


@needs_shared
def test_outputs_are_checked_before_the_camera_opens(tmp_path):
    """A replayed file named as --out is refused, not overwritten (it once was, exit 0), and a bad
    --jsonl path is one line before the model loads, leaving no .partial behind."""
    import hashlib
    import shutil

    replayed = tmp_path / "copy.mp4"
    shutil.copy(clip("single_face.mp4"), replayed)
    before = hashlib.sha256(replayed.read_bytes()).hexdigest()
    result = run_cli("live", "--camera", str(replayed), "--realtime", "--out", str(replayed), "--max-frames", "5")
    assert result.returncode == 2 and "refusing to overwrite the input" in result.stderr, result.stderr
    assert hashlib.sha256(replayed.read_bytes()).hexdigest() == before
    result = run_cli("live", "--camera", str(replayed), "--realtime", "--out", str(tmp_path / "a.csv"),
                     "--jsonl", str(tmp_path / "missing" / "a.jsonl"), "--max-frames", "5")
    assert result.returncode == 2 and "does not exist" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.mp4"]


@needs_shared
def test_a_stream_that_disappears_mid_run_keeps_what_was_recorded(tmp_path):
    """A real network camera stand-in: an HTTP MPEG-TS stream whose server hangs up after 40%."""
    import http.server
    import threading

    import av

    stream_file = tmp_path / "camera.ts"
    with av.open(str(clip("2015-10-15-15-14.avi"))) as source, av.open(str(stream_file), "w", format="mpegts") as sink:
        video = source.streams.video[0]
        out_stream = sink.add_stream_from_template(video)
        for packet in source.demux(video):
            if packet.dts is not None:
                packet.stream = out_stream
                sink.mux(packet)
    payload = stream_file.read_bytes()[: stream_file.stat().st_size * 2 // 5]

    class HangsUp(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802  (http.server's naming)
            self.send_response(200)
            self.send_header("Content-Type", "video/mp2t")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HangsUp)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        out = tmp_path / "live.csv"
        result = run_cli("live", "--camera", f"http://127.0.0.1:{server.server_address[1]}/camera.ts",
                         "--out", str(out), timeout=120)
    finally:
        server.shutdown()
    assert result.returncode == 2, result.stderr
    assert "stopped delivering frames; what was recorded is kept" in result.stderr
    assert "Traceback" not in result.stderr
    table = read_csv(out)
    # the stream arrives faster than real time, so the newest-frame rule drops most of it
    assert len(table) >= 10 and (table["success"] == 1).mean() > 0.9
    assert table["frame"].iloc[-1] > 300  # frame numbers count what the camera delivered


def test_the_live_view_fits_80x24_and_degrades_when_narrow():
    import numpy as np
    from rich.console import Console

    from auvid.aus import INTENSITY_AUS
    from auvid.frames import Face, FaceResult, FrameResult
    from auvid.commands.live import LiveView

    faces = [FaceResult(Face(box=np.array([0, 0, 10, 10], np.float32), landmarks=np.zeros((5, 2), np.float32),
                             score=0.9, face_id=i), np.linspace(0, 5, 17), np.zeros(18)) for i in range(4)]
    view = LiveView(INTENSITY_AUS)
    view.update(FrameResult(1, 0.0, faces, {"infer": 0.003}, 0.0, 0.01), 6.0, 0)

    def render(width: int) -> list[str]:
        console = Console(width=width, color_system=None)
        with console.capture() as captured:
            console.print(view)
        return captured.get().splitlines()

    screen = render(80)
    assert len(screen) <= 24 and max(map(len, screen)) <= 80
    assert "face 2" in screen[2] and "AU45 ██████████ 5.0" in screen[-2] and "+1 more face" in screen[-1]
    narrow = render(36)
    assert max(map(len, narrow)) <= 36 and any("face 0" in line for line in narrow)
    assert sum("AU12" in line for line in narrow) == 1  # one face column, every AU still shown


@needs_shared
def test_a_second_ctrl_c_aborts_a_stop_that_is_waiting(tmp_path):
    """The first Ctrl-C asks the loop to stop after the frame in hand, and waits for it (here a frame
    made to take 60 s); a second one aborts at once, still with one line, exit 130 and the CSV."""
    out = tmp_path / "live.csv"
    env = dict(os.environ, AUVID_MODELS_DIR=str(MODELS))
    process = subprocess.Popen([sys.executable, "-m", "auvid.cli", "live", "--camera", str(clip("single_face.mp4")),
                                "--realtime", "--out", str(out), "--slow-ms", "60000"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True)
    try:
        deadline = time.time() + 120
        started = b""
        while b"source " not in started and time.time() < deadline and process.poll() is None:
            started += os.read(process.stdout.fileno(), 4096)
        assert b"source " in started, started[-2000:]
        time.sleep(2)  # into the first frame's 60 s
        process.send_signal(signal.SIGINT)
        time.sleep(3)
        assert process.poll() is None  # the first Ctrl-C waits for the frame in hand
        asked = time.time()
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=30)
        waited = time.time() - asked
    finally:
        if process.poll() is None:
            process.kill()
    screen = (started + rest).decode(errors="replace")
    assert process.returncode == 130, screen[-2000:]
    assert waited < 15, waited  # not the 55 s left of the frame
    assert "interrupted after" in screen and "Traceback" not in screen
    assert read_csv(out).columns[0] == "frame"  # the recording is closed under its final name
