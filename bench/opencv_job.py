"""Figure 6 of the performance budget: a 4096x4096 OpenCV inpainting job vs decode + encode.

Every sample is a fresh interpreter (``python bench/opencv_job.py sample ...``) that imports
what the worker has imported, reads the stored bytes, notes its memory high-water mark
(``VmHWM``), then runs one thing and reports its wall time and how far the high-water mark
rose:

- **baseline**: decode the stored image (``open_image``) and encode it as the worker stores
  an output (``encode_output(..., "PNG")``: PNG, compress level 1);
- **job**: what ``app.inpainting.jobs.run`` does with the stored image and the stored mask
  PNG: decode, ``mask_from_png_bytes``, ``inpaint_highres(..., in_place=True)`` with the
  model's backend, ``encode_output``.

Ratios: job time / baseline time (same input, medians of the interleaved samples), and job
peak / the decoded image's bytes (4096 * 4096 * 3). Models: ``opencv-fill`` (the local
default: no ``is_default`` inpainting model is usable locally and it sorts first) and
``opencv-telea``. Masks, centred: a 200x150 box, 1000x1000 and 2000x2000 boxes, and six
wavy brush strokes 10 px wide across a 1600x1600 region (thin: opencv-fill uses Telea).

    .venv/bin/python bench/opencv_job.py              # 7 runs, JPEG input
    .venv/bin/python bench/opencv_job.py 9 --png      # 9 runs, JPEG and PNG inputs
    .venv/bin/python bench/opencv_job.py --fsr-hole-pixels=3000   # what-if: another FSR budget
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SIDE = 4096
DECODED_BYTES = SIDE * SIDE * 3
MODELS = {"opencv-fill": "opencv-fill", "opencv-telea": "opencv"}  # model name -> backend
MASKS = ("small", "medium", "large", "strokes")
TIME_TARGET = 1.5
FSR_OVERRIDE = "BENCH_FSR_HOLE_PIXELS"  # set by --fsr-hole-pixels=N, read by the samples
MEMORY_TARGET = 4.0


def _photo_like(side: int) -> Any:  # a PIL image; Pillow is imported lazily
    """A smooth gradient with mild noise: compresses like a photo, not like pure noise
    (as bench/highres_memory.py)."""
    import numpy as np
    from PIL import Image

    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 6, size=(side, side, 3)).astype(np.float32)
    base = np.stack([x * 200 + 30, y * 180 + 40, (1 - x) * 150 + 60], axis=-1)
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8), mode="RGB")


def _mask(kind: str, side: int) -> Any:
    import cv2
    import numpy as np
    from PIL import Image

    mask = np.zeros((side, side), np.uint8)
    centre = side // 2
    if kind == "strokes":
        rng = np.random.default_rng(1)
        left = centre - 800
        for index in range(6):  # six wavy strokes across a 1600 x 1600 region, not crossing
            xs = np.linspace(left, left + 1600, 40)
            ys = centre - 700 + 280 * index + 60 * np.sin(xs / rng.uniform(80, 200))
            points = np.stack([xs, ys], axis=1).round().astype(np.int32)
            cv2.polylines(mask, [points], isClosed=False, color=255, thickness=10)
    else:
        width, height = {"small": (200, 150), "medium": (1000, 1000), "large": (2000, 2000)}[kind]
        mask[centre - height // 2 : centre + height // 2, centre - width // 2 : centre + width // 2] = 255
    return Image.fromarray(mask, mode="L")


def _make_inputs(folder: Path) -> None:
    """The stored objects: the photo as JPEG q92 and PNG, each mask as the PNG that
    ``prepare_mask`` stores."""
    photo = _photo_like(SIDE)
    photo.save(folder / "photo.jpg", format="JPEG", quality=92)
    photo.save(folder / "photo.png", format="PNG")
    for kind in MASKS:
        _mask(kind, SIDE).save(folder / f"mask-{kind}.png", format="PNG")


def _vm_hwm_bytes() -> int:
    """This process's peak RSS (Linux resets it at exec, unlike ru_maxrss)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _sample(what: str, image_path: str, mask_path: str, backend_name: str) -> dict[str, float]:
    """One measurement, in this (fresh) process."""
    import cv2  # noqa: F401  (a warm worker has these loaded: not the job's cost)
    import numpy  # noqa: F401

    from app.core.config import Settings
    from app.inpainting.backends import get_backend
    from app.inpainting.backends.base import InpaintParams
    from app.inpainting.highres import inpaint_highres, open_image
    from app.inpainting.jobs import encode_output
    from app.inpainting.masks import mask_from_png_bytes

    backend = get_backend(backend_name, Settings()) if what == "job" else None
    if backend is not None and backend_name == "opencv-fill" and os.environ.get(FSR_OVERRIDE):
        from app.inpainting.backends.opencv_fill import OpenCVFillBackend

        backend = OpenCVFillBackend(fsr_hole_pixels=int(os.environ[FSR_OVERRIDE]))

    stored = Path(image_path).read_bytes()  # what storage.get() returns
    stored_mask = Path(mask_path).read_bytes() if what == "job" else b""
    before = _vm_hwm_bytes()
    started = time.perf_counter()
    if backend is None:
        image = open_image(stored)
        del stored
        data = encode_output(image, "PNG", 90)
        del image
    else:
        # As app.inpainting.jobs.run, in the same order, holding the same references.
        image = open_image(stored)
        del stored
        mask = mask_from_png_bytes(image.size, stored_mask)
        del stored_mask
        params = InpaintParams(prompt="remove it", seed=1)
        result = inpaint_highres(image, mask, backend, params, in_place=True)
        del mask
        data = encode_output(result.image, "PNG", 90)
        del image, result
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_bytes": _vm_hwm_bytes() - before, "output_bytes": len(data)}


