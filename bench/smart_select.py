"""Smart select's latency on a 12-megapixel photo, against GrabCut on the full-resolution
region (the obvious implementation) measured in the same run.

Times what POST /v1/selections does after reading the stored bytes: decode (at a reduced
scale for JPEG), GrabCut, upsample, RLE-encode the full-size mask. Prints p50 and ratios.
Usage: ``python bench/smart_select.py [runs]`` (default 10; the baseline runs 3 times, it is slow).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WIDTH, HEIGHT = 4000, 3000  # 12 megapixels


def timed(select, data: bytes, **where) -> float:
    start = time.perf_counter()
    selection = select(data, size=(WIDTH, HEIGHT), **where)
    selection.rle()
    return (time.perf_counter() - start) * 1000


def main(runs: int) -> None:
    from app.selection import service
    from tests.photo import jpeg_bytes, render_photo

    image, truth = render_photo(WIDTH, HEIGHT)
    data = jpeg_bytes(image)
    ys, xs = truth["ball"].nonzero()
    margin = 80
    box = [int(xs.min()) - margin, int(ys.min()) - margin, int(xs.max()) + margin, int(ys.max()) + margin]
    point = [int(xs.mean()), int(ys.mean())]
    timed(service.smart_select, data, box=box)  # warm-up: imports, first allocations

    results = {
        "box (ours)": [timed(service.smart_select, data, box=box) for _ in range(runs)],
        "point (ours)": [timed(service.smart_select, data, point=point) for _ in range(runs)],
    }
    work_side = service.WORK_SIDE
    service.WORK_SIDE = 10**6  # baseline: no reduction, GrabCut at full resolution
    try:
        results["box, full-res GrabCut (baseline)"] = [timed(service.smart_select, data, box=box) for _ in range(3)]
    finally:
        service.WORK_SIDE = work_side

    selection = service.smart_select(data, size=(WIDTH, HEIGHT), box=box)
    iou = (selection.mask & truth["ball"]).sum() / (selection.mask | truth["ball"]).sum()
    baseline = statistics.median(results["box, full-res GrabCut (baseline)"])
    print(
        f"smart select on a {WIDTH}x{HEIGHT} JPEG ({len(data) // 1024} KiB), box {box[2] - box[0]}x{box[3] - box[1]} px"
    )
    print(f"{'case':<36}{'runs':>6}{'p50 ms':>10}{'min ms':>10}{'max ms':>10}{'x baseline':>12}")
    for name, samples in results.items():
        p50 = statistics.median(samples)
        print(
            f"{name:<36}{len(samples):>6}{p50:>10.0f}{min(samples):>10.0f}{max(samples):>10.0f}{p50 / baseline:>12.2f}"
        )
    print(f"box mask vs the true object: IoU {iou:.3f}; work size {selection.work_size[0]}x{selection.work_size[1]}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
