#!/usr/bin/env python3
"""Time one Llama block (transformers' LlamaDecoderLayer) forward+backward on the CPU, for
`hat bench kernels`, which runs this script in the same run and prints both.

Same shapes as the Swift benchmark: N positions in one sequence, width C, H heads, G KV heads,
head size D, FFN width F, causal attention with a sliding window. The window is an explicit
mask; the attention implementation used is the faster of transformers' "sdpa" (torch
scaled_dot_product_attention with a boolean mask) and "eager" (matmul + softmax), each timed.
Prints one JSON object.

Requirements (pip): torch==2.13.0 (CPU), transformers==5.24.0
"""

import argparse
import json
import statistics
import time

import torch
import transformers
from transformers import LlamaConfig
from transformers.models.llama.modeling_llama import LlamaDecoderLayer, LlamaRotaryEmbedding


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=4096, help="positions N (default 4096)")
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--kv-heads", type=int, default=4)
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--intermediate", type=int, default=1408)
    ap.add_argument("--window", type=int, default=512, help="sliding window; 0 = full causal")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--implementations", default="sdpa,eager")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    n = args.rows
    results = {}
    for impl in args.implementations.split(","):
        cfg = LlamaConfig(hidden_size=args.hidden, num_attention_heads=args.heads,
                          num_key_value_heads=args.kv_heads, head_dim=args.head_dim,
                          intermediate_size=args.intermediate, rms_norm_eps=1e-5,
                          rope_theta=10000.0, max_position_embeddings=max(n, 8192),
                          attention_bias=False, mlp_bias=False)
        cfg._attn_implementation = impl
        layer = LlamaDecoderLayer(cfg, layer_idx=0).float()
        rope = LlamaRotaryEmbedding(cfg)
        x = torch.randn(1, n, args.hidden, requires_grad=True)
        pos = torch.arange(n)[None]
        i = torch.arange(n)
        allowed = i[None, :] <= i[:, None]
        if args.window > 0:
            allowed &= i[None, :] > i[:, None] - args.window
        if impl == "sdpa":
            mask = allowed[None, None]                      # bool, True = attend
        else:
            mask = torch.zeros(1, 1, n, n).masked_fill(~allowed[None, None], float("-inf"))
        grad = torch.randn(1, n, args.hidden)

        def step():
            cos, sin = rope(x, pos)
            out = layer(x, attention_mask=mask, position_embeddings=(cos, sin), position_ids=pos)
            out = out[0] if isinstance(out, tuple) else out
            out.backward(grad)
            layer.zero_grad(set_to_none=True)
            x.grad = None

        step()  # warm-up
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        results[impl] = statistics.median(times)

    best = min(results, key=results.get)
    print(json.dumps({
        "torch": torch.__version__, "transformers": transformers.__version__,
        "threads": torch.get_num_threads(), "rows": n, "hidden": args.hidden, "heads": args.heads,
        "kv_heads": args.kv_heads, "head_dim": args.head_dim, "intermediate": args.intermediate,
        "window": args.window, "seconds_by_implementation": results,
        "implementation": best, "seconds": results[best],
    }, sort_keys=True))


if __name__ == "__main__":
    main()
