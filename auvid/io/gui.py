"""On-screen windows (OpenCV's HighGUI), opened so that they work on a Linux desktop.

Why this module exists: the opencv-python and PyAV wheels both bundle ``libxcb-shm``,
``libxcb-shape`` and ``libxcb-xfixes`` under the *same* hashed file names (auditwheel hashes the
library before it rewrites its dependencies), but PyAV's copies are linked to PyAV's private
``libxcb`` while OpenCV's Qt talks to the system ``libxcb``. The dynamic loader loads a name only
once, so whichever package is imported first provides these libraries for both. When PyAV comes
first, Qt's X connection set-up (``QXcbBasicConnection::initializeShm``) calls into a ``libxcb``
that does not own the connection and spins forever in ``xcb_wait_for_reply``: the first
``cv2.imshow`` never returns and Ctrl-C cannot stop it (PyAV issues 978 and 1050, opencv issue
29195). So:

* every PyAV import in auvid goes through :func:`import_av`, which loads OpenCV first;
* every window goes through :class:`Window`, which checks the display, the X libraries and the
  load order *before* Qt starts, so a wrong order is one clear line instead of a hang, and a
  missing or unreachable X server is one clear line instead of Qt's abort (exit 134); it also
  works around Qt sometimes leaving a new window black (:meth:`auvid.io.x11.XConnection.remap`).
"""
from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path
from types import ModuleType

import numpy as np

from auvid.errors import InputError
from auvid.io.x11 import XConnection

QUIT_KEYS = {ord("q"), ord("Q"), 27}  # 27: Esc
X_LIBRARY_PREFIXES = ("libxcb", "libX", "libxkb")  # the libraries whose mix-up hangs Qt's X connection


def import_av() -> ModuleType:
    """PyAV, imported after OpenCV so that OpenCV's X libraries are the ones loaded (see above)."""
    import cv2  # noqa: F401  (order matters: before av)

    try:
        import av
    except ImportError as exc:  # a required dependency: the install is broken, say how to mend it
        raise InputError(f"PyAV cannot be imported ({exc}); it reads every video: "
                         "pip install 'av>=12' (or reinstall auvid)") from None
    return av


def display_problem() -> str | None:
    """Why no window can open here, or None. Cheap; starts nothing (safe before any import)."""
    if not sys.platform.startswith("linux"):
        return None
    display = os.environ.get("DISPLAY")
    if not display:
        if os.environ.get("WAYLAND_DISPLAY"):
            return ("OpenCV's window needs X11 (XWayland), and DISPLAY is not set "
                    "(only WAYLAND_DISPLAY)")
        return "this machine has no display (no DISPLAY/WAYLAND_DISPLAY)"
    return None


def _qt_library_dir() -> Path | None:
    """The folder of the Qt libraries OpenCV loaded (None when this OpenCV has no Qt GUI)."""
    for path in _mapped_libraries():
        if path.name.startswith("libQt5Core") or path.name.startswith("libQt6Core"):
            return path.parent
    return None


def _mapped_libraries() -> list[Path]:
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            names = {line.split(None, 5)[5].strip() for line in maps if len(line.split(None, 5)) == 6}
    except OSError:
        return []
    return [Path(name) for name in names if ".so" in name and name.startswith("/")]


def library_clash(qt_dir: Path | None = None) -> list[Path]:
    """Libraries that Qt expects from its own folder but that another package loaded first.

    Any hit means Qt would run on another package's X libraries and hang (see the module doc)."""
    qt_dir = qt_dir or _qt_library_dir()
    if qt_dir is None:
        return []
    own = {path.name for path in qt_dir.glob("*.so*") if path.name.startswith(X_LIBRARY_PREFIXES)}
    return sorted(path for path in _mapped_libraries() if path.name in own and path.parent != qt_dir)


def _prepare_qt(qt_dir: Path | None) -> XConnection | None:
    """Environment Qt reads when its first window opens (after ``import cv2``, which sets it), and
    the X checks."""
    # opencv-python's import points QT_QPA_FONTDIR at cv2/qt/fonts, a folder its wheels no longer
    # ship, so Qt prints "QFontDatabase: Cannot find font directory ..." for every text it lays
    # out (several lines per frame). matplotlib, an auvid dependency, ships DejaVu TrueType fonts:
    # a real font folder that exists wherever auvid is installed.
    if not Path(os.environ.get("QT_QPA_FONTDIR", "")).is_dir():
        spec = importlib.util.find_spec("matplotlib")
        if spec and spec.origin:
            fonts = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf"
            if fonts.is_dir():
                os.environ["QT_QPA_FONTDIR"] = str(fonts)
    return _check_x_libraries(qt_dir) if qt_dir is not None else None


