"""The policy, its value head, the reference modes, precision and batched generation."""

import dataclasses

import pytest
import torch

from lab_utils.adapters import AdapterNotFoundError
from lab_utils.models import (
    decode,
    generate,
    load_base_model,
    load_policy,
    load_reference,
    reference_logits,
    trainable_parameters,
)
from lab_utils.errors import LabError
from lab_utils.ppo import make_ppo_trainer
from lab_utils.trimmed import sample_kl
from lab_utils.reward import load_reward_pipe, make_reward_fn
from lab_utils.runtime import BF16_KL_TOLERANCE, BF16_REWARD_TOLERANCE, cpu_has_native_bf16, pick_dtype


@pytest.fixture()
def policy(config):
    return load_policy(config)


def test_value_head_adds_d_model_plus_one_trainable_parameters(config, policy, capsys) -> None:
    policy_model, _ = policy
    with_head = trainable_parameters(policy_model)
    without_head = trainable_parameters(policy_model.pretrained_model, verbose=False)
    d_model = policy_model.pretrained_model.config.d_model
    assert with_head["trainable"] - without_head["trainable"] == d_model + 1
    lora = sum(p.numel() for n, p in policy_model.named_parameters() if "lora_" in n)
    assert without_head["trainable"] == lora > 0  # the LoRA weights train too, not only the value head
    assert "percentage of trainable model parameters" in capsys.readouterr().out


def test_base_reference_is_the_plain_base_model(config, prompts) -> None:
    base_config = dataclasses.replace(config, reference_mode="base")  # what the original course's reference was
    policy_model, _ = load_policy(base_config)
    assert load_reference(base_config, policy_model) is None
    query = prompts["test"][0]["input_ids"].unsqueeze(0)
    inputs = {"input_ids": query, "decoder_input_ids": torch.tensor([[0] + query[0, :5].tolist()])}
    base_logits = load_base_model(config)(**inputs).logits
    ref_logits = reference_logits(policy_model, None, **inputs)
    torch.testing.assert_close(ref_logits, base_logits)
    with torch.no_grad():
        policy_logits, _, _ = policy_model.eval()(**inputs)
    assert (policy_logits - ref_logits).abs().max() > 1e-3  # the trained adapter moves the policy


