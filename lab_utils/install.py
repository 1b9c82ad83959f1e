"""Install the lab's pinned runtime packages where they are missing; a no-op when all are in place.

Run as a script (`python lab_utils/install.py`) from the notebooks' first cell, before `lab_utils` is
importable. It keeps any torch already installed (Colab and SageMaker ship their own CUDA build;
reinstalling it costs minutes and can break CUDA) and skips the development-only tail of
requirements.txt (test runners, Jupyter itself). Standard library only.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = REPO_ROOT / "requirements.txt"
DEV_MARKER = "# --- development and CI only"


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


def missing(pins: dict[str, str]) -> list[str]:
    """Requirement strings whose package is absent or at another version (torch: only if absent)."""
    wanted = []
    for name, version in pins.items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            wanted.append(f"{name}=={version}")
            continue
        if name != "torch" and installed != version:
            wanted.append(f"{name}=={version}")
    return wanted


def lab_utils_installed() -> bool:
    """True when `lab_utils` is importable from this interpreter's site-packages (the editable install)."""
    try:
        importlib.metadata.version("detox-lab")
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def main() -> None:
    """Install what is missing and say what was done."""
    wanted = missing(runtime_pins())
    if wanted:
        print("Installing:", " ".join(wanted))
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *wanted], check=True)
    if not lab_utils_installed():
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "-e", str(REPO_ROOT)], check=True)
    print("Lab dependencies are in place." if not wanted else "Done. If a library was already imported, restart the runtime.")


if __name__ == "__main__":
    main()
