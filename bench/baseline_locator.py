"""The OpenCV locator as it was before issue 13, kept verbatim as the benchmark's baseline.

bench/locator_quality.py runs it next to today's locator on the same photos in the same run.
Not used by the app.

Original docstring: the local default locator: classical object proposals, no model, no download.

Method (docs/locator.md has the long form):

1. Work on a copy whose longer side is at most ``max_side`` pixels; a median filter then an
   edge-preserving bilateral filter flatten noise and fine texture but keep object edges.
2. Two independent cues propose regions:
   - **colour**: the background's colour is taken from the image border (median in CIE Lab,
     with its spread); pixels far from it (Otsu's threshold on the distance, never below the
     border's own noise) are foreground;
   - **edges**: Canny on the smoothed lightness with thresholds from the image's median,
     closed by morphology so outlines become closed contours, which are filled.
   Each cue's mask is opened/closed, and its outer contours (holes filled) are candidates.
3. Each candidate is refined with **GrabCut** in a window around it, seeded with the
   candidate as "probably foreground", its eroded core as "foreground" and a ring around it
   as "probably background" (the RNG is seeded, so the result is deterministic). The
   refinement is kept only when it stays close to the candidate.
4. **Score** = mean of the region's solidity (area / convex hull area: compact objects score
   high, ragged texture low) and its contrast (Lab distance between the region's mean colour
   and a ring just outside it, mapped to 0..1). Regions with too little contrast or of
   implausible size are dropped; overlapping candidates (IoU ≥ 0.5, or a fragment lying mostly inside a better one) keep
   the best-scoring one.

Every detection is labelled ``object``: this finds salient regions, it does not classify.
Two runs on the same image give the same output.
"""

from __future__ import annotations

import math

import numpy as np

from app.locator.predictors.base import RawDetection, box_from_mask

LABEL = "object"


