# Longer than the ~250-line module guide on purpose: the notebooks run this one file (runpy) before lab_utils is importable, so it stays whole.
"""The notebooks' install step: add what the lab needs to a running Colab / SageMaker kernel, change as little as possible.

The notebooks' first cell runs this file inside the kernel (`runpy.run_path`), before `lab_utils` is
importable, so it uses the standard library only. It

- checks Python >= 3.11 (transformers 5, numpy 2.4 and pandas 3 need it) and stops with one line if not;
- keeps every package the platform already has when its version is inside the lab's range (NEEDS below),
  and never installs over torch (Colab and SageMaker ship their own CUDA build);
- installs the rest: first the exact versions of requirements.txt, with everything already imported held
  at its version (pip constraints); if pip cannot fit those, the newest versions inside NEEDS, still
  holding them; only then letting pip change an imported package;
- prints pip's own output when pip fails, and ONE line asking for a restart when a package that the
  kernel had already imported changed (stopping there, so "Run all" does not go on with stale modules).

`make setup` does not use this: it installs requirements.txt's exact pins into .venv (reproducible CI).
The ranges live here, not in a second requirements file, because only this script reads them: they are
a decision rule (keep or install), and a test checks them against requirements.txt's pins.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = REPO_ROOT / "requirements.txt"
DEV_MARKER = "# --- development and CI only"
MIN_PYTHON = (3, 11)

# What the lab needs from each runtime package. A platform version inside the range is kept.
NEEDS = {
    "torch": ">=2.6",  # never installed over; torch.load of .bin weights is only safe from 2.6 (CVE-2025-32434)
    "transformers": ">=4.57,<6",  # `dtype=` in from_pretrained; trl 0.11.4 was verified with 4.57.6 and 5.23.0
    "tokenizers": ">=0.22",  # whatever the installed transformers accepts; trains the tiny world's tokenizers
    "huggingface-hub": ">=0.34",  # snapshot_download, offline mode; transformers picks the major version
    "peft": ">=0.18.1",  # the first PEFT that imports under transformers 5 (older ones fail on import)
    "datasets": ">=3.0",  # load_dataset of DialogSum's files and of a local JSONL, one code path
    "accelerate": ">=1.0",  # trl 0.11.4's device placement
    "evaluate": ">=0.4.1",  # loads the lab's local toxicity module
    "trl": "==0.11.4",  # exact: the last trl whose PPOTrainer.step handles encoder-decoders (T5)
    "rich": ">=13",  # imported by trl 0.11.4 without being declared; any recent version works
    "numpy": ">=1.26",  # Colab's numpy 2.1 is fine
    "pandas": ">=2.2",  # Colab's pandas 2.2 is fine
    "safetensors": ">=0.4.3",  # save_file / load_file
    "rouge-score": ">=0.1.2",  # ROUGE-1/2/L
    "nltk": ">=3.8",  # rouge-score's tokenizer
    "absl-py": ">=1.0",  # rouge-score dependency
    "matplotlib": ">=3.7",  # plots
    "tqdm": ">=4.66",  # progress bars
    "scipy": ">=1.10",  # confidence intervals in the report (scipy.stats)
}
NEVER_REINSTALL = {"torch"}
VERSION = re.compile(r"v?(\d+(?:\.\d+)*)(?:[-_.]?(a|b|c|rc|alpha|beta|pre|preview)[-_.]?(\d*))?(?:[-_.]?(post|rev|r)[-_.]?(\d*))?(?:[-_.]?(dev)[-_.]?(\d*))?", re.I)
PRE_RANK = {"a": 0, "alpha": 0, "b": 1, "beta": 1, "c": 2, "rc": 2, "pre": 2, "preview": 2}


def normalize(name: str) -> str:
    """A distribution name in PEP 503 form (`Rouge_Score` -> `rouge-score`)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def version_key(version: str) -> tuple:
    """A sort key for a PEP 440 version (`2.8.0+cu126`, `5.0.0rc1`, `2.4.0.dev0`); local labels are ignored."""
    match = VERSION.match(version.strip().split("+")[0])
    if not match:
        return ((-1,),)
    release = tuple(int(part) for part in match.group(1).split("."))
    release += (0,) * (8 - len(release))
    pre_kind, pre_number, post, dev = match.group(2), match.group(3), match.group(5), match.group(7)
    if pre_kind:
        pre = (PRE_RANK[pre_kind.lower()], int(pre_number or 0))
    else:
        pre = (-1, 0) if match.group(6) and not match.group(4) else (3, 0)  # X.devN sorts before X.aN
    return (release, pre, int(post or 0) if match.group(4) else -1, int(dev or 0) if match.group(6) else 1 << 62)


