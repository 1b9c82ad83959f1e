"""trl's PPOTrainer with forward passes that skip padding, and the per-sample KL probe the tests and benchmarks use.

Same algorithm as trl 0.11.4's `PPOTrainer.step`; only the widths of the forward passes change.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from trl import AutoModelForSeq2SeqLMWithValueHead, PPOTrainer


class TrimmedPPOTrainer(PPOTrainer):
    """trl's PPOTrainer, with forward passes that skip padding: same algorithm, fewer FLOPs.

    trl pads the whole batch once (prompts to the longest prompt, responses to the longest
    response) and runs every mini-batch at that width. Here `step` orders the batch by length, so
    the no-grad passes (policy, then reference) see rows of similar length, and every mini-batch
    forward is cut to its own longest prompt and response, its outputs padded back with masked
    zeros. With right padding and attention masks the real positions compute the same numbers; the
    random mini-batches of the PPO epochs stay random (a permutation of a sorted batch).
    """

    def step(
        self,
        queries: list[torch.Tensor],
        responses: list[torch.Tensor],
        scores: list[torch.Tensor],
        response_masks: list[torch.Tensor] | None = None,
    ) -> dict[str, Any]:
        """`PPOTrainer.step` on the batch ordered by response, then prompt, length."""
        order = sorted(range(len(responses)), key=lambda i: (len(responses[i]), len(queries[i])))
        batch = [None if rows is None else [rows[i] for i in order] for rows in (queries, responses, scores, response_masks)]
        return super().step(*batch)

    def batched_forward_pass(
        self,
        model: torch.nn.Module,
        queries: list[torch.Tensor],
        responses: list[torch.Tensor],
        model_inputs: dict[str, torch.Tensor],
        return_logits: bool = False,
        response_masks: list[torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """trl's forward pass, one mini-batch at a time, each cut to its own longest prompt and response."""
        if not self.is_encoder_decoder or self.tokenizer.padding_side != "right":
            return super().batched_forward_pass(model, queries, responses, model_inputs, return_logits, response_masks)
        width = model_inputs["decoder_input_ids"].shape[1] - 1  # trl's outputs drop the last decoder position
        size = self.config.mini_batch_size
        parts = []
        for start in range(0, len(queries), size):
            rows = slice(start, start + size)
            encoder = int(model_inputs["attention_mask"][rows].sum(1).max())
            decoder = int(model_inputs["decoder_attention_mask"][rows].sum(1).max())
            inputs = {
                name: value[rows, : encoder if name in ("input_ids", "attention_mask") else decoder]
                for name, value in model_inputs.items()
            }
            masks = None if response_masks is None else response_masks[rows]
            parts.append(super().batched_forward_pass(model, queries[rows], responses[rows], inputs, return_logits, masks))
        logprobs, logits, values, masks = (
            None if outputs[0] is None else torch.cat([pad_width(output, width) for output in outputs])
            for outputs in zip(*parts)
        )
        return logprobs, logits, values, masks


def pad_width(tensor: torch.Tensor, width: int) -> torch.Tensor:
    """Right-pad dimension 1 of a (batch, positions, ...) tensor with zeros to `width` positions."""
    missing = width - tensor.shape[1]
    return F.pad(tensor, (0, 0) * (tensor.dim() - 2) + (0, missing)) if missing else tensor


def sample_kl(
    trainer: PPOTrainer, policy_model: AutoModelForSeq2SeqLMWithValueHead, queries: list[torch.Tensor], responses: list[torch.Tensor]
) -> torch.Tensor:
    """Per-sample KL estimate trl penalises: the sum over response tokens of log p_policy - log p_reference."""
    inputs = trainer.prepare_model_inputs(queries, responses)
    with torch.inference_mode():
        logprobs, _, _, masks = trainer.batched_forward_pass(policy_model, queries, responses, inputs)
        with policy_model.pretrained_model.disable_adapter():
            ref_logprobs, _, _, _ = trainer.batched_forward_pass(policy_model, queries, responses, inputs)
    return ((logprobs - ref_logprobs) * masks).sum(1).float()
