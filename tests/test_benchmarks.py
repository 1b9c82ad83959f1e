"""The benchmark's smoke run: both variants run on the same prompts and report every phase (speed is not asserted)."""

import json
import subprocess
import sys

from lab_utils.config import REPO_ROOT


def test_tiny_smoke_benchmark(config, tmp_path) -> None:
    command = [sys.executable, "benchmarks/run.py", "--shape", "tiny", "--steps", "1", "--no-readme", "--no-native", "--out", str(tmp_path)]
    subprocess.run(command, check=True, cwd=REPO_ROOT)
    result = json.loads((tmp_path / "tiny.json").read_text())
    original, lab = result["variants"]["original"], result["variants"]["lab"]
    assert original["prompt_digests"] == lab["prompt_digests"]  # the same prompts, step by step
    for variant in (original, lab):
        assert variant["peak_rss_mb"] > 0 and variant["eval_seconds"] > 0
    assert result["summary"]["ratios"]
