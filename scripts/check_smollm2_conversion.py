#!/usr/bin/env python3
"""Checks `hat convert-backbone` on the SmolLM2 GGUF against transformers' own GGUF loader.

transformers dequantises the GGUF (through the gguf package) and undoes llama.cpp's q/k row
permutation; every block tensor of our converted backbone (convert with --dtype f32) must equal
its Hugging Face counterpart within f16 rounding (|ours - ref| <= 2^-11 |ref| + 2^-25).
Prints a table (one row per tensor kind over all layers; --all: one row per tensor) and exits 1
on any mismatch, missing or extra tensor.

  swift build -c release && .build/release/hat convert-backbone \
      data/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf --out /tmp/smollm2-f32 --dtype f32 --keep-token-head
  python3 scripts/check_smollm2_conversion.py /tmp/smollm2-f32

Requirements (pip): torch==2.13.0 transformers==5.24.0 gguf==0.19.0 safetensors==0.8.0 numpy==2.4.6 accelerate==1.15.0
(transformers needs accelerate to load GGUF files)
"""
import argparse
import json
import os
import sys

import numpy as np

os.environ.setdefault("TQDM_DISABLE", "1")   # transformers progress bars

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_GGUF = os.path.join(ROOT, "data", "smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
KINDS = ["input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
         "self_attn.o_proj.weight", "post_attention_layernorm.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
         "mlp.down_proj.weight"]


def compare(ours, ref):
    """(max abs diff, max |ref|, exact, within f16 rounding)"""
    ours = ours.astype(np.float64)
    ref = ref.astype(np.float64)
    diff = np.abs(ours - ref)
    bound = np.abs(ref) * 2.0 ** -11 + 2.0 ** -25
    return float(diff.max()), float(np.abs(ref).max()), bool((diff == 0).all()), bool((diff <= bound).all())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("converted", help="output directory of hat convert-backbone (--dtype f32)")
    ap.add_argument("--gguf", default=DEFAULT_GGUF, help="the GGUF that was converted (default: %(default)s)")
    ap.add_argument("--all", action="store_true", help="one row per tensor instead of per kind")
    args = ap.parse_args()

    import torch
    from safetensors.numpy import load_file
    from transformers import AutoModelForCausalLM

    config = json.load(open(os.path.join(args.converted, "config.json")))
    if config.get("dtype") != "F32":
        print(f"note: the backbone is stored as {config.get('dtype')}; convert with --dtype f32 for an exact check")
    ours = load_file(os.path.join(args.converted, "model.safetensors"))
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(args.gguf), gguf_file=os.path.basename(args.gguf),
                                                 dtype=torch.float32)
    ref = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    L = model.config.num_hidden_layers

    failures = []
    expected = set()
    rows = []
    for kind in KINDS:
        agg = [0.0, 0.0, True, True, 0]
        for i in range(L):
            ours_name, ref_name = f"backbone.layers.{i}.{kind}", f"model.layers.{i}.{kind}"
            expected.add(ours_name)
            if ours_name not in ours:
                failures.append(f"missing {ours_name}")
                continue
            if ours[ours_name].shape != ref[ref_name].shape:
                failures.append(f"{ours_name}: shape {ours[ours_name].shape} != {ref[ref_name].shape}")
                continue
            d, m, exact, ok = compare(ours[ours_name], ref[ref_name])
            if not ok:
                failures.append(f"{ours_name}: max abs diff {d:.3g} beyond f16 rounding")
            if args.all:
                rows.append((ours_name, str(list(ours[ours_name].shape)), d, m, exact, ok))
            agg = [max(agg[0], d), max(agg[1], m), agg[2] and exact, agg[3] and ok, agg[4] + 1]
        if not args.all:
            rows.append((f"{kind} (x{agg[4]})", str(list(ref[f'model.layers.0.{kind}'].shape)), agg[0], agg[1], agg[2], agg[3]))
    extra = sorted(set(ours) - expected)
    failures += [f"extra {n}" for n in extra]

    head_path = os.path.join(args.converted, "token_head.safetensors")
    if os.path.exists(head_path):
        head = load_file(head_path)
        for ours_name, ref_name in [("embed_tokens.weight", "model.embed_tokens.weight"), ("norm.weight", "model.norm.weight"),
                                    ("lm_head.weight", "lm_head.weight")]:
            d, m, exact, ok = compare(head[ours_name], ref[ref_name])
            rows.append((f"token_head: {ours_name}", str(list(head[ours_name].shape)), d, m, exact, ok))
            if not ok:
                failures.append(f"token_head {ours_name}: max abs diff {d:.3g}")

    w = max(len(r[0]) for r in rows)
    print(f"{'tensor':<{w}}  {'shape':<12} {'max|diff|':>10} {'max|ref|':>9}  exact  within-f16")
    for name, shape, d, m, exact, ok in rows:
        print(f"{name:<{w}}  {shape:<12} {d:>10.3g} {m:>9.3g}  {'yes' if exact else 'no':<5}  {'yes' if ok else 'NO'}")
    print(f"\n{len(expected)} block tensors compared against transformers {__import__('transformers').__version__} "
          f"(gguf {__import__('importlib.metadata').metadata.version('gguf')}) loading {os.path.basename(args.gguf)}")
    if failures:
        print(f"FAIL: {len(failures)} problem(s):")
        for f in failures[:40]:
            print("  " + f)
        return 1
    print("OK: every block tensor matches within f16 rounding")
    return 0


if __name__ == "__main__":
    sys.exit(main())
