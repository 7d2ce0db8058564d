"""Detectron2 (Mask R-CNN by default) on the locator task's GPU.

torch and detectron2 are imported inside ``Detectron2Predictor.__init__`` only, so importing
this module costs nothing and the API / worker never load them (a test checks it).

- Config: a model-zoo name (``LOCATOR_CONFIG_NAME``, default
  ``COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml``).
- Weights (``LOCATOR_WEIGHTS_URI``): a local path, an ``s3://bucket/key`` URI (boto3) or an
  ``https://`` URL (urllib); empty = the model zoo's checkpoint URL for the config. Remote
  weights are downloaded once into ``LOCATOR_CACHE_DIR`` (named after the URI's hash) and
  reused by later loads and later tasks on the same instance volume.
- Device: ``LOCATOR_DEVICE`` (``cuda`` in the task; ``cpu`` works, slowly).
- Class names: ``MetadataCatalog`` of the config's first training dataset (COCO's 80).
- Batched: the model is called on a list of inputs (``LOCATOR_BATCH_SIZE`` at a time), with
  the same resize DefaultPredictor applies, instead of one DefaultPredictor call per image.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from app.locator.predictors.base import RawDetection

logger = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_SECONDS = 120


def resolve_weights(uri: str, cache_dir: str | Path) -> str:
    """A local file path for ``uri``, downloading s3:// and https:// once into ``cache_dir``."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        path = Path(parsed.path if parsed.scheme == "file" else uri).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"locator weights not found at {path}")
        return str(path)
    if parsed.scheme not in ("s3", "https"):
        raise ValueError(f"unsupported weights URI scheme {parsed.scheme!r}: use a path, s3:// or https://")
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    name = Path(parsed.path).name or "weights"
    target = cache / f"{hashlib.sha256(uri.encode()).hexdigest()[:16]}-{name}"
    if target.is_file() and target.stat().st_size > 0:
        return str(target)
    fd, tmp_name = tempfile.mkstemp(dir=cache, prefix=".download-")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if parsed.scheme == "s3":
            from app.core import aws

            logger.info("downloading locator weights from S3", extra={"bucket": parsed.netloc})
            aws.client("s3").download_file(parsed.netloc, parsed.path.lstrip("/"), str(tmp))
        else:
            import urllib.request

            logger.info("downloading locator weights", extra={"host": parsed.netloc})
            with urllib.request.urlopen(uri, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response, tmp.open("wb") as out:  # noqa: S310 - https only, checked above
                shutil.copyfileobj(response, out, length=1024 * 1024)
        if tmp.stat().st_size == 0:
            raise OSError(f"downloaded weights from {uri} are empty")
        os.replace(tmp, target)  # concurrent loaders never see half a file
    finally:
        tmp.unlink(missing_ok=True)
    return str(target)


class Detectron2Predictor:
    def __init__(
        self,
        *,
        config_name: str,
        weights_uri: str | None,
        device: str,
        cache_dir: str,
        batch_size: int = 4,
    ) -> None:
        import detectron2.data.transforms as T
        import torch
        from detectron2 import model_zoo
        from detectron2.checkpoint import DetectionCheckpointer
        from detectron2.config import get_cfg
        from detectron2.data import MetadataCatalog
        from detectron2.modeling import build_model

        cfg = get_cfg()
        cfg.merge_from_file(model_zoo.get_config_file(config_name))
        cfg.MODEL.DEVICE = device
        weights = resolve_weights(weights_uri or model_zoo.get_checkpoint_url(config_name), cache_dir)
        cfg.MODEL.WEIGHTS = weights
        cfg.freeze()

        model = build_model(cfg)
        model.eval()
        DetectionCheckpointer(model).load(weights)

        self._torch = torch
        self.model = model
        self.cfg = cfg
        self.batch_size = max(1, batch_size)
        self.input_format = cfg.INPUT.FORMAT  # "BGR" for the model-zoo configs
        self.resize = T.ResizeShortestEdge([cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MIN_SIZE_TEST], cfg.INPUT.MAX_SIZE_TEST)
        dataset = cfg.DATASETS.TRAIN[0] if cfg.DATASETS.TRAIN else cfg.DATASETS.TEST[0]
        self.class_names: list[str] = list(MetadataCatalog.get(dataset).get("thing_classes", []) or [])
        logger.info(
            "detectron2 model loaded",
            extra={"config": config_name, "device": device, "classes": len(self.class_names)},
        )

    def _input(self, rgb: np.ndarray) -> dict[str, Any]:
        image = rgb[:, :, ::-1] if self.input_format == "BGR" else rgb
        height, width = image.shape[:2]
        resized = self.resize.get_transform(image).apply_image(image)
        tensor = self._torch.as_tensor(np.ascontiguousarray(resized.astype("float32").transpose(2, 0, 1)))
        return {"image": tensor, "height": height, "width": width}

    def predict(self, images: list[np.ndarray]) -> list[list[RawDetection]]:
        results: list[list[RawDetection]] = []
        with self._torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                batch = images[start : start + self.batch_size]
                outputs = self.model([self._input(image) for image in batch])
                for image, output in zip(batch, outputs, strict=True):
                    results.append(self._detections(output["instances"].to("cpu"), image.shape[:2]))
        return results

    def _detections(self, instances: Any, shape: tuple[int, int]) -> list[RawDetection]:
        height, width = shape
        boxes = instances.pred_boxes.tensor.numpy()
        scores = instances.scores.numpy()
        classes = instances.pred_classes.numpy()
        masks = instances.pred_masks.numpy() if instances.has("pred_masks") else None
        detections = []
        for index in range(len(instances)):
            x1, y1, x2, y2 = boxes[index].tolist()
            box = (
                max(0, int(np.floor(x1))),
                max(0, int(np.floor(y1))),
                min(width, int(np.ceil(x2))),
                min(height, int(np.ceil(y2))),
            )
            if box[2] <= box[0] or box[3] <= box[1]:
                continue
            class_id = int(classes[index])
            label = self.class_names[class_id] if class_id < len(self.class_names) else f"class_{class_id}"
            mask = masks[index].astype(bool) if masks is not None else None
            detections.append(RawDetection(label=label, score=float(scores[index]), box=box, mask=mask))
        return detections
