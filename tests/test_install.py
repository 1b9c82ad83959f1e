"""The notebooks' install step: the decision (keep the platform's versions inside the lab's ranges, never touch
torch), its agreement with requirements.txt, the restart line, the Python check. pip itself is not run here."""

import ast
import sys

import pytest

from tools import install
from tools.install import NEEDS, check_python, plan, restart_line, runtime_pins, satisfies, version_key

COLAB = {  # what a Colab GPU runtime reports (Python 3.13): its own CUDA torch, numpy 2.1, pandas 2.2, transformers 5
    "torch": "2.8.0+cu126", "numpy": "2.1.3", "pandas": "2.2.2", "transformers": "5.0.0", "tokenizers": "0.22.1",
    "huggingface-hub": "1.0.1", "accelerate": "1.10.1", "datasets": "4.0.0", "peft": "0.17.1", "rich": "13.9.4",
    "safetensors": "0.6.2", "matplotlib": "3.10.0", "tqdm": "4.67.1", "nltk": "3.9.1", "absl-py": "1.4.0", "scipy": "1.16.1",
}


def test_requirements_pins_are_parsed_and_fit_the_notebook_ranges() -> None:
    pins = runtime_pins()
    assert pins["trl"] == "0.11.4" and pins["torch"] and "pytest" not in pins  # the dev-only tail is skipped
    assert set(pins) == set(NEEDS), "every runtime pin needs a range in install.NEEDS, and every range a pin"
    outside = {name: pins[name] for name in NEEDS if not satisfies(pins[name], NEEDS[name])}
    assert outside == {}, "make setup's exact pins must lie inside the notebook ranges"


@pytest.mark.parametrize(
    ("version", "spec", "inside"),
    [
        ("2.8.0+cu126", ">=2.6", True), ("2.5.1", ">=2.6", False), ("5.0.0rc1", ">=4.57,<6", True),
        ("6.0.0", ">=4.57,<6", False), ("4.46.3", ">=4.57,<6", False), ("4.57.6", ">=4.57,<6", True),
        ("0.11.4", "==0.11.4", True), ("0.11.3", "==0.11.4", False), ("2.1", ">=2.1.0", True),
        ("1.26.4", ">=1.26", True), ("0.4.1", "~=0.4.0", True), ("0.5", "~=0.4.0", False), ("2.2.3", "==2.2.*", True),
    ],
)
def test_versions_compare_like_pip(version, spec, inside) -> None:
    assert satisfies(version, spec) is inside


def test_pre_dev_and_post_releases_sort_in_pep440_order() -> None:
    ordered = ["2.4.0.dev0", "2.4.0a1", "2.4.0b2", "2.4.0rc1", "2.4.0", "2.4.0.post1", "2.4.1", "2.10"]
    assert sorted(ordered, key=version_key) == ordered


def test_colab_keeps_its_packages_and_gets_only_what_is_missing_or_too_old() -> None:
    decision = plan(COLAB, runtime_pins())
    assert decision.keep["torch"] == "2.8.0+cu126" and decision.keep["numpy"] == "2.1.3" and decision.keep["pandas"] == "2.2.2"
    assert decision.keep["transformers"] == "5.0.0" and decision.keep["rich"] == "13.9.4"
    installs = [spec.split("=")[0].split(">")[0] for spec in decision.exact]
    assert sorted(installs) == ["evaluate", "peft", "rouge-score", "trl"]  # missing, or peft 0.17 (fails under transformers 5)
    assert "trl==0.11.4" in decision.exact and "trl==0.11.4" in decision.ranged
    assert "peft>=0.18.1" in decision.ranged and "peft==0.21.2" in decision.exact
    assert not any(spec.startswith("torch") for spec in decision.exact + decision.ranged)


