"""The notebooks are committed clean, and never pick the reward by position."""

import re

import nbformat
import pytest

from lab_utils.config import REPO_ROOT

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_clean(path) -> None:
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_reward_selected_by_position(path) -> None:
    code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
    assert not re.search(r"\[\s*0\s*\]\s*\[\s*[\"']score", code)
    assert "not_hate_index" not in code


def test_there_are_notebooks() -> None:
    assert any(p.name.startswith("lab3") for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_graded_copy_runs_the_same_code(path) -> None:
    executed = REPO_ROOT / "notebooks" / "executed" / "tiny" / path.name
    student = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    graded = [c.source for c in nbformat.read(executed, as_version=4).cells if c.cell_type == "code"]
    assert graded == student, f"{executed} is stale: run `make regenerate LAB_PROFILE=tiny`"
    checked = [c for c in nbformat.read(executed, as_version=4).cells if "NBVAL_CHECK_OUTPUT" in c.source]
    assert checked and all(c.outputs for c in checked)
