"""Checks on the book's sources: the table of contents, the notebook twins, the chapter rules."""

from __future__ import annotations

import copy
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
    url = config["repository"]["url"]
    for chapter in notebooks_tool.chapters():
        twin = nbformat.read(notebooks_tool.twin_path(chapter), as_version=4)
        first = twin.cells[0]
        assert first.cell_type == "code"
        assert 'if "google.colab" in sys.modules:' in first.source
        assert f'REPOSITORY = "{url}"' in first.source
        commit = twin.metadata[notebooks_tool.METADATA_KEY]["commit"]
        assert re.fullmatch("[0-9a-f]{40}", commit)
        assert f'COMMIT = "{commit}"' in first.source
        # everything that acts is inside the Colab guard
        body = first.source.split('if "google.colab" in sys.modules:')[1]
        lines = [line for line in body.splitlines() if line.strip()]
        assert lines and all(line.startswith("    ") for line in lines)


def _git(root, *arguments):
    import subprocess

    result = subprocess.run(["git", *arguments], cwd=root, capture_output=True, text=True)
    return result.returncode, result.stdout.strip()


def test_the_pinned_commit_installs_the_package_of_this_checkout(root, notebooks_tool):
    """The twins pin the commit they were made from. Installing from it must give the package
    this checkout has: the same trees under src/ and pyproject.toml (compared by git object id,
    which works in a shallow clone too); and the commit must be in this history, so that it is
    published with it (a rebase would orphan it)."""
    pins = set()
    for chapter in notebooks_tool.chapters():
        twin = nbformat.read(notebooks_tool.twin_path(chapter), as_version=4)
        stored = twin.metadata[notebooks_tool.METADATA_KEY]
        pins.add((stored["commit"], tuple(sorted(stored["package"].items()))))
    assert len(pins) == 1, "the twins pin different commits: run `make notebooks`"
    commit, package = pins.pop()
    head = notebooks_tool.package_trees("HEAD")
    assert dict(package) == head, (
        "src/ or pyproject.toml changed since the twins were made: commit the package, then run "
        "`make notebooks`, then commit the twins"
    )
    _, shallow = _git(root, "rev-parse", "--is-shallow-repository")
    if shallow == "false":
        code, _ = _git(root, "merge-base", "--is-ancestor", commit, "HEAD")
        assert code == 0, f"the pinned commit {commit} is not in this branch's history"
        assert notebooks_tool.package_trees(commit) == head


def _write_twins(notebooks_tool, folder, edit):
    """Every twin copied into ``folder``, the first chapter's after ``edit(stored metadata)``."""
    chapter = notebooks_tool.chapters()[0]
    for path in notebooks_tool.chapters():
        twin = nbformat.read(notebooks_tool.ROOT / "notebooks" / f"{path.stem}.ipynb", 4)
        if path == chapter:
            edit(twin.metadata[notebooks_tool.METADATA_KEY])
        nbformat.write(twin, folder / f"{path.stem}.ipynb")
    return chapter


def test_the_check_catches_a_stale_glued_value(notebooks_tool, tmp_path, monkeypatch):
    """A twin whose stored values lack a name the prose uses is stale, not silently converted."""
    monkeypatch.setattr(notebooks_tool, "NOTEBOOKS", tmp_path)

    def drop(stored):
        stored["glued"].pop("classic_macs")
        stored["digest"] = notebooks_tool.digest(stored["glued"], stored["varies"])

    chapter = _write_twins(notebooks_tool, tmp_path, drop)
    [problem] = notebooks_tool.problems()
    assert "cannot be made from book/01_pointwise.md" in problem and "'classic_macs'" in problem

    def change(stored):
        stored["glued"]["classic_macs"] = "4816897"
        stored["digest"] = notebooks_tool.digest(stored["glued"], stored["varies"])

    _write_twins(notebooks_tool, tmp_path, change)
    [problem] = notebooks_tool.problems()  # the prose shows 4,816,896, the value says otherwise
    assert problem.endswith(f"differs from book/{chapter.name}")


def test_the_check_catches_a_stored_value_edited_by_hand(notebooks_tool, tmp_path, monkeypatch):
    """A stored value edited by hand, with the prose edited to match, is caught by the digest."""
    monkeypatch.setattr(notebooks_tool, "NOTEBOOKS", tmp_path)

    def edit(stored):
        stored["glued"]["classic_macs"] = "4816897"

    _write_twins(notebooks_tool, tmp_path, edit)
    [problem] = notebooks_tool.problems()
    assert "edited by hand" in problem
    for key in ("varies", "digest"):
        _write_twins(notebooks_tool, tmp_path, lambda stored, key=key: stored.pop(key))
        [problem] = notebooks_tool.problems()
        assert "has no onebyone metadata" in problem


