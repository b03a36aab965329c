"""Frame sources: video files (FFmpeg via PyAV), image folders and cameras/streams (OpenCV).

Every source yields :class:`Frame` objects with a 1-based index and a timestamp in seconds taken
from the container where it has one. File decoding can run ahead in its own thread
(:class:`Prefetch`) so the model never waits on the decoder.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from auvid.errors import InputError
from auvid.frames import Frame

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


@dataclass
class SourceStats:
    """What the source had to skip; reported in the run summary."""

    frames: int = 0
    bad_packets: int = 0  # packets FFmpeg could not decode, or the demuxer skipped as damaged
    corrupt_frames: int = 0  # frames decoded with errors that FFmpeg concealed (kept)
    dropped: int = 0
    ended_early: str | None = None


class VideoFileSource:
    """Decodes a video file with PyAV, skipping (and counting) packets FFmpeg cannot decode."""

    def __init__(self, path: str | Path, max_frames: int | None = None) -> None:
        from auvid.io.gui import import_av

        av = import_av()  # OpenCV first: see auvid/io/gui.py

        self.path = Path(path)
        if not self.path.exists():
            raise InputError(f"{self.path}: no such file")
        if not self.path.is_file():
            raise InputError(f"{self.path}: not a file")
        try:
            self._container = av.open(str(self.path))
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise InputError(f"{self.path}: not a readable video ({_short(exc)})") from None
        if not self._container.streams.video:
            self._container.close()
            raise InputError(f"{self.path}: the file has no video stream")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.fps = float(rate) if rate else 30.0
        self.frame_count = int(self._stream.frames or 0)
        self.width = self._stream.codec_context.width
        self.height = self._stream.codec_context.height
        self.max_frames = max_frames
        self.stats = SourceStats()

    def __iter__(self) -> Iterator[Frame]:
        import av

        index = 0
        first_time = None  # a stream may start later than 0 (an edit list, a cut): times count from its first frame
        discarded = 0  # packets an edit list tells the decoder to drop (not frames of the video)
        try:
            for packet in self._container.demux(self._stream):
                started = time.perf_counter()
                if packet.is_discard and packet.size:
                    discarded += 1
                try:
                    decoded = packet.decode()
                except av.FFmpegError as exc:
                    self.stats.bad_packets += 1
                    log.debug("skipping undecodable packet at pts %s: %s", packet.pts, exc)
                    continue
                for av_frame in decoded:
                    index += 1
                    timestamp = av_frame.time
                    if timestamp is None:  # no container time: the frame's place at the nominal rate
                        timestamp = (index - 1) / self.fps
                    else:  # from 0 at the first frame, as OpenFace writes it
                        if first_time is None:  # (earlier frames without a time keep their places)
                            first_time = timestamp - (index - 1) / self.fps
                        timestamp -= first_time
                    image = _to_bgr(av_frame)
                    self.stats.frames = index
                    if getattr(av_frame, "is_corrupt", False):
                        self.stats.corrupt_frames += 1
                    now = time.perf_counter()
                    frame = Frame(index, float(timestamp), image, now)
                    frame.timings["decode"] = now - started
                    yield frame
                    started = time.perf_counter()
                    if self.max_frames and index >= self.max_frames:
                        return
            self._count_lost_packets(index, discarded)
        except av.FFmpegError as exc:
            self.stats.ended_early = _short(exc)
            log.warning("%s: stream ends early after frame %d: %s", self.path, index, _short(exc))
        finally:
            self._container.close()
        if index == 0 and not self.stats.ended_early:
            raise InputError(f"{self.path}: no frame could be decoded")

    def _count_lost_packets(self, decoded: int, discarded: int) -> None:
        """Frames the container lists but never delivered: a demuxer resynchronising over damaged
        data drops packets silently (AVI renumbers the rest), so only the count can tell."""
        lost = self.frame_count - decoded - discarded if self.frame_count else 0
        if lost > 0:
            self.stats.bad_packets += lost
            log.debug("%s: %d of the %d frames the container lists never arrived", self.path, lost, self.frame_count)


def _to_bgr(av_frame) -> np.ndarray:
    """BGR pixels of a decoded frame.

    For limited-range 4:2:0 video (nearly all camera and web video) OpenCV's I420 conversion is
    several times faster than swscale's (0.6 vs 2.5 ms per 640x480 frame here, where decoding
    itself takes 0.25 ms); both use BT.601 coefficients and agree within a grey level or two.
    """
    if (av_frame.format.name == "yuv420p" and av_frame.color_range != 2  # 2: full (JPEG) range
            and av_frame.width % 2 == 0 and av_frame.height % 2 == 0):
        import cv2

        return cv2.cvtColor(av_frame.to_ndarray(), cv2.COLOR_YUV2BGR_I420)
    return av_frame.to_ndarray(format="bgr24")


class ImageFolderSource:
    """Images in a folder, in name order; timestamps are (index-1)/fps since images carry none."""

    def __init__(self, path: str | Path, fps: float = 30.0, max_frames: int | None = None) -> None:
        self.path = Path(path)
        self.files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise InputError(f"{self.path}: the folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        self.fps = fps
        self.frame_count = len(self.files)
        self.max_frames = max_frames
        self.stats = SourceStats()

    def __iter__(self) -> Iterator[Frame]:
        import cv2

        for index, file in enumerate(self.files, start=1):
            if self.max_frames and index > self.max_frames:
                return
            image = cv2.imread(str(file), cv2.IMREAD_COLOR)
            if image is None:
                self.stats.bad_packets += 1
                log.warning("%s: not a readable image, skipped", file)
                continue
            self.stats.frames = index
            yield Frame(index, (index - 1) / self.fps, image, time.perf_counter())


class CameraSource:
    """A camera index, device path or stream URL through OpenCV's capture."""

    def __init__(self, spec: str | int, width: int | None = None, height: int | None = None,
                 fps: float | None = None, max_frames: int | None = None) -> None:
        import cv2

        self.spec = spec
        if str(spec).isdigit():
            capture = cv2.VideoCapture(int(spec))
        else:
            # A stream that does not answer must fail in seconds, not FFmpeg's default minutes.
            capture = cv2.VideoCapture(str(spec), cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 5000,
                                                                    cv2.CAP_PROP_READ_TIMEOUT_MSEC, 5000])
        if not capture.isOpened():
            raise InputError(f"camera {spec!r} could not be opened (no such device, or the stream does not answer)")
        if width:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        if height:
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if fps:
            capture.set(cv2.CAP_PROP_FPS, fps)
        self._capture = capture
        self.width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0) or 30.0
        self.frame_count = 0
        self.max_frames = max_frames
        self.stats = SourceStats()

    def __iter__(self) -> Iterator[Frame]:
        start = time.perf_counter()
        index = 0
        try:
            while not (self.max_frames and index >= self.max_frames):
                ok, image = self._capture.read()
                now = time.perf_counter()
                if not ok:
                    if index == 0:
                        raise InputError(f"camera {self.spec!r} opened but delivered no frame")
                    self.stats.ended_early = "the camera stopped delivering frames"
                    return
                index += 1
                self.stats.frames = index
                yield Frame(index, now - start, image, now)
        finally:
            self._capture.release()


