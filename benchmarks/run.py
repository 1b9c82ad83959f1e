"""Speed benchmark of one PPO step: the original course loop vs the lab_utils path, each variant in its own process.

python benchmarks/run.py --shape tiny|small|base [--steps N] [--dtype fp32|bf16] [--threads N] [--levers] [--no-native] [--out benchmarks/results]
Prints markdown tables, writes <out>/<shape>[-bf16].json and refreshes that shape's section of benchmarks/README.md
(unless --no-readme).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from flops import matmul_peak

HERE = Path(__file__).resolve().parent
WORKER = HERE / "worker.py"
LEVERS = HERE / "levers.py"
README = HERE / "README.md"
RESULTS_END = "<!-- results:end -->"
VARIANTS = ("original", "lab", "native")  # the course loop; lab_utils with trl's (trimmed) step; lab_utils with its own step
PHASES = ("generate", "reward", "step", "total")
IN_STEP = {  # trl's step timers -> what they hold
    "forward_pass": "policy + reference forward passes (no grad)",
    "optimize_step": "mini-batch forward + backward + Adam",
}


def run_worker(script: Path, args: argparse.Namespace, *task: str) -> dict[str, Any]:
    """Run one worker process and return its JSON result; show its log and stop if it fails."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        command = [sys.executable, str(script), *task, "--shape", args.shape, "--dtype", args.dtype, "--steps", str(args.steps), "--out", str(out)]
        if args.threads:
            command += ["--threads", str(args.threads)]
        done = subprocess.run(command, capture_output=True, text=True, cwd=HERE.parent)
        if done.returncode != 0:
            sys.exit(f"{script.name} {' '.join(task)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}")
        return json.loads(out.read_text())


def machine(args: argparse.Namespace) -> dict[str, Any]:
    """CPU model, cores, torch version and threads, load average, and the matmul peaks (fp32 and the run's dtype) at the workers' thread count.

    The bf16 peak is measured only for a bf16 run: on CPUs without native bf16 one 2048³ bf16 matmul can take a minute.
    """
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = re.search(r"Model name:\s*(.+)", lscpu)
    if args.threads:
        torch.set_num_threads(args.threads)
    return {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "cpu": model.group(1).strip() if model else "unknown",
        "cores": os.cpu_count(),
        "torch": importlib.metadata.version("torch"),
        "threads": torch.get_num_threads(),
        "load_average_1min": os.getloadavg()[0],
        "matmul_peak_gflop_per_s": {dtype: matmul_peak(dtype) for dtype in dict.fromkeys(("fp32", args.dtype))},
    }


