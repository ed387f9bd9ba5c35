#!/usr/bin/env python3
"""Writes the HATIO test fixtures into Tests/HATIOTests/Fixtures (small files, committed).

Run: /work/venv/bin/python scripts/make_io_fixtures.py
Requirements (pip): numpy==2.4.6 safetensors==0.8.0 torch==2.13.0 transformers==5.24.0 gguf==0.19.0
Seeds are fixed, so rerunning gives identical files (MANIFEST.json records versions and seeds).
"""
import json
import os
import sys

import numpy as np
import safetensors
from safetensors.numpy import save_file as np_save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "HATIOTests", "Fixtures")
SEED = 1234
manifest = {"script": "scripts/make_io_fixtures.py", "seed": SEED, "versions": {}, "files": {}}


def note(name, what):
    manifest["files"][name] = what


def bf16_bits(x32):
    """float32 -> bf16 bits, round to nearest even (what torch does)."""
    import torch
    return torch.from_numpy(x32).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)


def safetensors_fixtures(rng):
    """python.safetensors written by the safetensors package (F32, F16, BF16, I64) and
    python_expected.safetensors with the same values widened to F32 by numpy/torch."""
    import torch
    from safetensors.torch import save_file as torch_save_file
    f32 = rng.standard_normal((2, 3)).astype(np.float32)
    f16 = (rng.standard_normal((3, 5)) * 100).astype(np.float16)
    f16.flat[0:4] = [np.float16(6.0e-8), np.float16(-0.0), np.float16(65504), np.float16(np.inf)]
    bf = torch.from_numpy(rng.standard_normal(7).astype(np.float32) * 1e20).to(torch.bfloat16)
    tensors = {
        "f32": torch.from_numpy(f32),
        "f16": torch.from_numpy(f16),
        "bf16": bf,
        "i64": torch.arange(3, dtype=torch.int64),
    }
    torch_save_file(tensors, os.path.join(OUT, "python.safetensors"), metadata={"made_by": "make_io_fixtures.py"})
    np_save_file({"f32": f32, "f16": f16.astype(np.float32), "bf16": bf.to(torch.float32).numpy()},
                 os.path.join(OUT, "python_expected.safetensors"))
    note("python.safetensors", "F32 [2,3], F16 [3,5] (subnormal, -0, max, inf), BF16 [7], I64 [3], written by safetensors.torch")
    note("python_expected.safetensors", "the same float tensors widened to F32")


def main():
    os.makedirs(OUT, exist_ok=True)
    import torch, transformers, gguf  # noqa: F401
    from importlib.metadata import version
    for pkg in ["numpy", "safetensors", "torch", "transformers", "gguf"]:
        manifest["versions"][pkg] = version(pkg)
    rng = np.random.default_rng(SEED)
    safetensors_fixtures(rng)
    for part in sys.argv[1:] or ["all"]:
        pass
    with open(os.path.join(OUT, "MANIFEST.json"), "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"wrote {len(manifest['files'])} fixtures to {OUT} ({total} bytes in the folder)")


if __name__ == "__main__":
    main()
