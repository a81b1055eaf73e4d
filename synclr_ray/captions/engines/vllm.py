"""The ``vllm`` engine: ``ray.data.llm.build_processor`` + ``vLLMEngineProcessorConfig``, on GPUs or CPUs.

Plain completion (no chat template: Llama-2 base has none), tensor parallel 1 (ray issue 64035),
an autoscaling pool of 1..``vllm.concurrency`` replicas, conservative memory settings (a vLLM
OOM can hang instead of failing, ray issue 59986). vLLM tokenizes and detokenizes itself, so
the CPU tokenizer stages are off and the model directory is only needed on the engine nodes.

Each engine actor holds ``captions.num_cpus`` CPUs and ``captions.num_gpus`` GPUs through an
explicit placement bundle: without one Ray gives it a GPU, and on a CPU-only cluster it would
wait forever. With ``num_gpus: 0`` vLLM's CPU build runs it with a KV cache of
``vllm.cpu_kv_cache_gib`` (without a size it would reserve a share of the host's RAM).

Failures end the run with their cause instead of hanging: a local model directory that does not
exist is refused before anything starts; an engine that cannot start (no node fits its bundle, the
model or its KV cache does not fit in memory) fails the run within ``vllm.start_timeout_s``; an
engine actor that keeps dying is replaced ``vllm.max_restarts`` times, then the run fails with
Ray's account of the death.
"""

import os
from collections.abc import Sequence
from functools import partial
from typing import Any

from ray.data import Dataset
from ray.data.llm import Processor, build_processor, vLLMEngineProcessorConfig

from synclr_ray import storage
from synclr_ray.captions.engines.transformers import STOP
from synclr_ray.cluster import label_selector
from synclr_ray.config import Config
from synclr_ray.config.captions import CaptionsConfig

ENGINE_STAGE = "vLLMEngineStage"
GIB = 1 << 30


def engine_bundle(c: CaptionsConfig) -> dict[str, float]:
    """The resources of one engine actor (tensor parallel 1: one bundle)."""
    return {"CPU": c.num_cpus, "GPU": c.num_gpus}


def model_source(model: str) -> str:
    """What the engine loads: ``s3://``/``gs://`` as given (Ray downloads it on each engine node), else `storage.model_source`.

    A local path that does not exist fails here, naming the field, instead of inside every engine actor.
    """
    if model.startswith(("s3://", "gs://")):
        return model
    if model.startswith(("/", "./", "../", "~")) and not os.path.isdir(os.path.expanduser(model)):
        raise FileNotFoundError(f"captions.model: no model directory at {model}")
    return storage.model_source(model)


def processor_config(c: CaptionsConfig) -> vLLMEngineProcessorConfig:
    """The processor config: engine arguments, pool size and the engine's placement bundle."""
    engine_kwargs: dict[str, Any] = dict(
        tensor_parallel_size=1,
        max_model_len=c.vllm.max_model_len,
        gpu_memory_utilization=c.vllm.gpu_memory_utilization,
        max_num_batched_tokens=c.vllm.max_num_batched_tokens,
        enforce_eager=c.vllm.enforce_eager,
    )
    if not c.num_gpus:
        engine_kwargs["kv_cache_memory_bytes"] = int(c.vllm.cpu_kv_cache_gib * GIB)
    return vLLMEngineProcessorConfig(
        model_source=model_source(c.model),
        engine_kwargs=engine_kwargs,
        batch_size=c.batch_size,
        concurrency=c.vllm.concurrency,
        accelerator_type=c.vllm.accelerator_type,
        placement_group_config={"bundles": [engine_bundle(c)]},
        chat_template_stage=False,
        tokenize_stage=False,
        detokenize_stage=False,
    )


def sampling_params(c: CaptionsConfig, seed: int) -> dict[str, Any]:
    """vLLM sampling parameters for one row (the paper's values by default; stop at the first newline)."""
    return dict(temperature=c.temperature, top_p=c.top_p, max_tokens=c.max_new_tokens, seed=seed, stop=[STOP])


def to_request(row: dict[str, Any], c: CaptionsConfig) -> dict[str, Any]:
    """Preprocess: the row as is (it already has ``prompt``) plus its ``sampling_params``."""
    return {**row, "sampling_params": sampling_params(c, int(row["seed"]))}


def from_response(row: dict[str, Any], columns: Sequence[str]) -> dict[str, Any]:
    """Postprocess: the input columns plus ``generated_text``, nothing vLLM-specific."""
    return {**{k: row[k] for k in columns}, "generated_text": row["generated_text"]}


def build_vllm_processor(cfg: Config, columns: Sequence[str]) -> Processor:
    """The vLLM processor, its engine stage pinned to the generation node group, its restarts bounded."""
    c = cfg.captions
    processor = build_processor(
        processor_config(c),
        preprocess=partial(to_request, c=c),
        postprocess=partial(from_response, columns=tuple(columns)),
    )
    # build_processor exposes no placement or restart option; the engine stage's map_batches takes them.
    engine = processor.get_stage_by_name(ENGINE_STAGE).map_batches_kwargs
    engine["max_restarts"] = c.vllm.max_restarts  # Ray Data's default (-1) replaces a dying actor forever
    selector = label_selector(cfg.ray.generation_label)
    if selector:
        engine["label_selector"] = selector
    return processor


def generate_vllm(ds: Dataset, cfg: Config, columns: Sequence[str]) -> Dataset:
    """Add ``generated_text`` through the vLLM processor; lazy."""
    out = build_vllm_processor(cfg, columns)(ds)
    # Ray Data waits for an actor pool's first actors forever by default; the bound applies to the
    # plan these rows belong to (its context), so an engine that can never start fails the run.
    out.context.wait_for_min_actors_s = cfg.captions.vllm.start_timeout_s
    return out
