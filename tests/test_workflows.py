"""The GitHub Actions workflows: linted by actionlint, and given the least privilege they need."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parent.parent / ".github" / "workflows"
ACTIONLINT = Path(sys.executable).parent / "actionlint"  # from requirements.txt


def _workflows() -> list[Path]:
    found = sorted(WORKFLOWS.glob("*.yml")) + sorted(WORKFLOWS.glob("*.yaml"))
    assert found, f"no workflow under {WORKFLOWS}"
    return found


def _actionlint(*paths: Path) -> subprocess.CompletedProcess:
    actionlint = ACTIONLINT if ACTIONLINT.exists() else shutil.which("actionlint")
    assert actionlint, "actionlint is missing: requirements.txt installs it (`make test` does)"
    return subprocess.run(
        [str(actionlint), "-no-color", *map(str, paths)],
        capture_output=True, text=True, check=False,
    )


def test_actionlint_finds_nothing():
    result = _actionlint(*_workflows())
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_can_fail(tmp_path):
    """The lint above means something: a broken workflow is refused."""
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  job:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - run: echo ${{ github.no_such_context }}\n")
    assert _actionlint(broken).returncode != 0


def _publishing_workflow() -> dict:
    for path in _workflows():
        workflow = yaml.safe_load(path.read_text())
        steps = [s for job in workflow["jobs"].values() for s in job.get("steps", [])]
        if any(str(s.get("uses", "")).startswith("actions/deploy-pages@") for s in steps):
            return workflow
    pytest.fail("no workflow deploys to GitHub Pages")


def test_pages_workflow_has_least_privilege():
    workflow = _publishing_workflow()
    assert workflow["permissions"] == {"contents": "read"}, "the default must be read-only"
    for name, job in workflow["jobs"].items():
        uses = [str(s.get("uses", "")) for s in job.get("steps", [])]
        granted = job.get("permissions", workflow["permissions"])
        if any(u.startswith("actions/deploy-pages@") for u in uses):
            assert granted == {"pages": "write", "id-token": "write"}, name
        else:
            assert all(level == "read" for level in granted.values()), name


def test_pages_workflow_builds_with_the_makefile():
    workflow = _publishing_workflow()
    runs = [s.get("run", "") for job in workflow["jobs"].values() for s in job.get("steps", [])]
    assert "make book" in runs
    uploads = [
        s for job in workflow["jobs"].values() for s in job.get("steps", [])
        if str(s.get("uses", "")).startswith("actions/upload-pages-artifact@")
    ]
    assert [s["with"]["path"] for s in uploads] == ["_build/html"]