def test_glued_disagreements_allow_only_what_is_declared(notebooks_tool):
    from onebyone.glue import Varies

    text = "{glue:text}`accuracy:.1f` and {glue:text}`macs:,`"
    declared = {"accuracy": Varies("trained accuracy", absolute=1.0).record()}
    build = ({"accuracy": "97.2", "macs": "4816896"}, declared)
    near = ({"accuracy": "96.4", "macs": "4816896"}, declared)
    assert notebooks_tool.glued_disagreements(text, build, near) == []
    far = ({"accuracy": "95.9", "macs": "4816896"}, declared)
    assert "accuracy" in notebooks_tool.glued_disagreements(text, build, far)[0]
    undeclared = ({"accuracy": "96.4", "macs": "4816896"}, {})
    assert notebooks_tool.glued_disagreements(text, build, undeclared)
    assert notebooks_tool.glued_disagreements(text, ({"accuracy": "97.2", "macs": "4816896"}, {}),
                                              ({"accuracy": "97.21", "macs": "4816896"}, {})) == []
    verdicts = {"verdict": Varies("verdict", anything=True).record()}
    ahead, level = ({"verdict": "'ahead'"}, verdicts), ({"verdict": "'level'"}, verdicts)
    assert notebooks_tool.glued_disagreements("{glue:text}`verdict`", ahead, level) == []
    other_count = ({"accuracy": "97.2", "macs": "4816897"}, declared)
    assert notebooks_tool.glued_disagreements(text, build, other_count) == [
        "macs: '4816896' and '4816897'"
    ]


def test_the_tool_says_one_line_and_exits_2_on_a_bad_command_line(notebooks_tool, capsys):
    assert notebooks_tool.main(["book/no_such_chapter.md"]) == 2
    assert notebooks_tool.main(["README.md"]) == 2
    assert notebooks_tool.main(["--check", "book/01_pointwise.md"]) == 2
    said = capsys.readouterr().err.splitlines()
    assert said == [
        "error: book/no_such_chapter.md: no such file",
        "error: README.md: not a chapter (a book/*.md notebook)",
        "error: --check checks every twin: name no chapter",
    ]


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


def _glued_names(code: str) -> set[str]:
    """The names glued in ``code`` by ``glue("name", ...)`` and ``glue_all({"name": ...})``."""
    import ast

    code = "\n".join(line for line in code.splitlines() if not line.startswith("%"))
    names = set()
    for node in ast.walk(ast.parse(code)):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            continue
        if node.func.id == "glue" and node.args and isinstance(node.args[0], ast.Constant):
            names.add(node.args[0].value)
        elif node.func.id == "glue_all" and node.args and isinstance(node.args[0], ast.Dict):
            names |= {key.value for key in node.args[0].keys if isinstance(key, ast.Constant)}
    return names


def test_glued_names_are_found_in_glue_and_glue_all_calls():
    code = 'glue("a", 1, display=False)\nglue_all({"b": 2, "c": x})\nprint("d")'
    assert _glued_names(code) == {"a", "b", "c"}


def test_every_glued_name_is_defined(notebooks_tool):
    import jupytext

    for chapter in notebooks_tool.chapters():
        notebook = jupytext.read(chapter, fmt="md:myst")
        text = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
        used = set(re.findall(r"\{glue(?::text)?\}`([\w-]+)", text))
        defined = set().union(
            *(_glued_names(cell.source) for cell in notebook.cells if cell.cell_type == "code")
        )
        assert used - defined == set(), chapter.name


def test_chapters_glue_through_the_package_not_myst_nb(chapter_sources):
    """MyST-NB is documentation tooling; Colab does not install it (onebyone.glue stands in)."""
    for name, text in chapter_sources.items():
        assert not re.search(r"^\s*(from|import) myst_nb", text, re.MULTILINE), name


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
    return {Requirement(r).name.lower().replace("_", "-") for r in project["dependencies"]}


