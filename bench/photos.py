"""Real photos for the embedded models' benchmarks and docs pictures.

They come from scikit-image's ``skimage.data`` (photos shipped inside the wheel, public
domain or CC0 as its README says; nothing is downloaded). scikit-image is a dev dependency
(requirements-dev.txt), never a runtime one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

LABELS = Path(__file__).resolve().parent / "data" / "locator_labels.json"


def load_photo(name: str) -> np.ndarray:
    """An (h, w, 3) uint8 RGB array; grey photos are repeated over three channels."""
    import skimage.data
    import skimage.io

    if name == "motorcycle":  # the left view of skimage's stereo pair, a file in the wheel
        pixels = skimage.io.imread(Path(skimage.data.__file__).parent / "motorcycle_left.png")
    else:
        pixels = getattr(skimage.data, name)()
    if pixels.ndim == 2:
        pixels = np.stack([pixels] * 3, axis=-1)
    return np.ascontiguousarray(pixels[..., :3], dtype=np.uint8)


def labelled_set() -> dict[str, list[dict]]:
    """{photo name: [{"name", "box": [x1, y1, x2, y2]}]}, boxes labelled by hand."""
    return json.loads(LABELS.read_text())["images"]
