"""The ``vllm`` engine: ``ray.data.llm.build_processor`` + ``vLLMEngineProcessorConfig`` (GPU clusters).

Plain completion (no chat template: Llama-2 base has none), tensor parallel 1 (ray issue 64035),
an autoscaling pool of 1..``vllm.concurrency`` replicas, conservative memory settings (a vLLM
OOM can hang instead of failing, ray issue 59986). vLLM tokenizes and detokenizes itself, so
the CPU tokenizer stages are off and the model directory is only needed on the GPU nodes.
"""

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


def processor_config(c: CaptionsConfig) -> vLLMEngineProcessorConfig:
    """The processor config; ``s3://`` models are left for Ray to download on each GPU node."""
    return vLLMEngineProcessorConfig(
        model_source=c.model if c.model.startswith("s3://") else storage.model_source(c.model),
        engine_kwargs=dict(
            tensor_parallel_size=1,
            max_model_len=c.vllm.max_model_len,
            gpu_memory_utilization=c.vllm.gpu_memory_utilization,
            max_num_batched_tokens=c.vllm.max_num_batched_tokens,
        ),
        batch_size=c.batch_size,
        concurrency=c.vllm.concurrency,
        accelerator_type=c.vllm.accelerator_type,
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
    """The vLLM processor, its engine stage pinned to the generation node group."""
    c = cfg.captions
    processor = build_processor(
        processor_config(c),
        preprocess=partial(to_request, c=c),
        postprocess=partial(from_response, columns=tuple(columns)),
    )
    selector = label_selector(cfg.ray.generation_label)
    if selector:
        # build_processor exposes no placement option; the engine stage's map_batches takes one.
        processor.get_stage_by_name(ENGINE_STAGE).map_batches_kwargs["label_selector"] = selector
    return processor


def generate_vllm(ds: Dataset, cfg: Config, columns: Sequence[str]) -> Dataset:
    """Add ``generated_text`` through the vLLM processor; lazy."""
    return build_vllm_processor(cfg, columns)(ds)
