#!/usr/bin/env python3
"""Write the PyTorch reference fixtures for HATLayers' LlamaBlock test.

Builds a Hugging Face transformers `LlamaDecoderLayer` (GQA, rotate-half RoPE with a
non-default base, non-default RMSNorm eps) with seeded weights, runs it forward and backward
in float64 on a seeded input with explicit positions and an explicit additive attention mask,
and writes float32 safetensors to Tests/HATLayersTests/Fixtures/:

  llama_block_causal.safetensors           causal over 24 positions starting at 5
  llama_block_window_segments.safetensors  two segments (positions restart), window 6

Tensors (row-major, float32): input [T, C], positions [T], segment_start [T] (index of the
first row of the row's segment), grad_output [T, C] (dL/d output of L = sum(output * R)),
output [T, C], grad_input [T, C], and for every weight its value `weight/<name>` and gradient
`grad/<name>` under the Hugging Face layer names (self_attn.q_proj.weight, ...).
Metadata (strings): hidden, heads, kv_heads, head_dim, intermediate, rms_norm_eps,
rope_theta, window (0 = none), seed, torch, transformers.

transformers' LlamaConfig has no sliding window, so the window (and the segments) are an
explicit 4-D additive mask with the eager attention, which is exactly softmax(QK^T/sqrt(D) + M)V.
Note: transformers computes RMSNorm and the RoPE cos/sin in float32 even for a float64 layer.

Run: python3 scripts/make_layer_fixtures.py
Requirements (pip): torch==2.13.0 (CPU), transformers==5.24.0, safetensors==0.8.0
"""

import json
import os

import torch
import transformers
from safetensors.torch import save_file
from transformers import LlamaConfig
from transformers.models.llama.modeling_llama import LlamaDecoderLayer, LlamaRotaryEmbedding

HIDDEN, HEADS, KV_HEADS, HEAD_DIM, INTERMEDIATE = 64, 4, 2, 16, 96
EPS, THETA, T = 3e-5, 5000.0, 24
OUT_DIR = os.path.join(os.path.dirname(__file__), "..", "Tests", "HATLayersTests", "Fixtures")


def make_case(name: str, seed: int, positions: list[int], segment_start: list[int], window: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    cfg = LlamaConfig(hidden_size=HIDDEN, num_attention_heads=HEADS, num_key_value_heads=KV_HEADS,
                      head_dim=HEAD_DIM, intermediate_size=INTERMEDIATE, rms_norm_eps=EPS,
                      rope_theta=THETA, max_position_embeddings=4096, attention_bias=False, mlp_bias=False)
    cfg._attn_implementation = "eager"
    layer = LlamaDecoderLayer(cfg, layer_idx=0).double()
    with torch.no_grad():
        for pname, p in layer.named_parameters():
            if pname.endswith("layernorm.weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g, dtype=torch.float64))
            else:
                bound = 1 / p.shape[1] ** 0.5
                p.copy_((2 * torch.rand(p.shape, generator=g, dtype=torch.float64) - 1) * bound * 1.5)
    x = torch.randn(1, T, HIDDEN, generator=g, dtype=torch.float64, requires_grad=True)
    r = torch.randn(1, T, HIDDEN, generator=g, dtype=torch.float64)
    pos = torch.tensor([positions])

    # mask[i, j] = 0 where query i may see key j (causal, same segment, inside the window), else -inf
    allowed = torch.zeros(T, T, dtype=torch.bool)
    for i in range(T):
        lo = segment_start[i]
        if window > 0:
            lo = max(lo, i - window + 1)
        allowed[i, lo:i + 1] = True
    mask = torch.zeros(1, 1, T, T, dtype=torch.float64).masked_fill(~allowed, float("-inf"))

    rope = LlamaRotaryEmbedding(cfg)
    cos, sin = rope(x, pos)
    out = layer(x, attention_mask=mask, position_embeddings=(cos, sin), position_ids=pos)
    out = out[0] if isinstance(out, tuple) else out
    (out * r).sum().backward()

    tensors = {
        "input": x.detach()[0],
        "positions": torch.tensor(positions, dtype=torch.float64),
        "segment_start": torch.tensor(segment_start, dtype=torch.float64),
        "grad_output": r[0],
        "output": out.detach()[0],
        "grad_input": x.grad[0],
    }
    for pname, p in layer.named_parameters():
        tensors[f"weight/{pname}"] = p.detach()
        tensors[f"grad/{pname}"] = p.grad
    tensors = {k: v.to(torch.float32).contiguous() for k, v in tensors.items()}
    metadata = {
        "hidden": str(HIDDEN), "heads": str(HEADS), "kv_heads": str(KV_HEADS), "head_dim": str(HEAD_DIM),
        "intermediate": str(INTERMEDIATE), "rms_norm_eps": repr(EPS), "rope_theta": repr(THETA),
        "window": str(window), "seed": str(seed), "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    path = os.path.join(OUT_DIR, f"{name}.safetensors")
    save_file(tensors, path, metadata=metadata)
    print(f"wrote {os.path.relpath(path)} ({os.path.getsize(path)} bytes)")
    return {"file": f"{name}.safetensors", "seed": seed, "positions": positions,
            "segment_start": segment_start, "window": window}


def main() -> None:
    os.makedirs(OUT_DIR, exist_ok=True)
    cases = [
        make_case("llama_block_causal", 1234, [5 + i for i in range(T)], [0] * T, 0),
        make_case("llama_block_window_segments", 4321,
                  list(range(10)) + list(range(T - 10)), [0] * 10 + [10] * (T - 10), 6),
    ]
    manifest = {
        "script": "scripts/make_layer_fixtures.py",
        "torch": torch.__version__, "transformers": transformers.__version__,
        "config": {"hidden_size": HIDDEN, "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS,
                   "head_dim": HEAD_DIM, "intermediate_size": INTERMEDIATE, "rms_norm_eps": EPS,
                   "rope_theta": THETA, "positions": T},
        "reference": "LlamaDecoderLayer in float64 (eager attention, explicit additive mask), stored as float32",
        "cases": cases,
    }
    with open(os.path.join(OUT_DIR, "MANIFEST.json"), "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