def test_torch_is_never_installed_over_even_when_old_but_is_installed_when_absent() -> None:
    old = plan({**COLAB, "torch": "2.2.1+cu121"}, runtime_pins())
    assert old.keep["torch"] == "2.2.1+cu121" and old.old_torch == "2.2.1+cu121"
    assert not any(spec.startswith("torch") for spec in old.exact + old.ranged)
    bare = plan({}, runtime_pins())  # a plain venv: everything, torch at the verified pin
    assert f"torch=={runtime_pins()['torch']}" in bare.exact and len(bare.exact) == len(NEEDS)


def test_every_package_the_lab_imports_has_a_range() -> None:
    import importlib.metadata

    from lab_utils.config import REPO_ROOT

    dev_only = {"nbformat", "nbclient"}  # regenerate.py: an instructors' tool, installed by `make setup` only
    dev_only |= {"IPython"}  # errors.py imports it only inside a notebook kernel, which has it
    modules = set()
    for path in (REPO_ROOT / "lab_utils").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules.add(node.module.split(".")[0])
    owners = importlib.metadata.packages_distributions()
    third_party = modules - set(sys.stdlib_module_names) - dev_only - {"lab_utils", "__future__"}
    dists = {install.normalize(owners[module][0]) for module in third_party if module in owners}
    assert third_party <= set(owners), f"imported but not installed: {third_party - set(owners)}"
    assert dists <= set(NEEDS), f"imported by lab_utils but missing from install.NEEDS (and requirements.txt): {dists - set(NEEDS)}"


def test_the_lab_venv_needs_nothing(capsys) -> None:
    assert plan(install.installed_versions(), runtime_pins()).exact == []
    install.main()  # a no-op inside .venv: no pip run, no restart
    assert "Lab dependencies are in place" in capsys.readouterr().out


def test_restart_is_asked_only_when_an_imported_package_changed() -> None:
    before = {"numpy": "2.1.3", "pandas": "2.2.2", "rouge-score": "0.1.2"}
    after = {"numpy": "2.4.6", "pandas": "2.2.2", "rouge-score": "0.1.2", "trl": "0.11.4"}
    owners = {"numpy": ["numpy"], "pandas": ["pandas"], "rouge_score": ["rouge_score"]}  # module -> distributions
    line = restart_line(before, after, ["numpy", "pandas", "json"], owners)
    assert line.startswith("RESTART THE RUNTIME") and "numpy 2.1.3 -> 2.4.6" in line and "\n" not in line
    assert restart_line(before, after, ["pandas", "json"], owners) is None  # numpy changed but was not imported: no restart
    assert restart_line(before, before, ["numpy"], owners) is None
    assert restart_line(before, {**after, "numpy": "2.1.3", "rouge-score": "0.1.3"}, ["rouge_score"], owners)  # names normalized


def test_old_python_stops_with_one_clear_line() -> None:
    with pytest.raises(SystemExit) as stop:
        check_python((3, 10, 14))
    assert "needs Python 3.11 or newer" in str(stop.value) and "3.10.14" in str(stop.value) and "\n" not in str(stop.value)
    check_python((3, 13, 2))


def test_it_uses_the_standard_library_only() -> None:
    tree = ast.parse(open(install.__file__).read())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 0}
    assert imported - {"__future__"} <= set(sys.stdlib_module_names)


def test_pip_attempts_hold_imported_and_kept_packages_except_those_that_must_change() -> None:
    before = {**{name.lower(): version for name, version in COLAB.items()}, "pandas": "2.1.4", "pyarrow": "18.1.0"}
    decision = plan(before, runtime_pins())  # pandas 2.1.4 is below the lab's range: it must change
    tries = install.attempts(decision, before, imported={"numpy", "pandas", "pyarrow"})
    (first, exact, held), (_, ranged, held_again), (_, _, torch_only) = tries
    assert exact == decision.exact and ranged == decision.ranged and held == held_again
    assert held["torch"] == "2.8.0+cu126" and held["numpy"] == "2.1.3" and held["pyarrow"] == "18.1.0"  # imported: held
    assert "pandas" not in held and "pandas==3.1.1" in exact  # imported but outside the range: it has to move
    assert held["transformers"] == "5.0.0"  # kept, not imported: held too
    assert torch_only == {"torch": "2.8.0+cu126"}