def _run_sample(what: str, image: Path, mask: Path | None, backend: str) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, __file__, "sample", what, str(image), str(mask or ""), backend],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(runs: int = 7, inputs: tuple[str, ...] = ("jpg",)) -> dict[str, list[dict[str, float]]]:
    """{sample name: [one dict per run]}; the runs interleave every kind of sample."""
    samples: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        # Made in a process of their own: no sample inherits the float arrays of the photo.
        subprocess.run([sys.executable, __file__, "make", str(folder)], cwd=ROOT, check=True)
        for _ in range(runs):
            for ext in inputs:
                image = folder / f"photo.{ext}"
                samples.setdefault(f"baseline {ext}", []).append(_run_sample("baseline", image, None, ""))
                for model, backend in MODELS.items():
                    for kind in MASKS:
                        key = f"{model} {kind} {ext}"
                        result = _run_sample("job", image, folder / f"mask-{kind}.png", backend)
                        samples.setdefault(key, []).append(result)
    return samples


def rows_from(samples: dict[str, list[dict[str, float]]]) -> list[tuple[str, float, str]]:
    def med(key: str, field: str) -> float:
        return statistics.median(s[field] for s in samples[key])

    rows: list[tuple[str, float, str]] = []
    for key in samples:
        if key.startswith("baseline"):
            continue
        model, kind, ext = key.split()
        label = f"6 {model}, {kind} mask ({ext.upper()})"
        rows.append((f"{label}: time", med(key, "seconds") / med(f"baseline {ext}", "seconds"), f"<= {TIME_TARGET}"))
        rows.append((f"{label}: peak memory", med(key, "peak_bytes") / DECODED_BYTES, f"<= {MEMORY_TARGET:g}"))
    return rows


def figure6(runs: int = 7, inputs: tuple[str, ...] = ("jpg",)) -> list[tuple[str, float, str]]:
    """Figure 6's rows: (label, ratio, target). Time is over decode+encode of the same stored
    image; peak memory over the decoded image's bytes (4096 * 4096 * 3)."""
    return rows_from(measure(runs, inputs))


def main() -> None:
    if len(sys.argv) >= 2 and sys.argv[1] == "make":
        _make_inputs(Path(sys.argv[2]))
        return
    if len(sys.argv) >= 2 and sys.argv[1] == "sample":
        print(json.dumps(_sample(*sys.argv[2:6])))
        return
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    runs = int(args[0]) if args else 7
    inputs = ("jpg", "png") if "--png" in sys.argv else ("jpg",)
    for arg in sys.argv[1:]:
        if arg.startswith("--fsr-hole-pixels="):  # what-if: opencv-fill with another FSR budget
            os.environ[FSR_OVERRIDE] = arg.split("=", 1)[1]
    samples = measure(runs, inputs)
    rows = rows_from(samples)
    load = os.getloadavg()
    mb = 2**20
    print(f"\nfigure 6: median of {runs} fresh processes, interleaved; load average {load[0]:.2f} {load[1]:.2f}")
    if os.environ.get(FSR_OVERRIDE):
        print(
            f"WHAT-IF: opencv-fill built with fsr_hole_pixels={os.environ[FSR_OVERRIDE]}, not as the worker builds it"
        )
    print(
        "time ratio = job / baseline (decode the stored image + encode it as the worker stores an output, PNG);"
        f" memory ratio = the job's rise of VmHWM / the decoded image ({DECODED_BYTES / mb:.0f} MB)"
    )
    for ext in inputs:
        baseline = samples[f"baseline {ext}"]
        print(
            f"baseline ({ext.upper()} input): {statistics.median(s['seconds'] for s in baseline):.2f} s, "
            f"peak +{statistics.median(s['peak_bytes'] for s in baseline) / mb:.0f} MB"
        )
    print(f"{'figure':<52}{'ratio':>7}  {'target':<7} met   absolute")
    for label, ratio, target in rows:
        model, rest = label[2:].split(", ", 1)
        kind, ext = rest.split(" mask (")[0], rest.split("(")[1].split(")")[0].lower()
        key = f"{model} {kind} {ext}"
        if label.endswith("time"):
            absolute = f"{statistics.median(s['seconds'] for s in samples[key]):.2f} s"
        else:
            absolute = f"+{statistics.median(s['peak_bytes'] for s in samples[key]) / mb:.0f} MB"
        met = "yes" if ratio <= float(target.split()[-1]) else "NO"
        print(f"{label:<52}{ratio:>7.2f}  {target:<7} {met:<5} {absolute}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