def satisfies(version: str, spec: str) -> bool:
    """True when `version` is inside `spec`, a comma-separated list like `>=4.57,<6` (`==X.*` allowed)."""
    for clause in filter(None, (part.strip() for part in spec.split(","))):
        op, bound = re.match(r"(==|!=|>=|<=|>|<|~=)\s*(.+)", clause).groups()  # type: ignore[union-attr]
        if bound.endswith(".*"):
            prefix = bound[:-2].split(".")
            same = version.split("+")[0].split(".")[: len(prefix)] == prefix
            if same != (op == "=="):
                return False
            continue
        have, want = version_key(version), version_key(bound)
        if op == "~=":
            upper = bound.split(".")[:-1]
            upper[-1] = str(int(upper[-1]) + 1)
            ok = have >= want and have < version_key(".".join(upper))
        else:
            ok = {"==": have == want, "!=": have != want, ">=": have >= want, "<=": have <= want, ">": have > want, "<": have < want}[op]
        if not ok:
            return False
    return True


def runtime_pins(path: Path = REQUIREMENTS) -> dict[str, str]:
    """name -> pinned version for every requirement above the development-only marker."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.startswith(DEV_MARKER):
            break
        spec = line.split("#")[0].strip()
        if "==" in spec:
            name, version = spec.split("==")
            pins[name.strip()] = version.strip()
    return pins


@dataclass
class Plan:
    """What the install step decided: packages kept at the platform's version, and requirements to install."""

    keep: dict[str, str] = field(default_factory=dict)  # name -> installed version (inside the lab's range)
    exact: list[str] = field(default_factory=list)  # first try: requirements.txt's exact pins
    ranged: list[str] = field(default_factory=list)  # fallback: the lab's ranges
    old_torch: str | None = None  # an installed torch below the lab's range (kept, with a warning)


def plan(installed: dict[str, str | None], pins: dict[str, str], needs: dict[str, str] = NEEDS) -> Plan:
    """Decide per package: keep the installed version when it is inside `needs`, else install (torch: only if absent)."""
    decision = Plan()
    for name, spec in needs.items():
        version = installed.get(normalize(name))
        if version is not None and (name in NEVER_REINSTALL or satisfies(version, spec)):
            decision.keep[name] = version
            if not satisfies(version, spec):
                decision.old_torch = version
            continue
        decision.exact.append(f"{name}=={pins[name]}" if name in pins else f"{name}{spec}")
        decision.ranged.append(f"{name}=={pins[name]}" if name in NEVER_REINSTALL else f"{name}{spec}")
    return decision


def installed_versions() -> dict[str, str]:
    """Normalized distribution name -> version for everything this interpreter can import."""
    versions: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            versions.setdefault(normalize(name), dist.version)
    return versions


def imported_modules() -> list[str]:
    """Top-level names of every module this interpreter (the notebook's kernel) has imported."""
    return sorted({name.split(".")[0] for name in sys.modules})


def imported_distributions(modules: list[str], owners: dict[str, list[str]]) -> set[str]:
    """Normalized names of the distributions that provide the given (already imported) top-level modules.

    `owners` maps a top-level module to its distributions (importlib.metadata.packages_distributions()).
    """
    return {normalize(dist) for module in modules for dist in owners.get(module, [])}


