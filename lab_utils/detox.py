"""The lab, headless: baseline toxicity, PPO, toxicity after, and every report written to a folder.

    python -m lab_utils.detox --profile tiny --steps 40 --out results/tiny
    python -m lab_utils.detox --profile tiny --steps 80 --out results/tiny --resume   # continue that run
    accelerate launch -m lab_utils.detox --profile full --out results/full     # one process per GPU

Walks exactly the notebook's path through lab_utils; holds no logic of its own.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from accelerate import PartialState

from .checkpoint import check_checkpoint
from .config import LabConfig, get_config, parse_overrides
from .data import build_dataset
from .errors import LabError, TrainingInterrupted, one_line
from .files import LOCK_FILE, locked, write_atomic
from .models import load_policy, load_reference, load_tokenizer, trainable_parameters
from .ppo import make_ppo_trainer, train
from .ppo import resume as resume_training
from .report import markdown_table, rouge_table, toxicity_table
from .reward import load_reward_pipe, make_reward_fn, make_toxicity_fn
from .results import write_results
from .runtime import describe_runtime, quiet_known_warnings, set_seed
from .tiny import ensure_world
from .toxicity import ToxicityResult, evaluate_toxicity, load_toxicity_evaluator, mark_challenging

CHECKPOINT = "checkpoint"  # the run's resumable checkpoint, inside the output folder
BEFORE = "before.json"  # the starting policy's evaluation, kept so a resumed run reports against it


def run_lab(config: LabConfig, out_dir: str | Path, resume: bool = False, overwrite: bool = False) -> dict[str, Any]:
    """Run the whole lab on `config` and write its reports to `out_dir`; return the numbers.

    The output folder is checked (writable, not holding another run unless `resume` or `overwrite`)
    and locked before any model loads. `resume` continues the run saved in `out_dir/checkpoint`.
    """
    started = time.time()
    out_dir = Path(out_dir)
    main_process = PartialState().is_main_process
    with locked(out_dir) if main_process else nullcontext(out_dir):
        if main_process:
            check_out_dir(out_dir, resume, overwrite)
        quiet_known_warnings()
        ensure_world(config)
        set_seed(config.seed)
        print(describe_runtime(config))

        prompts = build_dataset(config, load_tokenizer(config))  # bad data fails here, before any model loads
        print(f"prompts: {len(prompts['train'])} train / {len(prompts['test'])} test")
        reward_pipe = load_reward_pipe(config)
        reward_fn = make_reward_fn(config, reward_pipe)
        toxicity_fn = make_toxicity_fn(config, reward_pipe)
        toxicity_evaluator = load_toxicity_evaluator(config, reward_pipe)
        if config.challenging_repeats > 1:  # oversample the dialogues whose own text is most toxic
            prompts["train"] = mark_challenging(config, prompts["train"], toxicity_fn)
        if resume:
            policy_model, tokenizer, ppo_trainer, start = resume_training(config, out_dir / CHECKPOINT)
            before = ToxicityResult(**json.loads((out_dir / BEFORE).read_text()))
        else:
            policy_model, tokenizer = load_policy(config)
            trainable_parameters(policy_model)
            ref_model = load_reference(config, policy_model)
            before = evaluate_toxicity(config, policy_model, tokenizer, prompts["test"], toxicity_evaluator)
            if main_process:
                write_atomic(out_dir / BEFORE, json.dumps(before.to_dict()))
            ppo_trainer, start = make_ppo_trainer(config, policy_model, ref_model, tokenizer), None
        history = train(
            config, ppo_trainer, tokenizer, reward_fn, prompts["train"], checkpoint_dir=out_dir / CHECKPOINT,
            start=start, toxicity_fn=toxicity_fn,
        )
        after = evaluate_toxicity(config, policy_model, tokenizer, prompts["test"], toxicity_evaluator)
        if not main_process:
            return {}
        results = write_results(out_dir, config, before, after, history, reward_fn, wall_seconds=time.time() - started)
        print(markdown_table(toxicity_table(before.stats, after.stats, results["toxicity"]["change"]), "Toxicity before/after PPO"))
        print(markdown_table(rouge_table(results["rouge"]["before"], results["rouge"]["after"], results["rouge"]["change"]), "ROUGE before/after PPO"))
        print(f"Reports written to {out_dir}/ in {time.time() - started:.1f} s")
        return results


def check_out_dir(out_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to mix two runs in one folder: continuing needs a saved run, a used folder needs --resume or --overwrite."""
    used = sorted(path.name for path in out_dir.iterdir() if path.name != LOCK_FILE)
    if resume:
        check_checkpoint(out_dir / CHECKPOINT)
        if not (out_dir / BEFORE).is_file():
            raise LabError(f"{out_dir} has no {BEFORE} from the run's start — rerun without --resume.")
    elif used and not overwrite:
        raise LabError(
            f"{out_dir} already holds a run ({', '.join(used[:4])}{', ...' if len(used) > 4 else ''}) — "
            "add --resume to continue it, --overwrite to start over, or choose another --out."
        )
    else:
        for name in used:
            path = out_dir / name
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def main() -> None:
    """Command line entry point: exit 0 when done, 2 on a bad input, 3 when the KL guard stopped training, 130 on Ctrl-C."""
    parser = argparse.ArgumentParser(description="Detoxify the dialogue summarizer with PPO, headless.")
    parser.add_argument("--profile", default=None, help="full | tiny | auto (default: $LAB_PROFILE, else auto)")
    parser.add_argument("--steps", type=int, default=None, help="PPO steps in total (default: the profile's num_steps)")
    parser.add_argument("--out", default=None, help="folder for the reports and the checkpoint (default: results/<profile>)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KNOB=VALUE", help="override LabConfig knobs, e.g. --set learning_rate=5e-4")
    parser.add_argument("--resume", action="store_true", help="continue the run saved in --out (a new learning_rate / init_kl_coef applies)")
    parser.add_argument("--overwrite", action="store_true", help="delete what --out holds and start over")
    args = parser.parse_args()
    try:
        overrides = parse_overrides(args.set)
        if args.steps is not None:
            overrides["num_steps"] = args.steps
        config = get_config(args.profile, **overrides)
        results = run_lab(config, Path(args.out or f"results/{config.profile}"), resume=args.resume, overwrite=args.overwrite)
    except LabError as error:
        print(one_line(error), file=sys.stderr)
        raise SystemExit(2) from None
    except TrainingInterrupted as interrupted:
        again = " ".join(arg for arg in sys.argv[1:] if arg not in ("--overwrite", "--resume"))
        print(f"{interrupted} — resume with: python -m lab_utils.detox {again} --resume", file=sys.stderr)
        raise SystemExit(130) from None
    except KeyboardInterrupt:
        print("interrupted before training saved anything — rerun the same command.", file=sys.stderr)
        raise SystemExit(130) from None
    if results.get("stopped_early"):
        print("stopped early: the KL guard rolled the policy back (see above) — lower learning_rate or raise init_kl_coef, then --resume.", file=sys.stderr)
        raise SystemExit(3)


if __name__ == "__main__":
    main()
