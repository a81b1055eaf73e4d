"""bench/gpu.py without a GPU: it refuses clearly, and its SD and SynCLR rows run at toy sizes on the CPU."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from synclr_ray import storage
from synclr_ray.config import load_config

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "gpu.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_gpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_refuses_without_a_gpu(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--json", str(out)], capture_output=True, text=True)
    assert proc.returncode != 0 and "no CUDA GPU is visible" in proc.stderr
    assert not out.exists()


def test_sd_rows_code_path_at_toy_size(bench):
    from diffusers import StableDiffusionPipeline

    models = StableDiffusionPipeline.from_pretrained(storage.model_source("builtin://tiny-sd15")).components
    for scheduler in ("ddim", "dpmsolver++"):
        rate = bench.sd_images_per_s(models, scheduler, steps=2, batch=2, resolution=64, device=torch.device("cpu"),
                                     batches=1)  # fmt: skip
        assert rate > 0


def test_synclr_step_counts_flops_at_toy_size(bench):
    result = bench.synclr_step(load_config("tiny").train, captions=2, images_per_caption=2, device=torch.device("cpu"),
                               steps=1, warmup=1)  # fmt: skip
    assert result["images_per_s"] > 0 and result["tflop_per_step"] > 0


def test_mfu_peaks_by_device_name(bench):
    assert bench.peak_tflops("NVIDIA H200") == bench.peak_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert bench.peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert bench.peak_tflops("Some Future GPU") is None
