"""Shared fixtures: the repository's paths, and the built book for the HTML checks."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILT_HTML = ROOT / "_build" / "html"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="module")
def assignments_tool():
    """The module tools/assignments.py (a script), registered as ``assignments``, as the test
    files that build and grade assignments always loaded it."""
    spec = importlib.util.spec_from_file_location("assignments", ROOT / "tools" / "assignments.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["assignments"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def notebooks_tool():
    """The module tools/notebooks.py (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("notebooks_tool", ROOT / "tools" / "notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def validate_timer(monkeypatch, tmp_path):
    """benchmarks/validate_timer.py (a script) as a module, its recorded folder moved to
    ``tmp_path`` so that a test never writes into the repository's results."""
    spec = importlib.util.spec_from_file_location(
        "validate_timer", ROOT / "benchmarks" / "validate_timer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RESULTS", tmp_path)
    return module


@pytest.fixture(scope="session")
def built_html() -> Path:
    """The HTML that `make book` wrote; a missing build is a failure, not a skip."""
    if not (BUILT_HTML / "index.html").exists():
        pytest.fail(f"no built book under {BUILT_HTML}: run `make book` first (`make test` does)")
    return BUILT_HTML



@pytest.hookimpl(tryfirst=True)  # before `-m` selects by marker
def pytest_collection_modifyitems(config, items):
    """A test that reads the built book (fixture built_html) is marked built_book: `make test`
    runs the other tests while the book is still being built, and these after it."""
    for item in items:
        if "built_html" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.built_book)
