"""The local default locator: classical object proposals, no model, no download.

Method (docs/locator.md has the long form, bench/locator_quality.py the figures):

1. Work on a copy whose longer side is at most ``max_side`` pixels.
2. **Proposals**: OpenCV contrib's selective search (``cv2.ximgproc.segmentation``, fast
   mode: Felzenszwalb graph segmentations in several colour spaces, grouped hierarchically by
   colour, texture, size and fill) gives a few hundred to a few thousand boxes. Each box is
   also "snapped" to the superpixels lying mostly inside it (two segmentation scales), which
   adds boxes that fit object outlines more tightly.
3. **Objectness score** of a box (after Alexe, Deselaers & Ferrari, "Measuring the
   objectness of image windows", 2012), a product of three cues, each favouring whole objects
   over fragments:
   - *superpixel straddling*: superpixels (graph segmentation at three scales) that cross the
     box's edge mean the box cuts through a region; 1 - Σ min(|s ∩ box|, |s \\ box|) / |box|,
     averaged over the scales. A fragment of an object cuts through the object's superpixels;
   - *colour contrast*: χ² distance between the Lab colour histograms of the box and of a
     ring around it (an object differs from its surroundings; a patch of wall does not);
   - *size*: (area fraction)^¼, a mild prior for whole objects over their parts.
   Boxes covering more than 95 % of the photo, and boxes whose colour contrast is below
   ``min_contrast`` (noise, a blank wall), are dropped.
4. Greedy non-maximum suppression on the boxes (IoU ≥ 0.4) keeps the best of near duplicates;
   the top ``max_detections`` remain, scores scaled so the best box of the image is 1.0.
5. **Instance mask** of each kept box: GrabCut inside the box (everything outside is
   background), seeded with the superpixels lying mostly inside it as probable foreground;
   the RNG is seeded, so two runs give the same masks.

Every detection is labelled ``object``: this ranks regions, it does not classify.
"""

from __future__ import annotations

import numpy as np

from app.locator.predictors.base import RawDetection

LABEL = "object"
# Felzenszwalb thresholds (``k``) of the superpixel scales: fine, middle, coarse.
SEGMENT_SCALES = (150, 300, 600)
Box = tuple[int, int, int, int]  # x1, y1, x2, y2 (exclusive) in the working image