class RealtimeReplay:
    """Replays a file source at its own timestamps, as a camera would deliver it."""

    def __init__(self, source: VideoFileSource | ImageFolderSource) -> None:
        self.source = source
        self.fps = source.fps
        self.frame_count = source.frame_count
        self.stats = source.stats
        self.width = getattr(source, "width", None)
        self.height = getattr(source, "height", None)

    def __iter__(self) -> Iterator[Frame]:
        start = None
        for frame in self.source:
            if start is None:
                start = time.perf_counter() - frame.timestamp
            delay = start + frame.timestamp - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            frame.captured_at = time.perf_counter()
            yield frame


_END = object()


class _Background:
    """Runs a source in its own thread; subclasses choose how frames are handed over.

    ``_offer`` hands one frame to the consumer side, ``_finish`` hands over the end marker or the
    producer's exception (never dropped), ``_take`` blocks for the next item, ``_release`` wakes a
    producer blocked in ``_offer`` so it can see the stop flag.
    """

    thread_name = "auvid-source"

    def __init__(self, source) -> None:
        """``source``: any iterable; a frame source's stats, fps and frame count show through."""
        self.source = source
        self.stats = getattr(source, "stats", None)
        self.fps = getattr(source, "fps", 0.0)
        self.frame_count = getattr(source, "frame_count", 0)
        self._stop = threading.Event()

    def __iter__(self) -> Iterator[Frame]:
        thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        thread.start()
        try:
            while True:
                item = self._take()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._stop.set()
            while thread.is_alive():
                self._release()
                thread.join(timeout=0.05)

    def _run(self) -> None:
        try:
            for frame in self.source:
                if self._stop.is_set():
                    return
                self._offer(frame)
        except BaseException as exc:  # handed to the consumer thread, which re-raises it
            self._finish(exc)
            return
        self._finish(_END)

    def _offer(self, frame: Frame) -> None:
        raise NotImplementedError

    def _finish(self, item) -> None:
        raise NotImplementedError

    def _take(self):
        raise NotImplementedError

    def _release(self) -> None:
        pass


