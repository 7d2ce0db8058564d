"""Regenerate the pictures of the embedded models in docs/img/ from real photos.

- ``locator-<photo>.jpg``: the OpenCV locator's proposals on the photo (rank, score, box and
  mask tint), next to the hand-labelled boxes of bench/data/locator_labels.json.
- ``fill-<photo>.jpg``: original | the hole | opencv-telea | opencv-fill, side by side.

Usage: ``.venv/bin/python scripts/make-model-pictures.py`` (needs requirements-dev.txt).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from photos import labelled_set, load_photo  # noqa: E402
from PIL import Image  # noqa: E402

from app.inpainting.backends.base import InpaintParams  # noqa: E402
from app.inpainting.backends.opencv import OpenCVBackend  # noqa: E402
from app.inpainting.backends.opencv_fill import OpenCVFillBackend  # noqa: E402
from app.inpainting.highres import crop_box, inpaint_highres  # noqa: E402
from app.inpainting.masks import mask_from_boxes  # noqa: E402
from app.locator.predictors.opencv import OpenCVLocator  # noqa: E402

OUT = ROOT / "docs" / "img"
LOCATOR_PHOTOS = ("astronaut", "coffee", "motorcycle")
# (photo, hole boxes): the case (box the helmet), then other objects boxed away.
FILLS = (
    ("astronaut", [[275, 342, 500, 512]]),
    ("coffee", [[322, 65, 425, 327]]),
    ("motorcycle", [[545, 180, 686, 276]]),
)
PANEL_HEIGHT = 300
COLOURS = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
           (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212)]  # fmt: skip


def label(panel: np.ndarray, text: str) -> np.ndarray:
    out = panel.copy()
    cv2.rectangle(out, (0, 0), (8 + 9 * len(text), 22), (0, 0, 0), -1)
    cv2.putText(out, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def fit(pixels: np.ndarray, height: int = PANEL_HEIGHT) -> np.ndarray:
    h, w = pixels.shape[:2]
    return cv2.resize(pixels, (round(w * height / h), height), interpolation=cv2.INTER_AREA)


def save(name: str, panels: list[np.ndarray]) -> None:
    gap = np.full((PANEL_HEIGHT, 6, 3), 255, np.uint8)
    row = panels[0]
    for panel in panels[1:]:
        row = np.concatenate([row, gap, panel], axis=1)
    Image.fromarray(row).save(OUT / name, quality=80, optimize=True)
    print(OUT / name, f"{(OUT / name).stat().st_size // 1024} KB")


def locator_picture(photo: str, labels: list[dict]) -> None:
    rgb = load_photo(photo)
    detections = OpenCVLocator().detect(rgb)
    boxes, masks = rgb.copy(), (rgb * 0.55).astype(np.uint8)
    for rank, detection in reversed(list(enumerate(detections[:5]))):  # masks of the best five
        colour = np.array(COLOURS[rank % len(COLOURS)], np.float32)
        masks[detection.mask] = (0.45 * rgb[detection.mask] + 0.55 * colour).astype(np.uint8)
        outline, _ = cv2.findContours(detection.mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(masks, outline, -1, tuple(int(c) for c in colour), 2)
    drawn = boxes
    for rank, detection in enumerate(detections):
        x1, y1, x2, y2 = detection.box
        colour = COLOURS[rank % len(COLOURS)]
        cv2.rectangle(drawn, (x1, y1), (x2 - 1, y2 - 1), colour, 2)
        cv2.putText(drawn, f"#{rank + 1} {detection.score:.2f}", (x1 + 3, y1 + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    colour, 1, cv2.LINE_AA)  # fmt: skip
    truth = rgb.copy()
    for item in labels:
        x1, y1, x2, y2 = item["box"]
        cv2.rectangle(truth, (x1, y1), (x2 - 1, y2 - 1), (255, 255, 0), 2)
        cv2.putText(truth, item["name"], (x1 + 3, y2 - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 0), 1,
                    cv2.LINE_AA)  # fmt: skip
    save(f"locator-{photo}.jpg", [label(fit(truth), "labelled by hand"),
                                  label(fit(drawn), f"opencv-locator: top {len(detections)} boxes"),
                                  label(fit(masks), "masks of the best 5")])  # fmt: skip


def fill_picture(photo: str, boxes: list[list[int]]) -> None:
    image = Image.fromarray(load_photo(photo))
    mask = mask_from_boxes(image.size, boxes)
    params = InpaintParams(prompt="ignored")
    holed = np.asarray(image).copy()
    holed[np.asarray(mask) > 0] = (255, 0, 255)
    # Zoomed on the hole and its surroundings (the crop the models are given).
    x1, y1, x2, y2 = crop_box(image.size, mask.getbbox())
    panels = [label(fit(np.asarray(image)), "original"), label(fit(holed[y1:y2, x1:x2]), "hole (zoomed)")]
    for name, backend in (("opencv-telea", OpenCVBackend()), ("opencv-fill", OpenCVFillBackend())):
        result = np.asarray(inpaint_highres(image, mask, backend, params).image)
        panels.append(label(fit(result[y1:y2, x1:x2]), name))
    save(f"fill-{photo}.jpg", panels)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    labels = labelled_set()
    for photo in LOCATOR_PHOTOS:
        locator_picture(photo, labels[photo])
    for photo, boxes in FILLS:
        fill_picture(photo, boxes)


if __name__ == "__main__":
    main()
