"""Synthetic test scenes: three known shapes on a plain or textured background."""

from __future__ import annotations

import io

import numpy as np

Box = tuple[int, int, int, int]


def scene(
    width: int = 480, height: int = 360, background: str = "plain", seed: int = 3
) -> tuple[np.ndarray, list[Box]]:
    """An RGB image with a filled rectangle, a circle and a triangle; their true boxes
    (x1, y1, x2, y2, x2/y2 exclusive), in that order."""
    import cv2

    rng = np.random.default_rng(seed)
    if background == "plain":
        image = np.full((height, width, 3), (205, 200, 190), np.uint8)
    elif background == "noisy":
        base = np.full((height, width, 3), (150, 150, 150), np.float32)
        image = np.clip(base + rng.normal(0, 22, size=base.shape), 0, 255).astype(np.uint8)
    elif background == "textured":
        # Fine checkerboard of two close greys, plus sensor-like noise.
        yy, xx = np.mgrid[0:height, 0:width]
        checker = (((yy // 4) + (xx // 4)) % 2).astype(np.float32)
        base = 120 + 30 * checker
        image = np.clip(base[..., None] + rng.normal(0, 12, size=(height, width, 3)), 0, 255).astype(np.uint8)
    else:
        raise ValueError(background)

    sx, sy = width / 480, height / 360
    boxes: list[Box] = []
    # Rectangle (red).
    x1, y1, x2, y2 = round(40 * sx), round(50 * sy), round(160 * sx), round(150 * sy)
    image[y1:y2, x1:x2] = (210, 40, 40)
    boxes.append((x1, y1, x2, y2))
    # Circle (blue).
    cx, cy, r = round(300 * sx), round(100 * sy), round(55 * min(sx, sy))
    cv2.circle(image, (cx, cy), r, (40, 60, 200), thickness=-1)
    boxes.append((cx - r, cy - r, cx + r + 1, cy + r + 1))
    # Triangle (green).
    points = np.array(
        [[round(120 * sx), round(330 * sy)], [round(260 * sx), round(330 * sy)], [round(190 * sx), round(210 * sy)]],
        np.int32,
    )
    cv2.fillPoly(image, [points], (40, 170, 60))
    boxes.append(
        (int(points[:, 0].min()), int(points[:, 1].min()), int(points[:, 0].max()) + 1, int(points[:, 1].max()) + 1)
    )
    if background != "plain":  # the objects are as noisy as the background
        noise = rng.normal(0, 10, size=image.shape)
        image = np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    return image, boxes


def iou(a: Box | list[int], b: Box | list[int]) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def match(found: list[list[int]] | list[Box], truth: list[Box]) -> list[float]:
    """For each true box, the best IoU among the found boxes."""
    return [max((iou(f, t) for f in found), default=0.0) for t in truth]


def png(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image, mode="RGB").save(buffer, format="PNG")
    return buffer.getvalue()
