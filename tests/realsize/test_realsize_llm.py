"""Llama-2-7B's shape from the shipped config: every dimension real, only the depth may be cut."""

from synclr_ray.realsize.llm import llama2_7b_config


def test_the_config_has_llama2_7bs_dimensions():
    cfg = llama2_7b_config()
    assert (cfg.vocab_size, cfg.hidden_size, cfg.intermediate_size) == (32000, 4096, 11008)
    assert (cfg.num_attention_heads, cfg.num_hidden_layers, cfg.max_position_embeddings) == (32, 32, 4096)


def test_only_the_layer_count_is_cut():
    full, cut = llama2_7b_config().to_dict(), llama2_7b_config(num_layers=2).to_dict()
    assert cut["num_hidden_layers"] == 2
    assert {k: v for k, v in cut.items() if k != "num_hidden_layers"} == {
        k: v for k, v in full.items() if k != "num_hidden_layers"
    }
