"""The benchmark's shapes: the built tiny world, or FLAN-T5-small/base-shaped random models cached under a temp dir.

Random shapes reuse the tiny world's prompts and tokenizers (their token ids fit the 32,128-entry vocabulary);
sampling is limited to the ids the T5 tokenizer can decode, so responses decode to words the classifier reads.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import torch
from peft import get_peft_model
from transformers import (
    AutoTokenizer,
    LogitsProcessor,
    LogitsProcessorList,
    PreTrainedTokenizerBase,
    RobertaConfig,
    RobertaForSequenceClassification,
    T5Config,
    T5ForConditionalGeneration,
)

from lab_utils.config import TINY_DIR, LabConfig, get_config
from lab_utils.models import lora_config
from lab_utils.tiny import ID2LABEL, ensure_world

CACHE_ROOT = Path(tempfile.gettempdir()) / "detox-lab-bench"
BUILD_VERSION = 2  # bump when build_random changes, to invalidate cached models
RANDOM_LENGTHS = (20, 61)  # LengthSampler bounds for the random shapes: 20-60 new tokens
EVAL_PROMPTS = 32  # held-out prompts in the toxicity-evaluation timing
EVAL_NEW_TOKENS = 40  # new tokens per evaluated summary
T5_SHAPES = {  # FLAN-T5 sizes (vocab 32,128, d_kv 64, gated-gelu, untied lm_head)
    "small": {"d_model": 512, "d_ff": 1024, "num_layers": 8, "num_decoder_layers": 8, "num_heads": 6},
    "base": {"d_model": 768, "d_ff": 2048, "num_layers": 12, "num_decoder_layers": 12, "num_heads": 12},
}
ROBERTA_BASE = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072}


class ExactLength(LogitsProcessor):
    """Bans end-of-sequence and undecodable token ids, so every response runs to exactly its max_new_tokens."""

    def __init__(self, banned: torch.Tensor) -> None:
        self.banned = banned

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Set the banned ids' scores to -inf."""
        return scores.masked_fill(self.banned, float("-inf"))


def exact_length_kwargs(config: LabConfig, tokenizer: PreTrainedTokenizerBase, vocab_size: int) -> dict:
    """The config's generation kwargs plus the `ExactLength` processor for a model with `vocab_size` logits."""
    banned = torch.zeros(vocab_size, dtype=torch.bool)
    banned[tokenizer.eos_token_id] = True
    banned[len(tokenizer) :] = True
    return {**config.generation_kwargs, "logits_processor": LogitsProcessorList([ExactLength(banned)])}


def shape_dir(shape: str) -> Path:
    """Where a shape's models live: checkpoints/tiny, or a temp-dir cache keyed by the spec and the tiny world."""
    if shape == "tiny":
        return TINY_DIR
    tiny_fingerprint = json.loads((TINY_DIR / "manifest.json").read_text())["fingerprint"]
    key = json.dumps([BUILD_VERSION, T5_SHAPES[shape], ROBERTA_BASE, tiny_fingerprint, torch.__version__])
    return CACHE_ROOT / f"{shape}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def bench_config(shape: str, dtype: str = "fp32") -> LabConfig:
    """The LabConfig a shape runs with: the tiny profile, or the full profile's knobs pointed at the random models."""
    timing = {"precision": dtype, "eval_num_prompts": EVAL_PROMPTS, "eval_samples_per_prompt": 1, "eval_max_new_tokens": EVAL_NEW_TOKENS}
    if shape == "tiny":
        return get_config("tiny", **timing)
    tiny, root = get_config("tiny"), shape_dir(shape)
    return get_config(
        "full",
        **timing,
        dataset_name=tiny.dataset_name,
        model_name=str(root / "t5"),
        adapter_path=str(root / "adapter"),
        reward_model_name=str(root / "roberta-hate"),
        output_min_length=RANDOM_LENGTHS[0],
        output_max_length=RANDOM_LENGTHS[1],
    )


def build_random(shape: str, out_dir: Path) -> None:
    """Save a random FLAN-T5-shaped model (own lm_head), a LoRA adapter and a RoBERTa-base-shaped classifier."""
    tiny = get_config("tiny")
    staging = out_dir.with_name(out_dir.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    t5_tokenizer = AutoTokenizer.from_pretrained(tiny.model_name)
    t5_config = T5Config(
        vocab_size=32128, d_kv=64, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, **T5_SHAPES[shape],
    )
    torch.manual_seed(0)
    t5 = T5ForConditionalGeneration(t5_config)
    # transformers 5 ties lm_head to the input embedding even with tie_word_embeddings=False: untie by hand.
    t5.lm_head.weight = torch.nn.Parameter(torch.randn_like(t5.shared.weight) * t5_config.d_model**-0.5)
    t5.config.tie_word_embeddings = False  # written to config.json as FLAN-T5 has it (the constructor's flag reads back True)
    t5.save_pretrained(staging / "t5")
    t5_tokenizer.save_pretrained(staging / "t5")
    torch.manual_seed(1)
    get_peft_model(t5, lora_config(bench_config(shape))).save_pretrained(staging / "adapter")

    roberta_tokenizer = AutoTokenizer.from_pretrained(tiny.reward_model_name)
    roberta_tokenizer.model_max_length = 512
    torch.manual_seed(2)
    classifier = RobertaForSequenceClassification(
        RobertaConfig(
            vocab_size=50265, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1, bos_token_id=0,
            eos_token_id=2, id2label=ID2LABEL, label2id={label: i for i, label in ID2LABEL.items()}, **ROBERTA_BASE,
        )
    )
    classifier.save_pretrained(staging / "roberta-hate")
    roberta_tokenizer.save_pretrained(staging / "roberta-hate")
    (staging / "manifest.json").write_text(json.dumps({"shape": shape, "t5": T5_SHAPES[shape], "roberta": ROBERTA_BASE}))
    shutil.rmtree(out_dir, ignore_errors=True)
    staging.rename(out_dir)


def ensure_shape(shape: str) -> Path:
    """Build the tiny world if needed, then the shape's random models if they are not cached yet."""
    ensure_world()
    out_dir = shape_dir(shape)
    if shape != "tiny" and not (out_dir / "manifest.json").is_file():
        print(f"Building random {shape}-shaped models into {out_dir} ...")
        build_random(shape, out_dir)
    return out_dir


def check_untied(policy_model: torch.nn.Module) -> None:
    """Fail if the policy's lm_head came back tied to its input embedding (FLAN-T5's is its own tensor)."""
    base = policy_model.pretrained_model.get_base_model()
    if base.get_output_embeddings().weight.data_ptr() == base.get_input_embeddings().weight.data_ptr():
        raise RuntimeError("The benchmark's T5 loaded with lm_head tied to the input embedding.")
