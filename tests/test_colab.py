"""A notebook twin run the way Colab runs it, offline.

Colab is simulated by a fresh virtual environment holding only a Colab-like base (torch and NumPy
from the pinned set, a kernel and nbclient), a stand-in ``google.colab`` module that every kernel
imports at start (as Colab's do), and a git configuration that sends the repository's URL to this
checkout, so the twin's real first cell fetches the pinned commit and installs the package from
it, untouched. One chapter then runs end to end. Building the environment takes a minute or two;
one environment serves every test here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent

# What Colab already has, from the pinned set. torch must stay pinned exactly (see the README);
# requirements.txt is the one place that pins it.
TORCH_PIN = next(line for line in (ROOT / "requirements.txt").read_text().splitlines()
                 if line.startswith("torch=="))
COLAB_BASE = [TORCH_PIN, "numpy", "ipykernel", "nbclient"]
# The chapter run end to end: the first, which imports most of the package and plots.
CHAPTER = "01_pointwise"
DOCUMENTATION_TOOLING = ("sphinx", "docutils", "myst-", "jupyter-book", "jupytext", "pybtex")


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, f"{command}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def colab(tmp_path_factory, notebooks_tool):
    """A Colab-like environment: its Python, and the environment variables its kernels need."""
    home = tmp_path_factory.mktemp("colab")
    venv = home / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "--quiet", "--no-compile", "--constraint",
          str(ROOT / "requirements.txt"), *COLAB_BASE])
    site_packages = Path(_run([str(python), "-c", "import site; print(site.getsitepackages()[0])"])
                         .stdout.strip())
    colab_module = site_packages / "google" / "colab"
    colab_module.mkdir(parents=True)
    (colab_module / "__init__.py").write_text('"""Stand-in for Colab\'s own module."""\n')
    startup = home / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-colab.py").write_text("import google.colab  # as every Colab kernel does\n")
    url, _ = notebooks_tool.repository()
    gitconfig = home / "gitconfig"
    gitconfig.write_text(f'[url "{ROOT.as_uri()}"]\n\tinsteadOf = {url}\n')
    environment = {
        key: value for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "JUPYTER", "VIRTUAL_ENV", "GIT_", "IPYTHON"))
    }
    environment.update(
        PATH=f"{venv / 'bin'}:{environment.get('PATH', '')}",
        VIRTUAL_ENV=str(venv),
        IPYTHONDIR=str(home / "ipython"),
        GIT_CONFIG_GLOBAL=str(gitconfig),
        GIT_CONFIG_NOSYSTEM="1",
        PYTHONHASHSEED="0",
    )
    return {"home": home, "python": python, "env": environment}


RUNNER = """\
import sys
import nbformat
from nbclient import NotebookClient

notebook = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(notebook, timeout=600, kernel_name="python3", allow_errors=True,
               resources={"metadata": {"path": sys.argv[2]}}).execute()
nbformat.write(notebook, sys.argv[3])
"""


