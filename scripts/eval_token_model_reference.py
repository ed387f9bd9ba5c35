#!/usr/bin/env python3
"""Bits per byte of a token model on text files with transformers, under exactly the rules of
`hat eval --model TOKEN_MODEL` (Sources/HATModel/TokenEvaluation.swift), as an independent check.

Rules: files in name order, each one document; a document opens with the document-start token
(BOS when the tokenizer adds one, else <|endoftext|>, else EOS), counted as one byte, then its
text's tokens (no special tokens added); documents follow each other in one token stream; rows
are consecutive runs of at most --words-per-row tokens and --max-row-bytes bytes (a single longer
token still forms a row); each row is its own sequence (positions from 0); every token with a
preceding token in its row is predicted; bits per byte = summed loss / bytes of the predicted
tokens / ln 2. Positions are tokens.

Tokenization: transformers' GGUF loader builds a plain GPT-2 byte-level pre-tokenizer, but
llama.cpp's (and hat's) "smollm" pre-tokenizer first splits every digit alone; so for a GGUF whose
tokenizer.ggml.pre is "smollm" the script puts Digits(individual_digits=True) before ByteLevel,
as the Hub's SmolLM2 tokenizer.json does. A Hugging Face directory's tokenizer.json is used as is.
Weights: transformers dequantises GGUF blocks (Q4_1, ...) to float32, as hat does.

  /work/venv/bin/python scripts/eval_token_model_reference.py \\
      --model data/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf --data FILE [FILE...] [--json]
  .build-rel/release/hat eval --model data/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf --data FILE --json

Requirements (pip): torch transformers gguf tokenizers accelerate (transformers needs accelerate for GGUF).
"""
import argparse
import json
import math
import os
import sys
import time

os.environ.setdefault("TQDM_DISABLE", "1")


def byte_decoder():
    """GPT-2's byte-level alphabet, inverted: character of a token spelling -> byte."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def load(model_path):
    """(model, tokenizer, document start id) for a GGUF file or a Hugging Face directory."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if os.path.isfile(model_path):
        directory, name = os.path.split(os.path.abspath(model_path))
        tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32)
        from gguf import GGUFReader
        reader = GGUFReader(model_path)
        field = reader.fields.get("tokenizer.ggml.pre")
        pre = bytes(field.parts[field.data[0]]).decode() if field is not None else "gpt2"
        add_bos_field = reader.fields.get("tokenizer.ggml.add_bos_token")
        add_bos = bool(add_bos_field.parts[add_bos_field.data[0]][0]) if add_bos_field is not None else False
        if pre == "smollm":
            from tokenizers import pre_tokenizers
            tokenizer.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
                pre_tokenizers.Digits(individual_digits=True),
                pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
            ])
        elif pre not in ("gpt2", "llama-bpe"):
            sys.exit(f"{model_path}: tokenizer.ggml.pre '{pre}' is not one hat reads")
    else:
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
        add_bos = bool(getattr(tokenizer, "add_bos_token", False))
    model.eval()
    vocab = tokenizer.get_vocab()
    if add_bos and tokenizer.bos_token_id is not None:
        start = tokenizer.bos_token_id
    elif "<|endoftext|>" in vocab:
        start = vocab["<|endoftext|>"]
    else:
        start = tokenizer.eos_token_id
    return model, tokenizer, start


def rows(lengths, tokens_per_row, max_row_bytes):
    """TokenEvaluator.rows: <= tokens_per_row tokens and <= max_row_bytes bytes each."""
    out, start = [], 0
    while start < len(lengths):
        end, size = start, 0
        while end < len(lengths) and end - start < tokens_per_row and size + lengths[end] <= max_row_bytes:
            size += lengths[end]
            end += 1
        if end == start:
            end = start + 1
        out.append((start, end))
        start = end
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="GGUF file or Hugging Face Llama directory")
    p.add_argument("--data", nargs="+", required=True, help="text files (each one document)")
    p.add_argument("--words-per-row", type=int, default=256, help="tokens per row (hat eval's --words-per-row)")
    p.add_argument("--max-row-bytes", type=int, default=2048)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    import torch
    torch.set_grad_enabled(False)
    started = time.time()
    model, tokenizer, start = load(args.model)
    decoder = byte_decoder()
    spellings = {i: s for s, i in tokenizer.get_vocab().items()}

    ids, lengths = [], []
    for path in sorted(args.data, key=os.path.basename):
        text = open(path, "rb").read().decode("utf-8")        # strict, as hat: invalid UTF-8 is an error
        ids.append(start)
        lengths.append(1)
        for t in tokenizer(text, add_special_tokens=False)["input_ids"]:
            ids.append(t)
            lengths.append(len(bytes(decoder[c] for c in spellings[t])))

    loss, predicted, total_bytes = 0.0, 0, 0
    for a, b in rows(lengths, args.words_per_row, args.max_row_bytes):
        row = torch.tensor([ids[a:b]])
        total_bytes += sum(lengths[a:b])
        if b - a < 2:
            continue
        logits = model(input_ids=row).logits[0].double()
        nll = torch.nn.functional.cross_entropy(logits[:-1], row[0, 1:], reduction="sum")
        loss += float(nll)
        predicted += sum(lengths[a + 1:b])
    result = {
        "model": args.model, "documents": sorted(os.path.basename(d) for d in args.data),
        "bits_per_byte": loss / predicted / math.log(2), "loss_nats": loss, "predicted_bytes": predicted,
        "bytes": total_bytes, "positions": len(ids), "bytes_per_position": total_bytes / len(ids),
        "seconds": time.time() - started,
    }
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for k in ["bits_per_byte", "bytes_per_position", "bytes", "predicted_bytes", "positions", "seconds"]:
            print(f"{k}: {result[k]}")


if __name__ == "__main__":
    main()