def test_chapters_import_only_what_the_colab_install_provides(root, notebooks_tool):
    """On Colab only `onebyone` and its runtime dependencies are installed (no extras), so
    chapters may import nothing else."""
    import ast
    import importlib.metadata
    import sys

    distributions = importlib.metadata.packages_distributions()
    declared = _declared_distributions(root) | {"onebyone"}
    colab_cell = nbformat.read(notebooks_tool.twin_path(notebooks_tool.chapters()[0]), 4).cells[0]
    assert '"install", "--quiet", "./one-by-one"]' in colab_cell.source
    for chapter in notebooks_tool.chapters():
        for cell in notebooks_tool._cells(chapter, "0" * 40):
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


# --- What a twin keeps out of sight -----------------------------------------------------------

SOLUTION_DIRECTIVE = re.compile(r"^\s*(?:`{3,}|:{3,})\{(solution-start|solution-end)\}")
CHECK_TAGS = {"remove-input", "hide-input", "remove-cell"}


def _kinds(chapter_cells) -> list[str]:
    """For each code cell of a chapter, in order: "solution" (inside a gated solution), "check"
    (tagged to hide its source on the web page) or "shown"."""
    kinds, inside = [], False
    for cell in chapter_cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if match := SOLUTION_DIRECTIVE.match(line):
                    inside = match[1] == "solution-start"
            continue
        tags = set(cell.metadata.get("tags", []))
        kinds.append("solution" if inside else "check" if tags & CHECK_TAGS else "shown")
    return kinds


def _solution_phrases(chapter_cells) -> list[str]:
    """The longest run of plain words (four or more) of each line of the solutions' Markdown."""
    phrases, inside = [], False
    for cell in chapter_cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            if match := SOLUTION_DIRECTIVE.match(line):
                inside = match[1] == "solution-start"
                continue
            if not inside or line.startswith(":"):
                continue
            plain = re.sub(r"\{[^}]+\}`[^`]*`|`[^`]*`|\$[^$]*\$", "|", line)
            best = max((run.strip() for run in re.split(r"[|:;,.()\[\]*]", plain)), key=len)
            if len(best.split()) >= 4:
                phrases.append(best)
    return phrases


def _uncollapsed(chapter_cells, twin) -> list[str]:
    """What a reader of ``twin`` sees at once that the chapter hides: a worked solution (code or
    Markdown) or the source of a check cell. Collapsed means: ``jupyter.source_hidden`` (Jupyter)
    and ``cellView: form`` under a ``# @title`` line (Colab); a solution's outputs hidden too, its
    Markdown inside ``<details>``."""
    found = []
    code = [cell for cell in twin.cells[1:] if cell.cell_type == "code"]  # after the Colab cell
    kinds = _kinds(chapter_cells)
    assert len(code) == len(kinds), "the twin's code cells are not the chapter's"
    for index, (cell, kind) in enumerate(zip(code, kinds, strict=True)):
        if kind == "shown":
            continue
        hidden = cell.metadata.get("jupyter", {})
        first = next(line for line in cell.source.splitlines() if not line.startswith("%%"))
        if not (hidden.get("source_hidden") is True and cell.metadata.get("cellView") == "form"
                and first.startswith("# @title ")):
            found.append(f"code cell {index} ({kind}) shows its source: {cell.source[:60]!r}")
        elif kind == "solution" and hidden.get("outputs_hidden") is not True:
            found.append(f"code cell {index} (solution) shows its outputs")
    markdown = "\n".join(cell.source for cell in twin.cells if cell.cell_type == "markdown")
    visible = re.sub(r"<details>.*?</details>", "", markdown, flags=re.DOTALL)
    if "Solution to" in visible:
        found.append("a solution's heading is in sight")
    found += [f"solution text in sight: {p!r}" for p in _solution_phrases(chapter_cells)
              if p in visible]
    return found


@pytest.fixture(scope="module")
def converted_twins(notebooks_tool):
    """Every chapter and its twin as `make notebooks` would make it now (converted, not
    executed; every glued value 0, so that a stale twin does not matter here)."""
    import jupytext

    book = notebooks_tool.book_index()
    stored = {"commit": "0" * 40, "glued": notebooks_tool._AnyValue()}
    return {
        chapter: (
            jupytext.read(chapter, fmt="md:myst").cells,
            notebooks_tool.convert(chapter, stored, book),
        )
        for chapter in notebooks_tool.chapters()
    }


