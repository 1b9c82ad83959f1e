"""The lab's public address has one home (pyproject.toml [project.urls] Repository): badges and clone cells agree with it."""

import subprocess
import sys

import nbformat

from tools.regenerate import BADGE_LINK, CLONE_SETTING, NOTEBOOKS_DIR, README, colab_link, repository_url, sync_links, synced

STUDENT_NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


def clone_cell(path) -> str:
    """The source of a notebook's clone/install cell (the one that sets REPOSITORY)."""
    return next(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code" and CLONE_SETTING.search(c.source))


def test_badges_and_clone_cells_point_at_pyproject_repository() -> None:
    repository = repository_url()
    readme_badges = {m["name"] for m in BADGE_LINK.finditer(README.read_text())}
    assert readme_badges == {p.name for p in STUDENT_NOTEBOOKS}  # one badge per notebook, no stale names
    for path in STUDENT_NOTEBOOKS:
        first = nbformat.read(path, as_version=4).cells[0].source
        assert colab_link(repository, path.name) in first, path.name
        assert f'REPOSITORY = "{repository}"' in clone_cell(path), path.name
    assert sync_links(write=False) == [], "run `python -m tools.regenerate --sync-links`"


def test_a_fork_rewrites_every_link_from_one_setting() -> None:
    text = README.read_text() + "\n" + clone_cell(STUDENT_NOTEBOOKS[0])
    forked = synced(text, "https://github.com/my-course/detox-fork")
    assert "github/detox-lab/detox-lab/" not in forked and 'REPOSITORY = "https://github.com/detox-lab' not in forked
    assert forked.count("colab.research.google.com/github/my-course/detox-fork/blob/main/notebooks/") == text.count("colab.research.google.com/github/")
    assert 'REPOSITORY = "https://github.com/my-course/detox-fork"' in forked


def test_an_unreachable_repository_fails_the_clone_cell_with_one_line(tmp_path) -> None:
    source = CLONE_SETTING.sub(f'REPOSITORY = "{tmp_path / "no-such-repo"}"', clone_cell(STUDENT_NOTEBOOKS[0]))
    run = subprocess.run([sys.executable, "-S", "-c", source], cwd=tmp_path, capture_output=True, text=True, timeout=60)  # -S: no lab_utils on the path
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 1 and len(lines) == 1, run.stderr
    assert lines[0].startswith(f"Cannot clone {tmp_path / 'no-such-repo'}") and "set REPOSITORY in this cell" in lines[0]
    assert "[project.urls] Repository" in lines[0]
