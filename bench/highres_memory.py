"""Peak memory of one 4096x4096 inpainting job with a small mask (see docs/inpainting.md).

Each measurement runs in a fresh subprocess, so ru_maxrss (the process's high-water mark)
belongs to that job alone. The job is what the worker does: stored bytes -> decode -> mask
from a box -> crop, resize, hf-endpoint call (httpx MockTransport answering like the real
handler: no network), paste back -> encode PNG for storage.

    .venv/bin/python bench/highres_memory.py                 # JPEG and PNG inputs
    .venv/bin/python bench/highres_memory.py some/photo.png  # one file
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _photo_like(side: int) -> Any:  # a PIL image; Pillow is imported lazily
    """A smooth gradient with mild noise: compresses like a photo, not like pure noise."""
    import numpy as np
    from PIL import Image

    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 6, size=(side, side, 3)).astype(np.float32)
    base = np.stack([x * 200 + 30, y * 180 + 40, (1 - x) * 150 + 60], axis=-1)
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8), mode="RGB")


def measure(path: Path) -> dict[str, object]:
    import io
    import resource
    import time
    import tracemalloc

    import httpx
    from PIL import Image

    from app.inpainting.backends.base import InpaintParams
    from app.inpainting.backends.hf_endpoint import HFEndpointBackend
    from app.inpainting.highres import encode_png, inpaint_highres, open_image
    from app.inpainting.masks import mask_from_boxes

    def handler(request: httpx.Request) -> httpx.Response:
        import base64

        body = json.loads(request.content)
        with Image.open(io.BytesIO(base64.b64decode(body["image"]))) as crop:
            out = io.BytesIO()
            Image.new("RGB", crop.size, (10, 200, 10)).save(out, format="PNG")
        return httpx.Response(200, content=out.getvalue(), headers={"content-type": "image/png"})

    backend = HFEndpointBackend(url="http://endpoint.invalid/", token="t", transport=httpx.MockTransport(handler))
    baseline_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # interpreter + imports
    baseline_hwm = _vm_hwm_mb()
    tracemalloc.start()
    started = time.perf_counter()
    stored = path.read_bytes()  # what storage.get() returns

    image = open_image(stored)
    fmt = image.format
    side = image.width
    mask = mask_from_boxes(image.size, [[side // 2, side // 2, side // 2 + 200, side // 2 + 150]])
    result = inpaint_highres(image, mask, backend, InpaintParams(prompt="a bench", seed=1), in_place=True)
    output = encode_png(result.image)

    elapsed = time.perf_counter() - started
    _, traced_peak = tracemalloc.get_traced_memory()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_hwm = _vm_hwm_mb()
    return {
        "format": fmt,
        "side": side,
        "stored_mb": round(len(stored) / 2**20, 1),
        "output_png_mb": round(len(output) / 2**20, 1),
        "working_size": list(result.working_size),
        "baseline_vmhwm_mb": baseline_hwm,
        "peak_vmhwm_mb": peak_hwm,
        "job_vmhwm_mb": round(peak_hwm - baseline_hwm, 1),
        "baseline_ru_maxrss_mb": round(baseline_kb / 1024, 1),
        "peak_ru_maxrss_mb": round(peak_kb / 1024, 1),
        "tracemalloc_peak_mb": round(traced_peak / 2**20, 1),
        "seconds": round(elapsed, 2),
    }


def _vm_hwm_mb() -> float:
    """This process's own peak RSS. Unlike ru_maxrss, Linux resets it at exec, so a child
    does not inherit its parent's high-water mark."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def _make_inputs(folder: Path) -> None:
    photo = _photo_like(4096)
    photo.save(folder / "photo.jpg", format="JPEG", quality=92)
    photo.save(folder / "photo.png", format="PNG")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "make":
        _make_inputs(Path(sys.argv[2]))
        return
    if len(sys.argv) == 2:
        print(json.dumps(measure(Path(sys.argv[1]))))
        return
    with tempfile.TemporaryDirectory() as folder:
        # Inputs are made in a process of their own: neither this parent nor the measured
        # children ever hold the float arrays that build the test photo.
        subprocess.run([sys.executable, __file__, "make", folder], cwd=ROOT, check=True)
        for path in [Path(folder) / "photo.jpg", Path(folder) / "photo.png"]:
            run = subprocess.run(
                [sys.executable, __file__, str(path)], cwd=ROOT, capture_output=True, text=True, check=True
            )
            print(run.stdout.strip())


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
