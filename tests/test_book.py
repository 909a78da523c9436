"""Checks on the book's sources: the table of contents, the notebook twins, the chapter rules."""

from __future__ import annotations

import re

import nbformat
import pytest
import yaml


def _toc_files(root):
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part.get("chapters", [])]
    return files


def test_every_toc_entry_exists(root):
    files = _toc_files(root)
    assert len(files) >= 3
    missing = [f for f in files if not any((root / f"{f}{s}").exists() for s in (".md", ".ipynb"))]
    assert missing == []


def test_every_chapter_is_in_the_toc(root, notebooks_tool):
    listed = set(_toc_files(root))
    chapters = [f"book/{path.stem}" for path in notebooks_tool.chapters()]
    assert chapters, "no chapter found in book/"
    assert [c for c in chapters if c not in listed] == []


def test_twins_are_in_sync(notebooks_tool):
    assert notebooks_tool.problems() == []


def test_sync_check_catches_a_hand_edit(notebooks_tool, tmp_path, monkeypatch):
    """The check must fail on a stale or hand-edited twin, whatever the timestamps say."""
    chapter = notebooks_tool.chapters()[0]
    edited = nbformat.read(notebooks_tool.twin_path(chapter), as_version=4)
    edited.cells[-1].source += "\n# edited by hand"
    monkeypatch.setattr(notebooks_tool, "NOTEBOOKS", tmp_path)
    for path in notebooks_tool.chapters():
        twin = nbformat.read(notebooks_tool.ROOT / "notebooks" / f"{path.stem}.ipynb", 4)
        nbformat.write(edited if path == chapter else twin, tmp_path / f"{path.stem}.ipynb")
    found = notebooks_tool.problems()
    assert found == [f"{tmp_path / chapter.stem}.ipynb differs from book/{chapter.name}"]
    (tmp_path / f"{chapter.stem}.ipynb").unlink()
    assert any("has no twin" in problem for problem in notebooks_tool.problems())


def test_first_cell_installs_on_colab_only_from_the_configured_repository(root, notebooks_tool):
    config = yaml.safe_load((root / "_config.yml").read_text())
    url, branch = config["repository"]["url"], config["repository"]["branch"]
    for chapter in notebooks_tool.chapters():
        twin = nbformat.read(notebooks_tool.twin_path(chapter), as_version=4)
        first = twin.cells[0]
        assert first.cell_type == "code"
        assert 'if "google.colab" in sys.modules:' in first.source
        assert f'REPOSITORY, BRANCH = "{url}", "{branch}"' in first.source
        # everything that acts is inside the Colab guard
        body = first.source.split('if "google.colab" in sys.modules:')[1]
        assert all(line.startswith("    ") for line in body.strip("\n").splitlines())


def test_colab_cell_does_nothing_here(notebooks_tool):
    chapter = notebooks_tool.chapters()[0]
    source = nbformat.read(notebooks_tool.twin_path(chapter), as_version=4).cells[0].source
    namespace: dict = {}
    exec(compile(source, "colab-cell", "exec"), namespace)  # no clone, no install, no chdir
    assert "REPOSITORY" not in namespace


@pytest.fixture(scope="module")
def chapter_sources(notebooks_tool):
    return {path.name: path.read_text() for path in notebooks_tool.chapters()}


def test_no_comment_markers_for_nbval(chapter_sources):
    """Cells are marked with tags; comment markers would show in the book."""
    for name, text in chapter_sources.items():
        assert not re.search(r"#\s*NBVAL", text, re.IGNORECASE), name


def test_no_wall_clock_timing(chapter_sources):
    for name, text in chapter_sources.items():
        assert "time.time()" not in text, name


def test_every_chapter_glues_numbers_and_asserts(chapter_sources):
    for name, text in chapter_sources.items():
        assert "{glue:text}`" in text, f"{name} glues no number into its prose"
        assert re.search(r"^\s*assert ", text, re.MULTILINE), f"{name} asserts nothing"


def test_every_glued_name_is_defined(chapter_sources):
    for name, text in chapter_sources.items():
        used = set(re.findall(r"\{glue:\w+\}`([\w-]+)", text))
        defined = set(re.findall(r"glue\(\s*[\"']([\w-]+)[\"']", text))
        assert used - defined == set(), name


def test_nbval_compares_the_outputs_of_checked_cells(notebooks_tool, tmp_path):
    """A changed count in a `nbval-check-output` cell must fail nbval, not only a crash."""
    import subprocess
    import sys

    chapter = notebooks_tool.chapters()[0]
    twin = nbformat.read(notebooks_tool.twin_path(chapter), as_version=4)
    checked = [
        cell
        for cell in twin.cells
        if notebooks_tool.CHECKED_TAG in cell.metadata.get("tags", []) and cell.outputs
    ]
    assert checked, "chapter 1 has no checked output"
    output = checked[0].outputs[0]
    assert output.output_type == "stream"
    output.text = output.text.replace("4", "5", 1)
    nbformat.write(twin, tmp_path / "corrupted.ipynb")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
         "--nbval-current-env", str(tmp_path / "corrupted.ipynb")],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )
    assert result.returncode == 1, result.stdout[-2000:]
    assert "1 failed" in result.stdout  # the corrupted cell, and nothing else
    assert "Cell outputs differ" in result.stdout


def _declared_distributions(root) -> set[str]:
    import tomllib
    from packaging.requirements import Requirement

    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["notebooks"]
    return {Requirement(r).name.lower().replace("_", "-") for r in requirements}


def test_chapters_import_only_what_the_colab_install_provides(root, notebooks_tool):
    """On Colab only `onebyone[notebooks]` is installed, so chapters may import nothing else."""
    import ast
    import importlib.metadata
    import sys

    distributions = importlib.metadata.packages_distributions()
    declared = _declared_distributions(root) | {"onebyone"}
    colab_cell = notebooks_tool.convert(notebooks_tool.chapters()[0]).cells[0].source
    assert '"/content/one-by-one[notebooks]"' in colab_cell
    for chapter in notebooks_tool.chapters():
        for cell in notebooks_tool.convert(chapter).cells:
            if cell.cell_type != "code":
                continue
            code = "\n".join(line for line in cell.source.splitlines() if not line.startswith("%"))
            for node in ast.walk(ast.parse(code)):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top in sys.stdlib_module_names or top == "onebyone":
                        continue
                    providers = {d.lower() for d in distributions.get(top, [])}
                    assert providers & declared, f"{chapter.name} imports {top}, not installed"
