"""The few Xlib calls auvid makes itself (through ctypes: no extra package), for :mod:`auvid.io.gui`.

Why: OpenCV's Qt aborts the whole process when it cannot reach the X server, so the window asks
first on a connection of its own; and that same connection re-maps the window once, which is the
one remedy found for Qt sometimes never painting a freshly shown OpenCV window (see
:meth:`XConnection.remap`)."""
from __future__ import annotations

import ctypes
import time

_CARDINAL = 6  # XA_CARDINAL, the type of _NET_WM_PID


class XConnection:
    """A client connection to the X server named by ``display``; ConnectionError if none answers."""

    def __init__(self, display: str, attempts: int = 5) -> None:
        self._x11 = _load_xlib()
        self._display = None
        for attempt in range(attempts):  # rides over a reset that another client's leaving started
            self._display = self._x11.XOpenDisplay(display.encode())
            if self._display:
                return
            time.sleep(0.1 * (attempt + 1))
        raise ConnectionError(display)

    def remap(self, title: str, pid: int) -> int:
        """Unmaps and maps again this process's top-level windows called ``title``; how many.

        Qt (opencv-python's, 5.15) now and then never paints a window it has just shown: it stays
        black however often ``imshow`` draws into it (opencv-python issues 356 and 362). Showing it
        again ends that; an Expose event alone does not."""
        windows = [w for w in self._windows(self._x11.XDefaultRootWindow(self._display))
                   if self._name(w) == title and self._pid(w) == pid]
        for window in windows:
            self._x11.XUnmapWindow(self._display, window)
            self._x11.XSync(self._display, 0)
            self._x11.XMapWindow(self._display, window)
        self._x11.XSync(self._display, 0)
        return len(windows)

    def close(self) -> None:
        if self._display:
            self._x11.XCloseDisplay(self._display)
            self._display = None

    def _windows(self, parent: int) -> list[int]:
        root, up = ctypes.c_ulong(), ctypes.c_ulong()
        children, count = ctypes.POINTER(ctypes.c_ulong)(), ctypes.c_uint()
        if not self._x11.XQueryTree(self._display, parent, ctypes.byref(root), ctypes.byref(up),
                                    ctypes.byref(children), ctypes.byref(count)):
            return []
        found = [children[i] for i in range(count.value)]
        if children:
            self._x11.XFree(ctypes.cast(children, ctypes.c_void_p))
        return found + [w for child in found for w in self._windows(child)]  # a window manager nests them

    def _name(self, window: int) -> str | None:
        name = ctypes.c_char_p()
        if not self._x11.XFetchName(self._display, window, ctypes.byref(name)) or not name.value:
            return None
        value = name.value.decode(errors="replace")
        self._x11.XFree(ctypes.cast(name, ctypes.c_void_p))
        return value

    def _pid(self, window: int) -> int | None:
        atom = self._x11.XInternAtom(self._display, b"_NET_WM_PID", 1)
        kind, size = ctypes.c_ulong(), ctypes.c_int()
        items, left, data = ctypes.c_ulong(), ctypes.c_ulong(), ctypes.POINTER(ctypes.c_ulong)()
        if not atom or self._x11.XGetWindowProperty(
                self._display, window, atom, 0, 1, 0, _CARDINAL, ctypes.byref(kind), ctypes.byref(size),
                ctypes.byref(items), ctypes.byref(left), ctypes.byref(data)) != 0 or not data:
            return None
        pid = data[0] if items.value else None
        self._x11.XFree(ctypes.cast(data, ctypes.c_void_p))
        return pid


def _load_xlib() -> ctypes.CDLL:
    x11 = ctypes.CDLL("libX11.so.6")
    display, window = ctypes.c_void_p, ctypes.c_ulong
    x11.XOpenDisplay.restype = display
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XCloseDisplay.argtypes = [display]
    x11.XDefaultRootWindow.restype = window
    x11.XDefaultRootWindow.argtypes = [display]
    x11.XQueryTree.argtypes = [display, window, ctypes.POINTER(window), ctypes.POINTER(window),
                               ctypes.POINTER(ctypes.POINTER(window)), ctypes.POINTER(ctypes.c_uint)]
    x11.XFetchName.argtypes = [display, window, ctypes.POINTER(ctypes.c_char_p)]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [display, ctypes.c_char_p, ctypes.c_int]
    x11.XGetWindowProperty.argtypes = [display, window, ctypes.c_ulong, ctypes.c_long, ctypes.c_long, ctypes.c_int,
                                       ctypes.c_ulong, ctypes.POINTER(ctypes.c_ulong), ctypes.POINTER(ctypes.c_int),
                                       ctypes.POINTER(ctypes.c_ulong), ctypes.POINTER(ctypes.c_ulong),
                                       ctypes.POINTER(ctypes.POINTER(ctypes.c_ulong))]
    x11.XFree.argtypes = [ctypes.c_void_p]
    x11.XUnmapWindow.argtypes = x11.XMapWindow.argtypes = [display, window]
    x11.XSync.argtypes = [display, ctypes.c_int]
    return x11
