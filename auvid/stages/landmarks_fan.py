"""Optional 68-point landmarks from the ``face-alignment`` package (``--landmarks fan``).

FAN is slower than YuNet's 5 points but steadier under pose; its 68 points are reduced to the
same 5 (eye centres, nose tip, mouth corners) so the aligner and model are unchanged. The
package downloads its weights into torch's hub cache on first use.
"""
from __future__ import annotations

import numpy as np

from auvid.errors import ModelError


def five_from_68(points: np.ndarray) -> np.ndarray:
    """The aligner's 5 points from the 68-point (iBUG/Multi-PIE) layout that FAN and OpenFace share:
    eye centres (36-41, 42-47), nose tip (30), mouth corners (48, 54), in YuNet's order."""
    p = np.asarray(points, np.float32)
    return np.array([p[36:42].mean(0), p[42:48].mean(0), p[30], p[48], p[54]], np.float32)


def fan_weights_present() -> bool:
    import os
    from pathlib import Path

    hub = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub" / "checkpoints"
    return any(hub.glob("2DFAN4*.zip")) or any(hub.glob("2DFAN4*.pth"))


class FanLandmarker:
    def __init__(self, device: str = "cpu") -> None:
        try:
            import face_alignment
        except ImportError:
            raise ModelError("--landmarks fan needs the face-alignment package: pip install 'auvid[fan]'") from None
        try:
            self._fa = face_alignment.FaceAlignment(face_alignment.LandmarksType.TWO_D, device=device,
                                                    face_detector="blazeface", flip_input=False)
        except Exception as exc:  # its weight download or load failed
            raise ModelError(f"face-alignment could not load its weights ({str(exc).splitlines()[0][:160]})") from None

    def five_points(self, image_bgr: np.ndarray, box: np.ndarray, fallback: np.ndarray) -> np.ndarray:
        x, y, w, h = box
        points = self._fa.get_landmarks_from_image(image_bgr[:, :, ::-1], detected_faces=[(x, y, x + w, y + h)])
        if not points:
            return fallback
        return five_from_68(points[0])