def summarize(args: argparse.Namespace, host: dict[str, Any], results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Everything the tables show: per-variant medians, peak RSS, FLOP rates, and lab/original ratios."""
    peak = host["matmul_peak_gflop_per_s"][args.dtype]
    rows = {}
    for name, result in results.items():
        median = result["median"]
        rows[name] = {
            **{phase: median[phase] for phase in PHASES},
            "peak_rss_mb": result["peak_rss_mb"],
            "step_gflop_per_s": median["step_gflop_per_s"],
            "step_fraction_of_peak": median["step_gflop_per_s"] / peak,
            "eval_seconds": result["eval_seconds"],
        }
    keys = [*PHASES, "peak_rss_mb", "eval_seconds"]
    ratios = {key: rows["lab"][key] / rows["original"][key] for key in keys}
    summary = {"rows": rows, "ratios": ratios}
    if "native" in rows:  # the native step against trl's trimmed step, same path otherwise
        summary["native_ratios"] = {key: rows["native"][key] / rows["lab"][key] for key in keys}
    return summary


def fmt(value: float) -> str:
    """Seconds and MB with sensible precision."""
    return f"{value:.0f}" if value >= 100 else f"{value:.2f}" if value < 10 else f"{value:.1f}"


def markdown(args: argparse.Namespace, host: dict[str, Any], results: dict[str, dict[str, Any]], summary: dict[str, Any]) -> str:
    """The results as markdown: machine line, PPO-step table, inside-step table, evaluation table, token counts."""
    rows, ratios = summary["rows"], summary["ratios"]
    peaks, knobs = host["matmul_peak_gflop_per_s"], results["lab"]["config"]
    lines = [
        f"**{args.shape}, {args.dtype}** — {host['date']}; "
        f"`{' '.join(['python benchmarks/run.py', *map(shlex.quote, sys.argv[1:])])}`",
        "",
        f"Machine: {host['cpu']}, {host['cores']} cores, torch {host['torch']} (threads: {host['threads']}), "
        f"1-min load average at start {host['load_average_1min']:.2f}. Matmul peak (2048³): "
        f"{', '.join(f'{dtype} {peak:.0f} GFLOP/s' for dtype, peak in peaks.items())}. "
        f"Median of {args.steps} PPO steps after 1 warm-up step; batch {knobs['batch_size']}, mini-batch {knobs['mini_batch_size']}, "
        f"{knobs['output_min_length']}–{knobs['output_max_length'] - 1} new tokens per response (the same drawn lengths for every variant).",
        "",
        "| variant | generate s | reward s | step() s | total s | peak RSS MB | step GFLOP/s | step % of peak |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        cells = [fmt(row[key]) for key in (*PHASES, "peak_rss_mb")]
        lines.append(f"| {name} | {' | '.join(cells)} | {row['step_gflop_per_s']:.1f} | {100 * row['step_fraction_of_peak']:.1f}% |")
    lines.append(f"| lab / original | {' | '.join(f'{ratios[key]:.2f}×' for key in (*PHASES, 'peak_rss_mb'))} | | |")
    native = summary.get("native_ratios")
    if native:
        lines.append(f"| native / lab | {' | '.join(f'{native[key]:.2f}×' for key in (*PHASES, 'peak_rss_mb'))} | | |")
    lines += ["", "Inside `step()` (trl's timers; the native step keeps the same ones; median s):", "", "| variant | " + " | ".join(IN_STEP.values()) + " | other |", "|---|---|---|---|"]
    for name, result in results.items():
        median = result["median"]
        other = max(0.0, median["step"] - sum(median[timer] for timer in IN_STEP))
        lines.append(f"| {name} | {' | '.join(fmt(median[timer]) for timer in IN_STEP)} | {fmt(other)} |")
    lines += [
        "",
        f"Toxicity evaluation of 32 prompts × 40 new tokens: one-by-one (course) {fmt(rows['original']['eval_seconds'])} s, "
        f"batched (`evaluate_toxicity`) {fmt(rows['lab']['eval_seconds'])} s ({ratios['eval_seconds']:.2f}×); "
        f"peak RSS after it: {results['original']['eval_peak_rss_mb']:.0f} MB (course, second classifier) vs "
        f"{results['lab']['eval_peak_rss_mb']:.0f} MB (lab, shares the reward pipeline).",
        "",
        "Tokens `step()` computed (median; encoder / decoder, padding included) and its FLOPs by the formula above:",
        "",
        "| variant | no-grad passes (policy + reference) | forward + backward passes | real tokens in the batch | GFLOP |",
        "|---|---|---|---|---|",
    ]
    for name, result in results.items():
        median = result["median"]
        pairs = [f"{median[f'{kind}_encoder_tokens']:.0f} / {median[f'{kind}_decoder_tokens']:.0f}" for kind in ("no_grad", "grad", "real")]
        lines.append(f"| {name} | {' | '.join(pairs)} | {median['step_gflops']:.1f} |")
    return "\n".join(lines)


def levers_markdown(levers: dict[str, dict[str, float]]) -> str:
    """The levers as markdown: seconds and the ratio to the first (baseline) entry of each phase; then bf16's drift."""
    lines = ["Levers, one at a time on the lab_utils path (median s; ratio to the phase's first row):", "", "| phase | variant | s | ratio |", "|---|---|---|---|"]
    baselines: dict[str, float] = {}
    for name, value in levers["timings"].items():
        phase, variant = name.split(" | ")
        baseline = baselines.setdefault(phase, value)
        lines.append(f"| {phase} | {variant} | {fmt(value)} | {value / baseline:.2f}× |")
    drift = levers.get("drift")
    if drift:
        lines += [
            "",
            f"bf16 against fp32 on the same 16 responses: reward (nothate logit) |Δ| mean {drift['reward_abs_diff_mean']:.4f}, "
            f"max {drift['reward_abs_diff_max']:.4f} (fp32 rewards' std {drift['reward_std_fp32']:.4f}); per-sample KL "
            f"{drift['kl_mean_fp32']:.3f} (fp32) vs {drift['kl_mean_bf16']:.3f} (bf16) nats, |Δ| mean {drift['kl_abs_diff_mean']:.3f}, "
            f"max {drift['kl_abs_diff_max']:.3f}.",
        ]
    return "\n".join(lines)


def update_readme(key: str, text: str) -> None:
    """Replace (or add before the results end marker) this shape's results section in benchmarks/README.md."""
    start, end = f"<!-- results:{key} -->", f"<!-- /results:{key} -->"
    block = f"{start}\n{text}\n{end}"
    readme = README.read_text() if README.exists() else f"# benchmarks\n\n## Latest results\n\n{RESULTS_END}\n"
    if start in readme:
        readme = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, readme, flags=re.S)
    elif RESULTS_END in readme:
        readme = readme.replace(RESULTS_END, f"{block}\n\n{RESULTS_END}")
    else:
        readme += f"\n{block}\n"
    README.write_text(readme)


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", required=True, choices=["tiny", "small", "base"])
    parser.add_argument("--steps", type=int, default=3, help="timed PPO steps per variant (after one warm-up step)")
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--threads", type=int, default=None, help="torch threads in every process (default: torch's own choice)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--no-readme", action="store_true", help="do not refresh this shape's tables in benchmarks/README.md")
    parser.add_argument("--levers", action="store_true", help="also time single levers (inference_mode, bucketing, bf16 autocast, ...)")
    parser.add_argument("--no-native", action="store_true", help="skip the `native` variant (the lab's own PPO step): one worker fewer")
    args = parser.parse_args()

    host = machine(args)
    if host["load_average_1min"] > 0.5:
        print(f"Note: the machine is busy (load average {host['load_average_1min']:.2f}): timings will be noisy, and more torch "
              "threads than free cores can slow small models down many times over (try --threads 1).")
    run_worker(WORKER, args, "build")
    results = {name: run_worker(WORKER, args, name) for name in VARIANTS if not (args.no_native and name == "native")}
    if any(result["prompt_digests"] != results["original"]["prompt_digests"] for result in results.values()):
        print("Warning: the variants saw different prompts (did the tiny world change during the run?); rerun.")
    summary = summarize(args, host, results)
    text = markdown(args, host, results, summary)
    levers = run_worker(LEVERS, args) if args.levers else None
    if levers:
        text += "\n\n" + levers_markdown(levers)
    print(text)
    key = args.shape if args.dtype == "fp32" else f"{args.shape}-{args.dtype}"
    args.out.mkdir(parents=True, exist_ok=True)
    record = {"shape": args.shape, "dtype": args.dtype, "steps": args.steps, "machine": host, "summary": summary, "variants": results, "levers": levers}
    (args.out / f"{key}.json").write_text(json.dumps(record, indent=1))
    if not args.no_readme:
        update_readme(key, text)


if __name__ == "__main__":
    main()
