"""Where a chapter runs: seeding every source of randomness, and picking the device.

Every chapter must give the same numbers on every run and must run on a laptop CPU as well as
on a GPU, so it calls :func:`seed_everything` once and takes its device from
:func:`default_device`.
"""

from __future__ import annotations

import random

import numpy as np
import torch

from onebyone import validation


def seed_everything(seed: int = 0) -> None:
    """Seed Python's, NumPy's and PyTorch's random generators (CPU and every CUDA device).

    Args:
        seed: a non-negative integer.

    Raises:
        TypeError: ``seed`` is not an integer.
        ValueError: ``seed`` is negative.
    """
    seed = validation.seed("seed", seed)
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (the legacy global generator is what code calls)
    torch.manual_seed(seed)  # also seeds every CUDA device


def default_device() -> torch.device:
    """The device a chapter should use: ``cuda`` when a GPU is visible, else ``cpu``."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
