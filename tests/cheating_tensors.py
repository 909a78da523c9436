"""A tensor a cheating answer could return: a ``torch.Tensor`` subclass that answers every
comparison with True, so that a check comparing with ``torch.allclose`` would pass any values.
The exercise checks must refuse it (they compare plain tensors only)."""

import torch


class AlwaysClose(torch.Tensor):
    """A tensor whose ``torch.allclose`` and ``torch.equal`` are always True."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.allclose, torch.equal):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})


def zeros_claiming_anything(shape, dtype) -> AlwaysClose:
    """Zeros of the right shape and dtype that claim to be close to anything."""
    return torch.zeros(shape, dtype=dtype).as_subclass(AlwaysClose)
