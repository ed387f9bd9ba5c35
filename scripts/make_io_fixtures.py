#!/usr/bin/env python3
"""Writes the HATIO test fixtures into Tests/HATIOTests/Fixtures (small files, committed).

Run: python3 scripts/make_io_fixtures.py
Requirements (pip): numpy==2.4.6 safetensors==0.8.0 torch==2.13.0 transformers==5.24.0 gguf==0.19.0
Seeds are fixed, so rerunning gives identical files (MANIFEST.json records versions and seeds) —
except tiny_llama_states.safetensors, whose last bits depend on the CPU torch's kernels run on:
keep the committed one (`git checkout` it) unless the tiny Llama itself changes.
"""
import copy
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


# --- GGUF: one small tensor per type, dequantised by the gguf package -----------------

GGUF_TYPES = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"]


def raw_k_blocks(rng, qtype, n_blocks):
    """Random K-quant super-blocks with sane scales (gguf can dequantise but not quantise these)."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType as T
    _, type_size = GGML_QUANT_SIZES[qtype]
    blocks = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    d = rng.uniform(1e-3, 2e-2, size=n_blocks).astype(np.float16).view(np.uint8).reshape(n_blocks, 2)
    dmin = rng.uniform(1e-3, 2e-2, size=n_blocks).astype(np.float16).view(np.uint8).reshape(n_blocks, 2)
    if qtype in (T.Q4_K, T.Q5_K):
        blocks[:, 0:2] = d
        blocks[:, 2:4] = dmin
    elif qtype == T.Q6_K:
        blocks[:, 208:210] = d          # scales (int8, any value) stay random
    return blocks


def gguf_fixtures(rng):
    import gguf
    from gguf import GGMLQuantizationType as T
    from gguf.quants import quantize, dequantize
    path = os.path.join(OUT, "quants.gguf")
    w = gguf.GGUFWriter(path, "test")
    # metadata of every value type (general.alignment: the default, written explicitly)
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -2000000000)
    w.add_uint64("test.u64", 2**63 + 5)
    w.add_int64("test.i64", -(2**62))
    w.add_float32("test.f32", 1e-5)
    w.add_float64("test.f64", 0.1)
    w.add_bool("test.bool", True)
    w.add_string("test.string", "héllo ✓")
    w.add_array("test.array_i32", [1, -2, 3])
    w.add_array("test.array_str", ["a", "", "ccc"])
    w.add_array("test.array_nested", [[1, 2], [3]])
    w.add_custom_alignment(64)
    expected = {}
    for name in GGUF_TYPES:
        qtype = T[name]
        rows, cols = (2, 512) if name.endswith("_K") else (3, 64)
        if name in ("Q4_K", "Q5_K", "Q6_K"):
            raw = raw_k_blocks(rng, qtype, rows * cols // 256).reshape(rows, -1)
            values = dequantize(raw, qtype)
            w.add_tensor(name, raw, raw_dtype=qtype)
        elif name == "F32":
            values = rng.standard_normal((rows, cols)).astype(np.float32)
            w.add_tensor(name, values)
        elif name == "F16":
            values = rng.standard_normal((rows, cols)).astype(np.float16)
            w.add_tensor(name, values)
            values = values.astype(np.float32)
        else:
            x = rng.standard_normal((rows, cols)).astype(np.float32)
            raw = quantize(x, qtype)
            values = dequantize(raw, qtype)
            w.add_tensor(name, raw, raw_shape=raw.shape, raw_dtype=qtype)
        assert values.shape == (rows, cols), (name, values.shape)
        expected[name] = np.ascontiguousarray(values.astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    np_save_file(expected, os.path.join(OUT, "quants_expected.safetensors"))
    # cross-check: the gguf reader sees what we wrote
    r = gguf.GGUFReader(path)
    for t in r.tensors:
        got = dequantize(t.data, t.tensor_type).reshape(expected[t.name].shape)
        assert np.array_equal(got, expected[t.name]), t.name
    note("quants.gguf", "GGUF v3, alignment 64, metadata of every type, one tensor per type: " + ", ".join(GGUF_TYPES))
    note("quants_expected.safetensors", "gguf.quants.dequantize of each tensor of quants.gguf, F32")

    # v2: same layout as v3 for little-endian files; patch the version field of a small file
    v2 = os.path.join(OUT, "small_v2.gguf")
    w = gguf.GGUFWriter(v2, "test")
    w.add_string("test.note", "version patched to 2")
    w.add_tensor("Q8_0", quantize(expected["F32"], T.Q8_0), raw_dtype=T.Q8_0)
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    b = bytearray(open(v2, "rb").read())
    assert b[4:8] == (3).to_bytes(4, "little")
    b[4:8] = (2).to_bytes(4, "little")
    open(v2, "wb").write(bytes(b))
    np_save_file({"Q8_0": dequantize(quantize(expected["F32"], T.Q8_0), T.Q8_0)},
                 os.path.join(OUT, "small_v2_expected.safetensors"))
    note("small_v2.gguf", "GGUF v2 (v3 bytes with the version set to 2), one Q8_0 tensor")
    note("small_v2_expected.safetensors", "its dequantised values")


# --- a tiny random Llama: HF f32 single file, HF bf16 sharded, GGUF, hidden states ------

TINY = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, rope_theta=50000.0, rms_norm_eps=1e-6, vocab_size=32,
            max_position_embeddings=128, tie_word_embeddings=False)
T_POS = 7


def gguf_permute(w, n_head):
    """llama.cpp's converter: rows of q (n_head heads) / k (n_kv_head heads) reordered for interleaved RoPE."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def tiny_llama_fixtures():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    import gguf
    torch.manual_seed(SEED)
    cfg = LlamaConfig(**TINY, attn_implementation="eager")
    model = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.2 * torch.randn_like(p))
            else:
                p.copy_(0.08 * torch.randn_like(p))
            p.copy_(p.to(torch.bfloat16).to(torch.float32))   # bf16-exact, so every copy holds the same values

    f32_dir = os.path.join(OUT, "tiny_llama_f32")
    bf16_dir = os.path.join(OUT, "tiny_llama_bf16_sharded")
    model.save_pretrained(f32_dir)
    # a copy: .to(bfloat16) would also round the rotary inv_freq buffer of `model`
    copy.deepcopy(model).to(torch.bfloat16).save_pretrained(bf16_dir, max_shard_size="60KB")
    shards = sorted(n for n in os.listdir(bf16_dir) if n.endswith(".safetensors"))
    assert len(shards) >= 2 and os.path.exists(os.path.join(bf16_dir, "model.safetensors.index.json")), shards
    note("tiny_llama_f32/", "LlamaForCausalLM (hidden 64, 2 layers, 4 heads, 2 kv heads, FFN 96, rope_theta 5e4, eps 1e-6, vocab 32), F32, one file")
    note("tiny_llama_bf16_sharded/", f"the same weights (bf16-exact) saved in BF16 as {len(shards)} shards + index")

    # hidden states after the last block, before the final norm, for given input vectors
    g = torch.Generator().manual_seed(SEED + 1)
    inputs = torch.randn(1, T_POS, TINY["hidden_size"], generator=g)
    captured = {}
    def hook(_module, _args, output):
        captured["last"] = (output[0] if isinstance(output, tuple) else output).detach().clone()
    handle = model.model.layers[-1].register_forward_hook(hook)
    layer0 = {}
    handle0 = model.model.layers[0].register_forward_hook(
        lambda m, a, o: layer0.__setitem__("h", (o[0] if isinstance(o, tuple) else o).detach().clone()))
    with torch.no_grad():
        out = model.model(inputs_embeds=inputs, output_hidden_states=True)
    handle.remove(); handle0.remove()
    last = captured["last"]
    # HF's last hidden_states entry is after the final norm; the hook's output is before it
    assert torch.allclose(model.model.norm(last), out.hidden_states[-1], atol=1e-6)
    assert torch.equal(out.hidden_states[-2], layer0["h"])
    np_save_file({"inputs": inputs[0].numpy(), "hidden_after_layer0": layer0["h"][0].numpy(),
                  "hidden_last_block": last[0].numpy()},
                 os.path.join(OUT, "tiny_llama_states.safetensors"),
                 metadata={"positions": f"0..{T_POS - 1}", "note": "hidden_last_block is before model.norm"})
    note("tiny_llama_states.safetensors", f"inputs [{T_POS}, 64] (inputs_embeds, positions 0…{T_POS-1}), hidden states after layer 0 and after the last block (before the final norm), F32")

    # GGUF of the same model: F16 matrices, F32 norms, q/k rows permuted as llama.cpp does
    sd = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    f16 = lambda name, a: (a.astype(np.float16), None)
    write_tiny_llama_gguf(os.path.join(OUT, "tiny_llama.gguf"), sd, f16)
    note("tiny_llama.gguf", "the tiny Llama as GGUF v3 (arch llama): F16 matrices with q/k rows permuted as llama.cpp does, F32 norms")

    # and with its blocks' matrices in quantized blocks, as pretrained GGUFs ship them: layer 0
    # in Q8_0, layer 1 in Q4_1 (SmolLM2's file); embedding and head F16, norms F32
    from gguf import GGMLQuantizationType as Q, quants
    def blocks(name, a):
        if not name.startswith("blk.") or name.endswith("norm.weight"):
            return f16(name, a)
        qtype = Q.Q8_0 if name.startswith("blk.0.") else Q.Q4_1
        return quants.quantize(a.astype(np.float32), qtype), qtype
    write_tiny_llama_gguf(os.path.join(OUT, "tiny_llama_q8_0_q4_1.gguf"), sd, blocks)
    note("tiny_llama_q8_0_q4_1.gguf", "the same GGUF with layer 0's matrices in Q8_0 and layer 1's in Q4_1 (gguf.quants.quantize of the float32 weights); embedding and head F16, norms F32")


