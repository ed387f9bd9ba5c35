#!/usr/bin/env python3
# make_token_model_fixtures.py: reference logits of whole Llama token models from transformers,
# for Tests/HATModelTests (TokenModelTests): the tiny random Llama of the I/O fixtures (its F32
# safetensors, and the same weights rounded through F16 as its GGUF stores them) and, when
# data/smollm2 holds the GGUF, SmolLM2-135M-Instruct (tests cannot fetch the GGUF; its test runs
# only where `scripts/fetch_data.py smollm2` has been run).
#
# Requirements (pip, Python 3.11): torch==2.13.0 (CPU), transformers==5.24.0, gguf==0.19.0,
# safetensors==0.8.0, numpy==2.4.6.  Usage: scripts/make_token_model_fixtures.py

import json
import os

import numpy as np
import torch
from safetensors.numpy import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IO_FIXTURES = os.path.join(ROOT, "Tests/HATIOTests/Fixtures")
OUT = os.path.join(ROOT, "Tests/HATModelTests/Fixtures/token-model")
SMOLLM2 = os.path.join(ROOT, "data/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
SEED = 4321
manifest = {"script": "scripts/make_token_model_fixtures.py", "seed": SEED, "files": {}, "versions": {}}

# A passage of public-domain prose (Austen, Pride and Prejudice, chapter 1).
PASSAGE = ("It is a truth universally acknowledged, that a single man in possession of a good fortune, "
           "must be in want of a wife. However little known the feelings or views of such a man may be on "
           "his first entering a neighbourhood, this truth is so well fixed in the minds of the surrounding "
           "families, that he is considered the rightful property of some one or other of their daughters.")


def tiny():
    from transformers import LlamaForCausalLM
    model = LlamaForCausalLM.from_pretrained(os.path.join(IO_FIXTURES, "tiny_llama_f32"), attn_implementation="eager").eval()
    g = torch.Generator().manual_seed(SEED)
    ids = torch.randint(0, model.config.vocab_size, (1, 23), generator=g)
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0].numpy()
        # The GGUF fixture stores matrices in F16 (norms in F32): the same model with those roundings.
        for name, p in model.named_parameters():
            if not name.endswith("norm.weight"):
                p.copy_(p.to(torch.float16).to(torch.float32))
        gguf_logits = model(input_ids=ids).logits[0].numpy()
    save_file({"ids": ids[0].numpy().astype(np.float32), "logits_f32": logits, "logits_gguf": gguf_logits},
              os.path.join(OUT, "tiny.safetensors"))
    manifest["files"]["tiny.safetensors"] = (
        "ids [23] (as floats) drawn with the seed; logits [23, 32] of Tests/HATIOTests/Fixtures/tiny_llama_f32 "
        "(logits_f32) and of the same weights with matrices rounded through F16 as tiny_llama.gguf stores them (logits_gguf)")


