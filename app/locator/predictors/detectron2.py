"""Detectron2 (Mask R-CNN by default): on the locator task's GPU, or on a laptop's CPU.

torch and detectron2 are imported inside ``Detectron2Predictor.__init__`` only, so importing
this module costs nothing and the API / worker never load them (a test checks it).

- Config: a model-zoo name (``LOCATOR_CONFIG_NAME``, default
  ``COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml``).
- Weights (``LOCATOR_WEIGHTS_URI``): a local path, ``file://``, ``s3://bucket/key`` (boto3) or
  ``https://`` (urllib); empty = the model zoo's checkpoint URL for the config. Remote weights
  are kept in ``LOCATOR_CACHE_DIR`` at a path that mirrors the URI (``<host>/<path>``,
  ``s3/<bucket>/<key>``), so ``Dockerfile.locator`` bakes the zoo checkpoint where a download
  would put it and the task never needs the internet.
- The checkpoint must fit the model: a missing or misshapen weight fails the load (detectron2
  itself only warns, and a model with random heads finds nothing).
- Device: ``LOCATOR_DEVICE`` (``cuda`` in the task, ``cpu`` on a laptop). ``cuda`` where torch
  sees no GPU fails the load with the reason instead of crashing every job.
- Class names: ``MetadataCatalog`` of the config's first training dataset (COCO's 80).
- One image per forward pass, exactly as ``DefaultPredictor`` (same resize, same
  post-processing): batching images of different sizes pads them to a common size, which
  changes the results. Masks are pasted only for the detections a job keeps, into their box.

``python -m app.locator.predictors.detectron2 --self-check`` builds the configured model on
the CPU, loads its weights and runs one image: the image build runs it (Dockerfile.locator).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

import numpy as np

from app.locator.predictors.base import MaskPatch, PredictorUnavailable, RawDetection

logger = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_SECONDS = 120
MASK_THRESHOLD = 0.5  # detectron2's detector_postprocess default


def cache_path(uri: str, cache_dir: str | Path) -> Path:
    """Where the remote checkpoint ``uri`` is kept: ``<cache>/<host>/<path>`` for https,
    ``<cache>/s3/<bucket>/<key>`` for S3 (the query string is not part of it)."""
    parsed = urlparse(uri)
    parts = [part for part in PurePosixPath(parsed.path).parts if part not in ("/", ".", "..")]
    host = parsed.hostname or ""
    if not host or not parts:
        raise ValueError(f"weights URI {uri!r} names no file")
    prefix = ["s3", host] if parsed.scheme == "s3" else [host]
    return Path(cache_dir).joinpath(*prefix, *parts)


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
    target = cache_path(uri, cache_dir)
    if target.is_file() and target.stat().st_size > 0:
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".download-")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if parsed.scheme == "s3":
            from app.core import aws

            logger.info("downloading locator weights from S3", extra={"bucket": parsed.netloc})
            aws.client("s3").download_file(parsed.netloc, parsed.path.lstrip("/"), str(tmp))
        else:
            import urllib.request

            logger.info("downloading locator weights", extra={"host": parsed.hostname})
            with urllib.request.urlopen(uri, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response, tmp.open("wb") as out:  # noqa: S310 - https only, checked above
                shutil.copyfileobj(response, out, length=1024 * 1024)
        if tmp.stat().st_size == 0:
            raise OSError(f"downloaded weights from {uri} are empty")
        os.replace(tmp, target)  # concurrent loaders never see half a file
    finally:
        tmp.unlink(missing_ok=True)
    return str(target)


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as source:
        for block in iter(lambda: source.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def _load_checkpoint(model: Any, path: str) -> None:
    """Load ``path`` into ``model`` and refuse a checkpoint that does not fit it."""
    from detectron2.checkpoint import DetectionCheckpointer

    reports: list[Any] = []

    class Checkpointer(DetectionCheckpointer):  # type: ignore[misc]
        # fvcore logs the incompatible keys and carries on; keep them to judge them here.
        def _load_model(self, checkpoint: Any) -> Any:
            report = super()._load_model(checkpoint)
            reports.append(report)
            return report

    Checkpointer(model).load(path)
    if not reports:
        raise PredictorUnavailable(f"the checkpoint {Path(path).name} holds no model weights")
    report = reports[0]
    missing = list(report.missing_keys)
    misshapen = list(report.incorrect_shapes)
    if missing or misshapen:
        total = len(model.state_dict())
        problems = []
        if missing:
            problems.append(f"{len(missing)} of {total} weights missing (e.g. {', '.join(missing[:3])})")
        if misshapen:
            key, in_file, in_model = misshapen[0]
            problems.append(f"{len(misshapen)} with another shape (e.g. {key}: {in_file} in the file, {in_model} here)")
        raise PredictorUnavailable(f"the checkpoint {Path(path).name} does not fit the model: {'; '.join(problems)}")
    if report.unexpected_keys:
        logger.warning(
            "checkpoint has weights the model does not use",
            extra={"count": len(report.unexpected_keys), "examples": list(report.unexpected_keys)[:3]},
        )


class Detectron2Predictor:
    def __init__(self, *, config_name: str, weights_uri: str | None, device: str, cache_dir: str) -> None:
        import detectron2.data.transforms as T
        import torch
        from detectron2 import model_zoo
        from detectron2.config import get_cfg
        from detectron2.data import MetadataCatalog
        from detectron2.modeling import build_model

        if device.startswith("cuda") and not torch.cuda.is_available():
            why = "it is a CPU-only build" if torch.version.cuda is None else "no NVIDIA GPU or driver is visible"
            raise PredictorUnavailable(
                f"LOCATOR_DEVICE={device}, but torch {torch.__version__} cannot use CUDA here ({why}); "
                "use LOCATOR_DEVICE=cpu to run on the CPU"
            )
        cfg = get_cfg()
        cfg.merge_from_file(model_zoo.get_config_file(config_name))
        cfg.MODEL.DEVICE = device
        weights = resolve_weights(weights_uri or model_zoo.get_checkpoint_url(config_name), cache_dir)
        cfg.MODEL.WEIGHTS = weights
        cfg.freeze()

        model = build_model(cfg)
        model.eval()
        _load_checkpoint(model, weights)

        self._torch = torch
        self._lock = threading.Lock()  # one image at a time: torch already uses every core / the GPU
        self.model = model
        self.cfg = cfg
        self.weights = weights
        self.input_format = cfg.INPUT.FORMAT  # "BGR" for the model-zoo configs
        self.resize = T.ResizeShortestEdge([cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MIN_SIZE_TEST], cfg.INPUT.MAX_SIZE_TEST)
        dataset = cfg.DATASETS.TRAIN[0] if cfg.DATASETS.TRAIN else cfg.DATASETS.TEST[0]
        self.class_names: list[str] = list(MetadataCatalog.get(dataset).get("thing_classes", []) or [])
        logger.info(
            "detectron2 model loaded",
            extra={"config": config_name, "device": device, "classes": len(self.class_names)},
        )

    def _input(self, rgb: np.ndarray) -> dict[str, Any]:
        """What DefaultPredictor gives the model for this image."""
        image = rgb[:, :, ::-1] if self.input_format == "BGR" else rgb
        height, width = image.shape[:2]
        resized = self.resize.get_transform(image).apply_image(image)
        tensor = self._torch.as_tensor(resized.astype("float32").transpose(2, 0, 1))
        return {"image": tensor, "height": height, "width": width}

    def predict(self, images: list[np.ndarray]) -> list[list[RawDetection]]:
        with self._lock, self._torch.inference_mode():
            return [self._predict_one(image) for image in images]

    def _predict_one(self, rgb: np.ndarray) -> list[RawDetection]:
        from detectron2.modeling.postprocessing import detector_postprocess

        height, width = rgb.shape[:2]
        (raw,) = self.model.inference([self._input(rgb)], do_postprocess=False)
        raw = raw.to("cpu")
        # detectron2's own post-processing (boxes scaled to the image, clipped, empty ones
        # dropped), but without pasting every mask at full image size: the (N, 1, 28, 28)
        # mask probabilities are kept aside and pasted on demand (``mask_patch``).
        roi_masks = raw.pred_masks if raw.has("pred_masks") else None
        if roi_masks is not None:
            raw.remove("pred_masks")
        raw.set("source_index", self._torch.arange(len(raw)))
        instances = detector_postprocess(raw, height, width)

        boxes = instances.pred_boxes.tensor
        scores = instances.scores.tolist()
        classes = instances.pred_classes.tolist()
        sources = instances.source_index.tolist()
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
            patch = None
            if roi_masks is not None:
                source = sources[index]
                patch = _MaskPaster(roi_masks[source : source + 1], boxes[index : index + 1], height, width)
            detections.append(RawDetection(label=label, score=float(scores[index]), box=box, mask_patch=patch))
        return detections


class _MaskPaster:
    """Pastes one 28x28 mask into its box of the image, as detectron2's ``paste_masks_in_image``
    does on the CPU (one mask at a time, only over the box plus a pixel), thresholded at 0.5."""

    def __init__(self, roi_mask: Any, box: Any, height: int, width: int) -> None:
        self.roi_mask = roi_mask  # (1, 1, M, M) probabilities
        self.box = box  # (1, 4), in image pixels
        self.height = height
        self.width = width

    def __call__(self) -> MaskPatch:
        from detectron2.layers.mask_ops import _do_paste_mask  # the pinned commit's own paste

        pasted, (rows, cols) = _do_paste_mask(self.roi_mask, self.box, self.height, self.width, skip_empty=True)
        patch = (pasted[0] >= MASK_THRESHOLD).numpy()
        return int(cols.start), int(rows.start), patch


def self_check(*, device: str = "cpu", image_path: str | None = None) -> dict[str, Any]:
    """Build the configured model, load its weights (strictly) and run one image: proves that
    torch, torchvision, detectron2, numpy and Pillow agree, and that the weights are there."""
    import time
    from importlib.metadata import version

    from app.core.config import get_settings

    settings = get_settings()
    started = time.perf_counter()
    predictor = Detectron2Predictor(
        config_name=settings.locator_config_name,
        weights_uri=settings.locator_weights_uri or None,
        device=device,
        cache_dir=settings.locator_cache_dir,
    )
    loaded = time.perf_counter()
    if image_path:
        from PIL import Image

        with Image.open(image_path) as source:
            rgb = np.asarray(source.convert("RGB"))
    else:  # a smooth colour field with a few blocks: any image proves the graph runs
        ys, xs = np.mgrid[0:480, 0:640]
        rgb = np.stack([xs * 255 // 639, ys * 255 // 479, (xs + ys) * 255 // 1118], axis=-1).astype(np.uint8)
        rgb[100:300, 150:350] = (200, 40, 40)
        rgb[250:420, 380:600] = (30, 30, 200)
    (found,) = predictor.predict([rgb])
    masks = [d.full_mask(*rgb.shape[:2]) for d in found[:5]]
    finished = time.perf_counter()
    classes = predictor.cfg.MODEL.ROI_HEADS.NUM_CLASSES
    if len(predictor.class_names) != classes:
        raise PredictorUnavailable(f"{len(predictor.class_names)} class names for a model of {classes} classes")
    return {
        "versions": {
            name: version(name) for name in ("torch", "torchvision", "detectron2", "numpy", "pillow", "setuptools")
        },
        "config": settings.locator_config_name,
        "weights": predictor.weights,
        "weights_sha256": sha256_of(predictor.weights),
        "device": device,
        "classes": len(predictor.class_names),
        "detections": len(found),
        "masks_checked": sum(mask is not None for mask in masks),
        "load_seconds": round(loaded - started, 2),
        "image_seconds": round(finished - loaded, 2),
    }


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json
    import sys

    parser = argparse.ArgumentParser(prog="python -m app.locator.predictors.detectron2", description=__doc__)
    parser.add_argument("--self-check", action="store_true", required=True, help="build, load and run once")
    parser.add_argument("--device", default="cpu", help="default: cpu (the image build has no GPU)")
    parser.add_argument("--image", help="an image file to run (default: a generated one)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        report = self_check(device=args.device, image_path=args.image)
    except Exception as exc:
        print(f"locator self-check FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
