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


def code_cell(notebook: str, starts: str) -> str:
    """The source of the code cell of `notebook` whose source contains `starts`."""
    cells = nbformat.read(REPO_ROOT / "notebooks" / notebook, as_version=4).cells
    return next(c.source for c in cells if c.cell_type == "code" and starts in c.source)


def test_the_notebooks_ppo_loop_is_train_without_its_guards(config, prompts, reward_pipe, tmp_path) -> None:
    """The loop a student reads in Lab 3, run for 3 seeded steps, gives trl the same numbers as `train(num_steps=3)`."""
    import dataclasses

    import pandas as pd

    from lab_utils.history import STATS, history_frame
    from lab_utils.models import load_policy
    from lab_utils.ppo import make_ppo_trainer, train
    from lab_utils.runtime import set_seed

    short = dataclasses.replace(config, num_steps=3)
    namespace = {"config": short, "reward_pipe": reward_pipe, "prompts": prompts, "ref_model": None}
    exec(code_cell("lab3_detoxify_summaries.ipynb", "from lab_utils.config import get_config"), namespace)
    exec(code_cell("lab3_detoxify_summaries.ipynb", "neutral_text = "), namespace)
    exec(code_cell("lab3_detoxify_summaries.ipynb", "def reward_fn("), namespace)
    set_seed(short.seed)
    namespace["policy_model"], namespace["tokenizer"] = load_policy(short)
    exec(code_cell("lab3_detoxify_summaries.ipynb", "for step in tqdm(range(config.num_steps)"), namespace)
    notebook = history_frame(namespace["history"])

    set_seed(short.seed)
    policy_model, tokenizer = load_policy(short)
    trainer = make_ppo_trainer(short, policy_model, None, tokenizer)
    trained = train(short, trainer, tokenizer, namespace["reward_fn"], prompts["train"], checkpoint_dir=tmp_path)
    columns = ["step", "env/reward_mean", *STATS, "objective/kl_per_token"]
    pd.testing.assert_frame_equal(notebook[columns], trained[columns])
    assert len(notebook) == 3
