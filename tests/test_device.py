"""The device and precision resolver: what each stage asks for, what a CPU runs instead, auto, and refusals."""

import pytest
import torch

from synclr_ray.device import Compute, fastest_precision, resolve


def test_without_a_visible_gpu_everything_runs_on_the_cpu():
    assert not torch.cuda.is_available()  # the development machine; on a GPU host the next lines differ by design
    assert resolve().device == torch.device("cpu") and resolve(gpus=1).device == torch.device("cpu")


def test_zero_gpus_means_the_cpu_even_when_one_is_visible():
    # A stage configured with num_gpus 0 must not take a GPU that happens to be visible to its process.
    assert resolve("fp32", gpus=0).device.type == "cpu"


def test_a_given_device_is_kept_and_cpus_may_run_another_precision():
    training = resolve("bf16", device="cpu", cpu_precision="fp32")  # train.precision=bf16 on a CPU worker
    assert training == Compute(torch.device("cpu"), "fp32") and training.dtype == torch.float32
    on_gpu = resolve("bf16", device="cuda:1", cpu_precision="fp32")
    assert on_gpu.device == torch.device("cuda:1") and on_gpu.dtype == torch.bfloat16
    generation = resolve("fp16", device="cuda", cpu_precision="fp32")  # Stable Diffusion's weights
    assert generation.precision == "fp16" and resolve("fp16", device="cpu", cpu_precision="fp32").precision == "fp32"


def test_auto_is_the_devices_fastest_precision():
    assert fastest_precision("cuda") == "fp16" and fastest_precision("cuda:1") == "fp16"
    assert fastest_precision("cpu") in ("bf16", "fp32")
    assert resolve("auto", device="cpu").precision == fastest_precision("cpu")
    assert resolve("auto", device="cuda").precision == "fp16"


def test_autocast_follows_the_precision():
    with resolve("bf16", device="cpu").autocast():
        out = torch.ones(4, 4) @ torch.ones(4, 4)
    assert out.dtype == torch.bfloat16
    with resolve("fp32", device="cpu").autocast():
        assert (torch.ones(4, 4) @ torch.ones(4, 4)).dtype == torch.float32


def test_impossible_requests_are_refused():
    with pytest.raises(ValueError, match="fp16 needs a GPU"):
        resolve("fp16", device="cpu")
    with pytest.raises(ValueError, match="precision 'int8'"):
        resolve("int8", device="cpu")  # type: ignore[arg-type]