def _execute(colab, notebook: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """Run ``notebook`` in a fresh Colab kernel whose working directory is a new ``/content``."""
    content = colab["home"] / f"content-{name}"
    content.mkdir()
    source, executed = colab["home"] / f"{name}.ipynb", colab["home"] / f"{name}.out.ipynb"
    nbformat.write(notebook, source)
    runner = colab["home"] / "runner.py"
    runner.write_text(RUNNER)
    _run([str(colab["python"]), str(runner), str(source), str(content), str(executed)],
         env=colab["env"], cwd=content)
    return nbformat.read(executed, as_version=4)


def _errors(notebook: nbformat.NotebookNode) -> list[str]:
    return [
        f"cell {index}: {output.ename}: {output.evalue}"
        for index, cell in enumerate(notebook.cells)
        for output in cell.get("outputs", [])
        if output.output_type == "error"
    ]


def _unwanted(report: dict) -> list[str]:
    """What a pip install report would install that Colab must not get: torch or CUDA packages
    (Colab's own would be replaced), or documentation tooling."""
    names = [item["metadata"]["name"].lower() for item in report["install"]]
    return [
        name for name in names
        if name in ("torch", "triton") or name.startswith("nvidia-")
        or name.startswith(DOCUMENTATION_TOOLING)
    ]


def test_the_report_check_catches_torch_cuda_and_documentation_tooling():
    report = {"install": [{"metadata": {"name": name}} for name in
                          ("onebyone", "Torch", "nvidia-cudnn-cu12", "Sphinx", "myst-nb", "tqdm")]}
    assert _unwanted(report) == ["torch", "nvidia-cudnn-cu12", "sphinx", "myst-nb"]


def test_the_colab_install_is_light(colab):
    """What the first cell's ``pip install`` would add to a Colab that has torch: no torch, no
    CUDA packages, no documentation tooling. (Runs before the twin installs the package.)"""
    report_path = colab["home"] / "report.json"
    _run([str(colab["python"]), "-m", "pip", "install", "--dry-run", "--quiet", "--report",
          str(report_path), str(ROOT)], env=colab["env"])
    report = json.loads(report_path.read_text())
    names = {item["metadata"]["name"].lower() for item in report["install"]}
    assert "onebyone" in names
    assert _unwanted(report) == []


def test_a_twin_runs_end_to_end_as_on_colab(colab, notebooks_tool):
    twin = nbformat.read(ROOT / "notebooks" / f"{CHAPTER}.ipynb", as_version=4)
    assert twin.cells[0].metadata["tags"] == [notebooks_tool.COLAB_CELL_TAG]
    probe = textwrap.dedent("""\
        import importlib.util, json, os, subprocess, google.colab, onebyone, onebyone.glue, torch
        print(json.dumps({
            "package": onebyone.__file__, "cwd": os.getcwd(), "torch": torch.__version__,
            "glued": len(onebyone.glue.GLUED),
            "myst_nb": importlib.util.find_spec("myst_nb") is not None,
            "commit": subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True,
                                     text=True).stdout.strip(),
        }))""")
    twin.cells.append(nbformat.v4.new_code_cell(probe))
    executed = _execute(colab, twin, "twin")
    assert _errors(executed) == []
    facts = json.loads(executed.cells[-1].outputs[-1].text)
    checkout = colab["home"] / "content-twin" / "one-by-one"
    assert facts["cwd"] == str(checkout / "notebooks")  # relative paths work as locally
    assert facts["commit"] == twin.metadata["onebyone"]["commit"]  # the pinned commit
    assert facts["package"].startswith(str(colab["home"] / "venv"))  # installed, not this repo's
    assert facts["torch"].startswith(TORCH_PIN.removeprefix("torch=="))  # Colab's torch is kept
    assert facts["myst_nb"] is False and facts["glued"] > 0  # glue recorded without MyST-NB


def test_a_failed_fetch_says_what_to_do_without_a_traceback(colab, notebooks_tool):
    twin = nbformat.read(ROOT / "notebooks" / f"{CHAPTER}.ipynb", as_version=4)
    first = twin.cells[0]
    unreachable = first.source.replace(notebooks_tool.repository()[0], "file:///nonexistent/repo")
    assert unreachable != first.source
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(unreachable)], metadata=twin.metadata
    )
    outputs = _execute(colab, notebook, "offline").cells[0].outputs
    assert [output.output_type for output in outputs] == ["error"]  # nothing else is shown
    error = outputs[0]
    assert error.ename == "SetupFailed"
    message = error.evalue
    assert message.startswith("Setup failed: could not download the book's repository (fatal: ")
    assert "internet" in message and "run this cell again" in message and "/releases" in message
    assert error.traceback == [message]  # the message alone, no traceback
    assert len(message.splitlines()) == 2


def test_no_markdown_cell_of_any_twin_has_myst_markup(notebooks_tool):
    for chapter in notebooks_tool.chapters():
        twin = nbformat.read(notebooks_tool.twin_path(chapter), as_version=4)
        for index, cell in enumerate(twin.cells):
            if cell.cell_type == "markdown":
                found = notebooks_tool.jupyter_markdown.myst_markup(cell.source)
                assert found == [], f"{chapter.stem} cell {index}: {found}"
