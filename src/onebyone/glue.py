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

Importing this module has no side effects: it does not import MyST-NB until a value is glued.
"""

from __future__ import annotations

import importlib.util
import numbers
from collections.abc import Mapping

#: Values glued since the kernel started, by name, when MyST-NB is not installed.
GLUED: dict[str, int | float | str] = {}


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


def glue(name: str, value: int | float | str, display: bool = False) -> None:
    """Record ``value`` under ``name`` for ``{glue:text}`name``` in the chapter's prose.

    Args:
        name: the name the prose uses; unique within a chapter.
        value: a plain Python ``int``, ``float`` or ``str`` in the unit the prose states
            (``float(x)``, ``t.item()``); anything else raises ``TypeError``.
        display: also show the value below the cell. Only the book build shows it; elsewhere
            the value is just recorded.
    """
    name, value = _checked(name, value)
    if myst_nb_available():
        from myst_nb import glue as myst_nb_glue

        myst_nb_glue(name, value, display=display)
    else:
        GLUED[name] = value


def glue_all(values: Mapping[str, int | float | str]) -> None:
    """Glue every ``name: value`` of ``values`` (in order), as :func:`glue` with ``display=False``.

    Every value is checked before the first one is glued, so a bad value glues nothing.

    Args:
        values: the values by the names the prose uses, each a plain ``int``, ``float`` or ``str``.
    """
    if not isinstance(values, Mapping):
        raise TypeError(f"glue_all takes a mapping of names to values, got {type(values)!r}")
    checked = [_checked(name, value) for name, value in values.items()]
    for name, value in checked:
        glue(name, value)
