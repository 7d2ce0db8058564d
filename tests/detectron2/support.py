"""Helpers for the real-Detectron2 tests: a checkpoint from a randomly initialised model, and photos.

Model-zoo weights cannot be downloaded here. A randomly initialised Mask R-CNN finds nothing
(its class scores are about 1/81, under detectron2's internal 0.05 cut), so the checkpoint
biases three COCO classes up: "person" well above the rest, "cat" and "cup" a little. Boxes
and masks then come from the real (random) network through every line of the adapter.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

CONFIG = "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml"
# COCO class index -> logit bias: person ~0.5, cat ~0.2, cup ~0.1 (softmax over 81 classes).
BIASED_CLASSES = {0: 5.5, 15: 4.5, 41: 4.0}
# Photos that scikit-image ships (public domain / CC0): a person, a cat, a cup, a rocket.
PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg")


def build_model(*, seed: int = 0, classes: int | None = None) -> Any:
    import torch
    from detectron2 import model_zoo
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model as d2_build_model

    cfg = get_cfg()
    cfg.merge_from_file(model_zoo.get_config_file(CONFIG))
    cfg.MODEL.DEVICE = "cpu"
    if classes is not None:
        cfg.MODEL.ROI_HEADS.NUM_CLASSES = classes
    torch.manual_seed(seed)
    model = d2_build_model(cfg)
    model.eval()
    return model


# The random backbone's features are large (std ~500): the heads' output weights are scaled
# down so that class scores follow the biases (with some spread) and box deltas stay small.
# The RPN is left as initialised: its wild proposals are mostly clipped away, which leaves a
# few dozen detections per photo and keeps a CPU inference at a few seconds.
DAMPED = {
    "roi_heads.box_predictor.cls_score.weight": 0.003,
    "roi_heads.box_predictor.bbox_pred.weight": 0.003,
    "roi_heads.mask_head.predictor.weight": 0.05,
}


def state_of(model: Any, biases: dict[int, float] | None = None) -> dict[str, np.ndarray]:
    state = {name: tensor.detach().cpu().numpy().copy() for name, tensor in model.state_dict().items()}
    for name, factor in DAMPED.items():
        state[name] *= factor
    bias = state["roi_heads.box_predictor.cls_score.bias"]
    for index, value in (BIASED_CLASSES if biases is None else biases).items():
        bias[index] = value
    return state


def save_zoo_pickle(path: Path, state: dict[str, Any]) -> Path:
    """The model zoo's .pkl format: {"model": {name: ndarray}, "__author__": ...}."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        pickle.dump({"model": state, "__author__": "tests: random init"}, out, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def photo(name: str) -> np.ndarray:
    """An (h, w, 3) uint8 RGB photo from scikit-image's data folder."""
    import skimage.data
    from PIL import Image

    with Image.open(Path(skimage.data.__file__).parent / name) as source:
        return np.asarray(source.convert("RGB"))


def photo_bytes(name: str, fmt: str = "JPEG") -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(photo(name)).save(buffer, format=fmt, quality=92)
    return buffer.getvalue()
