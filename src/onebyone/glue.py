"""Glue: hand a number computed in a chapter to the prose that quotes it.

Why: every number in the book's prose comes from the code beside it. In the web book, MyST-NB's
``glue`` records a value and ``{glue:text}`` prints it in the text. But MyST-NB brings a whole
documentation builder (Sphinx, docutils, MyST-Parser), which a reader running a chapter on Colab
or in plain Jupyter does not need: there the prose already shows the numbers, because
``tools/notebooks.py`` writes them into the Markdown of the notebook twins. So a chapter glues
through this module, which

- while the book is built (MyST-NB importable), passes each value to ``myst_nb.glue``;
- everywhere else, keeps it in :data:`GLUED` and shows nothing, so nothing extra is installed.

Either way a value is checked first: the book quotes plain Python numbers and strings, never a
NumPy or PyTorch scalar (whose printed form would leak ``tensor(...)`` into the prose).

Most glued numbers are the same on every machine (counts, ratios of counts, numbers read from
recorded files). A few are not: a trained model's accuracy depends on the order in which the
machine's kernels add numbers, so another CPU gives another last digit, and sometimes another
first one. Such a number is glued with ``varies=Varies(...)``, which says why and how far two
machines may disagree; the comparison of the notebook twins with the web book (both run the
chapter, usually on different machines) allows that much, and no more, for that name. A rounding
gap is not glued at all: the prose states a bound and the chapter asserts it, because a gap of
``0.0e+00`` on one CPU and ``4.4e-16`` on another reads as a bug either way.

Importing this module has no side effects: it does not import MyST-NB until a value is glued.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import numbers
from collections.abc import Mapping

#: Values glued since the kernel started, by name, when MyST-NB is not installed.
GLUED: dict[str, int | float | str] = {}
#: The declarations of the values in :data:`GLUED` that vary between machines, as records.
VARIES: dict[str, dict[str, object]] = {}
#: Where a glued output keeps its declaration: its metadata, under this key.
METADATA_KEY = "onebyone"


@dataclasses.dataclass(frozen=True)
class Varies:
    """A glued number that legitimately differs from machine to machine, and by how much.

    Two machines' values ``a`` and ``b`` agree when ``|a - b| <= absolute + relative * max(|a|,
    |b|)``. Declare the widest difference seen or expected, not a guess that happens to pass.
    A value that cannot be bounded, such as the verdict words of a trained comparison ("contains
    zero" on one machine, "lies above zero" on another), is declared with ``anything=True``: it is
    then left out of the comparison altogether, and it may be a text.

    Attributes:
        why: what makes it vary, in a few words ("trained accuracy: kernels round differently").
        absolute: the allowed difference, in the value's own unit (percentage points, seconds).
        relative: the allowed difference as a fraction of the larger magnitude.
        anything: any two values agree (no tolerance may be given then).
    """

    why: str
    absolute: float = 0.0
    relative: float = 0.0
    anything: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.why, str) or not self.why.strip():
            raise TypeError(f"Varies: why must be a non-empty str, got {self.why!r}")
        for field in ("absolute", "relative"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"Varies: {field} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"Varies: {field} must be finite and >= 0, got {value!r}")
        if not isinstance(self.anything, bool):
            raise TypeError(f"Varies: anything must be True or False, got {self.anything!r}")
        if self.anything and (self.absolute or self.relative):
            raise ValueError("Varies: anything=True takes no tolerance")
        if not self.anything and self.absolute == 0 and self.relative == 0:
            raise ValueError("Varies: give an absolute or a relative tolerance above 0")

    def record(self) -> dict[str, object]:
        """The declaration as plain JSON-able data, as stored beside the glued value."""
        return {"why": self.why, "absolute": float(self.absolute),
                "relative": float(self.relative), "anything": self.anything}

    @classmethod
    def from_record(cls, record: object) -> Varies:
        """The declaration stored by :meth:`record` (refuses anything else)."""
        keys = {"why", "absolute", "relative", "anything"}
        if not isinstance(record, Mapping) or set(record) != keys:
            raise ValueError(f"not a Varies record: {record!r}")
        return cls(record["why"], record["absolute"], record["relative"], record["anything"])

    def allows(self, a: float | str, b: float | str) -> bool:
        """Whether two machines' values ``a`` and ``b`` agree within this declaration."""
        if self.anything:
            return True
        if not all(math.isfinite(v) for v in (a, b)):
            return a == b or (math.isnan(a) and math.isnan(b))
        return abs(a - b) <= self.absolute + self.relative * max(abs(a), abs(b))


#: The declaration for a trained model's test accuracy in percent, and for the spreads and
#: differences of such accuracies in points: two machines' kernels round differently, a few
#: predictions flip and training takes another path. Three points covers what Chapters 3 and 4
#: showed between the CPUs tried (see ``tools/portability.py``); a larger move is a change in
#: the code, not in the machine.
TRAINED = Varies("trained accuracy: another machine's kernels round differently", absolute=3.0)


def _checked(name: object, value: object) -> tuple[str, int | float | str]:
    if not isinstance(name, str) or not name:
        raise TypeError(f"a glue name must be a non-empty str, got {name!r}")
    if isinstance(value, str) and type(value) is not str:
        value = str(value)  # a text subclass, such as torch.__version__: its plain text
    if isinstance(value, bool) or type(value) not in (int, float, str):
        kind = type(value).__module__ + "." + type(value).__qualname__
        hint = " (use float(x) or int(x), or t.item() for a tensor)"
        plain = isinstance(value, numbers.Number) and not isinstance(value, bool)
        raise TypeError(
            f"glue {name!r}: glue a plain int, float or str, not {kind}{hint if plain else ''}"
        )
    return name, value


def myst_nb_available() -> bool:
    """Whether MyST-NB is importable, i.e. whether glued values go to the book build."""
    return importlib.util.find_spec("myst_nb") is not None


def _checked_varies(name: str, value: object, varies: object) -> Varies | None:
    if varies is None:
        return None
    if not isinstance(varies, Varies):
        raise TypeError(f"glue {name!r}: varies must be a Varies or None, got {varies!r}")
    if isinstance(value, str) and not varies.anything:
        raise TypeError(
            f"glue {name!r}: a text cannot vary by a tolerance; declare it with anything=True "
            "(left out of the comparison), or rewrite it so that it does not depend on the machine"
        )
    return varies


def _glue_declared(name: str, value: int | float | str, display: bool, varies: Varies) -> None:
    """MyST-NB's ``glue``, with the declaration added to the output's metadata."""
    from IPython.core.formatters import format_display_data
    from IPython.display import display as ipy_display
    from myst_nb.ext.glue import GLUE_PREFIX

    bundle, metadata = format_display_data(value)
    prefix = "" if display else GLUE_PREFIX
    metadata["scrapbook"] = {"name": name, "mime_prefix": prefix}
    metadata[METADATA_KEY] = {"varies": varies.record()}
    ipy_display({prefix + key: text for key, text in bundle.items()}, raw=True, metadata=metadata)


def glue(
    name: str, value: int | float | str, display: bool = False, *, varies: Varies | None = None
) -> None:
    """Record ``value`` under ``name`` for ``{glue:text}`name``` in the chapter's prose.

    Args:
        name: the name the prose uses; unique within a chapter.
        value: a plain Python ``int``, ``float`` or ``str`` in the unit the prose states
            (``float(x)``, ``t.item()``); anything else raises ``TypeError``.
        display: also show the value below the cell. Only the book build shows it; elsewhere
            the value is just recorded.
        varies: for a number that depends on the machine (see :class:`Varies`), how far two
            machines may disagree; ``None`` (the default) for a value every machine computes
            the same.
    """
    name, value = _checked(name, value)
    declared = _checked_varies(name, value, varies)
    if myst_nb_available():
        if declared is None:
            from myst_nb import glue as myst_nb_glue

            myst_nb_glue(name, value, display=display)
        else:
            _glue_declared(name, value, display, declared)
    else:
        GLUED[name] = value
        if declared is None:
            VARIES.pop(name, None)
        else:
            VARIES[name] = declared.record()


def glue_all(
    values: Mapping[str, int | float | str], *, varies: Varies | None = None
) -> None:
    """Glue every ``name: value`` of ``values`` (in order), as :func:`glue` with ``display=False``.

    Every value is checked before the first one is glued, so a bad value glues nothing.

    Args:
        values: the values by the names the prose uses, each a plain ``int``, ``float`` or ``str``.
        varies: one declaration for every value of this call (see :func:`glue`); group the
            values that vary in a call of their own.
    """
    if not isinstance(values, Mapping):
        raise TypeError(f"glue_all takes a mapping of names to values, got {type(values)!r}")
    checked = [_checked(name, value) for name, value in values.items()]
    for name, value in checked:
        _checked_varies(name, value, varies)
    for name, value in checked:
        glue(name, value, varies=varies)
