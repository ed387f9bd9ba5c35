"""hat eval in PyTorch: bits per byte and bytes per backbone position of a model on text files,
with the rows hat eval forms (each file one document opened by the end-of-sequence word, files
sorted by name, rows of whole words). The result does not depend on how rows are packed into
batches, so it equals `hat eval --json` up to float rounding:

  python -m hat_torch.evaluate --model RUN/checkpoints/step-00001000 --data data/heldout --json
"""

import argparse
import json
import math
import sys

import torch

from .data import WordSplitter, WordStream, batch_of, read_documents
from .files import load_model


class _Single:
    world, rank, main = 1, 0, True
    device = torch.device("cpu")

    def sum(self, values):
        return list(values)


def evaluate_rows(model, stream, rows, rows_per_batch, runtime=None):
    """Summed loss over `rows` of `stream`; batches are dealt to the ranks in turn (every rank runs
    the same number of forward passes, as FSDP needs: a rank with none left repeats batch 0 and
    drops it)."""
    runtime = runtime or _Single()
    chunks = [rows[i:i + rows_per_batch] for i in range(0, len(rows), rows_per_batch)]
    rounds = (len(chunks) + runtime.world - 1) // runtime.world
    loss = predicted = total_bytes = words = 0.0
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for r in range(rounds):
            index = r * runtime.world + runtime.rank
            real = index < len(chunks)
            batch = batch_of(stream, chunks[index if real else 0]).to(runtime.device)
            value = float(model(batch))
            if real:
                loss += value
                predicted += batch.predicted
                total_bytes += batch.byte_count
                words += batch.word_count
    model.train(was_training)
    loss, predicted, total_bytes, words = runtime.sum([loss, predicted, total_bytes, words])
    return {"loss_nats": loss, "predicted_bytes": int(predicted), "bytes": int(total_bytes), "words": int(words),
            "bits_per_byte": loss / predicted / math.log(2) if predicted else float("nan"),
            "bytes_per_position": total_bytes / words if words else float("nan")}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m hat_torch.evaluate", description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="model or checkpoint directory (config.json + model.safetensors)")
    ap.add_argument("--data", nargs="+", required=True, help="text files or directories of *.txt")
    ap.add_argument("--words-per-row", type=int, default=256)
    ap.add_argument("--max-row-bytes", type=int, default=2048)
    ap.add_argument("--rows-per-batch", type=int, default=8, help="speed only")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    config, model = load_model(args.model)
    if args.max_row_bytes < config.max_word_size:
        raise SystemExit(f"--max-row-bytes must be ≥ the model's max_word_size ({config.max_word_size})")
    runtime = _Single()
    runtime.device = torch.device(args.device)
    model.to(runtime.device)
    documents = sorted(read_documents(args.data), key=lambda d: d[0])
    stream = WordStream(documents, WordSplitter(config.max_word_size), config.eos_token_id)
    rows = stream.rows(args.words_per_row, args.max_row_bytes)
    result = evaluate_rows(model, stream, rows, args.rows_per_batch, runtime)
    if args.json:
        print(json.dumps({**result, "model": args.model, "documents": [name for name, _ in documents]}, sort_keys=True))
    else:
        print(f"model:               {args.model}")
        print(f"documents:           {len(documents)}")
        print(f"bits per byte:       {result['bits_per_byte']:.4f}")
        print(f"bytes per position:  {result['bytes_per_position']:.3f}")
        print(f"bytes:               {result['bytes']} ({result['predicted_bytes']} predicted)")
        print(f"words:               {result['words']}")


if __name__ == "__main__":
    main()
