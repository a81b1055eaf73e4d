import time

from transformers import AutoModelForCausalLM, AutoTokenizer

from synclr_ray.captions.engines import resolve_model
from synclr_ray.tiny.llm import tiny_llm_path


def test_tiny_llm_loads_like_a_hub_llama():
    path = tiny_llm_path()
    assert resolve_model("tiny") == str(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert type(model).__name__ == "LlamaForCausalLM"
    assert (path / "model.safetensors").exists()
    text = "A tiger walks through tall grass.\n"
    ids = tokenizer(text).input_ids
    assert ids[0] == tokenizer.bos_token_id
    assert tokenizer.decode(ids, skip_special_tokens=True) == text
    start = time.perf_counter()
    assert tiny_llm_path() == path  # cached: no rebuild
    assert time.perf_counter() - start < 1.0
