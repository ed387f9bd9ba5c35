#!/usr/bin/env python3
# bench_hat_splitter.py: single-thread throughput of the reference splitter, Aleph Alpha's
# hat-splitter 0.1.10 (its Rust core called from Python), on a UTF-8 text file. `hat bench
# segment` runs it on the same file in the same run and prints both figures and their ratio.
#
# Requirements (pip, Python 3.11): hat-splitter==0.1.10 (non-commercial licence: only timed here).
#
# Times `split_with_limit(text, N)` (or `split(text)` with --max-word-bytes 0) on the whole file,
# best of --repeats, as CPU time of the calling thread (`time.thread_time`, robust on a shared
# machine; the Rust core runs in that thread) and as wall time; the file is read and decoded
# before timing. Also reports the number of
# words and the SHA-256 of their lengths (uint32 little-endian), so the caller can check that
# both splitters produced the same words.
#
# Usage: python scripts/bench_hat_splitter.py FILE [--max-word-bytes 100] [--repeats 2] [--json]

import argparse
import array
import hashlib
import importlib.metadata
import json
import sys
import time


def main():
    parser = argparse.ArgumentParser(description="Time hat-splitter on a UTF-8 file.")
    parser.add_argument("file")
    parser.add_argument("--max-word-bytes", type=int, default=100, help="cap; 0 = split() without a cap")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()

    try:
        from hat_splitter import HATSplitter
    except ImportError:
        print(json.dumps({"error": "hat-splitter is not installed"}) if args.json else "hat-splitter is not installed")
        sys.exit(2)
    version = importlib.metadata.version("hat-splitter")
    data = open(args.file, "rb").read()
    text = data.decode("utf-8")
    splitter = HATSplitter()

    best_cpu = best_wall = float("inf")
    words = None
    for _ in range(max(1, args.repeats)):
        words = None
        start_cpu, start_wall = time.thread_time(), time.perf_counter()
        if args.max_word_bytes > 0:
            words = splitter.split_with_limit(text, args.max_word_bytes)
        else:
            words = splitter.split(text)
        best_cpu = min(best_cpu, time.thread_time() - start_cpu)
        best_wall = min(best_wall, time.perf_counter() - start_wall)

    lengths = array.array("I", (len(w) if isinstance(w, bytes) else len(w.encode("utf-8")) for w in words))
    if sys.byteorder != "little":
        lengths.byteswap()
    result = {
        "splitter": f"hat-splitter {version}",
        "call": f"split_with_limit(text, {args.max_word_bytes})" if args.max_word_bytes > 0 else "split(text)",
        "bytes": len(data),
        "words": len(words),
        "cpu_seconds": best_cpu,
        "wall_seconds": best_wall,
        "mb_per_s": len(data) / best_cpu / 1e6,
        "wall_mb_per_s": len(data) / best_wall / 1e6,
        "lengths_sha256": hashlib.sha256(lengths.tobytes()).hexdigest(),
        "python": sys.version.split()[0],
    }
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")


if __name__ == "__main__":
    main()
