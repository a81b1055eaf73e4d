import time

import pytest
from ray.data import ActorPoolStrategy

from synclr_ray import storage
from synclr_ray.captions.engines.vllm import (
    ENGINE_STAGE,
    GIB,
    build_vllm_processor,
    from_response,
    processor_config,
    sampling_params,
    to_request,
)
from synclr_ray.captions.stage import CaptionStage, prompt_dataset
from synclr_ray.config import load_config


@pytest.fixture(scope="module")
def cfg():
    return load_config(
        "tiny",
        [
            "captions.engine=vllm",
            "captions.vllm.concurrency=3",
            "captions.vllm.accelerator_type=A10G",
            "ray.generation_label=gen",
        ],
    )


def test_processor_config_is_plain_completion_tp1(cfg):
    pc = processor_config(cfg.captions)
    assert pc.chat_template_stage is False and pc.tokenize_stage is False and pc.detokenize_stage is False
    assert pc.engine_kwargs["tensor_parallel_size"] == 1
    assert pc.engine_kwargs["max_model_len"] == cfg.captions.vllm.max_model_len
    assert pc.batch_size == cfg.captions.batch_size and pc.accelerator_type == "A10G"
    assert pc.model_source == str(storage.local_copy("builtin://tiny-llama"))
    s3 = processor_config(load_config("tiny", ["captions.model=s3://bucket/llama"]).captions)
    assert s3.model_source == "s3://bucket/llama"  # Ray downloads it on each GPU node


def test_engine_placement_follows_num_cpus_and_num_gpus(cfg):
    cpu = processor_config(cfg.captions)  # the tiny preset: num_gpus 0
    assert cpu.placement_group_config["bundles"] == [{"CPU": cfg.captions.num_cpus, "GPU": 0}]
    assert cpu.engine_kwargs["kv_cache_memory_bytes"] == int(cfg.captions.vllm.cpu_kv_cache_gib * GIB)
    gpu = processor_config(load_config("paper-vitb16").captions)
    assert gpu.placement_group_config["bundles"] == [{"CPU": 1.0, "GPU": 1.0}]
    assert "kv_cache_memory_bytes" not in gpu.engine_kwargs  # on GPUs vLLM sizes it from gpu_memory_utilization


def test_a_missing_model_directory_is_refused_before_anything_starts(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"captions.model: no model directory at {tmp_path}/llama"):
        processor_config(load_config("tiny", [f"captions.model={tmp_path}/llama"]).captions)


def test_pre_and_post_processing(cfg):
    row = {"caption_id": "s0-1", "prompt": "tiger =>", "seed": 42}
    request = to_request(row, cfg.captions)
    assert request["prompt"] == "tiger =>" and request["caption_id"] == "s0-1"
    assert request["sampling_params"] == sampling_params(cfg.captions, 42)
    assert request["sampling_params"] == dict(temperature=0.8, top_p=0.9, max_tokens=40, seed=42, stop=["\n"])
    response = {**request, "generated_text": " A tiger.\n", "num_generated_tokens": 4, "prompt_token_ids": [1, 2]}
    assert from_response(response, ["caption_id", "prompt", "seed"]) == {**row, "generated_text": " A tiger.\n"}


def test_processor_pins_an_autoscaling_engine_pool_to_generation_nodes(cfg, ray_cluster):
    processor = build_vllm_processor(cfg, ["prompt", "seed"])
    assert processor.list_stage_names() == [ENGINE_STAGE]  # vLLM tokenizes itself: no CPU tokenizer stages
    kw = processor.get_stage_by_name(ENGINE_STAGE).get_dataset_map_batches_kwargs(batch_size=16, data_column="__data")
    assert kw["label_selector"] == {"ray-subcluster": "gen"}
    assert kw["accelerator_type"] == "A10G"
    assert isinstance(kw["compute"], ActorPoolStrategy)
    assert (kw["compute"].min_size, kw["compute"].max_size) == (1, 3)
    assert kw["fn_constructor_kwargs"]["engine_kwargs"]["tensor_parallel_size"] == 1
    assert kw["fn_constructor_kwargs"]["model"] == str(storage.local_copy("builtin://tiny-llama"))
    assert kw["max_restarts"] == cfg.captions.vllm.max_restarts  # not Ray Data's endless replacement
    assert (kw["num_cpus"], kw.get("num_gpus", 0)) == (cfg.captions.num_cpus, 0)


def test_an_engine_no_node_can_host_fails_within_the_start_timeout(ray_cluster):
    # A GPU engine on this CPU-only cluster: before the bound, it waited forever.
    cfg = load_config("tiny", ["captions.engine=vllm", "captions.num_gpus=1", "captions.vllm.start_timeout_s=3",
                               "captions.backgrounds=generic"])  # fmt: skip
    started = time.monotonic()
    with pytest.raises(Exception, match="Timed out while starting actors"):
        CaptionStage(cfg).marked(prompt_dataset(cfg, 0, 4)).take_all()
    assert time.monotonic() - started < 60
