#!/usr/bin/env python3
# bench_hf_tokenizers.py: single-thread throughput of Hugging Face tokenizers (its Rust core called
# from Python) encoding a UTF-8 text file with a tokenizer.json. `hat bench tokenize` runs it on the
# same file and tokenizer in the same run and prints both figures, their ratio and whether the ids
# are identical.
#
# Requirements (pip): tokenizers (0.23.3 made the committed fixtures).
#
# One thread: RAYON_NUM_THREADS=1 and TOKENIZERS_PARALLELISM=false are set before tokenizers is
# imported, and the text is encoded with Tokenizer.encode (never encode_batch), which runs in the
# calling thread. Times encode(text, add_special_tokens=False) on the whole file (or on each line
# with --unit lines), best of --repeats, as CPU time of the calling thread (time.thread_time) and
# wall time; the file is read and decoded before timing. HF keeps its BPE word cache across calls,
# so repeats after the first run with a warm cache. Reports the number of ids and the SHA-256 of the
# ids as uint32 little-endian, so the caller can check both tokenizers gave the same ids.
#
# Usage: python scripts/bench_hf_tokenizers.py TOKENIZER_JSON TEXT_FILE [--unit text|lines] [--repeats 2] [--json]

import argparse
import array
import hashlib
import json
import os
import sys
import time

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"


def main():
    parser = argparse.ArgumentParser(description="Time HF tokenizers on a UTF-8 file, one thread.")
    parser.add_argument("tokenizer")
    parser.add_argument("file")
    parser.add_argument("--unit", choices=["text", "lines"], default="text",
                        help="encode the whole file in one call, or each line (line feed kept) in its own call")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()

    def fail(message):
        print(json.dumps({"error": message}) if args.json else message)
        sys.exit(2)

    try:
        import tokenizers
        from tokenizers import Tokenizer
    except ImportError:
        fail(f"the Python package 'tokenizers' is not installed for {sys.executable} (pip install tokenizers)")
    load_start = time.perf_counter()
    tokenizer = Tokenizer.from_file(args.tokenizer)
    load_seconds = time.perf_counter() - load_start
    data = open(args.file, "rb").read()
    text = data.decode("utf-8")
    if args.unit == "text":
        units = [text]
    else:  # after each line feed only (str.splitlines would also cut at \r, \x85, \u2028, ...)
        units = [line + "\n" for line in text.split("\n")]
        units[-1] = units[-1][:-1]
        if not units[-1]:
            units.pop()

    best_cpu = best_wall = float("inf")
    ids = []
    for _ in range(max(1, args.repeats)):
        ids = []
        start_cpu, start_wall = time.thread_time(), time.perf_counter()
        for unit in units:
            ids.extend(tokenizer.encode(unit, add_special_tokens=False).ids)
        best_cpu = min(best_cpu, time.thread_time() - start_cpu)
        best_wall = min(best_wall, time.perf_counter() - start_wall)

    packed = array.array("I", ids)
    if sys.byteorder != "little":
        packed.byteswap()
    result = {
        "tokenizers": f"tokenizers {tokenizers.__version__}",
        "call": f"Tokenizer.encode({'text' if args.unit == 'text' else 'line'}, add_special_tokens=False)",
        "bytes": len(data),
        "ids": len(ids),
        "cpu_seconds": best_cpu,
        "wall_seconds": best_wall,
        "mb_per_s": len(data) / best_cpu / 1e6,
        "wall_mb_per_s": len(data) / best_wall / 1e6,
        "load_seconds": load_seconds,
        "ids_sha256": hashlib.sha256(packed.tobytes()).hexdigest(),
        "python": sys.version.split()[0],
    }
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")


if __name__ == "__main__":
    main()
