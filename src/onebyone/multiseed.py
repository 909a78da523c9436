"""Comparing trained models over several seeds: epochs chosen on validation, spread reported.

Why: one training run of a small model on a few hundred test images says little. Two runs of
the same architecture from two seeds can differ by a point of accuracy, which is as much as two
architectures differ, so a single run can rank them either way. This module trains every model
from several seeds, each seed drawing its own training, validation and test images, its own
initialisation and its own mini-batch order; it chooses the number of epochs on the validation
images only; and it reports the test accuracy at that epoch as a mean, a standard deviation and
a 95% confidence interval over the seeds.

Two models are compared by :func:`paired_difference`, never by whether their two intervals
overlap. Within a seed, all models share the split and the mini-batch order, so the seeds pair
the runs; the interval of the mean per-seed difference is narrower than two separate intervals
whenever the models' luck moves together. Two 95% intervals of independent means can overlap for
gaps up to 3.92 standard errors of each mean while the difference is significant from 2.77, so
overlap says little. And an interval of the difference that contains zero is absence of
evidence, not evidence of no difference: with five seeds it is usually wide, and
:attr:`PairedDifference.largest_compatible` says how large a difference it cannot rule out.
Each interval covers the variation from seed to seed (split, initialisation, batch order) and
nothing else: not another data set, another budget or another machine.

``DIGITS_SETTINGS`` is the one home of the training settings that Chapters 3 and 4 share, so
that "the same training" means the same numbers in both.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass

import torch
from scipy.stats import t as student_t
from torch import nn

from onebyone import validation
from onebyone.digits import load_digits_split
from onebyone.runtime import seed_everything
from onebyone.training import TrainingHistory, train_classifier

CONFIDENCE = 0.95
"""Coverage of the confidence intervals reported for a mean over seeds."""


@dataclass(frozen=True)
class ComparisonSettings:
    """How every model of a comparison is trained and measured.

    Attributes:
        seeds: one run per seed; the seed draws the split, the initialisation, the batch order.
        max_epochs: epochs each run trains for; the reported epoch is chosen among them.
        learning_rate: Adam's step size.
        batch_size: images per gradient step.
        validation_fraction: share of all digits used to choose the epoch.
        test_fraction: share of all digits used only to report accuracy.
    """

    seeds: tuple[int, ...]
    max_epochs: int
    learning_rate: float
    batch_size: int
    validation_fraction: float
    test_fraction: float

    def __post_init__(self) -> None:
        if len(self.seeds) < 2 or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"need at least two distinct seeds, got {self.seeds!r}")
        if self.max_epochs < 1:
            raise ValueError(f"max_epochs must be at least 1, got {self.max_epochs}")


DIGITS_SETTINGS = ComparisonSettings(
    seeds=(0, 1, 2, 3, 4),
    max_epochs=12,
    learning_rate=3e-3,
    batch_size=64,
    validation_fraction=0.2,
    test_fraction=0.2,
)
"""The training that Chapters 3 and 4 give every digit classifier they compare."""


def mean_and_interval(values: list[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Mean of ``values`` and the half-width of its Student-t confidence interval.

    Why: with five seeds the standard deviation is itself uncertain; the t interval accounts
    for that, where mean plus or minus two standard errors would be too narrow.

    Args:
        values: at least two measurements (e.g. accuracies in [0, 1]).
        confidence: coverage of the interval, strictly between 0 and 1.

    Returns:
        ``(mean, half_width)``, in the unit of ``values``.

    Raises:
        TypeError: ``values`` is not a sequence of real numbers, or ``confidence`` not a number.
        ValueError: fewer than two values, a non-finite value, ``confidence`` outside (0, 1).
    """
    values = [
        validation.real_number(f"values[{i}]", v)
        for i, v in enumerate(validation.items("values", values))
    ]
    confidence = validation.real_number("confidence", confidence)
    if len(values) < 2:
        raise ValueError(f"need at least two values for an interval, got {len(values)}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence}")
    mean = statistics.fmean(values)
    standard_error = statistics.stdev(values) / math.sqrt(len(values))
    quantile = float(student_t.ppf(0.5 + confidence / 2, df=len(values) - 1))
    return mean, quantile * standard_error


