"""`auvid live --show` on a real X server (Debian's Xvfb): the window opens, shows frames, ends by
itself, on `q`, and when closed; without a usable display it refuses in one line.

These start real X servers and real `auvid` processes; they skip, naming the Debian packages, where
`xvfb-run`/`Xvfb`/`xdotool` are not installed (CI installs them in .ci/run)."""
from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import shutil
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from auvid.io.overlay import COLORS

from tests.conftest import MODELS, REPO, clip, needs_shared, read_csv, run_cli

needs_xvfb_run = pytest.mark.skipif(shutil.which("xvfb-run") is None or shutil.which("xauth") is None,
                                    reason="xvfb-run is not installed (Debian: apt install xvfb xauth)")
needs_xvfb_and_xdotool = pytest.mark.skipif(shutil.which("Xvfb") is None or shutil.which("xdotool") is None,
                                            reason="Xvfb or xdotool is not installed "
                                                   "(Debian: apt install xvfb xdotool)")
QT_NOISE = re.compile(r"QFontDatabase|Cannot find font|qt\.qpa|QStandardPaths|Traceback")


def _live_args(out: Path, *extra: str) -> list[str]:
    return ["live", "--camera", str(clip("2015-10-15-15-14.avi")), "--realtime", "--show", "--out", str(out), *extra]


def _frames_analysed(stderr: str) -> int:
    return int(re.search(r"(\d+) frames analysed", stderr).group(1))


@dataclass
class XServer:
    display: str
    framebuffer: Path  # Xvfb keeps its screen in this file, in XWD format (-fbdir)

    def screen(self) -> np.ndarray:
        """What the screen shows now (BGR), read from Xvfb's framebuffer file."""
        data = self.framebuffer.read_bytes()
        fields = struct.unpack(">25I", data[:100])
        header_size, width, height = fields[0], fields[4], fields[5]
        byte_order, bits_per_pixel, line, colors = fields[7], fields[11], fields[12], fields[19]
        assert bits_per_pixel == 32 and byte_order == 0, fields  # 24-bit screen, pixels stored B, G, R, unused
        pixels = np.frombuffer(data, np.uint8, count=height * line, offset=header_size + 12 * colors)
        return pixels.reshape(height, line)[:, : width * 4].reshape(height, width, 4)[..., :3]


@pytest.fixture
def x_server(tmp_path):
    """A real X server of its own (Xvfb picks a free display number and tells it on a pipe)."""
    framebuffer = tmp_path / "framebuffer"
    framebuffer.mkdir()
    read_end, write_end = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-screen", "0", "800x600x24", "-nolisten", "tcp",
                               "-fbdir", str(framebuffer)],
                              pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_end)
    try:
        number = b""
        while not number.endswith(b"\n"):
            chunk = os.read(read_end, 16)
            if not chunk:
                pytest.fail("Xvfb exited before it announced its display")
            number += chunk
        yield XServer(f":{number.decode().strip()}", framebuffer / "Xvfb_screen0")
    finally:
        os.close(read_end)
        server.terminate()
        server.wait(timeout=10)


def _start_live(display: str, out: Path) -> subprocess.Popen:
    env = dict(os.environ, DISPLAY=display, AUVID_MODELS_DIR=str(MODELS))
    env.pop("WAYLAND_DISPLAY", None)
    return subprocess.Popen([sys.executable, "-m", "auvid.cli", *_live_args(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)


def _window_id(display: str, process: subprocess.Popen, out: Path, rows: int = 30) -> str:
    """The auvid window's X id, once it has shown some frames (rows in the CSV)."""
    env = dict(os.environ, DISPLAY=display)
    deadline = time.time() + 60
    while time.time() < deadline and process.poll() is None:
        partial = out.with_name(out.name + ".partial")  # the CSV's name while the run goes on
        if partial.exists() and partial.read_text().count("\n") > rows:
            found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "^auvid$"],
                                   capture_output=True, text=True, env=env)
            if found.stdout.split():
                return found.stdout.split()[0]
        time.sleep(0.2)
    process.kill()
    pytest.fail(f"no auvid window with frames appeared: {process.communicate()[1][-2000:]}")


def _finish(process: subprocess.Popen) -> tuple[int, str]:
    try:
        _, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"auvid live did not stop: {process.communicate()[1][-2000:]}")
    return process.returncode, stderr


@needs_shared
@needs_xvfb_run
def test_show_under_xvfb_run_ends_by_itself_with_a_row_per_frame(tmp_path):
    out = tmp_path / "live.csv"
    result = subprocess.run(["xvfb-run", "-a", sys.executable, "-m", "auvid.cli", *_live_args(out, "--duration", "3")],
                            capture_output=True, text=True, timeout=120, cwd=REPO,
                            env=dict(os.environ, AUVID_MODELS_DIR=str(MODELS)))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "stopped after" in result.stderr
    assert not QT_NOISE.search(result.stderr + result.stdout), (result.stderr + result.stdout)[-2000:]
    table = read_csv(out)
    frames = _frames_analysed(result.stderr)
    assert frames > 5  # not stuck on the first frame (how many in 3 s is the benchmark's business)
    assert len(table) == frames and table["frame"].is_monotonic_increasing and table["frame"].is_unique
    assert (table["success"] == 1).mean() > 0.95


