"""Dockerfile.locator: what it pins and bakes, and its build check run here as the build runs it.

The image itself cannot be built on this machine (no registry to pull the CUDA base from), so
its build-check command is taken from the Dockerfile and run in this venv against a cache laid
out as the image's is.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.detectron2.conftest import subprocess_env

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "Dockerfile.locator").read_text()


def _stages() -> list[str]:
    """The Dockerfile's build stages, each from its FROM line (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE)
    instructions = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    stages: list[list[str]] = []
    for line in instructions:
        if line.startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return ["\n".join(stage) for stage in stages]


def _arg(name: str) -> str:
    match = re.search(rf"^ARG {name}=(\S*)$", DOCKERFILE, re.MULTILINE)
    assert match, f"ARG {name} has no default"
    return match.group(1).strip('"')


def _self_check_command() -> list[str]:
    runtime = _stages()[-1]
    match = re.search(
        r"^RUN --network=none (python -m app\.locator\.predictors\.detectron2 --self-check.*)$", runtime, re.M
    )
    assert match, "the runtime stage has no offline build check"
    return shlex.split(match.group(1))


def test_multi_stage_cpu_built_detectron2_and_setuptools_pinned_in_the_runtime_image() -> None:
    stages = _stages()
    assert len(stages) >= 3, "detectron2 wheel, weights and runtime stages"
    # Every stage starts from the one runtime base (no -devel image: nothing needs nvcc).
    assert all(re.fullmatch(r"FROM \$\{BASE\}( AS \w+)?", stage.splitlines()[0]) for stage in stages)
    base = _arg("BASE")
    assert base.startswith("pytorch/pytorch:") and base.endswith("-runtime")
    builder = next(stage for stage in stages if " AS detectron2" in stage.splitlines()[0])
    assert "FORCE_CUDA=0" in builder and "FORCE_CUDA=1" not in DOCKERFILE
    assert "--no-build-isolation" in builder and _arg("DETECTRON2_REF") == "9604f5995cc628619f0e4fd913453b4d7d61db3f"
    runtime = stages[-1]
    installs = [line for line in runtime.splitlines() if line.startswith("RUN ") and "pip install" in line]
    assert installs and all('"setuptools<82"' in line for line in installs), "a pip install may lift setuptools"
    assert "COPY --from=detectron2 /wheels" in runtime


def test_weights_are_baked_by_digest_where_the_weight_cache_looks() -> None:
    from detectron2 import model_zoo

    from app.core.config import Settings
    from app.locator.predictors.detectron2 import cache_path

    url = _arg("WEIGHTS_URL")
    assert url == model_zoo.get_checkpoint_url(Settings().locator_config_name)
    weights = next(stage for stage in _stages() if " AS weights" in stage.splitlines()[0])
    assert 'dest="/weights/${WEIGHTS_URL#https://}"' in weights
    assert "sha256sum --check" in weights and 'test -n "${WEIGHTS_SHA256}"' in weights
    runtime = _stages()[-1]
    assert "LOCATOR_CACHE_DIR=/var/cache/locator" in runtime
    assert "COPY --from=weights /weights/ /var/cache/locator/" in runtime
    # The file lands exactly where the task looks for the zoo checkpoint before downloading it.
    baked = "/var/cache/locator/" + url.removeprefix("https://")
    assert str(cache_path(url, "/var/cache/locator")) == baked
    assert "instance volume" not in DOCKERFILE


def _bake(cache: Path, weights: Path) -> Path:
    """Lay out ``cache`` as the image's /var/cache/locator, with ``weights`` as the zoo file."""
    target = cache / _arg("WEIGHTS_URL").removeprefix("https://")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(weights, target)
    return target


def _run_self_check(cache: Path, *prefix: str) -> subprocess.CompletedProcess[str]:
    command = _self_check_command()
    assert command[0] == "python"
    env = subprocess_env(LOCATOR_CACHE_DIR=str(cache), LOCATOR_DEVICE="cuda")  # as the image's ENV
    return subprocess.run(
        [sys.executable, *prefix, *command[1:]],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_build_check_loads_the_baked_weights_offline_and_runs_an_image(tmp_path, checkpoint) -> None:
    baked = _bake(tmp_path / "cache", checkpoint)
    proc = _run_self_check(tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(proc.stdout)
    assert report["weights"] == str(baked) and report["device"] == "cpu"
    assert report["classes"] == 80
    assert int(report["versions"]["setuptools"].split(".")[0]) < 82
    import hashlib

    assert report["weights_sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()


@pytest.mark.parametrize("weights", ["empty", "fewer_classes"])
def test_build_check_fails_on_weights_that_do_not_fit(tmp_path, misfits, weights) -> None:
    _bake(tmp_path / "cache", misfits[weights])
    proc = _run_self_check(tmp_path / "cache")
    assert proc.returncode == 1
    assert "locator self-check FAILED" in proc.stderr and "does not fit the model" in proc.stderr


def test_build_check_fails_without_weights_rather_than_downloading(tmp_path) -> None:
    proc = _run_self_check(tmp_path / "empty-cache")
    assert proc.returncode == 1 and "locator self-check FAILED" in proc.stderr


def test_build_check_fails_when_setuptools_has_no_pkg_resources(tmp_path, checkpoint) -> None:
    """What setuptools >= 82 does to detectron2 at this commit: the check (and so the build) fails."""
    _bake(tmp_path / "cache", checkpoint)
    block = (
        "import runpy, sys; sys.modules['pkg_resources'] = None; sys.argv = ['x', *sys.argv[1:]]; "
        "runpy.run_module('app.locator.predictors.detectron2', run_name='__main__')"
    )
    command = _self_check_command()
    proc = subprocess.run(
        [sys.executable, "-c", block, *command[3:]],
        cwd=REPO,
        env=subprocess_env(LOCATOR_CACHE_DIR=str(tmp_path / "cache")),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout
    assert "pkg_resources" in proc.stderr