def pip(requirements: list[str], constraints: dict[str, str]) -> subprocess.CompletedProcess:
    """Run `pip install` with some versions held fixed (a constraints file); return its captured output."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as held:
        held.write("".join(f"{name}=={version}\n" for name, version in sorted(constraints.items())))
    command = [sys.executable, "-m", "pip", "install", "--progress-bar", "off", "-c", held.name, *requirements]
    try:
        return subprocess.run(command, capture_output=True, text=True)
    finally:
        Path(held.name).unlink(missing_ok=True)


def last_line(text: str, prefix: str) -> str:
    """The last line of `text` that starts with `prefix` (pip's 'Successfully installed ...'), or ''."""
    return next((line for line in reversed(text.splitlines()) if line.startswith(prefix)), "")


def requirement_name(requirement: str) -> str:
    """The normalized distribution name of a requirement string (`trl==0.11.4` -> `trl`)."""
    return normalize(re.split(r"[=<>!~]", requirement, maxsplit=1)[0])


def attempts(decision: Plan, before: dict[str, str], imported: set[str]) -> list[tuple[str, list[str], dict[str, str]]]:
    """pip runs to try in order: (what it is, requirements, versions held fixed). Torch is held in every one.

    First the exact pins, then the ranges, each with every imported or kept package held at its version
    (so no restart is needed); last the ranges with only torch held (pip may then change an imported package).
    """
    changing = {requirement_name(r) for r in decision.exact}
    steady = {name for name in imported | {normalize(n) for n in decision.keep} if name in before} - changing
    held = {name: before[name] for name in steady}
    torch_only = {name: before[name] for name in NEVER_REINSTALL if name in before}
    return [
        ("the exact versions of requirements.txt", decision.exact, held),
        ("the newest versions inside the lab's ranges", decision.ranged, held),
        ("the lab's ranges, letting pip change already-imported packages", decision.ranged, torch_only),
    ]


def install(decision: Plan, before: dict[str, str], owners: dict[str, list[str]]) -> None:
    """Install what `decision` asks for; when every attempt fails, print pip's output and stop with one line."""
    imported = imported_distributions(imported_modules(), owners)
    result = None
    for number, (what, requirements, held) in enumerate(attempts(decision, before, imported)):
        if number:
            print(f"pip could not fit that with this platform's packages; trying {what} ...", flush=True)
        print(f"Installing {' '.join(requirements)} (pip; a minute or two) ...", flush=True)
        result = pip(requirements, held)
        if result.returncode == 0:
            print(last_line(result.stdout, "Successfully installed") or "pip installed nothing new.")
            return
    print(result.stdout + result.stderr)
    raise SystemExit(
        "pip could not install the lab's packages (its output is above) — fix the conflict pip names, or run "
        f"`pip install {' '.join(decision.ranged)}` in a terminal to see it again."
    )


def restart_line(before: dict[str, str], after: dict[str, str], modules: list[str], owners: dict[str, list[str]]) -> str | None:
    """One line asking for a restart when a distribution whose modules are imported changed version, else None."""
    changed = sorted(name for name in imported_distributions(modules, owners) if name in before and after.get(name) != before[name])
    if not changed:
        return None
    what = ", ".join(f"{name} {before[name]} -> {after.get(name, 'removed')}" for name in changed)
    return (
        f"RESTART THE RUNTIME NOW (Colab: Runtime > Restart session; Jupyter / SageMaker: Kernel > Restart), then run "
        f"the notebook again from the top — already-imported packages changed: {what}."
    )


def lab_utils_installed() -> bool:
    """True when `lab_utils` is importable from this interpreter's site-packages (the editable install)."""
    try:
        importlib.metadata.version("detox-lab")
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def check_python(version: tuple[int, ...] = tuple(sys.version_info[:3])) -> None:
    """Stop with one line when Python is older than MIN_PYTHON."""
    if version[:2] < MIN_PYTHON:
        have, need = ".".join(map(str, version)), ".".join(map(str, MIN_PYTHON))
        raise SystemExit(
            f"This lab needs Python {need} or newer, and this runtime has Python {have} (transformers 5, numpy 2.4 and "
            f"pandas 3 need {need}) — pick a newer kernel or image (SageMaker Studio: a SageMaker Distribution image with "
            f"Python {need}+), or create the environment with python{need} or newer."
        )


def main() -> None:
    """Check Python, keep what fits, install the rest, and say what was done (or that a restart is needed)."""
    check_python()
    before = installed_versions()
    decision = plan(before, runtime_pins())
    if decision.old_torch:
        print(f"Warning: torch {decision.old_torch} is older than the lab needs ({NEEDS['torch']}); it is kept, but loading "
              "the course's .bin weights needs torch 2.6+ — upgrade torch in a terminal if loading fails.")
    kept = ", ".join(f"{name} {version}" for name, version in decision.keep.items())
    if decision.exact:
        print(f"Keeping the platform's: {kept}" if kept else "Nothing of the lab's is installed yet.")
        owners = importlib.metadata.packages_distributions()  # module -> distributions, read once (a few seconds)
        install(decision, before, owners)
    if not lab_utils_installed():  # makes `lab_utils` importable in new processes too (accelerate launch, nbclient)
        result = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-e", str(REPO_ROOT)], capture_output=True, text=True)
        if result.returncode != 0:
            print(result.stdout + result.stderr)
            raise SystemExit(f"pip could not install the lab itself from {REPO_ROOT} (its output is above) — check that folder is the cloned repository.")
    importlib.invalidate_caches()  # packages installed just now become importable in this kernel
    if decision.exact:
        line = restart_line(before, installed_versions(), imported_modules(), owners)
        if line:
            raise SystemExit(line)
    print("Lab dependencies are in place; no restart needed." if decision.exact else f"Lab dependencies are in place: {kept}.")


if __name__ == "__main__":
    main()
