"""The PyTorch module against the float64 reference (scripts/hat_reference.py), through the
committed fixtures of Tests/HATModelTests/Fixtures/hat-tiny: the same logits, loss and gradient
of every parameter, the same ten AdamW losses; and batching: padding rows to a common length
changes nothing. The Swift suite (HATParityTests) checks hat against the same fixtures, so these
tests make the two engines equal through one oracle."""

import json
import os

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from conftest import FIXTURE, ROOT, fixture_rows
from hat_torch import ConfigError, HATConfig, HATModel, PaddedBatch
from hat_torch.files import read_weights


def fixture_model(dtype):
    config = HATConfig.load(os.path.join(FIXTURE, "config.json"))
    model = HATModel(config)
    model.load_state_dict(read_weights(config, os.path.join(FIXTURE, "model.safetensors")), strict=True)
    return config, model.to(dtype)


def flat_logits(logits, rows):
    return torch.cat([logits[r, :len(rows[r][0])] for r in range(len(rows))])


def test_names_and_order_are_hats():
    config, model = fixture_model(torch.float32)
    assert [name for name, _ in model.named_parameters()] == [name for name, _ in config.parameter_specs()]
    assert {k: list(v.shape) for k, v in model.state_dict().items()} == dict(config.parameter_specs())


def test_float64_equals_the_reference():
    """Logits and gradients are stored as float32 of the float64 reference: equal to that rounding."""
    _, model = fixture_model(torch.float64)
    rows = fixture_rows()
    batch = PaddedBatch(rows)
    expected = load_file(os.path.join(FIXTURE, "expected.safetensors"))
    loss_sum, logits = model(batch, return_logits=True)
    loss = loss_sum / batch.predicted
    loss.backward()
    loss = loss.detach()
    assert abs(float(loss) - float(expected["loss"])) <= 1e-6 * float(expected["loss"])
    logits_error = (flat_logits(logits.detach(), rows).float() - expected["logits"]).abs().max()
    assert float(logits_error) <= 1e-5
    for name, parameter in model.named_parameters():
        reference = expected["grad." + name]
        error = (parameter.grad.float() - reference).abs().max() / reference.abs().max().clamp_min(1e-12)
        assert float(error) <= 1e-5, f"gradient of {name}: relative error {float(error):.2e}"


def test_float32_loss_and_gradients():
    """The float32 model (what trains) within float32 accuracy of the reference."""
    _, model = fixture_model(torch.float32)
    batch = PaddedBatch(fixture_rows())
    expected = load_file(os.path.join(FIXTURE, "expected.safetensors"))
    loss = model(batch) / batch.predicted
    loss.backward()
    loss = loss.detach()
    assert abs(float(loss) - float(expected["loss"])) <= 1e-5 * float(expected["loss"])
    for name, parameter in model.named_parameters():
        reference = expected["grad." + name]
        error = (parameter.grad - reference).abs().max() / reference.abs().max().clamp_min(1e-12)
        assert float(error) <= 1e-3, f"gradient of {name}: relative error {float(error):.2e}"


def test_ten_adamw_steps_equal_the_reference():
    """torch.optim.AdamW (hat's AdamW: β 0.9/0.95, decay 0.1 on matrices only) with clipping at 1."""
    _, model = fixture_model(torch.float64)
    batch = PaddedBatch(fixture_rows())
    with open(os.path.join(FIXTURE, "batch.json")) as f:
        settings = json.load(f)
    expected = load_file(os.path.join(FIXTURE, "expected.safetensors"))["adamw_losses"]
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=settings["learning_rate"], betas=(0.9, 0.95), eps=1e-8)
    losses = []
    for _ in range(settings["steps"]):
        optimizer.zero_grad()
        loss = model(batch) / batch.predicted
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(model.parameters()), settings["clip_norm"])
        optimizer.step()
        losses.append(float(loss.detach()))
    np.testing.assert_allclose(losses, expected.numpy(), rtol=1e-5)


def test_padding_changes_nothing():
    """Each row alone (no padding) gives the loss and logits it gets inside a padded batch."""
    _, model = fixture_model(torch.float64)
    rows = fixture_rows()
    with torch.no_grad():
        together_loss, together = model(PaddedBatch(rows), return_logits=True)
    alone_sum = 0.0
    for r, row in enumerate(rows):
        with torch.no_grad():
            loss, logits = model(PaddedBatch([row]), return_logits=True)
        alone_sum += float(loss)
        n = len(row[0])
        assert torch.allclose(logits[0, :n], together[r, :n], atol=1e-10)
    assert abs(alone_sum - float(together_loss)) <= 1e-9 * alone_sum


def test_sliding_windows_and_gqa_agree_with_the_reference():
    """A config with short windows everywhere (smaller than the rows) and grouped heads in every
    attention, against hat_reference.hat_loss in float64 on random weights."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("hat_reference", os.path.join(ROOT, "scripts", "hat_reference.py"))
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    with open(os.path.join(FIXTURE, "config.json")) as f:
        raw = json.load(f)
    raw["encoder_config"]["sliding_window"] = 5
    raw["decoder_config"]["sliding_window"] = 7
    raw["backbone_config"]["sliding_window"] = 3
    raw["decoder_config"]["cross_attn_every_layer"] = True
    raw["decoder_config"]["cross_attention_config"]["num_key_value_heads"] = 1
    config = HATConfig(raw)
    torch.manual_seed(3)
    model = HATModel(config).double()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
    rows = fixture_rows()
    batch = PaddedBatch(rows)
    with torch.no_grad():
        loss, logits = model(batch, return_logits=True)
    # The reference takes the flattened stream.
    byte_ids, byte_row, byte_pos, word_of_byte, word_row, word_pos = [], [], [], [], [], []
    words_before = 0
    for r, (data, ends) in enumerate(rows):
        starts = np.concatenate(([0], ends[:-1]))
        for w, (s, e) in enumerate(zip(starts, ends)):
            for t in range(s, e):
                byte_ids.append(int(data[t])); byte_row.append(r); byte_pos.append(t); word_of_byte.append(words_before + w)
            word_row.append(r); word_pos.append(w)
        words_before += len(ends)
    as_long = lambda xs: torch.tensor(xs, dtype=torch.long)
    tensors = {k: v.detach() for k, v in model.state_dict().items()}
    ref_logits, ref_loss, _ = reference.hat_loss(raw, tensors, *(as_long(x) for x in (byte_ids, byte_row, byte_pos,
                                                                                       word_of_byte, word_row, word_pos)))
    assert torch.allclose(flat_logits(logits, rows), ref_logits, atol=1e-9)
    assert abs(float(loss) - float(ref_loss)) <= 1e-9 * float(ref_loss)


def test_config_errors_name_the_field():
    with open(os.path.join(FIXTURE, "config.json")) as f:
        raw = json.load(f)
    raw["backbone_config"]["hidden_sise"] = 3
    with pytest.raises(ConfigError, match="backbone_config.hidden_sise"):
        HATConfig(raw)
    del raw["backbone_config"]["hidden_sise"]
    raw["decoder_config"]["num_key_value_heads"] = 3
    with pytest.raises(ConfigError, match="decoder_config.num_key_value_heads"):
        HATConfig(raw)