@needs_shared
@needs_xvfb_and_xdotool
@pytest.mark.parametrize("key", ["q", "Escape"])
def test_q_or_esc_in_the_window_ends_the_run_keeping_its_rows(tmp_path, x_server, key):
    out = tmp_path / "live.csv"
    process = _start_live(x_server.display, out)
    window = _window_id(x_server.display, process, out)
    # the window shows the frames with face 0's box and AU bars, drawn in its colour (overlay.COLORS[0]);
    # Qt paints a little after the window maps, so look for a few seconds
    drawn, deadline = 0, time.time() + 10
    while drawn <= 500 and time.time() < deadline:
        drawn = np.all(x_server.screen() == COLORS[0], axis=-1).sum()
        time.sleep(0.1)
    assert drawn > 500, drawn
    env = dict(os.environ, DISPLAY=x_server.display)
    subprocess.run(["xdotool", "windowfocus", "--sync", window, "key", key], check=True, env=env, timeout=30)
    code, stderr = _finish(process)
    assert code == 0, stderr[-2000:]
    assert "stopped after" in stderr and not QT_NOISE.search(stderr), stderr[-2000:]
    table = read_csv(out)  # the final name: a complete file
    frames = _frames_analysed(stderr)
    assert len(table) == frames and 30 < frames < 800  # stopped by the key, well before the clip's 842 frames


class _ClientMessage(ctypes.Structure):
    """Xlib's XClientMessageEvent, padded to the size of an XEvent (24 longs)."""

    _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                ("display", ctypes.c_void_p), ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                ("format", ctypes.c_int), ("data", ctypes.c_long * 5), ("pad", ctypes.c_long * 12)]


def _close_window(display: str, window: int) -> None:
    """What a window manager sends when the user clicks the close button: WM_DELETE_WINDOW."""
    x11 = ctypes.CDLL("libX11.so.6")
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    x11.XFlush.argtypes = x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    connection = x11.XOpenDisplay(display.encode())
    assert connection, f"cannot connect to {display}"
    event = _ClientMessage(type=33, send_event=1, window=window, format=32,  # 33: ClientMessage
                           message_type=x11.XInternAtom(connection, b"WM_PROTOCOLS", 0))
    event.data[0] = x11.XInternAtom(connection, b"WM_DELETE_WINDOW", 0)
    assert x11.XSendEvent(connection, window, 0, 0, ctypes.byref(event))
    x11.XFlush(connection)
    x11.XCloseDisplay(connection)


@needs_shared
@needs_xvfb_and_xdotool
def test_closing_the_window_ends_the_run_keeping_its_rows(tmp_path, x_server):
    out = tmp_path / "live.csv"
    process = _start_live(x_server.display, out)
    _close_window(x_server.display, int(_window_id(x_server.display, process, out)))
    code, stderr = _finish(process)
    assert code == 0, stderr[-2000:]
    assert "stopped after" in stderr and not QT_NOISE.search(stderr), stderr[-2000:]
    assert len(read_csv(out)) == _frames_analysed(stderr)


@needs_shared
@pytest.mark.parametrize("display, wayland, reason", [
    ("", "", "has no display"),
    ("", "wayland-0", "needs X11"),
    (":97", "", "cannot connect to the X display ':97'"),  # nothing listens there: Qt itself would abort (exit 134)
])
def test_without_a_usable_display_show_refuses_in_one_line(tmp_path, display, wayland, reason):
    out = tmp_path / "live.csv"
    if display and (Path("/tmp/.X11-unix") / f"X{display[1:]}").exists():
        pytest.skip(f"an X server runs on {display} here")
    result = run_cli(*_live_args(out, "--duration", "3"), timeout=120,
                     env={"DISPLAY": display, "WAYLAND_DISPLAY": wayland})
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0], result.stderr
    assert not list(tmp_path.iterdir())  # no CSV, not even a partial one


def _python(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DISPLAY=":97")  # past the display check; the guard runs before any connection
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO, env=env)


def test_the_window_guard_refuses_pyavs_x_libraries_instead_of_hanging():
    """`import av` before OpenCV makes Qt's first window hang forever; the guard must say so."""
    qt_dir = _python("import cv2\nfrom auvid.io.gui import _qt_library_dir\nprint(_qt_library_dir())").stdout.strip()
    if qt_dir == "None":
        pytest.skip("this OpenCV build has no Qt GUI (opencv-python-headless?)")
    av_libs = Path(importlib.util.find_spec("av").origin).parent.parent / "av.libs"
    if not {p.name for p in Path(qt_dir).glob("libxcb*")} & {p.name for p in av_libs.glob("libxcb*")}:
        pytest.skip("these opencv-python and PyAV wheels no longer bundle X libraries under the same names")
    wrong = _python("import av\nfrom auvid.io.gui import Window\nWindow().open()")
    assert wrong.returncode == 1 and "InputError" in wrong.stderr  # raised, not hung (timeout=60)
    assert "loaded X libraries before OpenCV did" in wrong.stderr and "av.libs" in wrong.stderr
    right = _python("from auvid.io.gui import import_av, library_clash\nimport_av()\nprint(library_clash())")
    assert right.returncode == 0 and right.stdout.strip() == "[]", right.stderr


def test_every_window_goes_through_the_guard():
    """A window opened anywhere but auvid/io/gui.py would skip the checks above (and could hang)."""
    opened_elsewhere = [f"{path.relative_to(REPO)}:{number}"
                        for folder in ("auvid", "engines", "trainer", "benchmarks", "docs")
                        for path in sorted((REPO / folder).rglob("*.py")) if path != REPO / "auvid" / "io" / "gui.py"
                        for number, line in enumerate(path.read_text().splitlines(), 1)
                        if re.search(r"cv2\.(imshow|namedWindow|waitKey)\(|plt\.show\(", line)]
    assert not opened_elsewhere, f"use auvid.io.gui.Window instead: {opened_elsewhere}"
