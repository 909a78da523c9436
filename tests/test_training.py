"""Tests for onebyone.training: the loop is deterministic, learns, and measures accuracy right."""

from __future__ import annotations

import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

from onebyone import training
from onebyone.digits import DigitsSplit, load_digits_split
from onebyone.plotting import plot_histories
from onebyone.runtime import seed_everything
from onebyone.training import TrainingHistory, accuracy, train_classifier


@pytest.fixture(scope="module")
def split() -> DigitsSplit:
    return load_digits_split()


def logistic_regression() -> nn.Module:
    seed_everything(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))


class ConstantClassifier(nn.Module):
    """Always predicts ``label``; has one unused parameter so that it has a device."""

    def __init__(self, label: int) -> None:
        super().__init__()
        self.label = label
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = torch.zeros(x.shape[0], 10)
        scores[:, self.label] = 1.0
        return scores


def test_accuracy_of_a_constant_classifier_is_the_share_of_its_class(split):
    labels = split.test_labels
    for label in (0, 7):
        expected = (labels == label).sum().item() / labels.numel()
        assert accuracy(ConstantClassifier(label), split.test_images, labels) == expected


def test_accuracy_matches_argmax_by_hand_across_evaluation_batches():
    seed_everything(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    images = torch.randn(2500, 1, 2, 2)  # more than one evaluation batch of 1024
    labels = torch.randint(0, 3, (2500,))
    with torch.no_grad():
        predicted = model(images).argmax(dim=1)
    expected = (predicted == labels).double().mean().item()
    assert accuracy(model, images, labels) == pytest.approx(expected, abs=1e-12)


def test_accuracy_switches_dropout_off_and_restores_the_mode():
    seed_everything(2)
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.9), nn.Linear(4, 3))
    images, labels = torch.randn(300, 1, 2, 2), torch.randint(0, 3, (300,))
    model.train()
    first = accuracy(model, images, labels)
    assert model.training
    assert accuracy(model, images, labels) == first  # no dropout noise between calls
    model.eval()
    accuracy(model, images, labels)
    assert not model.training


def test_training_learns_and_records_every_epoch(split):
    model = logistic_regression()
    before = accuracy(model, split.test_images, split.test_labels)
    history = train_classifier(model, split, epochs=4, learning_rate=0.05, progress=False)
    assert history.epochs == 4 and len(history.test_accuracy) == 4
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.final_test_accuracy > 0.85 > before
    assert history.final_test_accuracy == accuracy(model, split.test_images, split.test_labels)
    assert not model.training


def test_first_epoch_loss_is_the_mean_cross_entropy_when_nothing_is_learned(split):
    """With a learning rate too small to move the weights, the epoch's loss is the initial loss."""
    model = logistic_regression()
    with torch.no_grad():
        initial = nn.functional.cross_entropy(model(split.train_images), split.train_labels)
    history = train_classifier(model, split, epochs=1, learning_rate=1e-12, progress=False)
    assert history.train_loss[0] == pytest.approx(initial.item(), rel=1e-5)


def test_training_is_deterministic_and_depends_on_the_seed(split):
    runs = []
    for seed in (0, 0, 1):
        model = logistic_regression()
        history = train_classifier(
            model, split, epochs=2, learning_rate=0.01, seed=seed, progress=False
        )
        runs.append((history.train_loss, model[1].weight.detach().clone()))
    assert runs[0][0] == runs[1][0]
    assert torch.equal(runs[0][1], runs[1][1])
    assert runs[0][0] != runs[2][0]


def test_training_runs_on_the_requested_device(split):
    model = logistic_regression()
    train_classifier(model, split, epochs=1, learning_rate=0.01, device="cpu", progress=False)
    assert model[1].weight.device.type == "cpu"


def test_progress_bar_shows_epochs(split, capsys):
    train_classifier(logistic_regression(), split, epochs=2, learning_rate=0.01, progress=True)
    assert "2/2" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"epochs": 0, "learning_rate": 0.01}, "epochs must be a positive integer"),
        ({"epochs": 1, "learning_rate": 0.0}, "learning_rate must be positive"),
        ({"epochs": 1, "learning_rate": 0.01, "batch_size": 0}, "batch_size must be a positive"),
    ],
)
def test_bad_training_arguments(split, arguments, message):
    with pytest.raises(ValueError, match=message):
        train_classifier(logistic_regression(), split, progress=False, **arguments)


