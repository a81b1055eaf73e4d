"""The model card: Hugging Face front matter the Hub reads, provenance and licences of the generators, probe results
only for the weights they measured."""

import hashlib

from huggingface_hub import ModelCard
from huggingface_hub.repocard_data import model_index_to_eval_results

from synclr_ray.config import load_config
from synclr_ray.modelcard import render, write_model_card
from synclr_ray.train.checkpoint import TrainState

INFO = {"architecture": "vit_base_patch16_224", "image_size": 224, "feature_dim": 768, "digest": "sha256:" + "ab" * 32}
STATE = TrainState(step=500, records=500 * 8 * 4)


def probe_report(digest: str) -> dict:
    return {
        "encoder": {"digest": digest},
        "dataset": {"name": "pets"},
        "split": "test",
        "models": {"encoder": {"linear": {"top1": 0.8123}, "knn": {"top1": 0.7, "k": 20}}},
    }


def test_paper_card_names_generators_licences_recipe_and_results(tmp_path):
    cfg = load_config("paper-vitb16", ["train.batch_captions=8"])
    path = write_model_card(tmp_path, cfg, INFO, STATE, probe_report(INFO["digest"]))
    card = ModelCard.load(path)  # what the Hub parses
    assert card.data.library_name == "timm" and card.data.pipeline_tag == "image-feature-extraction"
    assert card.data.license == "other" and "synclr" in card.data.tags
    _, results = model_index_to_eval_results(card.data.to_dict()["model-index"])
    assert {(r.dataset_name, r.metric_name, r.metric_value) for r in results} == {
        ("pets", "linear probe top-1", 0.8123),
        ("pets", "kNN (k=20) top-1", 0.7),
    }
    text = card.text
    assert "meta-llama/Llama-2-7b-hf" in text and "Llama 2 Community License" in text
    assert "stable-diffusion-v1-5/stable-diffusion-v1-5" in text and "CreativeML OpenRAIL-M" in text
    assert "500 steps of 8 captions x 4 images; 16000 images" in " ".join(text.split())
    assert "sha256:" + hashlib.sha256(cfg.to_yaml().encode()).hexdigest() in text
    assert INFO["digest"] in text and "81.2%" in text


def test_probe_of_other_weights_is_left_out_and_stand_ins_say_so():
    card = render(load_config("tiny"), INFO, STATE, probe_report("sha256:" + "cd" * 32))
    assert "model-index" not in card.data.to_dict() and "Not measured on these weights" in card.text
    assert "A tiny stand-in built by synclr-ray" in card.text
    assert "Llama 2 Community License" not in card.text
