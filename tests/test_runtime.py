import pytest
import torch

from onebyone.runtime import default_device, seed_everything


def test_seed_everything_repeats_every_generator():
    import random

    import numpy as np

    seed_everything(3)
    first = (random.random(), np.random.rand(), torch.rand(3))  # noqa: NPY002
    seed_everything(3)
    second = (random.random(), np.random.rand(), torch.rand(3))  # noqa: NPY002
    assert first[0] == second[0] and first[1] == second[1]
    assert torch.equal(first[2], second[2])
    seed_everything(4)
    assert not torch.equal(torch.rand(3), first[2])


def test_seed_must_be_non_negative():
    with pytest.raises(ValueError, match=r"^seed must be a non-negative integer, got -1$"):
        seed_everything(-1)


def test_default_device_follows_cuda_availability(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert default_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert default_device() == torch.device("cuda")


def test_the_default_seed_is_zero():
    seed_everything()
    default = torch.rand(3)
    seed_everything(0)
    assert torch.equal(default, torch.rand(3))