def test_bad_inputs_to_accuracy():
    model = logistic_regression()
    with pytest.raises(ValueError, match="one label per image"):
        accuracy(model, torch.zeros(3, 1, 8, 8), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(ValueError, match="N x C x H x W"):
        accuracy(model, torch.zeros(3, 64), torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="zero images"):
        accuracy(model, torch.zeros(0, 1, 8, 8), torch.zeros(0, dtype=torch.int64))
    with pytest.raises(ValueError, match="no parameters"):
        accuracy(nn.Flatten(), torch.zeros(3, 1, 8, 8), torch.zeros(3, dtype=torch.int64))


def test_empty_history():
    with pytest.raises(ValueError, match="empty"):
        TrainingHistory().final_test_accuracy  # noqa: B018


def test_plot_histories():
    histories = {
        "a": TrainingHistory([2.0, 1.0, 0.5], [0.5, 0.8, 0.9]),
        "b": TrainingHistory([2.2, 1.5], [0.4, 0.7]),
    }
    figure = plot_histories(histories)
    assert isinstance(figure, Figure)
    loss_axes, accuracy_axes = figure.axes
    assert "nats" in loss_axes.get_ylabel() and "%" in accuracy_axes.get_ylabel()
    assert [line.get_label() for line in accuracy_axes.get_lines()] == ["a", "b"]
    assert list(accuracy_axes.get_lines()[0].get_ydata()) == [50.0, 80.0, 90.0]
    with pytest.raises(ValueError, match="no histories"):
        plot_histories({})


def test_training_restores_the_thread_setting(split):
    threads = torch.get_num_threads()
    train_classifier(logistic_regression(), split, epochs=1, learning_rate=0.01, progress=False)
    assert torch.get_num_threads() == threads


def test_validation_accuracy_is_recorded_when_the_split_has_a_validation_set():
    split = load_digits_split(test_fraction=0.2, seed=0, validation_fraction=0.2)
    model = logistic_regression()
    history = train_classifier(model, split, epochs=3, learning_rate=0.05, progress=False)
    assert len(history.validation_accuracy) == 3
    assert history.validation_accuracy[-1] == accuracy(
        model, split.validation_images, split.validation_labels
    )
    assert history.validation_accuracy != history.test_accuracy  # two different image sets
    without = train_classifier(logistic_regression(), load_digits_split(), epochs=1,
                               learning_rate=0.05, progress=False)
    assert without.validation_accuracy == []


def test_plot_histories_prefers_validation_accuracy():
    histories = {"a": TrainingHistory([2.0, 1.0], [0.5, 0.8], [0.6, 0.7])}
    accuracy_axes = plot_histories(histories).axes[1]
    assert "validation" in accuracy_axes.get_ylabel()
    assert list(accuracy_axes.get_lines()[0].get_ydata()) == [60.0, 70.0]


def tiny_split(train: int = 130, seed: int = 0) -> DigitsSplit:
    """Random 1 x 2 x 2 images in 3 classes: ``train`` to train on, 20 to test on."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(train + 20, 1, 2, 2, generator=generator)  # N x 1 x 2 x 2
    labels = torch.randint(0, 3, (train + 20,), generator=generator)  # N
    return DigitsSplit(images[:train], labels[:train], images[train:], labels[train:])


def tiny_classifier() -> nn.Module:
    seed_everything(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 3))


class BatchRecorder(nn.Module):
    """A linear classifier, optionally after dropout, that records the images it trains on."""

    def __init__(self, dropout: bool) -> None:
        super().__init__()
        self.dropout = nn.Dropout(0.5) if dropout else nn.Identity()
        self.linear = nn.Linear(4, 3)
        self.seen: list[float] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.seen += x[:, 0, 0, 0].tolist()  # one pixel identifies each random image
        return self.linear(self.dropout(x.flatten(1)))


def test_messages_name_the_sizes_that_disagree():
    model = logistic_regression()
    with pytest.raises(
        ValueError, match=r"^expected one label per image: 3 images but labels of shape \(2,\)$"
    ):
        accuracy(model, torch.zeros(3, 1, 8, 8), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"^expected images N x C x H x W, got shape \(3, 64\)$"):
        accuracy(model, torch.zeros(3, 64), torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"^cannot measure accuracy on zero images$"):
        accuracy(model, torch.zeros(0, 1, 8, 8), torch.zeros(0, dtype=torch.int64))
    with pytest.raises(
        ValueError, match=r"^the model has no parameters to train or to place on a device$"
    ):
        train_classifier(nn.Flatten(), tiny_split(), epochs=1, learning_rate=0.1, progress=False)
    with pytest.raises(TypeError, match=r"^split must be a DigitsSplit, got tuple$"):
        train_classifier(logistic_regression(), (), epochs=1, learning_rate=0.1)


def test_accuracy_of_one_image_and_of_a_model_without_parameters_on_a_given_device():
    """Scores are the image itself (1 x 1 x 3 pixels: 3 classes); no parameters, so no device."""
    images = torch.tensor([[0.0, 2.0, 1.0], [3.0, 0.0, 1.0], [0.0, 0.0, 5.0]]).view(3, 1, 1, 3)
    labels = torch.tensor([1, 2, 2])  # the arg-max is 1, 0, 2: two right
    assert accuracy(nn.Flatten(), images, labels, device="cpu") == 2 / 3
    assert accuracy(nn.Flatten(), images[:1], labels[:1], device="cpu") == 1.0


def test_defaults_are_batches_of_64_from_seed_0_with_a_progress_bar(capsys):
    split = tiny_split()  # 130 training images: batches of 64 and of 65 differ
    default = train_classifier(tiny_classifier(), split, epochs=2, learning_rate=0.1)
    assert "2/2" in capsys.readouterr().err
    explicit = train_classifier(
        tiny_classifier(), split, epochs=2, learning_rate=0.1, batch_size=64, seed=0, progress=False
    )
    assert default.train_loss == explicit.train_loss
    assert capsys.readouterr().err == ""  # progress=False draws no bar


def test_progress_bar_counts_epochs_and_shows_the_last_loss_and_accuracy(capsys):
    history = train_classifier(
        tiny_classifier(), tiny_split(), epochs=2, learning_rate=0.1, progress=True
    )
    last = capsys.readouterr().err.split("\r")[-1]
    assert last.startswith("epochs: 100%") and "2/2" in last and "epoch/s" in last
    assert f"train_loss={history.train_loss[-1]:.3f}" in last
    assert f"test_accuracy={history.test_accuracy[-1]:.3f}" in last


def test_models_of_one_seed_see_the_same_batches_whatever_randomness_they_draw():
    """The batch order has its own generator: dropout's draws do not shift it."""
    plain, with_dropout = BatchRecorder(dropout=False), BatchRecorder(dropout=True)
    for model in (plain, with_dropout):
        train_classifier(model, tiny_split(), epochs=2, learning_rate=0.1, progress=False)
    assert len(plain.seen) == 2 * 130 and plain.seen == with_dropout.seen


def test_an_explicit_device_is_used_without_asking_for_the_default(monkeypatch):
    def no_default() -> torch.device:
        raise AssertionError("default_device() called although a device was given")

    monkeypatch.setattr(training, "default_device", no_default)
    model = tiny_classifier()
    split = tiny_split()
    train_classifier(model, split, epochs=1, learning_rate=0.1, device="cpu", progress=False)
    assert model[1].weight.device.type == "cpu"


class NanAfter(nn.Module):
    """A linear classifier whose scores turn to nan from its ``calls``-th forward pass on."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.linear = nn.Linear(64, 10)
        self.calls, self.remaining = calls, calls

    def forward(self, x):
        self.remaining -= 1
        scores = self.linear(x.flatten(1))
        return scores * float("nan") if self.remaining < 0 else scores


def test_a_diverged_run_raises_naming_the_epoch_and_the_step():
    # issue 23: a loss of nan trained on, and the "accuracy" reported was one class's share.
    # 128 images in batches of 64: 2 steps an epoch, then one accuracy pass on the test set.
    images, labels = torch.rand(128, 1, 8, 8), torch.arange(128) % 10
    split = DigitsSplit(images, labels, images[:4], labels[:4])
    model = NanAfter(calls=3)  # epoch 1: steps 1, 2, accuracy; epoch 2: step 1 is nan
    with pytest.raises(training.TrainingDiverged, match=r"at epoch 2, step 1 \(learning_rate=") \
            as raised:
        train_classifier(model, split, epochs=3, learning_rate=0.01, progress=False)
    assert (raised.value.epoch, raised.value.step) == (2, 1) and raised.value.loss != 0.0
    assert isinstance(raised.value, ValueError)
    model = NanAfter(calls=1)  # the second step of the first epoch
    with pytest.raises(training.TrainingDiverged, match=r"epoch 1, step 2 "):
        train_classifier(model, split, epochs=1, learning_rate=0.01, progress=False)


def test_labels_beyond_the_models_scores_and_a_model_without_class_rows_are_refused(split):
    with pytest.raises(ValueError, match=r"^split\.train_labels go up to class 9 but the model "
                                         r"returns only 5 scores per image$"):
        train_classifier(nn.Sequential(nn.Flatten(), nn.Linear(64, 5)), split, epochs=1,
                         learning_rate=0.01, progress=False)
    with pytest.raises(ValueError, match=r"^labels go up to class 9 .* only 5 scores"):
        accuracy(nn.Sequential(nn.Flatten(), nn.Linear(64, 5)), split.test_images,
                 split.test_labels)
    with pytest.raises(ValueError, match=r"model must return N x num_classes scores, one row per "
                                         r"image; for 450 images it returned \(450, 10, 1, 1\)"):
        accuracy(nn.Conv2d(1, 10, 8), split.test_images, split.test_labels)
    with pytest.raises(ValueError, match=r"it returned tuple"):
        accuracy(nn.Sequential(nn.Flatten(), nn.Linear(64, 10), TupleOut()), split.test_images,
                 split.test_labels)


class TupleOut(nn.Module):
    def forward(self, x):
        return (x,)


def test_a_split_a_loop_cannot_use_is_refused_naming_the_part(split):
    model = logistic_regression()
    empty = DigitsSplit(split.train_images[:0], split.train_labels[:0], split.test_images,
                        split.test_labels)
    with pytest.raises(ValueError, match=r"^split\.train_images holds no images"):
        train_classifier(model, empty, epochs=1, learning_rate=0.01, progress=False)
    floats = DigitsSplit(split.train_images, split.train_labels.float(), split.test_images,
                         split.test_labels)
    with pytest.raises(TypeError, match=r"^split\.train_labels must be int64 class indices"):
        train_classifier(model, floats, epochs=1, learning_rate=0.01, progress=False)
    negative = DigitsSplit(split.train_images, split.train_labels - 1, split.test_images,
                           split.test_labels)
    with pytest.raises(ValueError, match=r"^split\.train_labels must be class indices from 0, "
                                         r"got -1$"):
        train_classifier(model, negative, epochs=1, learning_rate=0.01, progress=False)
    validation = DigitsSplit(split.train_images, split.train_labels, split.test_images,
                             split.test_labels, split.test_images, split.test_labels[:3])
    with pytest.raises(ValueError, match=r"but split\.validation_labels of shape \(3,\)"):
        train_classifier(model, validation, epochs=1, learning_rate=0.01, progress=False)
    with pytest.raises(ValueError, match=r"^device must name a device"):
        train_classifier(model, split, epochs=1, learning_rate=0.01, device="gpu")


def test_accuracy_restores_the_mode_when_the_model_raises():
    model = logistic_regression().train()
    model.register_forward_hook(lambda *args: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        accuracy(model, torch.zeros(2, 1, 8, 8), torch.zeros(2, dtype=torch.int64))
    assert model.training
