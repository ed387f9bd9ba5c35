"""The distributed path on this machine's CPU: `torchrun --nproc_per_node 2` (gloo) against one
process. rows_per_batch is the global batch, so 2 processes × 4 rows must equal 1 process × 8 rows
(the doubled batch) — the same losses, weights and moments. Each distributed run stops at step 3
with a checkpoint and is resumed by a second torchrun, so saving and loading sharded/replicated
optimizer state is on the path. DDP and FSDP (FSDP2 `fully_shard` per Llama block; torch 2.13
runs it on CPU with gloo) are both checked.

Tolerances (measured: losses 1.6e-7 relative, weights 3e-7 absolute, moments 2e-7 relative):
every logged loss 1e-5 relative; every weight 1e-5 absolute; moments 1e-4 relative to the largest.
Not tested here: CUDA/NCCL, several nodes, bf16 on GPU (no GPU on this machine)."""

import json
import os
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file

from conftest import FIXTURE, python_module, run

OPTIONS = ["--steps", "6", "--rows-per-batch", "8", "--words-per-row", "32", "--max-row-bytes", "128",
           "--warmup-steps", "2", "--checkpoint-every", "6", "--validate-every", "3", "--validation-fraction", "0.2",
           "--learning-rate", "3e-3", "--threads", "1"]


def torchrun(*args):
    torchrun_path = os.path.join(os.path.dirname(sys.executable), "torchrun")
    return [torchrun_path, "--standalone", "--nproc_per_node", "2", "-m", "hat_torch.train"] + list(args)


@pytest.fixture(scope="module")
def single(corpus, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("single") / "run")
    run(python_module("hat_torch.train", "--init-from", FIXTURE, "--data", corpus, "--out", out, *OPTIONS))
    return out


def read(run_dir, step=6):
    path = os.path.join(run_dir, "checkpoints", "step-%08d" % step)
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        lines = [json.loads(line) for line in f]
    return (lines, load_file(os.path.join(path, "model.safetensors")),
            load_file(os.path.join(path, "optimizer.safetensors")))


@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_two_processes_equal_one_with_the_doubled_batch(single, corpus, tmp_path, mode):
    out = str(tmp_path / mode)
    flags = ["--fsdp"] if mode == "fsdp" else []
    first = run(torchrun("--init-from", FIXTURE, "--data", corpus, "--out", out, "--stop-at", "3", *OPTIONS, *flags))
    assert "2 process(es)" in first
    run(torchrun("--resume", out, "--threads", "1", *flags))
    lines, weights, moments = read(out)
    expected_lines, expected_weights, expected_moments = read(single)
    assert [(l["split"], l["step"]) for l in lines] == [(l["split"], l["step"]) for l in expected_lines]
    for ours, theirs in zip(lines, expected_lines):
        assert ours["loss"] == pytest.approx(theirs["loss"], rel=1e-5), f"step {ours['step']} ({ours['split']})"
        assert ours["bytes_seen"] == theirs["bytes_seen"]
    for name, value in expected_weights.items():
        error = float(np.abs(weights[name] - value).max())
        assert error <= 1e-5, f"{name}: {error:.2e}"
    for name in ("adamw.m", "adamw.v"):
        scale = float(np.abs(expected_moments[name]).max())
        assert float(np.abs(moments[name] - expected_moments[name]).max()) <= 1e-4 * scale


def test_bf16_autocast_runs_close_to_f32(single, corpus, tmp_path):
    """--dtype bf16 (autocast; f32 weights and moments) on the CPU: the same first loss to bf16 accuracy."""
    out = str(tmp_path / "bf16")
    run(python_module("hat_torch.train", "--init-from", FIXTURE, "--data", corpus, "--out", out, "--dtype", "bf16",
                      "--stop-at", "2", *OPTIONS))
    with open(os.path.join(out, "metrics.jsonl")) as f:
        losses = [json.loads(line)["loss"] for line in f]
    expected, _, _ = read(single)
    assert losses[0] == pytest.approx(expected[0]["loss"], rel=2e-2)
    assert os.path.exists(os.path.join(out, "checkpoints", "step-00000002", "optimizer.safetensors"))
