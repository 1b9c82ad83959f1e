"""Precision on GPUs we do not have: a faked T4 (bf16 only emulated) gets fp32, a faked A100 gets bf16."""

import pytest
import torch

from lab_utils.config import LabConfig
from lab_utils.runtime import gpu_has_native_bf16, pick_dtype

GPUS = {  # name: (compute capability, what torch.cuda.is_bf16_supported answers with / without emulation)
    "T4": ((7, 5), {True: True, False: False}),
    "V100": ((7, 0), {True: True, False: False}),
    "A100": ((8, 0), {True: True, False: True}),
    "L4": ((8, 9), {True: True, False: True}),
}


def fake_gpu(monkeypatch, name: str) -> None:
    """Make torch.cuda report one CUDA device of the named kind."""
    capability, bf16 = GPUS[name]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: bf16[including_emulation])


@pytest.mark.parametrize(("name", "expected"), [("T4", torch.float32), ("V100", torch.float32), ("A100", torch.bfloat16), ("L4", torch.bfloat16)])
def test_auto_picks_bf16_only_on_gpus_with_native_bf16(monkeypatch, name, expected) -> None:
    fake_gpu(monkeypatch, name)
    assert torch.cuda.is_bf16_supported()  # what the old check asked: True even on a T4
    assert pick_dtype(LabConfig(precision="auto")) == expected
    assert pick_dtype(LabConfig(precision="bf16")) == torch.bfloat16  # an explicit choice still wins


def test_a_torch_without_the_emulation_argument_falls_back_to_the_capability(monkeypatch) -> None:
    fake_gpu(monkeypatch, "T4")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)  # older torch: no `including_emulation`
    assert gpu_has_native_bf16() is False
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
    assert gpu_has_native_bf16() is True