def write_tiny_llama_gguf(path, sd, stored):
    """The tiny Llama's state dict `sd` as a llama.cpp GGUF at `path`; `stored(gguf_name, array)`
    gives each matrix's stored array and its quantization type (None: the array's own dtype)."""
    import gguf
    w = gguf.GGUFWriter(path, "llama")
    w.add_block_count(TINY["num_hidden_layers"])
    w.add_context_length(TINY["max_position_embeddings"])
    w.add_embedding_length(TINY["hidden_size"])
    w.add_feed_forward_length(TINY["intermediate_size"])
    w.add_head_count(TINY["num_attention_heads"])
    w.add_head_count_kv(TINY["num_key_value_heads"])
    w.add_layer_norm_rms_eps(TINY["rms_norm_eps"])
    w.add_rope_freq_base(TINY["rope_theta"])
    w.add_rope_dimension_count(TINY["hidden_size"] // TINY["num_attention_heads"])
    w.add_tokenizer_model("llama")
    w.add_token_list([f"<t{i}>" for i in range(TINY["vocab_size"])])
    H, G = TINY["num_attention_heads"], TINY["num_key_value_heads"]

    def matrix(name, a):
        data, qtype = stored(name, a)
        if qtype is None:
            w.add_tensor(name, data)
        else:
            w.add_tensor(name, data, raw_shape=data.shape, raw_dtype=qtype)

    matrix("token_embd.weight", sd["model.embed_tokens.weight"])
    for i in range(TINY["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w.add_tensor(f"blk.{i}.attn_norm.weight", sd[p + "input_layernorm.weight"])
        matrix(f"blk.{i}.attn_q.weight", gguf_permute(sd[p + "self_attn.q_proj.weight"], H))
        matrix(f"blk.{i}.attn_k.weight", gguf_permute(sd[p + "self_attn.k_proj.weight"], G))
        matrix(f"blk.{i}.attn_v.weight", sd[p + "self_attn.v_proj.weight"])
        matrix(f"blk.{i}.attn_output.weight", sd[p + "self_attn.o_proj.weight"])
        w.add_tensor(f"blk.{i}.ffn_norm.weight", sd[p + "post_attention_layernorm.weight"])
        matrix(f"blk.{i}.ffn_gate.weight", sd[p + "mlp.gate_proj.weight"])
        matrix(f"blk.{i}.ffn_up.weight", sd[p + "mlp.up_proj.weight"])
        matrix(f"blk.{i}.ffn_down.weight", sd[p + "mlp.down_proj.weight"])
    w.add_tensor("output_norm.weight", sd["model.norm.weight"])
    matrix("output.weight", sd["lm_head.weight"])
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()


def main():
    os.makedirs(OUT, exist_ok=True)
    import torch, transformers, gguf  # noqa: F401
    from importlib.metadata import version
    for pkg in ["numpy", "safetensors", "torch", "transformers", "gguf"]:
        manifest["versions"][pkg] = version(pkg)
    rng = np.random.default_rng(SEED)
    safetensors_fixtures(rng)
    gguf_fixtures(rng)
    tiny_llama_fixtures()
    with open(os.path.join(OUT, "MANIFEST.json"), "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")
    total = 0
    for d, _, names in os.walk(OUT):
        for n in names:
            os.chmod(os.path.join(d, n), 0o644)      # safetensors writes 0600
            total += os.path.getsize(os.path.join(d, n))
    print(f"wrote {len(manifest['files'])} fixtures to {OUT} ({total} bytes in the folder)")


if __name__ == "__main__":
    main()