class OpenCVLocator:
    TUNABLE = frozenset(
        {"max_side", "min_area_fraction", "max_area_fraction", "min_contrast", "max_detections", "nms_iou", "masks"}
    )

    def __init__(
        self,
        *,
        max_side: int = 384,
        min_area_fraction: float = 0.004,
        max_area_fraction: float = 0.95,
        min_contrast: float = 0.03,
        max_detections: int = 10,
        nms_iou: float = 0.4,
        masks: bool = True,
    ) -> None:
        self.max_side = max_side
        self.min_area_fraction = min_area_fraction
        self.max_area_fraction = max_area_fraction
        self.min_contrast = min_contrast
        self.max_detections = max_detections
        self.nms_iou = nms_iou
        self.masks = masks

    def predict(self, images: list[np.ndarray]) -> list[list[RawDetection]]:
        return [self.detect(image) for image in images]

    # ------------------------------------------------------------------------------------

    def detect(self, rgb: np.ndarray) -> list[RawDetection]:
        import cv2

        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected an (h, w, 3) RGB image, got shape {rgb.shape}")
        height, width = rgb.shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        small = np.ascontiguousarray(rgb, dtype=np.uint8)
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            small = cv2.resize(small, size, interpolation=cv2.INTER_AREA)
        h, w = small.shape[:2]
        if h < 8 or w < 8:
            return []
        bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
        area = h * w
        min_size = max(4, round(0.002 * area))
        segmentations = [
            cv2.ximgproc.segmentation.createGraphSegmentation(sigma=0.8, k=k, min_size=min_size).processImage(bgr)
            for k in SEGMENT_SCALES
        ]
        sizes = [np.bincount(labels.ravel()) for labels in segmentations]
        boxes = _proposals(bgr, segmentations[1:], sizes[1:], min_area=self.min_area_fraction * area)
        if not boxes:
            return []
        # A box that is (almost) the whole photo selects nothing.
        boxes = [b for b in boxes if (b[2] - b[0]) * (b[3] - b[1]) <= self.max_area_fraction * area]
        if not boxes:
            return []
        scores = _objectness(small, boxes, segmentations, sizes, self.min_contrast)
        kept = thin_out(boxes, scores, self.nms_iou, self.max_detections)
        kept = [i for i in kept if scores[i] > 0]
        if not kept:
            return []
        best = max(scores[i] for i in kept)

        detections = []
        for index in kept:
            x1, y1, x2, y2 = boxes[index]
            mask = None
            if self.masks:
                mask = _grabcut_mask(bgr, (x1, y1, x2, y2), segmentations[0], sizes[0])
                if scale < 1.0:
                    mask = cv2.resize(mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0
            box = (
                max(0, int(x1 / scale)),
                max(0, int(y1 / scale)),
                min(width, round(x2 / scale)),
                min(height, round(y2 / scale)),
            )
            score = round(float(scores[index] / best), 4)
            detections.append(RawDetection(label=LABEL, score=score, box=box, mask=mask))
        detections.sort(key=lambda d: (-d.score, d.box[1], d.box[0]))
        return detections


# --- proposals ---------------------------------------------------------------------------------


def _proposals(bgr: np.ndarray, segmentations: list[np.ndarray], sizes: list[np.ndarray], min_area: float) -> list[Box]:
    """Selective-search boxes plus each box snapped to the superpixels mostly inside it."""
    import cv2

    search = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
    search.setBaseImage(bgr)
    search.switchToSelectiveSearchFast()
    raw = [(int(x), int(y), int(x + bw), int(y + bh)) for x, y, bw, bh in search.process() if bw * bh >= min_area]
    boxes = dict.fromkeys(raw)  # ordered and without duplicates: deterministic
    for labels, size in zip(segmentations, sizes, strict=True):
        for x1, y1, x2, y2 in raw:
            inside = np.bincount(labels[y1:y2, x1:x2].ravel(), minlength=size.size)
            members = inside >= 0.5 * size
            if not members.any():
                continue
            snapped = members[labels]
            rows, cols = np.flatnonzero(snapped.any(axis=1)), np.flatnonzero(snapped.any(axis=0))
            box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
            if (box[2] - box[0]) * (box[3] - box[1]) >= min_area:
                boxes.setdefault(box)
    return list(boxes)


def _objectness(
    rgb: np.ndarray, boxes: list[Box], segmentations: list[np.ndarray], sizes: list[np.ndarray], min_contrast: float
) -> np.ndarray:
    """Each box's objectness; 0 for a box whose colours hardly differ from its surroundings."""
    import cv2

    h, w = rgb.shape[:2]
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    bins = ((lab[..., 0] // 32) * 64 + (lab[..., 1] // 32) * 8 + lab[..., 2] // 32).astype(np.int32)  # 8x8x8
    scores = np.empty(len(boxes))
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        box_area = (x2 - x1) * (y2 - y1)
        straddling = 0.0
        for labels, size in zip(segmentations, sizes, strict=True):
            inside = np.bincount(labels[y1:y2, x1:x2].ravel(), minlength=size.size)
            straddling += 1.0 - np.minimum(inside, size - inside).sum() / box_area
        straddling /= len(segmentations)
        margin = max(2, int(0.15 * max(x2 - x1, y2 - y1)))
        X1, Y1, X2, Y2 = max(0, x1 - margin), max(0, y1 - margin), min(w, x2 + margin), min(h, y2 + margin)
        inner = np.bincount(bins[y1:y2, x1:x2].ravel(), minlength=512).astype(np.float64)
        ring = np.bincount(bins[Y1:Y2, X1:X2].ravel(), minlength=512) - inner
        contrast = 0.0
        if ring.sum() >= 1:  # the whole image has no surroundings to differ from
            p, q = inner / inner.sum(), ring / ring.sum()
            contrast = 0.5 * float(np.sum((p - q) ** 2 / (p + q + 1e-9)))
        if contrast < min_contrast:
            scores[i] = 0.0
            continue
        scores[i] = max(0.0, straddling) * (contrast + 0.2) * (box_area / (h * w)) ** 0.25
    return scores


def _iou(a: Box, b: Box) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def thin_out(boxes: list[Box], scores: np.ndarray, iou_threshold: float, limit: int) -> list[int]:
    """Greedy non-maximum suppression: best score first (ties: first proposed), drop overlaps."""
    kept: list[int] = []
    for index in np.argsort(-scores, kind="stable"):
        if all(_iou(boxes[index], boxes[other]) < iou_threshold for other in kept):
            kept.append(int(index))
            if len(kept) == limit:
                break
    return kept


# --- masks ------------------------------------------------------------------------------------


def _grabcut_mask(bgr: np.ndarray, box: Box, labels: np.ndarray, size: np.ndarray) -> np.ndarray:
    """The object inside ``box``: GrabCut seeded with the superpixels mostly inside it."""
    import cv2

    x1, y1, x2, y2 = box
    h, w = labels.shape
    inside = np.bincount(labels[y1:y2, x1:x2].ravel(), minlength=size.size)
    core = (inside >= 0.5 * size)[labels]
    seeds = np.full((h, w), cv2.GC_BGD, np.uint8)
    seeds[y1:y2, x1:x2] = cv2.GC_PR_BGD
    in_box = np.zeros((h, w), bool)
    in_box[y1:y2, x1:x2] = True
    seeds[core & in_box] = cv2.GC_PR_FGD
    fallback = core & in_box if (core & in_box).any() else in_box
    if not (seeds == cv2.GC_PR_FGD).any():
        return fallback
    # GrabCut on a window around the box (outside the box is background anyway): faster.
    margin = max(8, round(0.1 * max(x2 - x1, y2 - y1)))
    X1, Y1, X2, Y2 = max(0, x1 - margin), max(0, y1 - margin), min(w, x2 + margin), min(h, y2 + margin)
    window = np.ascontiguousarray(seeds[Y1:Y2, X1:X2])
    if not (window == cv2.GC_BGD).any():
        window[[0, -1], :] = cv2.GC_BGD  # a box the size of the image: its frame is the background
        window[:, [0, -1]] = cv2.GC_BGD
    cv2.setRNGSeed(12345)  # GrabCut's k-means initialisation: same input, same output
    try:
        cv2.grabCut(
            np.ascontiguousarray(bgr[Y1:Y2, X1:X2]),
            window,
            None,
            np.zeros((1, 65)),
            np.zeros((1, 65)),
            2,
            cv2.GC_INIT_WITH_MASK,
        )
    except cv2.error:
        return fallback
    mask = np.zeros((h, w), bool)
    mask[Y1:Y2, X1:X2] = (window == cv2.GC_FGD) | (window == cv2.GC_PR_FGD)
    # GrabCut that keeps almost nothing has lost the object: the superpixels are better.
    if mask.sum() < 0.05 * (x2 - x1) * (y2 - y1):
        return fallback
    return mask
