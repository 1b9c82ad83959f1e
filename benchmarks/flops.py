"""FLOP arithmetic: this machine's matmul peak, and the approximate FLOPs of trl 0.11.4's PPO step on a T5 policy."""

from __future__ import annotations

import time

import torch

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
LOOKUPS = ("shared", "embed_tokens", "relative_attention_bias")  # embedding tables: looked up, not multiplied
CROSS_KV = ("EncDecAttention.k", "EncDecAttention.v")  # decoder weights applied to the encoder's output


def matmul_peak(dtype: str, size: int = 2048, repeats: int = 5) -> float:
    """Best GFLOP/s of a plain `size`x`size` @ `size`x`size` matmul (torch's default thread count)."""
    a, b = (torch.randn(size, size).to(DTYPES[dtype]) for _ in range(2))
    a @ b  # warm-up: thread pool, kernel selection
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - began)
    return 2 * size**3 / best / 1e9


def matmul_params(model: torch.nn.Module) -> dict[str, int]:
    """Weights each encoder token and each decoder token is multiplied through (LoRA, lm_head and value head included)."""
    params = {"encoder": 0, "decoder": 0}
    for name, weight in model.named_parameters(remove_duplicate=False):  # a tied lm_head is still a matmul
        if weight.dim() < 2 or any(part in name for part in LOOKUPS):
            continue  # layer norms, biases and embedding lookups cost no matmul FLOPs
        side = "encoder" if ".encoder." in f".{name}" or any(part in name for part in CROSS_KV) else "decoder"
        params[side] += weight.numel()
    return params


def forward_flops(params: dict[str, int], encoder_tokens: int, decoder_tokens: int) -> float:
    """2 FLOPs per weight per token, encoder and decoder tokens counted separately (attention scores left out)."""
    return 2.0 * (params["encoder"] * encoder_tokens + params["decoder"] * decoder_tokens)


def step_flops(params: dict[str, int], tokens: dict[str, float]) -> float:
    """One `PPOTrainer.step` from the tokens its forward passes computed: no-grad passes 1x, forward+backward 3x."""
    no_grad = forward_flops(params, tokens["no_grad_encoder_tokens"], tokens["no_grad_decoder_tokens"])
    grad = forward_flops(params, tokens["grad_encoder_tokens"], tokens["grad_decoder_tokens"])
    return no_grad + 3 * grad
