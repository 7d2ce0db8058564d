"""Locator quality on real photos: recall of hand-labelled main objects, and time per photo.

For each photo of bench/data/locator_labels.json (scikit-image's real photos), each locator
returns its detections; an object counts as found when one of the locator's first ``top``
detections (by score) overlaps its labelled box with IoU >= 0.5. Today's locator
(app.locator.predictors.opencv) is compared with the one before issue 13
(bench/baseline_locator.py) in the same run, on the same photos.

Usage: ``python bench/locator_quality.py [--top 10]`` (needs requirements-dev.txt).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from baseline_locator import BaselineLocator  # noqa: E402
from photos import labelled_set, load_photo  # noqa: E402

from app.locator.predictors.opencv import OpenCVLocator  # noqa: E402


def iou(a: list[int] | tuple[int, ...], b: list[int] | tuple[int, ...]) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def evaluate(locator, photos: dict, labels: dict, top: int) -> dict:
    found = total = 0
    seconds: list[float] = []
    cpu: list[float] = []
    per_object: list[tuple[str, str, float]] = []
    for name, objects in labels.items():
        started, started_cpu = time.perf_counter(), time.process_time()
        detections = locator.detect(photos[name])
        seconds.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
        ranked = sorted(detections, key=lambda d: -d.score)[:top]
        for item in objects:
            best = max((iou(item["box"], d.box) for d in ranked), default=0.0)
            per_object.append((name, item["name"], best))
            found += best >= 0.5
            total += 1
    return {
        "recall": found / total,
        "found": found,
        "total": total,
        "seconds": seconds,
        "cpu": cpu,
        "per_object": per_object,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    labels = labelled_set()
    photos = {name: load_photo(name) for name in labels}
    locators = {
        "baseline (before issue 13)": BaselineLocator(max_detections=args.top),
        "opencv-locator (today)": OpenCVLocator(max_detections=args.top),
    }
    results = {name: evaluate(locator, photos, labels, args.top) for name, locator in locators.items()}

    print(
        f"{len(photos)} photos, {sum(len(v) for v in labels.values())} labelled objects; found = IoU >= 0.5 "
        f"with one of the top {args.top} detections\n"
    )
    print(f"| locator | recall@{args.top} | found | mean s/photo | max s/photo | mean CPU s/photo |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        mean, mean_cpu = sum(r["seconds"]) / len(r["seconds"]), sum(r["cpu"]) / len(r["cpu"])
        print(
            f"| {name} | **{r['recall']:.2f}** | {r['found']}/{r['total']} | {mean:.2f} | {max(r['seconds']):.2f} "
            f"| {mean_cpu:.2f} |"
        )
    base, new = results.values()
    print(f"\ntime ratio today / baseline (wall): {sum(new['seconds']) / sum(base['seconds']):.1f}x")
    print(
        f"\nrecall ratio today / baseline: {new['recall'] / base['recall']:.1f}x"
        if base["recall"]
        else "\nbaseline recall is 0"
    )
    print("\nbest IoU per object (baseline → today):")
    for (photo, obj, before), (_, _, after) in zip(base["per_object"], new["per_object"], strict=True):
        print(f"  {photo:11s} {obj:17s} {before:.2f} → {after:.2f}{'' if after >= 0.5 else '  (missed)'}")


if __name__ == "__main__":
    main()
