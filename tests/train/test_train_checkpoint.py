"""Training checkpoints: weights through safetensors, the optimiser with weights_only, the state as JSON."""

import json

import pytest
import torch

from synclr_ray.train.checkpoint import (
    MODEL_FILE,
    OPTIMIZER_FILE,
    STATE_FILE,
    TrainState,
    checkpoint_uri,
    load_checkpoint,
    save_checkpoint,
)


class _Tied(torch.nn.Module):
    """Shares a tensor between two names, as the SynCLR module's heads do."""

    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Linear(4, 3)
        self.b = torch.nn.Linear(4, 3)
        self.b.weight = self.a.weight


def _trained(seed: int) -> tuple[_Tied, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = _Tied()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    model.b(model.a(torch.randn(2, 4))[:, :1].repeat(1, 4)).sum().backward()
    optimizer.step()
    return model, optimizer


def test_a_checkpoint_restores_weights_optimiser_and_state_exactly(tmp_path):
    model, optimizer = _trained(0)
    state = TrainState(step=7, epoch=1, batch_in_epoch=3, stream={"position": 28}, skipped_steps=1, records=56)
    save_checkpoint(tmp_path, model, optimizer, state)
    assert json.loads((tmp_path / STATE_FILE).read_text())["step"] == 7

    fresh, fresh_optimizer = _trained(1)
    assert load_checkpoint(tmp_path, fresh, fresh_optimizer) == state
    for (name, expected), actual in zip(model.state_dict().items(), fresh.state_dict().values(), strict=True):
        assert torch.equal(expected, actual), name
    assert fresh.b.weight is fresh.a.weight  # the tie survives
    assert torch.equal(
        fresh_optimizer.state_dict()["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"]
    )


def test_an_incomplete_checkpoint_names_what_it_lacks(tmp_path):
    model, optimizer = _trained(0)
    save_checkpoint(tmp_path, model, optimizer, TrainState())
    (tmp_path / OPTIMIZER_FILE).unlink()
    with pytest.raises(FileNotFoundError, match=f"lacks {OPTIMIZER_FILE}"):
        load_checkpoint(tmp_path, model, optimizer)
    assert (tmp_path / MODEL_FILE).is_file()


def test_checkpoint_folders_sort_by_step(s3_bucket):
    uris = [checkpoint_uri(f"{s3_bucket}/train", step) for step in (100, 20, 3)]
    assert uris[0] == f"{s3_bucket}/train/checkpoint_00000100"
    assert sorted(uris) == uris[::-1]
