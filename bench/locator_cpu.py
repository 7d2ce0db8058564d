"""The Detectron2 locator on the CPU: time per photo and peak memory, against detectron2's own
DefaultPredictor measured in the same run (the baseline). Needs .venv-d2
(scripts/test-detectron2.sh builds it).

Each measurement runs in a fresh subprocess, so ru_maxrss belongs to that run alone. Without
``--weights`` it uses the tests' checkpoint (random weights with a few classes biased up: up to
100 detections per photo, more than real weights find, so mask handling is exercised hard).

    .venv-d2/bin/python bench/locator_cpu.py                      # photos + a 24-megapixel photo
    .venv-d2/bin/python bench/locator_cpu.py --weights model_final_f10217.pkl --megapixels 40
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
from PIL import Image
from tests.detectron2.support import CONFIG, photo
mode, weights, megapixels = sys.argv[2], sys.argv[3], float(sys.argv[4])
if mode == "default":
    from detectron2 import model_zoo
    from detectron2.config import get_cfg
    from detectron2.engine import DefaultPredictor
    cfg = get_cfg()
    cfg.merge_from_file(model_zoo.get_config_file(CONFIG))
    cfg.MODEL.DEVICE, cfg.MODEL.WEIGHTS = "cpu", weights
    reference = DefaultPredictor(cfg)
else:
    from app.locator.predictors.detectron2 import Detectron2Predictor
    ours = Detectron2Predictor(config_name=CONFIG, weights_uri=weights, device="cpu", cache_dir="/tmp/locator-bench")
names = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"]
images = [photo(name) for name in names]
if megapixels:
    base = Image.fromarray(photo("chelsea.png"))  # the photo with the most candidates
    scale = (megapixels * 1e6 / (base.width * base.height)) ** 0.5
    images = [np.asarray(base.resize((round(base.width * scale), round(base.height * scale)), Image.BICUBIC))]
    names = [f"chelsea x{scale:.1f} ({images[0].shape[1]}x{images[0].shape[0]})"]
rows = []
for name, rgb in zip(names, images):
    wall, cpu = time.perf_counter(), time.process_time()
    if mode == "default":
        out = reference(np.ascontiguousarray(rgb[:, :, ::-1]))["instances"].to("cpu")
        masks = out.pred_masks.numpy()  # what a caller of DefaultPredictor encodes from
        count = len(out)
    else:
        (found,) = ours.predict([rgb])
        kept = [d for d in found if d.score >= 0.5]  # a job's default threshold
        masks = [d.full_mask(*rgb.shape[:2]) for d in kept]
        count = len(found)
    rows.append({"image": name, "detections": count, "wall_s": round(time.perf_counter() - wall, 2),
                 "cpu_s": round(time.process_time() - cpu, 2)})
    del masks
print(json.dumps({"rows": rows, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
"""


def measure(mode: str, weights: str, megapixels: float) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT), mode, weights, str(megapixels)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", help="a checkpoint (default: the tests' random one)")
    parser.add_argument("--megapixels", type=float, default=24.0, help="size of the large photo (0: skip it)")
    parser.add_argument("--large-only", action="store_true", help="only the large photo")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as folder:
        weights = args.weights
        if not weights:
            from tests.detectron2 import support

            weights = str(support.save_zoo_pickle(Path(folder) / "random.pkl", support.state_of(support.build_model())))
        runs = [] if args.large_only else [("photos", 0.0)]
        runs += [("large photo", args.megapixels)] if args.megapixels else []
        for title, megapixels in runs:
            ours, baseline = measure("ours", weights, megapixels), measure("default", weights, megapixels)
            print(f"== {title}: ours vs DefaultPredictor (same weights, same process layout)")
            for mine, theirs in zip(ours["rows"], baseline["rows"], strict=True):
                print(
                    f"  {mine['image']:<28} {mine['detections']:>3} detections  cpu {mine['cpu_s']:6.2f} s "
                    f"(wall {mine['wall_s']:.2f}) vs {theirs['cpu_s']:6.2f} s: x{mine['cpu_s'] / theirs['cpu_s']:.2f}"
                )
            print(
                f"  peak memory {ours['peak_mb']} MB vs {baseline['peak_mb']} MB: "
                f"x{ours['peak_mb'] / baseline['peak_mb']:.2f}"
            )


if __name__ == "__main__":
    main()
