"""GPU readiness at the paper's real sizes, random weights: one command, one table, a JSON file.

    python bench/gpu.py [--json runs/bench-gpu.json] [--rows sd,vit,vllm,serve]

Rows (each under a minute or two on one H100/H200; the whole run well under 8 minutes):
- sd: Stable Diffusion 1.5 (UNet, VAE, CLIP text encoder at full size, configs shipped in the
  package) in fp16 at 512 px, batch 16 (CFG 2.5), with DDIM 50 steps and DPM-Solver++ 25 steps:
  images/s, decoding to PIL images included as in the image stage.
- vit: one SynCLR training step (student + EMA teacher, 4 local crops, iBOT with 65,536
  prototypes, AdamW, bf16 autocast) of ViT-B/16 and ViT-L/14 at 224 px, 4 images per caption:
  images/s, TFLOP per step (counted by torch's FlopCounterMode) and MFU against the GPU's dense
  bf16 peak.
- vllm: vLLM output tokens/s on the Llama-2-7B configuration (dummy weights), 256 prompts of
  256 tokens, 128 new tokens each.
- serve: the Ray Serve endpoint (``synclr_ray/serving/app.py``) with a random ViT-B/16 export: embeddings/s
  at batch 64.

The sd and vit rows import nothing that needs Ray (torch, timm, transformers, diffusers, pydantic,
pyyaml); vllm and serve run where vLLM and Ray are installed (a cluster GPU node) and are skipped
with a message elsewhere. Without a CUDA GPU the script refuses to run.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a plain checkout

ROWS = ("sd", "vit", "vllm", "serve")
# Dense bf16 tensor-core peaks (TFLOP/s) from the vendor data sheets, matched on the device name.
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100 PCIe": 756.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0,
                    "A10": 125.0}  # fmt: skip


def peak_tflops(device_name: str) -> float | None:
    """The dense bf16 peak of a known GPU (first name that appears in ``device_name``), else None."""
    return next((peak for name, peak in PEAK_BF16_TFLOPS.items() if name in device_name), None)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def sd_images_per_s(
    models: dict[str, Any],
    scheduler: str,
    steps: int,
    batch: int,
    resolution: int,
    device: torch.device,
    batches: int = 2,
) -> float:
    """Images/s of the diffusers pipeline on ``models`` (unet, vae, text_encoder, scheduler), CFG 2.5.

    Prompts are fixed token ids through the text encoder (no tokenizer needed: nothing can be downloaded).
    """
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, StableDiffusionPipeline

    config = models["scheduler"].config
    sampler = (
        DDIMScheduler.from_config(config)
        if scheduler == "ddim"
        else DPMSolverMultistepScheduler.from_config(config, algorithm_type="dpmsolver++")
    )
    pipe = StableDiffusionPipeline(
        vae=models["vae"], text_encoder=models["text_encoder"], tokenizer=None, unet=models["unet"],
        scheduler=sampler, safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip
    pipe.set_progress_bar_config(disable=True)
    if device.type == "cuda":  # as the image stage sets it up on GPUs
        pipe.unet.to(memory_format=torch.channels_last)
        pipe.vae.to(memory_format=torch.channels_last)
    encoder = models["text_encoder"]
    length = encoder.config.max_position_embeddings
    ids = (torch.arange(batch * length, device=device).view(batch, length) * 7919) % encoder.config.vocab_size

    def draw(num_steps: int) -> None:
        with torch.inference_mode():
            cond = encoder(ids)[0]
            uncond = encoder(torch.zeros_like(ids))[0]
            images = pipe(prompt_embeds=cond, negative_prompt_embeds=uncond, guidance_scale=2.5,
                          num_inference_steps=num_steps, height=resolution, width=resolution, output_type="pil").images  # fmt: skip
        assert len(images) == batch

    draw(2)  # warm-up: kernels, allocator, cuDNN autotuning
    _sync(device)
    start = time.perf_counter()
    for _ in range(batches):
        draw(steps)
    _sync(device)
    return batch * batches / (time.perf_counter() - start)


def synclr_step(train_cfg: Any, captions: int, images_per_caption: int, device: torch.device, steps: int,
                warmup: int = 2) -> dict[str, float]:  # fmt: skip
    """Images/s and counted TFLOP of SynCLR training steps on random crops (bf16 autocast on CUDA).

    The step is the trainer's: forward of student and EMA teacher, the three loss terms, backward,
    gradient clipping, AdamW, the teacher's EMA update.
    """
    from torch.utils.flop_counter import FlopCounterMode

    from synclr_ray.train.masking import MaskGenerator
    from synclr_ray.train.objective import SynCLR

    torch.manual_seed(0)
    model = SynCLR(train_cfg).to(device)
    optimizer = torch.optim.AdamW(model.param_groups(), lr=1e-4, betas=train_cfg.optim.betas)
    crops = train_cfg.crops
    n = captions * images_per_caption
    global_crops = torch.randn(n, 3, crops.global_size, crops.global_size, device=device)
    local_crops = torch.randn(n * crops.num_local, 3, crops.local_size, crops.local_size, device=device)
    labels = torch.arange(captions, device=device).repeat_interleave(images_per_caption)
    masks = MaskGenerator(train_cfg.mask, model.grid)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")

    def step() -> None:
        with autocast:
            out = model(global_crops, local_crops if crops.num_local else None, labels, masks(n).to(device),
                        train_cfg.loss.teacher_temp_start)  # fmt: skip
        optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.optim.grad_clip)
        optimizer.step()
        model.update_teacher(train_cfg.optim.momentum_start)

    for _ in range(warmup):
        step()
    with FlopCounterMode(display=False) as counter:
        step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    seconds = (time.perf_counter() - start) / steps
    return {"images_per_s": n / seconds, "tflop_per_step": counter.get_total_flops() / 1e12, "step_s": seconds}


def sd_rows(device: torch.device, batch: int) -> list[dict[str, Any]]:
    from synclr_ray.realsize.diffusion import sd15_models

    with torch.device(device):  # build on the GPU: random init of ~1B parameters is slow on a CPU
        models = sd15_models(torch.float16, str(device))
    rows = []
    for scheduler, steps in (("ddim", 50), ("dpmsolver++", 25)):
        rate = sd_images_per_s(models, scheduler, steps, batch, 512, device)
        rows.append({"row": f"SD 1.5 fp16 512px {scheduler} {steps} steps, batch {batch}", "value": rate,
                     "unit": "images/s"})  # fmt: skip
    return rows


def vit_rows(device: torch.device, captions: int, peak: float | None) -> list[dict[str, Any]]:
    from synclr_ray.config import load_config

    rows = []
    for preset in ("paper-vitb16", "paper-vitl14"):
        cfg = load_config(preset).train
        name = f"SynCLR step {cfg.backbone.name}, {captions}x4 images, bf16"
        try:
            result = synclr_step(cfg, captions, 4, device, steps=10)
        except torch.cuda.OutOfMemoryError:
            rows.append({"row": name, "skipped": f"out of GPU memory at {captions} captions: pass --vit-captions"})
            torch.cuda.empty_cache()
            continue
        achieved = result["tflop_per_step"] / result["step_s"]
        mfu = achieved / peak if peak else None
        rows.append({"row": name, "value": result["images_per_s"], "unit": "images/s", **result,
                     "achieved_tflops": achieved, "mfu": mfu})  # fmt: skip
        torch.cuda.empty_cache()
    return rows


def vllm_rows() -> list[dict[str, Any]]:
    name = "vLLM Llama-2-7B (dummy weights) 256 x (256 in, 128 out)"
    try:
        from vllm import LLM, SamplingParams
        from vllm.inputs import TokensPrompt
    except ImportError:
        return [{"row": name, "skipped": "vLLM is not installed here (run on a cluster GPU node)"}]
    from synclr_ray.realsize import config_path

    with tempfile.TemporaryDirectory() as model_dir:
        (Path(model_dir) / "config.json").write_text(config_path("llama-2-7b.json").read_text())
        llm = LLM(model=model_dir, load_format="dummy", skip_tokenizer_init=True, dtype="float16",
                  max_model_len=1024, gpu_memory_utilization=0.85, tensor_parallel_size=1)  # fmt: skip
        prompts = [TokensPrompt(prompt_token_ids=[(i * 31 + t * 7) % 32000 for t in range(256)]) for i in range(256)]
        params = SamplingParams(max_tokens=128, ignore_eos=True, temperature=0.8, top_p=0.9, detokenize=False)
        llm.generate(prompts[:8], params, use_tqdm=False)  # warm-up
        start = time.perf_counter()
        outputs = llm.generate(prompts, params, use_tqdm=False)
        seconds = time.perf_counter() - start
    tokens = sum(len(o.outputs[0].token_ids) for o in outputs)
    return [{"row": name, "value": tokens / seconds, "unit": "output tokens/s"}]


def serve_rows(requests: int = 16, batch: int = 64) -> list[dict[str, Any]]:
    name = f"Serve ViT-B/16 embeddings, {batch} images per request"
    try:
        import httpx
        from ray import serve
    except ImportError:
        return [{"row": name, "skipped": "Ray Serve is not installed here (run on a cluster GPU node)"}]
    import base64
    import io
    import socket
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    import timm
    from PIL import Image

    from synclr_ray.cluster import init_ray
    from synclr_ray.config import load_config
    from synclr_ray.encoder import export_encoder
    from synclr_ray.serving.app import APP_NAME, build_app

    with tempfile.TemporaryDirectory() as export, socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        vit = timm.create_model("vit_base_patch16_224", num_classes=0)
        export_encoder(vit, export, image_size=224)
        cfg = load_config("paper-vitb16", [f"serve.encoder={export}", f"serve.max_batch_size={batch}",
                                           "serve.autoscaling.min_replicas=1", "serve.autoscaling.max_replicas=1"])  # fmt: skip
        pixels = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG")
        body = {"images": [base64.b64encode(buffer.getvalue()).decode()] * batch, "pool": "cls"}
        init_ray(cfg.ray)
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        try:
            serve.run(build_app(cfg), name=APP_NAME, route_prefix="/")
            url = f"http://127.0.0.1:{port}/v1/embeddings"

            def post(_: int) -> int:
                response = httpx.post(url, json=body, timeout=300)
                response.raise_for_status()
                return len(response.json()["embeddings"])

            post(0)  # warm-up
            start = time.perf_counter()
            with ThreadPoolExecutor(4) as pool:
                count = sum(pool.map(post, range(requests)))
            seconds = time.perf_counter() - start
        finally:
            serve.shutdown()
    return [{"row": name, "value": count / seconds, "unit": "embeddings/s"}]


def print_table(rows: list[dict[str, Any]]) -> None:
    width = max(len(r["row"]) for r in rows)
    for r in rows:
        if "skipped" in r:
            print(f"{r['row']:<{width}}  skipped: {r['skipped']}")
            continue
        extra = f"  MFU {100 * r['mfu']:.1f}% ({r['tflop_per_step']:.1f} TFLOP/step)" if r.get("mfu") else ""
        print(f"{r['row']:<{width}}  {r['value']:10.2f} {r['unit']}{extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="runs/bench-gpu.json", help="Where the results go (JSON).")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"Comma-separated subset of {', '.join(ROWS)}.")
    parser.add_argument("--sd-batch", type=int, default=16, help="Images per SD batch (prompts x 1 image).")
    parser.add_argument("--vit-captions", type=int, default=32, help="Captions per SynCLR step (x4 images).")
    parser.add_argument("--peak-tflops", type=float, help="Dense bf16 peak for the MFU, if the GPU is not known.")
    args = parser.parse_args()
    rows = [r for r in args.rows.split(",") if r]
    unknown = set(rows) - set(ROWS)
    if unknown:
        parser.error(f"--rows: unknown {', '.join(sorted(unknown))} (known: {', '.join(ROWS)})")
    if not torch.cuda.is_available():
        sys.exit("bench/gpu.py measures GPU throughput and no CUDA GPU is visible (torch.cuda.is_available() is "
                 "False): run it on a GPU machine")  # fmt: skip
    device = torch.device("cuda")
    name = torch.cuda.get_device_name(device)
    peak = args.peak_tflops or peak_tflops(name)
    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    for row in rows:
        results += {
            "sd": lambda: sd_rows(device, args.sd_batch),
            "vit": lambda: vit_rows(device, args.vit_captions, peak),
            "vllm": vllm_rows,
            "serve": serve_rows,
        }[row]()
    print(f"\n{name}, torch {torch.__version__}, {time.perf_counter() - started:.0f} s")
    print_table(results)
    report = {"device": name, "torch": torch.__version__, "peak_bf16_tflops": peak, "rows": results}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    tmp = f"{args.json}.tmp"
    Path(tmp).write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp, args.json)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