class BaselineLocator:
    TUNABLE = frozenset({"max_side", "min_area_fraction", "max_area_fraction", "min_contrast", "max_detections"})

    def __init__(
        self,
        *,
        max_side: int = 512,
        min_area_fraction: float = 0.001,
        max_area_fraction: float = 0.6,
        min_contrast: float = 12.0,
        max_detections: int = 20,
    ) -> None:
        self.max_side = max_side
        self.min_area_fraction = min_area_fraction
        self.max_area_fraction = max_area_fraction
        self.min_contrast = min_contrast
        self.max_detections = max_detections

    def predict(self, images: list[np.ndarray]) -> list[list[RawDetection]]:
        return [self.detect(image) for image in images]

    # ------------------------------------------------------------------------------------

    def detect(self, rgb: np.ndarray) -> list[RawDetection]:
        import cv2

        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected an (h, w, 3) RGB image, got shape {rgb.shape}")
        height, width = rgb.shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        small = rgb
        if scale < 1.0:
            small = cv2.resize(rgb, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        small = np.ascontiguousarray(small, dtype=np.uint8)
        smooth = cv2.bilateralFilter(cv2.medianBlur(small, 5), 9, 40, 5)
        lab = cv2.cvtColor(smooth, cv2.COLOR_RGB2LAB).astype(np.float32)
        h, w = lab.shape[:2]
        image_area = h * w

        candidates = self._colour_candidates(lab) + self._edge_candidates(lab)
        scored: list[tuple[float, np.ndarray]] = []
        for candidate in candidates:
            area = int(candidate.sum())
            if not (self.min_area_fraction * image_area <= area <= self.max_area_fraction * image_area):
                continue
            region = self._refine(smooth, candidate)
            result = self._score(lab, region)
            if result is not None:
                scored.append((result, region))

        kept = _suppress(scored, iou_threshold=0.5)[: self.max_detections]
        detections = []
        for score, region in kept:
            mask = region
            if scale < 1.0:
                mask = cv2.resize(region.astype(np.uint8) * 255, (width, height), interpolation=cv2.INTER_LINEAR) > 127
            box = box_from_mask(mask)
            if box is not None:
                detections.append(RawDetection(label=LABEL, score=round(score, 4), box=box, mask=mask))
        detections.sort(key=lambda d: (-d.score, d.box[1], d.box[0]))
        return detections

    # --- proposals -------------------------------------------------------------------------

    def _colour_candidates(self, lab: np.ndarray) -> list[np.ndarray]:
        import cv2

        h, w = lab.shape[:2]
        band = max(2, round(0.03 * min(h, w)))
        border = np.concatenate(
            [
                lab[:band].reshape(-1, 3),
                lab[-band:].reshape(-1, 3),
                lab[:, :band].reshape(-1, 3),
                lab[:, -band:].reshape(-1, 3),
            ]
        )
        background = np.median(border, axis=0)
        distance = np.linalg.norm(lab - background, axis=2)
        border_noise = float(np.percentile(np.linalg.norm(border - background, axis=1), 95))
        peak = float(distance.max())
        if peak <= 0:
            return []
        scaled = np.clip(distance * (255.0 / peak), 0, 255).astype(np.uint8)
        otsu, _ = cv2.threshold(scaled, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        threshold = max(otsu * peak / 255.0, 1.5 * border_noise, self.min_contrast)
        return _regions(distance > threshold)

    def _edge_candidates(self, lab: np.ndarray) -> list[np.ndarray]:
        import cv2

        lightness = np.clip(lab[:, :, 0], 0, 255).astype(np.uint8)
        median = float(np.median(lightness))
        low, high = max(10.0, 0.66 * median * 0.5), max(30.0, 1.33 * median * 0.5)
        edges = cv2.Canny(lightness, low, high, L2gradient=True)
        # Colour edges the lightness misses (objects as light as their background).
        for channel in (1, 2):
            chroma = np.clip(lab[:, :, channel], 0, 255).astype(np.uint8)
            edges |= cv2.Canny(chroma, 20, 40, L2gradient=True)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
        closed = cv2.morphologyEx(edges, cv2.MORPH_CLOSE, kernel, iterations=2)
        return _regions(closed > 0)

    # --- refinement and score -------------------------------------------------------------

    def _refine(self, smooth: np.ndarray, candidate: np.ndarray) -> np.ndarray:
        """GrabCut around the candidate; falls back to the candidate when GrabCut wanders."""
        import cv2

        h, w = candidate.shape
        x1, y1, x2, y2 = box_from_mask(candidate) or (0, 0, w, h)
        margin = max(8, round(0.15 * max(x2 - x1, y2 - y1)))
        X1, Y1, X2, Y2 = max(0, x1 - margin), max(0, y1 - margin), min(w, x2 + margin), min(h, y2 + margin)
        window = candidate[Y1:Y2, X1:X2].astype(np.uint8)
        radius = max(2, round(0.08 * min(x2 - x1, y2 - y1)))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        seeds = np.full(window.shape, cv2.GC_BGD, dtype=np.uint8)
        seeds[cv2.dilate(window, kernel) > 0] = cv2.GC_PR_BGD
        seeds[window > 0] = cv2.GC_PR_FGD
        seeds[cv2.erode(window, kernel) > 0] = cv2.GC_FGD
        if not (seeds == cv2.GC_BGD).any() or not ((seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)).any():
            return candidate
        background_model = np.zeros((1, 65), np.float64)
        foreground_model = np.zeros((1, 65), np.float64)
        cv2.setRNGSeed(12345)  # GrabCut's k-means initialisation: same input, same output
        try:
            cv2.grabCut(
                np.ascontiguousarray(smooth[Y1:Y2, X1:X2]),
                seeds,
                None,
                background_model,
                foreground_model,
                3,
                cv2.GC_INIT_WITH_MASK,
            )
        except cv2.error:
            return candidate
        refined_window = (seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)
        regions = _regions(refined_window)
        if not regions:
            return candidate
        largest = max(regions, key=lambda r: int(r.sum()))
        ratio = largest.sum() / max(1, window.sum())
        if not 0.7 <= ratio <= 1.4:
            return candidate
        refined = np.zeros_like(candidate)
        refined[Y1:Y2, X1:X2] = largest
        return refined

    def _score(self, lab: np.ndarray, region: np.ndarray) -> float | None:
        import cv2

        area = int(region.sum())
        if area == 0:
            return None
        mask = region.astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        hull_area = sum(cv2.contourArea(cv2.convexHull(c)) for c in contours)
        solidity = min(1.0, area / hull_area) if hull_area > 0 else 0.0
        x1, y1, x2, y2 = box_from_mask(region) or (0, 0, 1, 1)
        radius = max(3, round(0.1 * min(x2 - x1, y2 - y1)))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        ring = (cv2.dilate(mask, kernel) > 0) & ~region
        if not ring.any():
            return None
        contrast = float(np.linalg.norm(lab[region].mean(axis=0) - lab[ring].mean(axis=0)))
        if contrast < self.min_contrast:
            return None
        contrast_score = 1.0 - math.exp(-contrast / 25.0)
        return 0.5 * solidity + 0.5 * contrast_score


def _regions(binary: np.ndarray) -> list[np.ndarray]:
    """Cleaned-up connected regions of a boolean mask, each with its holes filled."""
    import cv2

    mask = binary.astype(np.uint8) * 255
    small = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, small)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    regions = []
    # A fixed order (top-left first) keeps the output deterministic.
    for contour in sorted(contours, key=lambda c: tuple(cv2.boundingRect(c)[1::-1])):
        filled = np.zeros(mask.shape, np.uint8)
        cv2.drawContours(filled, [contour], -1, 255, thickness=cv2.FILLED)
        regions.append(filled > 0)
    return regions


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def _suppress(scored: list[tuple[float, np.ndarray]], iou_threshold: float) -> list[tuple[float, np.ndarray]]:
    """Greedy non-maximum suppression on masks: best score first, drop what overlaps it."""
    kept: list[tuple[float, np.ndarray]] = []
    for score, region in sorted(scored, key=lambda item: -item[0]):
        if all(_iou(region, other) < iou_threshold and not _inside(region, other) for _, other in kept):
            kept.append((score, region))
    return kept


def _inside(region: np.ndarray, other: np.ndarray, fraction: float = 0.8) -> bool:
    """Most of ``region`` lies within ``other`` (grown by a few pixels): a fragment of an
    object already kept, such as the tip of a shape its refinement trimmed."""
    import cv2

    x1, y1, x2, y2 = box_from_mask(other) or (0, 0, 1, 1)
    radius = max(2, round(0.05 * min(x2 - x1, y2 - y1)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    grown = cv2.dilate(other.astype(np.uint8), kernel) > 0
    return bool(np.logical_and(region, grown).sum() >= fraction * region.sum())