def tiny_teacher():
    """A tiny random Llama with the tiny llama-bpe tokenizer of the tokenizer fixtures, in the shape
    of the tiny HAT preset's backbone (Models/configs/tiny.json), as a GGUF with tokenizer metadata:
    a teacher for the distillation tests."""
    import gguf
    source = gguf.GGUFReader(os.path.join(ROOT, "Tests/HATTokenizerTests/Fixtures/tiny_llama.gguf"))
    field = lambda name: source.fields[name]
    def strings(name):
        f = field(name)
        return [bytes(f.parts[i]).decode("utf-8") for i in f.data]
    tokens = strings("tokenizer.ggml.tokens")
    merges = strings("tokenizer.ggml.merges")
    types = [int(field("tokenizer.ggml.token_type").parts[i][0]) for i in field("tokenizer.ggml.token_type").data]
    scalar = lambda name: int(field(name).parts[field(name).data[0]][0])
    with open(os.path.join(ROOT, "Models/configs/tiny.json")) as f:
        backbone = json.load(f)["backbone_config"]
    C, L, H, G, F = (backbone["hidden_size"], backbone["num_hidden_layers"], backbone["num_attention_heads"],
                     backbone["num_key_value_heads"], backbone["intermediate_size"])
    V, D = len(tokens), C // H
    g = torch.Generator().manual_seed(SEED + 3)
    rand = lambda *shape: (0.2 * torch.randn(*shape, generator=g)).numpy().astype(np.float32)
    norm = lambda n: (1 + 0.1 * torch.randn(n, generator=g)).numpy().astype(np.float32)
    path = os.path.join(OUT, "tiny_teacher.gguf")
    w = gguf.GGUFWriter(path, "llama")
    w.add_block_count(L); w.add_context_length(256); w.add_embedding_length(C); w.add_feed_forward_length(F)
    w.add_head_count(H); w.add_head_count_kv(G); w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(backbone.get("rope_theta", 10000.0)); w.add_rope_dimension_count(D)
    w.add_tokenizer_model("gpt2"); w.add_tokenizer_pre(bytes(field("tokenizer.ggml.pre").parts[-1]).decode())
    w.add_token_list(tokens); w.add_token_types(types); w.add_token_merges(merges)
    w.add_bos_token_id(scalar("tokenizer.ggml.bos_token_id")); w.add_eos_token_id(scalar("tokenizer.ggml.eos_token_id"))
    w.add_add_bos_token(False)
    w.add_tensor("token_embd.weight", rand(V, C))     # tied: no output.weight
    for i in range(L):    # random weights: the q/k permutation of llama.cpp does not matter for a test teacher
        w.add_tensor(f"blk.{i}.attn_norm.weight", norm(C))
        w.add_tensor(f"blk.{i}.attn_q.weight", rand(H * D, C)); w.add_tensor(f"blk.{i}.attn_k.weight", rand(G * D, C))
        w.add_tensor(f"blk.{i}.attn_v.weight", rand(G * D, C)); w.add_tensor(f"blk.{i}.attn_output.weight", rand(C, H * D))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", norm(C))
        w.add_tensor(f"blk.{i}.ffn_gate.weight", rand(F, C)); w.add_tensor(f"blk.{i}.ffn_up.weight", rand(F, C))
        w.add_tensor(f"blk.{i}.ffn_down.weight", rand(C, F))
    w.add_tensor("output_norm.weight", norm(C))
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    manifest["files"]["tiny_teacher.gguf"] = (
        f"a random Llama (hidden {C}, {L} blocks, {H} heads, {G} kv heads, FFN {F}, vocabulary {V}, tied head; F32) with the "
        "tiny llama-bpe tokenizer of Tests/HATTokenizerTests/Fixtures/tiny_llama.gguf: a teacher for the tiny HAT preset")


def smollm2():
    if not os.path.exists(SMOLLM2):
        print(f"skipping SmolLM2: {SMOLLM2} is missing (scripts/fetch_data.py smollm2)")
        return
    from transformers import AutoModelForCausalLM, AutoTokenizer
    directory, name = os.path.split(SMOLLM2)
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, torch_dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    ids = tokenizer(PASSAGE, add_special_tokens=False, return_tensors="pt").input_ids
    T = ids.shape[1]
    positions = [0, T // 2, T - 1]
    with torch.no_grad():
        out = model(input_ids=ids, output_hidden_states=True)
    logits = out.logits[0]
    nll = torch.nn.functional.cross_entropy(logits[:-1].double(), ids[0, 1:], reduction="sum").item()
    # hidden_states[i] is the input of block i (after block i-1); [4] is after the first 4 blocks.
    save_file({"ids": ids[0].numpy().astype(np.float32),
               "positions": np.array(positions, dtype=np.float32),
               "logits": logits[positions].numpy(),
               "hidden_after_4_blocks": out.hidden_states[4][0, positions].numpy()},
              os.path.join(OUT, "smollm2.safetensors"),
              metadata={"nll_sum_nats": repr(nll), "tokens": str(T), "text": PASSAGE})
    manifest["files"]["smollm2.safetensors"] = (
        f"SmolLM2-135M-Instruct (Q4_1 GGUF, dequantised by transformers): ids [{T}] of the passage in the metadata "
        f"(add_special_tokens=False), logits and hidden states after 4 blocks at positions {positions}, and the summed "
        "next-token NLL over the passage in nats (metadata nll_sum_nats)")


def main():
    os.makedirs(OUT, exist_ok=True)
    from importlib.metadata import version
    for pkg in ["numpy", "safetensors", "torch", "transformers", "gguf"]:
        manifest["versions"][pkg] = version(pkg)
    torch.manual_seed(SEED)
    tiny()
    tiny_teacher()
    smollm2()
    with open(os.path.join(OUT, "MANIFEST.json"), "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")
    for n in sorted(os.listdir(OUT)):
        print(f"{n}: {os.path.getsize(os.path.join(OUT, n)):,} bytes")


if __name__ == "__main__":
    main()