@dataclass(frozen=True)
class SeedRuns:
    """One architecture trained once per seed, with the epoch chosen on validation.

    Attributes:
        name: the model's label.
        seeds: the seeds, in run order.
        histories: one :class:`~onebyone.training.TrainingHistory` per seed.
        models: the trained models (after ``max_epochs``), one per seed.
    """

    name: str
    seeds: tuple[int, ...]
    histories: tuple[TrainingHistory, ...]
    models: tuple[nn.Module, ...]

    @property
    def chosen_epoch(self) -> int:
        """The epoch (1-based) with the best validation accuracy averaged over the seeds.

        The test accuracies play no part in the choice; the first best epoch wins a tie.
        """
        epochs = min(len(h.validation_accuracy) for h in self.histories)
        if epochs == 0:
            raise ValueError(f"{self.name}: the runs recorded no validation accuracy")
        means = [
            statistics.fmean(h.validation_accuracy[e] for h in self.histories)
            for e in range(epochs)
        ]
        return means.index(max(means)) + 1

    @property
    def test_accuracies(self) -> list[float]:
        """Test accuracy of each seed's run at :attr:`chosen_epoch`, in [0, 1]."""
        return [h.test_accuracy[self.chosen_epoch - 1] for h in self.histories]

    @property
    def mean(self) -> float:
        """Mean test accuracy over the seeds, in [0, 1]."""
        return statistics.fmean(self.test_accuracies)

    @property
    def std(self) -> float:
        """Sample standard deviation of the test accuracy over the seeds, in [0, 1]."""
        return statistics.stdev(self.test_accuracies)

    @property
    def interval(self) -> tuple[float, float]:
        """95% confidence interval of the mean test accuracy, ``(low, high)``, clipped to [0, 1].

        An accuracy cannot leave [0, 1], so a wide interval is cut at its ends.
        """
        mean, half_width = mean_and_interval(self.test_accuracies)
        return max(0.0, mean - half_width), min(1.0, mean + half_width)


def _check_runs(name: str, runs: object) -> None:
    if not isinstance(runs, SeedRuns):
        raise TypeError(f"{name} must be SeedRuns, got {type(runs).__name__}")