def test_no_twin_shows_a_solution_or_a_check(converted_twins):
    """Worked solutions are collapsed on the web page, and check cells' sources removed or
    folded: in a twin, on Jupyter or Colab, they are collapsed too until the reader opens them."""
    solutions = 0
    for chapter, (chapter_cells, twin) in converted_twins.items():
        assert _uncollapsed(chapter_cells, twin) == [], chapter.name
        solutions += _kinds(chapter_cells).count("solution")
    assert solutions >= len(converted_twins)  # every chapter has exercises with solutions


def test_the_collapse_check_sees_an_open_solution_and_an_open_check(converted_twins):
    chapter_cells, twin = next(iter(converted_twins.values()))
    opened = copy.deepcopy(twin)
    solution = _kinds(chapter_cells).index("solution") + 1  # code cells, after the Colab cell
    code = [cell for cell in opened.cells if cell.cell_type == "code"]
    del code[solution].metadata["cellView"]
    for cell in opened.cells:
        cell.source = cell.source.replace("<details>", "<div>").replace("</details>", "</div>")
    found = _uncollapsed(chapter_cells, opened)
    assert found[0].startswith(f"code cell {solution - 1} (solution) shows its source")
    assert "a solution's heading is in sight" in found
    assert any(problem.startswith("solution text in sight") for problem in found)
    check = copy.deepcopy(chapter_cells)
    shown = next(cell for cell in check if cell.cell_type == "code")
    shown.metadata["tags"] = ["remove-input"]
    assert _uncollapsed(check, twin)[0].startswith("code cell 0 (check) shows its source")


def test_hide_collapses_solutions_and_checks_for_jupyter_and_colab(notebooks_tool):
    new_code, new_markdown = nbformat.v4.new_code_cell, nbformat.v4.new_markdown_cell
    cells = [
        new_code("x = 1"),
        new_code("assert x == 1", metadata={"tags": ["remove-input"]}),
        new_code("glue('x', x)", metadata={"tags": ["hide-input"]}),
        new_code("%%capture\nsetup()", metadata={"tags": ["remove-cell"]}),
        new_markdown("```{exercise}\n:label: e\n```\n\n```{solution-start} e\n```\n\nSo:"),
        new_code("answer = 2"),
        new_markdown("and:"),
        new_code("answer += 1"),
        new_markdown("```{solution-end}\n```"),
        new_code("check(answer)"),
    ]
    chapter_cells = copy.deepcopy(cells)
    twin = nbformat.v4.new_notebook(cells=[new_code("colab"), *notebooks_tool.hide(cells)])
    assert _uncollapsed(chapter_cells, twin) == []
    assert [i for i, cell in enumerate(cells) if "cellView" in cell.metadata] == [1, 2, 3, 5, 7]
    assert cells[3].source == "%%capture\n# @title Check (double-click to show the code)\nsetup()"
    assert cells[1].metadata["jupyter"] == {"source_hidden": True}  # its output stays in sight
    assert cells[3].metadata["jupyter"] == {"source_hidden": True, "outputs_hidden": True}
    assert [cell.source for cell in (cells[0], cells[9])] == ["x = 1", "check(answer)"]


def test_the_sync_check_catches_a_twin_that_shows_a_solution(notebooks_tool, tmp_path, monkeypatch):
    """`--check` compares what is collapsed: the first chapter's twin as `make notebooks` makes it
    (converted, with the stored twin's values and checked outputs) is in sync; the same twin with
    a solution opened by hand is not."""
    first = notebooks_tool.chapters()[0]
    stored = nbformat.read(notebooks_tool.twin_path(first), as_version=4)
    monkeypatch.setattr(notebooks_tool, "NOTEBOOKS", tmp_path)
    twin = notebooks_tool.convert(first, stored.metadata[notebooks_tool.METADATA_KEY])
    code = [cell for cell in twin.cells if cell.cell_type == "code"]
    stored_code = [cell for cell in stored.cells if cell.cell_type == "code"]
    for mine, theirs in zip(code, stored_code, strict=True):
        mine.outputs, mine.execution_count = theirs.outputs, theirs.execution_count

    def problems_of_the_first_chapter():
        nbformat.write(twin, tmp_path / f"{first.stem}.ipynb")
        return [problem for problem in notebooks_tool.problems() if first.stem in problem]

    assert problems_of_the_first_chapter() == []
    next(cell for cell in code if "cellView" in cell.metadata).metadata.pop("jupyter")
    assert problems_of_the_first_chapter() == [
        f"{tmp_path / first.stem}.ipynb differs from book/{first.name}"
    ]
