"""Face alignment: a similarity warp of the 5 detector landmarks onto a fixed template.

The template is ArcFace's 112x112 five-point layout shrunk about the face centre so the crop
keeps the brows and forehead (AU01/02/04) and the chin (AU17/26), which the tight ArcFace crop
cuts. Training and inference use this exact code, so the model sees the same crops in both.
"""
from __future__ import annotations

import numpy as np

ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)


def template(size: int = 112, zoom: float = 0.80, centre_y: float = 0.56) -> np.ndarray:
    """Five target points for a ``size`` crop; ``zoom`` < 1 leaves room above the brows."""
    centred = (ARCFACE_112 - ARCFACE_112.mean(axis=0)) * zoom
    return (centred + np.array([0.5, centre_y]) * 112.0) * (size / 112.0)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, shift) mapping src to dst (Umeyama)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1
    rotation = u @ np.diag(d) @ vt
    scale = (s * d).sum() / src_c.var(0).sum()
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - matrix[:, :2] @ src_mean
    return matrix


WARP_SIZE = 112  # every crop is warped at this size first, then area-reduced to the model's size


def downsize(crops: np.ndarray, size: int) -> np.ndarray:
    """(n, s, s) or (s, s) uint8 crops reduced to ``size`` with area averaging.

    The one reduction used by training (crops are cached at :data:`WARP_SIZE`) and at run time,
    so the model sees the same pixels in both: a bilinear warp straight to 96 px samples
    differently (aliasing) from a 112 px warp averaged down to 96.
    """
    import cv2

    if crops.shape[-1] == size:
        return crops
    if crops.ndim == 2:
        return cv2.resize(crops, (size, size), interpolation=cv2.INTER_AREA)
    return np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in crops])


class Aligner:
    """Warps faces to ``size`` x ``size`` grey crops (the model's input).

    Crops smaller than :data:`WARP_SIZE` are warped at that size and area-reduced (:func:`downsize`),
    exactly as training crops are made, whatever size the model takes.
    """

    def __init__(self, size: int = 112) -> None:
        import cv2

        self._cv2 = cv2
        self.size = size
        self.warp_size = max(size, WARP_SIZE)
        self.points = template(size)  # where the five points land in the returned crop
        self._warp_points = template(self.warp_size)

    def align(self, gray: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        matrix = similarity(landmarks, self._warp_points)
        crop = self._cv2.warpAffine(gray, matrix, (self.warp_size, self.warp_size), flags=self._cv2.INTER_LINEAR,
                                    borderMode=self._cv2.BORDER_REPLICATE)
        return downsize(crop, self.size)

    def align_many(self, gray: np.ndarray, all_landmarks: list[np.ndarray]) -> np.ndarray:
        crops = np.empty((len(all_landmarks), self.size, self.size), np.uint8)
        for i, landmarks in enumerate(all_landmarks):
            crops[i] = self.align(gray, landmarks)
        return crops