def _check_x_libraries(qt_dir: Path) -> XConnection | None:
    """Load Qt's X platform library and ask the X server to answer, before Qt does: Qt aborts the
    whole process (exit 134, no row kept) when either fails.

    The connection stays open while the window lives: an X server whose last client leaves resets
    itself, and a client that connects during the reset is refused or gets a window that is never
    painted. Closing it before Qt opened its own made Qt abort in 4 of 16 runs under `xvfb-run`."""
    import ctypes

    for xcb_qpa in sorted(qt_dir.glob("libQt5XcbQpa*.so*")):
        try:
            ctypes.CDLL(str(xcb_qpa))
        except OSError as exc:
            raise InputError(f"the window cannot load its X11 libraries ({exc}); on Debian/Ubuntu: apt install "
                             "libgl1 libglib2.0-0 libsm6 libice6 libxext6 libx11-6") from None
    display = os.environ.get("DISPLAY", "")
    try:
        return XConnection(display)
    except ConnectionError:  # before OSError, its base class
        raise InputError(f"cannot connect to the X display {display!r} (is the X server running, and may this "
                         "user use it? see `xauth`)") from None
    except OSError:
        return None  # no libX11: Qt's X library above needs it, so this does not happen in practice


class Window:
    """One OpenCV window. :meth:`show` returns False once the user asked to stop: ``q``, Esc, or
    closing the window. Use as a context manager so the window always goes away."""

    # Qt sometimes never paints a window it has just shown (see XConnection.remap): showing it
    # again once, this long after it opened, ended that in every case seen (7 of 7 black windows
    # painted, 0 of 54 runs black).
    REMAP_AFTER_S = 0.5

    def __init__(self, title: str = "auvid") -> None:
        self.title = title
        self.opened = False
        self._x: XConnection | None = None
        self._opened_at: float | None = None  # until the window has been shown again

    def open(self) -> "Window":
        problem = display_problem()
        if problem:
            raise InputError(f"a window needs a display: {problem}")
        import cv2

        qt_dir = _qt_library_dir()
        clash = library_clash(qt_dir)
        if clash:
            raise InputError(f"cannot open a window: {clash[0].parent} loaded X libraries before OpenCV did "
                             f"({', '.join(path.name for path in clash)}), and Qt's X connection would hang on them; "
                             "import cv2 before av (auvid.io.gui.import_av does)")
        self._x = _prepare_qt(qt_dir)
        try:
            cv2.namedWindow(self.title, cv2.WINDOW_AUTOSIZE)
        except cv2.error as exc:
            self._release_x()
            raise InputError("this OpenCV has no window support (opencv-python-headless?); install opencv-python "
                             f"({str(exc).strip().splitlines()[-1]})") from None
        self.opened = True
        self._opened_at = time.perf_counter()
        return self

    def show(self, image: np.ndarray) -> bool:
        """Draws ``image``; False when the user pressed q or Esc or closed the window."""
        import cv2

        cv2.imshow(self.title, image)
        key = cv2.waitKey(1)
        if self._opened_at is not None and time.perf_counter() - self._opened_at >= self.REMAP_AFTER_S:
            self._opened_at = None
            if self._x is not None:
                self._x.remap(self.title, os.getpid())
        if key != -1 and (key & 0xFF) in QUIT_KEYS:
            return False
        try:
            return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) >= 1
        except cv2.error:  # closed: Qt has dropped the window (and, with the last one, its GUI thread)
            return False

    def close(self) -> None:
        if not self.opened:
            return
        import cv2

        self.opened = False
        try:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)  # lets Qt process the destroy, so the window really goes away now
        except cv2.error:
            pass  # the user closed it already
        self._release_x()

    def _release_x(self) -> None:
        if self._x is not None:
            self._x.close()
            self._x = None

    def __enter__(self) -> "Window":
        return self.open()

    def __exit__(self, *exc_info) -> None:
        self.close()