def test_start_reference_is_the_starting_summarizer(config, policy, prompts) -> None:
    policy_model, _ = policy  # reference_mode 'start' (the default): Lab-2 adapter merged, a fresh LoRA on top
    base_policy, _ = load_policy(dataclasses.replace(config, reference_mode="base"))
    query = prompts["test"][0]["input_ids"].unsqueeze(0)
    inputs = {"input_ids": query, "decoder_input_ids": torch.tensor([[0] + query[0, :5].tolist()])}
    with torch.no_grad():
        starting, _, _ = base_policy.eval()(**inputs)  # the Lab-2 summarizer: base + its adapter
        policy_logits, _, _ = policy_model.eval()(**inputs)
    torch.testing.assert_close(reference_logits(policy_model, None, **inputs), starting, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(policy_logits, starting, rtol=1e-4, atol=1e-4)  # the fresh LoRA starts as a no-op
    same_shape = trainable_parameters(policy_model, verbose=False)["trainable"]
    assert same_shape == trainable_parameters(base_policy, verbose=False)["trainable"]


def test_the_reference_decides_where_the_kl_starts(config, prompts) -> None:
    # The tiny Lab-2 adapter moves its base far, as the course's moves FLAN-T5 (which logged 21-35 at step 1).
    queries = list(prompts["test"].select(range(16))["input_ids"])
    kl = {}
    for mode in ("base", "start"):
        mode_config = dataclasses.replace(config, reference_mode=mode)
        policy_model, tokenizer = load_policy(mode_config)
        torch.manual_seed(0)
        responses = generate(policy_model, tokenizer, queries, [30] * 16, config.generation_kwargs, 16)
        trainer = make_ppo_trainer(mode_config, policy_model, None, tokenizer)
        kl[mode] = sample_kl(trainer, policy_model, queries, responses).mean().item()
    assert kl["base"] > 3.0, kl  # against the plain base: far from the start
    assert abs(kl["start"]) <= 0.05, kl  # against the starting summarizer: zero


def test_fresh_adapter_equals_reference_until_it_changes(config, prompts) -> None:
    policy_model, _ = load_policy(config, adapter_path=None)
    query = prompts["test"][0]["input_ids"].unsqueeze(0)
    inputs = {"input_ids": query, "decoder_input_ids": torch.tensor([[0, 5, 6]])}
    policy_model.eval()
    with torch.no_grad():
        torch.testing.assert_close(policy_model(**inputs)[0], reference_logits(policy_model, None, **inputs))
        for name, parameter in policy_model.named_parameters():
            if "lora_B" in name:
                parameter.add_(0.05)
        assert (policy_model(**inputs)[0] - reference_logits(policy_model, None, **inputs)).abs().max() > 1e-3


def test_copy_reference_is_frozen(config, policy) -> None:
    policy_model, _ = policy
    ref_model = load_reference(dataclasses.replace(config, reference_mode="copy"), policy_model)
    assert ref_model is not policy_model
    assert not any(p.requires_grad for p in ref_model.parameters())
    with pytest.raises(LabError, match="use 'start', 'base' or 'copy'"):
        load_reference(dataclasses.replace(config, reference_mode="shared"), policy_model)


def test_missing_adapter_lists_expected_files(config, tmp_path) -> None:
    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(AdapterNotFoundError, match=r"(?s)missing \['adapter_model.safetensors'\].*lab2_peft_dialogue_summary"):
        load_policy(config, adapter_path=str(tmp_path))
    with pytest.raises(AdapterNotFoundError, match="adapter_config.json"):
        load_policy(config, adapter_path=str(tmp_path / "nowhere"))


def test_precision_follows_the_hardware_and_is_never_fp16(config) -> None:
    assert pick_dtype(config) == torch.float32  # the tiny profile pins fp32
    assert pick_dtype(dataclasses.replace(config, precision="bf16")) == torch.bfloat16
    auto = pick_dtype(dataclasses.replace(config, precision="auto"))  # no GPU here: the CPU decides
    assert auto == (torch.bfloat16 if cpu_has_native_bf16() else torch.float32)
    with pytest.raises(ValueError, match="fp16 overflows"):
        pick_dtype(dataclasses.replace(config, precision="fp16"))


def test_generate_cuts_each_response_to_its_own_length(config, policy, prompts) -> None:
    policy_model, tokenizer = policy
    queries = list(prompts["test"]["input_ids"][:6])
    lengths = [1, 2, 3, 5, 8, 40]
    torch.manual_seed(0)
    responses = generate(policy_model, tokenizer, queries, lengths, config.generation_kwargs, batch_size=4)
    assert len(responses) == 6
    for response, length in zip(responses, lengths):
        assert response[0].item() == policy_model.pretrained_model.config.decoder_start_token_id
        assert 2 <= len(response) <= length + 1
        assert (response == tokenizer.eos_token_id).sum() <= 1
    policy_model.train()
    generate(policy_model, tokenizer, queries[:1], [3], config.generation_kwargs, batch_size=1)
    assert policy_model.training


def test_a_seeded_generate_samples_each_batch_alike_whatever_ran_before(config, policy, prompts) -> None:
    """Common random numbers (evaluate_toxicity before/after PPO): a batch's samples do not depend on earlier batches' lengths."""
    policy_model, tokenizer = policy
    queries = list(prompts["test"]["input_ids"][:8])
    long_first, short_first = [40] * 8, [2] * 4 + [40] * 4  # the first batch of 4 runs 40 tokens, or 2
    seeded = [decode(tokenizer, generate(policy_model, tokenizer, queries, lengths, config.generation_kwargs, 4, seed=3)) for lengths in (long_first, short_first)]
    assert seeded[0][4:] == seeded[1][4:]
    one_seed = []
    for lengths in (long_first, short_first):  # one seed for the whole call: the first batch's length shifts every later draw
        torch.manual_seed(3)
        one_seed.append(decode(tokenizer, generate(policy_model, tokenizer, queries, lengths, config.generation_kwargs, 4)))
    assert one_seed[0][4:] != one_seed[1][4:]


def test_a_tied_lm_head_is_refused_when_the_checkpoint_has_its_own(config, tmp_path) -> None:
    from transformers import T5Config, T5ForConditionalGeneration

    from lab_utils.models import check_untied_lm_head

    model = T5ForConditionalGeneration(T5Config(vocab_size=32, d_model=8, d_kv=4, d_ff=8, num_layers=1, num_heads=2))
    model.save_pretrained(tmp_path)
    check_untied_lm_head(model, str(tmp_path))  # saved as tied: fine
    raw = (tmp_path / "config.json").read_text().replace('"tie_word_embeddings": true', '"tie_word_embeddings": false')
    assert '"tie_word_embeddings": false' in raw
    (tmp_path / "config.json").write_text(raw)
    assert model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    with pytest.raises(RuntimeError, match="loaded tied"):
        check_untied_lm_head(model, str(tmp_path))
    model.lm_head.weight = torch.nn.Parameter(model.lm_head.weight.detach().clone())
    check_untied_lm_head(model, str(tmp_path))  # untied by hand: fine


def moved(policy_model):
    """The policy after PPO has moved it: seeded noise on its LoRA B matrices (the same in fp32 and bf16)."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in policy_model.named_parameters():
            if "lora_B" in name:
                parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.2)
    return policy_model


def test_bf16_stays_within_the_stated_tolerance_of_fp32(config, prompts, reward_pipe) -> None:
    bf16_config = dataclasses.replace(config, precision="bf16")
    rows = prompts["test"].select(range(16))
    texts = list(rows["summary"])  # the reference summaries: polite and insulting ones
    rewards = torch.stack(make_reward_fn(config, reward_pipe)(texts))
    bf16_rewards = torch.stack(make_reward_fn(bf16_config, load_reward_pipe(bf16_config))(texts))
    assert bf16_rewards.std() > 1.0  # the texts really differ in reward
    assert (bf16_rewards - rewards).abs().max() <= BF16_REWARD_TOLERANCE
    policy_model, tokenizer = load_policy(config)
    queries = list(rows["input_ids"])
    torch.manual_seed(0)
    responses = generate(moved(policy_model), tokenizer, queries, [30] * 16, config.generation_kwargs, 16)
    trainer = make_ppo_trainer(config, policy_model, None, tokenizer)
    kl = sample_kl(trainer, policy_model, queries, responses)
    bf16_kl = sample_kl(trainer, moved(load_policy(bf16_config)[0]), queries, responses)
    assert kl.mean() > 0.5  # a real distance to the reference
    assert abs(bf16_kl.mean() - kl.mean()) <= BF16_KL_TOLERANCE * kl.mean()



# --- the starting adapter as students have it: the course's .bin, none at all, or a path typed wrong ---
import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

from safetensors.torch import load_file  # noqa: E402

import lab_utils.adapters as adapters  # noqa: E402
from lab_utils.config import LabConfig  # noqa: E402


def test_the_course_bin_adapter_loads_as_tensors_and_gets_a_safetensors_copy(config, prompts, tmp_path, capsys) -> None:
    shipped = Path(config.adapter_path)  # the tiny world's Lab-2 adapter, re-saved the way the course shipped its own
    course = tmp_path / "peft-dialogue-summary-checkpoint-from-s3"
    course.mkdir()
    shutil.copy(shipped / "adapter_config.json", course)
    state = load_file(shipped / "adapter_model.safetensors")
    torch.save(state, course / "adapter_model.bin")
    inputs = {"input_ids": prompts["test"][0]["input_ids"].unsqueeze(0), "decoder_input_ids": torch.tensor([[0, 5, 6, 7]])}
    with torch.no_grad():
        expected = load_policy(config)[0].eval()(**inputs)[0]
        from_bin = load_policy(config, adapter_path=str(course))[0].eval()(**inputs)[0]
    torch.testing.assert_close(from_bin, expected, rtol=0, atol=0)
    copied = load_file(course / "adapter_model.safetensors")
    assert copied.keys() == state.keys() and all(torch.equal(copied[k], state[k]) for k in state)
    assert "Converted" in capsys.readouterr().out
    assert not list(course.glob("*.partial"))  # written atomically: no half file left behind


class RunsCode:
    """A pickle that would call print() when unpickled: what torch.load(weights_only=True) must refuse."""

    def __reduce__(self):
        return (print, ("unpickled code ran",))


def test_a_bin_adapter_holding_code_is_refused_unrun(config, tmp_path, capsys) -> None:
    shutil.copy(Path(config.adapter_path) / "adapter_config.json", tmp_path)
    torch.save({"base_model.model.lm_head.weight": RunsCode()}, tmp_path / "adapter_model.bin")
    with pytest.raises(AdapterNotFoundError, match="not a plain tensor file"):
        load_policy(config, adapter_path=str(tmp_path))
    assert "unpickled code ran" not in capsys.readouterr().out


def test_missing_default_adapter_prints_a_banner_and_starts_a_fresh_lora(config, tmp_path, monkeypatch, capsys) -> None:
    default = tmp_path / "checkpoints" / "peft-dialogue-summary-checkpoint"  # the full profile's default, absent here
    monkeypatch.setattr(adapters, "full_config", lambda: LabConfig(adapter_path=str(default)))
    policy_model, _ = load_policy(dataclasses.replace(config, profile="full", adapter_path=str(default)))
    out = capsys.readouterr().out
    assert out.count("FRESH LoRA") == 1 and "differ from the course's" in out and "quick-adapter cell" in out
    lora_b = [p for n, p in policy_model.named_parameters() if "lora_B" in n]
    assert lora_b and all(torch.count_nonzero(p) == 0 for p in lora_b)  # a fresh LoRA: the policy starts as the base model
    lab2_shape = trainable_parameters(load_policy(config)[0], verbose=False)["trainable"]
    assert trainable_parameters(policy_model, verbose=False)["trainable"] == lab2_shape


@pytest.mark.parametrize("path", ["checkpoints/my-adapter", "./my-adapter", "/no/such/adapter"])
def test_an_explicit_local_adapter_path_that_is_absent_is_one_clear_line(config, tmp_path, monkeypatch, path) -> None:
    monkeypatch.chdir(tmp_path)
    assert adapters.is_local_path(path) and not adapters.is_local_path("google/flan-t5-base")
    with pytest.raises(AdapterNotFoundError) as error:
        load_policy(config, adapter_path=path)
    message = str(error.value)
    assert "\n" not in message and f"No adapter at {path}" in message and " — " in message and "adapter_path=None" in message