@dataclass(frozen=True)
class PairedDifference:
    """Test accuracy of one model minus another's, seed by seed, with its confidence interval.

    Attributes:
        differences: ``first - second`` for each seed, each at its model's chosen epoch, in [-1, 1].
        mean: mean of the differences, in accuracy (multiply by 100 for points).
        low, high: Student-t 95% confidence interval of the mean difference.
    """

    differences: tuple[float, ...]
    mean: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval lies on one side of zero: the experiment tells the models apart.

        When it does not, the experiment has not shown a difference, which is not the same as
        showing there is none (see :attr:`largest_compatible`).
        """
        return self.low > 0.0 or self.high < 0.0

    @property
    def largest_compatible(self) -> float:
        """The largest difference, either way, that the interval cannot rule out (in accuracy).

        A difference beyond this, in favour of either model, lies outside the 95% interval.
        """
        return max(abs(self.low), abs(self.high))


def paired_difference(first: SeedRuns, second: SeedRuns) -> PairedDifference:
    """The per-seed difference of two models' test accuracies, and its confidence interval.

    Why: within a seed both models see the same split and batch order, so much of the luck of
    the seed is shared; subtracting seed by seed removes it, and the interval of the mean
    difference is then the test of whether the two differ (the overlap of two separate
    intervals is not one).

    Args:
        first, second: runs of two models over the same seeds, in the same order.

    Returns:
        A :class:`PairedDifference`, ``first`` minus ``second``.

    Raises:
        TypeError: an argument that is not :class:`SeedRuns`.
        ValueError: runs over different seeds.
    """
    _check_runs("first", first)
    _check_runs("second", second)
    if first.seeds != second.seeds:
        raise ValueError(
            f"the runs are not paired: seeds {first.seeds!r} and {second.seeds!r} differ"
        )
    differences = tuple(
        a - b for a, b in zip(first.test_accuracies, second.test_accuracies, strict=True)
    )
    mean, half_width = mean_and_interval(list(differences))
    return PairedDifference(differences, mean, mean - half_width, mean + half_width)


def train_over_seeds(
    architectures: dict[str, Callable[[], nn.Module]],
    settings: ComparisonSettings = DIGITS_SETTINGS,
    device: torch.device | str | None = None,
) -> dict[str, SeedRuns]:
    """Train every architecture once per seed on the digits, under identical conditions.

    Why: within one seed all models see the same training, validation and test images and the
    same mini-batch order, and are initialised from the same generator state; across seeds all
    of these change, so the spread over seeds includes the luck of the split.

    Args:
        architectures: a model constructor (no arguments) per name.
        settings: seeds, epochs and optimiser settings (default: :data:`DIGITS_SETTINGS`).
        device: where to train; ``None`` means CUDA when available, else the CPU.

    Returns:
        A :class:`SeedRuns` per name, in the order of ``architectures``.

    Raises:
        TypeError: ``architectures`` is not a dict of callables, or ``settings`` not
            :class:`ComparisonSettings`.
        ValueError: no architectures.
    """
    if not isinstance(architectures, dict) or not all(map(callable, architectures.values())):
        raise TypeError(
            f"architectures must be a dict of name: constructor, got {architectures!r:.80}"
        )
    if not isinstance(settings, ComparisonSettings):
        raise TypeError(f"settings must be ComparisonSettings, got {type(settings).__name__}")
    if not architectures:
        raise ValueError("no architectures to train")
    histories: dict[str, list[TrainingHistory]] = {name: [] for name in architectures}
    models: dict[str, list[nn.Module]] = {name: [] for name in architectures}
    for seed in settings.seeds:
        split = load_digits_split(
            test_fraction=settings.test_fraction,
            seed=seed,
            validation_fraction=settings.validation_fraction,
        )
        for name, make in architectures.items():
            seed_everything(seed)
            model = make()
            histories[name].append(
                train_classifier(
                    model,
                    split,
                    epochs=settings.max_epochs,
                    learning_rate=settings.learning_rate,
                    batch_size=settings.batch_size,
                    device=device,
                    seed=seed,
                    progress=False,
                )
            )
            models[name].append(model)
    return {
        name: SeedRuns(name, settings.seeds, tuple(histories[name]), tuple(models[name]))
        for name in architectures
    }


def format_runs(runs: dict[str, SeedRuns]) -> str:
    """A text table: per model, the chosen epoch, each seed's test accuracy, mean, std and CI.

    Args:
        runs: from :func:`train_over_seeds`.

    Returns:
        One header line and one line per model, accuracies in percent.

    Raises:
        TypeError: ``runs`` is not a dict of :class:`SeedRuns`.
        ValueError: no runs.
    """
    if not isinstance(runs, dict):
        raise TypeError(f"runs must be a dict of name: SeedRuns, got {type(runs).__name__}")
    for name, run in runs.items():
        _check_runs(f"runs[{name!r}]", run)
    if not runs:
        raise ValueError("no runs to format")
    seeds = next(iter(runs.values())).seeds
    name_width = max(len(name) for name in runs)
    seed_columns = " ".join(f"{'seed ' + str(s):>7}" for s in seeds)
    lines = [f"{'model':<{name_width}}  epoch {seed_columns}    mean    std        95% CI"]
    for name, run in runs.items():
        low, high = run.interval
        accuracies = " ".join(f"{100 * a:>7.1f}" for a in run.test_accuracies)
        lines.append(
            f"{name:<{name_width}}  {run.chosen_epoch:>5} {accuracies}  {100 * run.mean:>6.2f}"
            f"  {100 * run.std:>5.2f}  [{100 * low:5.1f}, {100 * high:5.1f}]"
        )
    return "\n".join(lines)
