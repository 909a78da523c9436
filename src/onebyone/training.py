"""A small, deterministic training loop for image classifiers.

Why: Chapter 3 compares architectures by training them for real, and a comparison is only worth
something if both models see the same images in the same order, from the same seed, and are
measured the same way. The loop is plain on purpose (Adam, cross-entropy, mini-batches shuffled
by a seeded generator) so that a reader can follow every line; a ``tqdm`` bar shows the epochs.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import TqdmWarning

with warnings.catch_warnings():
    # In a notebook without ipywidgets, tqdm.auto falls back to the text bar (what we want
    # there) and warns about it; the warning would show on every chapter that imports us.
    warnings.simplefilter("ignore", TqdmWarning)
    from tqdm.auto import tqdm

from onebyone import validation
from onebyone.digits import DigitsSplit
from onebyone.runtime import default_device, seed_everything

EVALUATION_BATCH_SIZE = 1024
"""Images per forward pass when measuring accuracy (no gradients are kept, so it can be large)."""


class TrainingDiverged(ValueError):
    """The training loss became ``nan`` or infinite: the model's weights are no longer numbers.

    Why: a diverged model predicts one class for every image, and its "accuracy" is then that
    class's share of the test set, a number that looks like a weak result rather than no result.
    Training stops at the first non-finite loss and says where (a smaller ``learning_rate`` is
    the usual cure).

    Attributes:
        epoch: the epoch (1-based) in which the loss became non-finite.
        step: the gradient step (1-based, within that epoch).
        loss: the loss of that step (``nan`` or an infinity).
    """

    def __init__(self, epoch: int, step: int, loss: float, learning_rate: float) -> None:
        super().__init__(
            f"training diverged: the loss became {loss} at epoch {epoch}, step {step} "
            f"(learning_rate={learning_rate!r}); try a smaller learning_rate"
        )
        self.epoch, self.step, self.loss = epoch, step, loss


@dataclass
class TrainingHistory:
    """What happened during training, one entry per epoch.

    Attributes:
        train_loss: mean cross-entropy over the epoch's training images, in nats per image.
        test_accuracy: share of the test images classified correctly after the epoch, in [0, 1].
        validation_accuracy: the same on the validation images, in [0, 1]; empty when the
            split has no validation set. Choose epochs (or anything else) on this, never on
            ``test_accuracy``.
    """

    train_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    validation_accuracy: list[float] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        """Number of epochs recorded."""
        return len(self.train_loss)

    @property
    def final_test_accuracy(self) -> float:
        """Test accuracy after the last epoch, in [0, 1]."""
        if not self.test_accuracy:
            raise ValueError("the history is empty: no epoch was recorded")
        return self.test_accuracy[-1]


@contextmanager
def _one_cpu_thread(device: torch.device) -> Iterator[None]:
    """Run PyTorch's CPU operators on one thread inside the block, then restore the setting.

    Why: a mini-batch of 8 x 8 images is far too small to split between threads, and on a busy
    machine the threads mostly wait for each other: training the small NiN of Chapter 3 took
    15 times longer on two threads than on one on the book's two-core CI machine.
    """
    if device.type != "cpu":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _check_images_and_labels(images: torch.Tensor, labels: torch.Tensor,
                             names: tuple[str, str] = ("images", "labels")) -> None:
    validation.tensor(names[0], images)
    validation.tensor(names[1], labels)
    if images.dim() != 4:
        raise ValueError(f"expected {names[0]} N x C x H x W, got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise TypeError(f"{names[0]} must hold floating-point pixels, got {images.dtype}")
    if labels.dim() != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(
            f"expected one label per image: {images.shape[0]} images but {names[1]} of shape "
            f"{tuple(labels.shape)}"
        )
    if labels.dtype != torch.int64:
        raise TypeError(f"{names[1]} must be int64 class indices, got {labels.dtype}")
    if labels.numel() and int(labels.min()) < 0:
        raise ValueError(f"{names[1]} must be class indices from 0, got {int(labels.min())}")


def _model_device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    if parameter is None:
        raise ValueError("the model has no parameters to train or to place on a device")
    return parameter.device


def accuracy(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    device: torch.device | str | None = None,
) -> float:
    """Share of ``images`` that ``model`` classifies as ``labels`` (the arg-max of its outputs).

    Why: the one number the chapters compare models by. The model is put in evaluation mode
    (dropout off) for the measurement and returned to the mode it was in, even when it raises;
    nothing else about it changes.

    Args:
        model: a classifier returning ``N x num_classes`` scores.
        images: ``N x C x H x W`` float tensor.
        labels: ``N`` int64 class indices.
        device: where to compute; ``None`` means where the model's parameters already are.
            Elsewhere, a copy of the model is measured there (the model itself is not moved).

    Returns:
        The accuracy as a Python float in [0, 1].

    Raises:
        TypeError: ``model`` is not a module, ``images`` or ``labels`` not tensors.
        ValueError: images that are not ``N x C x H x W``, not one label per image, no images,
            a model without parameters, a label the model has no score for, or a ``device``
            string that names no device.
    """
    validation.module("model", model)
    _check_images_and_labels(images, labels)
    if images.shape[0] == 0:
        raise ValueError("cannot measure accuracy on zero images")
    here = next(model.parameters(), torch.empty(0)).device  # a parameter-free model: anywhere
    device = _model_device(model) if device is None else validation.device("device", device)
    if device != here:  # measure a copy there: the caller's model stays where it is
        model = copy.deepcopy(model).to(device)
    was_training = model.training
    model.eval()
    correct = 0
    try:
        with torch.no_grad(), _one_cpu_thread(device):
            for start in range(0, images.shape[0], EVALUATION_BATCH_SIZE):
                batch = images[start : start + EVALUATION_BATCH_SIZE].to(device)  # B x C x H x W
                scores = _scores(model, batch, labels[start : start + EVALUATION_BATCH_SIZE],
                                 "labels")  # B x num_classes
                predicted = scores.argmax(dim=1).cpu()  # B
                expected = labels[start : start + EVALUATION_BATCH_SIZE].cpu()  # B
                correct += int((predicted == expected).sum())
    finally:
        model.train(was_training)
    return correct / images.shape[0]


def _scores(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
            labels_name: str) -> torch.Tensor:
    """``model(images)``, checked to be one row of class scores per image covering ``labels``."""
    scores = model(images)  # B x num_classes
    if not isinstance(scores, torch.Tensor) or scores.dim() != 2 or (
            scores.shape[0] != images.shape[0]):
        shown = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
        raise ValueError(f"model must return N x num_classes scores, one row per image; for "
                         f"{images.shape[0]} images it returned {shown}")
    if int(labels.max()) >= scores.shape[1]:
        raise ValueError(f"{labels_name} go up to class {int(labels.max())} but the model returns "
                         f"only {scores.shape[1]} scores per image")
    return scores


def _train_one_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    order: torch.Tensor,
    batch_size: int,
    epoch: int,
    learning_rate: float,
) -> float:
    """One pass over ``images`` in the given ``order``; returns the mean loss in nats per image.

    Raises:
        TrainingDiverged: a step whose loss is ``nan`` or infinite (before that step updates
            the weights).
    """
    model.train()
    order = order.to(images.device)  # N
    total_loss = 0.0
    for step, start in enumerate(range(0, images.shape[0], batch_size), start=1):
        batch = order[start : start + batch_size]  # B
        scores = _scores(model, images[batch], labels[batch], "split.train_labels")
        loss = F.cross_entropy(scores, labels[batch])  # mean over the batch, nats
        value = loss.item()
        if not math.isfinite(value):
            raise TrainingDiverged(epoch, step, value, learning_rate)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total_loss += value * batch.shape[0]
    return total_loss / images.shape[0]


def train_classifier(
    model: nn.Module,
    split: DigitsSplit,
    *,
    epochs: int,
    learning_rate: float,
    batch_size: int = 64,
    device: torch.device | str | None = None,
    seed: int = 0,
    progress: bool = True,
) -> TrainingHistory:
    """Train ``model`` on ``split``'s training images with Adam and cross-entropy, in place.

    Why: every model in the book is trained by this same loop, so that differences in accuracy
    come from the architectures. All randomness (the order of the mini-batches, dropout) is drawn
    from ``seed``, so a run on the CPU repeats exactly.

    Args:
        model: a classifier returning ``N x num_classes`` scores. Training it is this
            function's job: its parameters (and batch-norm statistics) are trained in place, and
            it is left on ``device``, in evaluation mode.
        split: the training and test tensors (see :func:`onebyone.digits.load_digits_split`).
        epochs: passes over the training images (at least 1).
        learning_rate: Adam's step size (a positive float).
        batch_size: images per gradient step (at least 1).
        device: where to train; ``None`` means CUDA when available, else the CPU.
        seed: seeds the shuffling and dropout (an integer in ``[0, 2**32 - 1]``); seeds
            PyTorch's, NumPy's and Python's global generators too
            (:func:`onebyone.runtime.seed_everything`).
        progress: show a ``tqdm`` progress bar over the epochs.

    Returns:
        A :class:`TrainingHistory` with one training loss and one test accuracy per epoch, and
        one validation accuracy per epoch when ``split`` has a validation set.

    Raises:
        TypeError: ``model`` not a module, ``split`` not a :class:`DigitsSplit`, a number of the
            wrong type.
        ValueError: ``epochs`` or ``batch_size`` below 1, ``learning_rate`` not positive, a
            seed out of range, badly shaped images or labels, an empty training or test set,
            labels beyond the model's scores, a ``device`` string that names no device.
        TrainingDiverged: the loss became ``nan`` or infinite (a ``ValueError`` naming the
            epoch and step).
    """
    validation.module("model", model)
    if not isinstance(split, DigitsSplit):
        raise TypeError(f"split must be a DigitsSplit, got {type(split).__name__}")
    epochs, batch_size = validation.check_positive_integers(epochs=epochs, batch_size=batch_size)
    learning_rate = validation.positive_number("learning_rate", learning_rate)
    seed = validation.seed("seed", seed)
    progress = validation.boolean("progress", progress)
    for part in ("train", "test", "validation") if split.has_validation else ("train", "test"):
        images, labels = getattr(split, f"{part}_images"), getattr(split, f"{part}_labels")
        _check_images_and_labels(images, labels, (f"split.{part}_images", f"split.{part}_labels"))
        if images.shape[0] == 0:
            raise ValueError(f"split.{part}_images holds no images: nothing to train on or measure")
    device = default_device() if device is None else validation.device("device", device)
    seed_everything(seed)
    shuffler = torch.Generator().manual_seed(seed)

    model.to(device)
    _model_device(model)  # refuses a model without parameters
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    train_images = split.train_images.to(device)  # N_train x 1 x 8 x 8
    train_labels = split.train_labels.to(device)  # N_train

    history = TrainingHistory()
    with _one_cpu_thread(device):
        bar = tqdm(range(epochs), desc="epochs", unit="epoch", disable=not progress)
        for epoch in bar:
            order = torch.randperm(train_images.shape[0], generator=shuffler)  # N_train
            loss = _train_one_epoch(model, optimizer, train_images, train_labels, order,
                                    batch_size, epoch + 1, learning_rate)
            history.train_loss.append(loss)
            history.test_accuracy.append(accuracy(model, split.test_images, split.test_labels))
            if split.has_validation:
                history.validation_accuracy.append(
                    accuracy(model, split.validation_images, split.validation_labels)
                )
            bar.set_postfix(
                train_loss=f"{history.train_loss[-1]:.3f}",
                test_accuracy=f"{history.test_accuracy[-1]:.3f}",
            )
    model.eval()
    return history