class Prefetch(_Background):
    """Decodes up to ``depth`` frames ahead of the consumer (offline: nothing is ever dropped)."""

    thread_name = "auvid-decode"

    def __init__(self, source, depth: int = 8) -> None:
        super().__init__(source)
        self._queue: queue.Queue = queue.Queue(maxsize=depth)

    def _offer(self, frame) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(frame, timeout=0.1)
                return
            except queue.Full:
                continue

    _finish = _offer

    def _take(self):
        return self._queue.get()

    def _release(self) -> None:
        _drain(self._queue)


class LatestFrame(_Background):
    """Always hands over the newest frame of a live source.

    Frames the consumer was too slow to take are dropped and counted, never queued, so latency
    cannot grow without bound.
    """

    thread_name = "auvid-capture"

    def __init__(self, source) -> None:
        super().__init__(source)
        self._lock = threading.Condition()
        self._latest: Frame | BaseException | object | None = None

    def _offer(self, frame: Frame) -> None:
        with self._lock:
            if isinstance(self._latest, Frame):
                self.stats.dropped += 1
            self._latest = frame
            self._lock.notify()

    def _finish(self, item) -> None:
        # The end marker must not overwrite an untaken frame: wait until the consumer took it.
        while not self._stop.is_set():
            with self._lock:
                if not isinstance(self._latest, Frame):
                    self._latest = item
                    self._lock.notify()
                    return
            time.sleep(0.005)

    def _take(self):
        with self._lock:
            while self._latest is None:
                self._lock.wait(timeout=0.1)
            item, self._latest = self._latest, None
            return item


def open_source(spec: str, fps: float = 30.0, max_frames: int | None = None) -> "VideoFileSource | ImageFolderSource | CameraSource":
    """A file, an image folder, a camera index/device or a URL, by what ``spec`` looks like."""
    if spec.isdigit() or "://" in spec or spec.startswith("/dev/video"):
        return CameraSource(spec, max_frames=max_frames)
    path = Path(spec)
    if path.is_dir():
        return ImageFolderSource(path, fps=fps, max_frames=max_frames)
    return VideoFileSource(path, max_frames=max_frames)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def to_gray(image: np.ndarray) -> np.ndarray:
    import cv2

    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def _drain(q: queue.Queue) -> None:
    """Empty a queue so a producer blocked on put() can see the stop flag and exit."""
    try:
        while True:
            q.get_nowait()
    except queue.Empty:
        pass
