"""hat train in PyTorch, for one process or many under torchrun (DDP, or FSDP for large
backbones): the same options (options.json), data order, batches, loss normalisation, AdamW,
warm-up + cosine schedule, clipping and checkpoints as Sources/HATModel/Trainer.swift, so a run
moves between the two engines at any checkpoint:

  python -m hat_torch.train --init-from MODEL --data DIR --out RUN --steps 20000   # new run
  python -m hat_torch.train --resume RUN                                          # continue (also a hat run)
  torchrun --nproc_per_node 8 -m hat_torch.train --resume RUN --device cuda        # one node, 8 GPUs
  hat train --resume RUN                                                          # back to hat

Distributed: rows_per_batch is the global batch of one micro-batch. Every rank builds the same
data plan and takes its share of each micro-batch's rows (contiguous slices); each rank's summed
loss is divided by the micro-batch's global count of predicted bytes (known to every rank) and
multiplied by the world size, so DDP's gradient average gives exactly hat's gradient (the mean
over micro-batches of each micro-batch's per-byte mean). Checkpoints are written by rank 0.
"""

import argparse
import json
import math
import os
import signal
import sys
import time

import numpy as np
import torch
import torch.distributed as dist

from . import files
from .config import HATConfig
from .data import RunData, batch_of
from .evaluate import evaluate_rows
from .model import HATModel


# ---------------------------------------------------------------------------- schedule and parts

def learning_rate(schedule, step):
    """LearningRateSchedule.rate(at:) in float32 as Swift computes it (step counts from 0)."""
    f32 = np.float32
    peak, warmup, total = f32(schedule["peak"]), schedule["warmupSteps"], schedule["totalSteps"]
    final = f32(schedule.get("finalFraction", 0.1))
    if step < warmup:
        return float(peak * f32(step + 1) / f32(warmup))
    span = max(total - warmup, 1)
    progress = min((step - warmup) / span, 1.0)
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return float(peak * (final + (f32(1) - final) * f32(cosine)))


def part_of(name):
    """TrainingOptions.part(of:)."""
    if name.startswith("encoder_connector."):
        return "pooling"
    if name.startswith("encoder."):
        return "encoder"
    if name.startswith("backbone."):
        return "backbone"
    if name.startswith("decoder"):
        return "decoder"
    return "head"


def rate_multiplier(name, options):
    part = part_of(name)
    if part in options["freeze"]:
        return 0.0
    if part == "backbone" and options.get("backbone_learning_rate") is not None:
        return float(np.float32(options["backbone_learning_rate"]) / np.float32(options["learning_rate"]))
    return 1.0


# ---------------------------------------------------------------------------- distributed

class Distributed:
    """Rank, world size and device; the process group when started by torchrun."""

    def __init__(self, device_name):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if device_name == "cuda":
            torch.cuda.set_device(self.local_rank)
            self.device = torch.device("cuda", self.local_rank)
        else:
            self.device = torch.device("cpu")
        if self.world > 1:
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")

    @property
    def main(self):
        return self.rank == 0

    def share(self, count):
        """This rank's slice of `count` items (contiguous, sizes differ by at most one)."""
        base, extra = divmod(count, self.world)
        start = self.rank * base + min(self.rank, extra)
        return start, start + base + (1 if self.rank < extra else 0)

    def sum(self, values):
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        if self.world > 1:
            dist.all_reduce(tensor)
        return tensor.tolist()

    def close(self):
        if self.world > 1:
            dist.barrier()
            dist.destroy_process_group()


def wrap(model, options, runtime, fsdp):
    """DDP (default) or FSDP2 (fully_shard of every Llama block, then the rest) around the model;
    one process trains the bare model (FSDP over one rank would shard nothing)."""
    if runtime.world == 1:
        return model
    if fsdp:
        from torch.distributed.fsdp import fully_shard
        for block in model.blocks():
            fully_shard(block)
        fully_shard(model)
        return model
    from torch.nn.parallel import DistributedDataParallel
    return DistributedDataParallel(model, device_ids=[runtime.local_rank] if runtime.device.type == "cuda" else None)


def full_tensor(tensor):
    """The whole tensor of a (possibly FSDP-sharded) parameter or optimizer state, on the CPU."""
    if hasattr(tensor, "full_tensor"):
        tensor = tensor.full_tensor()
    return tensor.detach().to("cpu", torch.float32)


def like_parameter(value, parameter):
    """`value` (a whole CPU tensor) placed like `parameter` (sharded under FSDP)."""
    value = value.to(parameter.device, parameter.dtype)
    if hasattr(parameter, "device_mesh"):
        from torch.distributed.tensor import distribute_tensor
        return distribute_tensor(value, parameter.device_mesh, parameter.placements)
    return value


# ---------------------------------------------------------------------------- the trainer

class Trainer:
    def __init__(self, run, options, config, tensors, checkpoint, runtime, fsdp=False, dtype="f32",
                 compile_model=False, total_steps=None):
        self.run, self.options, self.config, self.runtime = run, options, config, runtime
        self.dtype = {"f32": None, "bf16": torch.bfloat16}[dtype]
        self.data = RunData(options, config)
        if self.data.rows_per_batch < runtime.world:
            raise ValueError(f"rows_per_batch {self.data.rows_per_batch} is smaller than the world size {runtime.world}: "
                             "every rank needs at least one row of each micro-batch")
        model = HATModel(config)
        model.load_state_dict(tensors, strict=True)
        self.names = [name for name, _ in config.parameter_specs()]
        parameters = dict(model.named_parameters())
        self.multipliers = {name: rate_multiplier(name, options) for name in self.names}
        for name in self.names:
            parameters[name].requires_grad_(self.multipliers[name] != 0)
        model.to(runtime.device)
        self.model = model
        self.wrapped = wrap(model, options, runtime, fsdp)
        self.forward = torch.compile(self.wrapped) if compile_model else self.wrapped
        self.parameters = dict(model.named_parameters())   # after FSDP: sharded DTensors

        # AdamW: one group per (decay, rate multiplier); hat decays matrices only.
        groups = {}
        for name in self.names:
            if self.multipliers[name] == 0:
                continue
            decays = len(config_shape(config, name)) >= 2
            key = (decays, self.multipliers[name])
            groups.setdefault(key, []).append(self.parameters[name])
        adamw = options["adamw"]
        self.optimizer = torch.optim.AdamW(
            [{"params": ps, "weight_decay": adamw["weightDecay"] if decays else 0.0, "multiplier": multiplier}
             for (decays, multiplier), ps in groups.items()],
            lr=options["learning_rate"], betas=(adamw["beta1"], adamw["beta2"]), eps=adamw["epsilon"])
        self.layout, self.count = config.flat_layout()

        if checkpoint is None:
            self.state = {"step": 0, "epoch": 0, "cursor": 0, "bytes_seen": 0, "elapsed_seconds": 0.0,
                          "optimizer_step": 0,
                          "schedule": {"peak": options["learning_rate"], "warmupSteps": options["warmup_steps"],
                                       "totalSteps": options["steps"], "finalFraction": 0.1}}
            self.m = np.zeros(self.count, dtype=np.float32)
            self.v = np.zeros(self.count, dtype=np.float32)
        else:
            self.state = files.read_state(checkpoint)
            if total_steps is not None:
                if total_steps <= self.state["step"]:
                    raise ValueError(f"--steps {total_steps} must be more than the step already reached "
                                     f"({self.state['step']} in {checkpoint})")
                self.state["schedule"]["totalSteps"] = total_steps
            self.m, self.v = files.read_moments(checkpoint, self.count)
            self._load_moments()
        self.stop_requested = False

    # ------------------------------------------------------------------ optimizer state <-> hat's flat moments

    def _entries(self):
        for name, shape, offset in self.layout:
            yield name, shape, offset, int(np.prod(shape))

    def _load_moments(self):
        step = self.state["optimizer_step"]
        for name, shape, offset, count in self._entries():
            if self.multipliers[name] == 0:
                continue
            p = self.parameters[name]
            m = torch.from_numpy(self.m[offset:offset + count].copy()).view(shape)
            v = torch.from_numpy(self.v[offset:offset + count].copy()).view(shape)
            self.optimizer.state[p] = {"step": torch.tensor(float(step), dtype=torch.float32),
                                       "exp_avg": like_parameter(m, p), "exp_avg_sq": like_parameter(v, p)}

    def _gather(self):
        """Whole weights by name and the flat moments (a collective under FSDP: every rank calls it)."""
        tensors = {name: full_tensor(self.parameters[name]) for name in self.names}
        m, v = self.m.copy(), self.v.copy()
        for name, shape, offset, count in self._entries():
            state = self.optimizer.state.get(self.parameters[name])
            if state:
                m[offset:offset + count] = full_tensor(state["exp_avg"]).reshape(-1).numpy()
                v[offset:offset + count] = full_tensor(state["exp_avg_sq"]).reshape(-1).numpy()
        return tensors, m, v

    def save_checkpoint(self):
        tensors, m, v = self._gather()
        path = None
        if self.runtime.main:
            state = {k: v_ for k, v_ in self.state.items() if v_ is not None}
            path = files.write_checkpoint(self.run, self.config, self.options, state, tensors, m, v,
                                          self.options["keep_checkpoints"])
        if self.runtime.world > 1:
            dist.barrier()
        return path

    # ------------------------------------------------------------------ the loop

    def _micro_batch(self):
        rows, self.state["epoch"], self.state["cursor"] = self.data.next_rows(self.state["epoch"], self.state["cursor"])
        stream = self.data.train_stream
        predicted = sum(stream.row_bytes(r) - 1 for r in rows)
        total_bytes = sum(stream.row_bytes(r) for r in rows)
        start, end = self.runtime.share(len(rows))
        return batch_of(stream, rows[start:end]).to(self.runtime.device), predicted, total_bytes

    def _autocast(self):
        if self.dtype is None:
            return torch.autocast(self.runtime.device.type, enabled=False)
        return torch.autocast(self.runtime.device.type, dtype=self.dtype)

    def step(self):
        """One optimizer step; returns the step's metrics."""
        started = time.time()
        options, runtime = self.options, self.runtime
        accumulation = options["accumulation"]
        self.optimizer.zero_grad(set_to_none=True)
        loss_sum, count, seen = 0.0, 0, 0
        for micro in range(accumulation):
            batch, predicted, total_bytes = self._micro_batch()
            sync = micro == accumulation - 1
            context = self.wrapped.no_sync() if (not sync and hasattr(self.wrapped, "no_sync")) else _null()
            if hasattr(self.wrapped, "set_requires_gradient_sync"):
                self.wrapped.set_requires_gradient_sync(sync)
            with context:
                with self._autocast():
                    loss = self.forward(batch)
                (loss * (runtime.world / (max(predicted, 1) * accumulation))).backward()
            loss_sum += float(loss.detach())
            count += predicted
            seen += total_bytes
        loss_sum = runtime.sum([loss_sum])[0]
        loss = loss_sum / max(count, 1)

        trainable = [self.parameters[n] for n in self.names if self.multipliers[n] != 0]
        clip = options["clip_norm"]
        norm = torch.nn.utils.clip_grad_norm_(trainable, clip if clip > 0 else float("inf"))
        norm = float(full_tensor(norm)) if hasattr(norm, "full_tensor") else float(norm)
        if not math.isfinite(loss) or not math.isfinite(norm):
            last = files.newest_checkpoint(self.run)
            raise FloatingPointError(f"training stopped: non-finite loss ({loss if not math.isfinite(loss) else norm}) "
                                     f"at step {self.state['step']}; the last good checkpoint is {last or 'none'}")
        rate = learning_rate(self.state["schedule"], self.state["step"])
        for group in self.optimizer.param_groups:
            group["lr"] = rate * group["multiplier"]
        self.optimizer.step()
        self.state["optimizer_step"] += 1
        self.state["step"] += 1
        self.state["bytes_seen"] += seen
        seconds = time.time() - started
        self.state["elapsed_seconds"] += seconds
        return {"split": "train", "step": self.state["step"], "loss": loss, "bits_per_byte": loss / math.log(2),
                "learning_rate": rate, "gradient_norm": norm, "bytes_seen": self.state["bytes_seen"],
                "bytes_per_second": seen / max(seconds, 1e-9), "elapsed_seconds": self.state["elapsed_seconds"]}

    def validate(self):
        with torch.no_grad(), self._autocast():
            return evaluate_rows(self.wrapped, self.data.validation_stream, self.data.validation_rows,
                                 self.data.rows_per_batch, self.runtime)

    def append_metrics(self, fields):
        if self.runtime.main:
            with open(os.path.join(self.run, "metrics.jsonl"), "a", encoding="utf-8") as f:
                f.write(json.dumps(fields, sort_keys=True) + "\n")

    def truncate_metrics(self):
        """Drops log lines past the step we resume from (as hat does), so the log is one history."""
        path = os.path.join(self.run, "metrics.jsonl")
        if not self.runtime.main or not os.path.exists(path):
            return
        kept = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    if json.loads(line).get("step", 10 ** 18) <= self.state["step"]:
                        kept.append(line if line.endswith("\n") else line + "\n")
                except json.JSONDecodeError:
                    pass
        files.write_text_atomically(path, "".join(kept))

    def train(self, stop_at=None, log_every=10, say=print):
        options, runtime = self.options, self.runtime
        total = options["steps"]
        if runtime.main:
            say(f"training: {sum(int(np.prod(s)) for _, s in self.config.parameter_specs())} parameters, "
                f"{self.data.train_stream.byte_count} training bytes in {len(self.data.train_rows)} rows, "
                f"{len(self.data.validation_rows)} validation rows, {runtime.world} process(es) on {runtime.device.type}"
                + (f", resuming at step {self.state['step']}" if self.state["step"] else ""))
        while self.state["step"] < total:
            stop = self.stop_requested or (stop_at is not None and self.state["step"] >= stop_at)
            if runtime.sum([1.0 if stop else 0.0])[0] > 0:
                path = self.save_checkpoint()
                if runtime.main:
                    say(f"checkpoint at step {self.state['step']}: {path}")
                    say(f"stopped at step {self.state['step']}: " + ("stop requested" if self.stop_requested
                                                                     else f"--stop-at {stop_at}"))
                return self.state
            metrics = self.step()
            self.append_metrics(metrics)
            step = self.state["step"]
            if runtime.main and (step % log_every == 0 or step == total):
                say("step %d/%d  loss %.4f  bpb %.3f  lr %.2e  |g| %.2f  %.0f B/s" % (
                    step, total, metrics["loss"], metrics["bits_per_byte"], metrics["learning_rate"],
                    metrics["gradient_norm"], metrics["bytes_per_second"]))
            last = step == total
            if self.data.validation_rows and (step % options["validate_every"] == 0 or last):
                result = self.validate()
                self.state["last_validation_bits_per_byte"] = result["bits_per_byte"]
                self.append_metrics({"split": "validation", "step": step, "bits_per_byte": result["bits_per_byte"],
                                     "loss": result["loss_nats"] / max(result["predicted_bytes"], 1),
                                     "bytes_per_position": result["bytes_per_position"],
                                     "bytes_seen": self.state["bytes_seen"],
                                     "elapsed_seconds": self.state["elapsed_seconds"]})
                if runtime.main:
                    say("validation at step %d: %.4f bits per byte, %.2f bytes per position (%d bytes)" % (
                        step, result["bits_per_byte"], result["bytes_per_position"], result["predicted_bytes"]))
            if step % options["checkpoint_every"] == 0 or last:
                path = self.save_checkpoint()
                if runtime.main:
                    say(f"checkpoint at step {step}: {path}")
        return self.state


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def config_shape(config, name):
    for n, shape in config.parameter_specs():
        if n == name:
            return shape
    raise KeyError(name)


# ---------------------------------------------------------------------------- command line

def parse(argv):
    ap = argparse.ArgumentParser(prog="python -m hat_torch.train", description=__doc__.split("\n")[0])
    source = ap.add_mutually_exclusive_group(required=True)
    source.add_argument("--init-from", help="model directory to start from (config.json + model.safetensors)")
    source.add_argument("--config", help="config.json (or a preset name of Models/configs) for fresh weights "
                                          "(torch's N(0, 0.02²) draw: not the numbers hat's own init draws)")
    source.add_argument("--resume", help="continue the run in this directory (written by hat or hat_torch) "
                                         "from its newest checkpoint")
    ap.add_argument("--out", help="run directory of a new run")
    ap.add_argument("--data", nargs="+", default=[], help="training text: files or directories of *.txt")
    ap.add_argument("--steps", type=int, help="optimizer steps (with --resume: a new total, as hat train --steps)")
    ap.add_argument("--stop-at", type=int, help="stop after this step with a checkpoint (the schedule still ends at --steps)")
    for flag, kind, default, text in [
            ("--rows-per-batch", int, 8, "rows per micro-batch, over all processes"),
            ("--words-per-row", int, 256, "words per row"), ("--max-row-bytes", int, 2048, "most bytes per row"),
            ("--accumulation", int, 1, "micro-batches per optimizer step"),
            ("--learning-rate", float, 1e-3, "peak learning rate"),
            ("--backbone-learning-rate", float, None, "peak learning rate of the backbone"),
            ("--warmup-steps", int, 100, "warm-up steps"), ("--weight-decay", float, 0.1, "AdamW weight decay (matrices)"),
            ("--clip-norm", float, 1.0, "global gradient norm clip (0 = off)"),
            ("--validation-fraction", float, 0.05, "share of documents held out"),
            ("--validate-every", int, 100, "validate every N steps"),
            ("--validation-rows", int, None, "most validation rows per validation"),
            ("--checkpoint-every", int, 100, "checkpoint every N steps"), ("--keep-checkpoints", int, 3, "checkpoints kept"),
            ("--seed", int, 1, "seed of the data order (and of fresh weights)")]:
        ap.add_argument(flag, type=kind, default=default, help=text)
    ap.add_argument("--freeze", nargs="+", default=[], help="parts to freeze: " + ", ".join(files.PARTS))
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", choices=["f32", "bf16"], default="f32",
                    help="compute type (bf16: autocast; weights, moments and checkpoints stay f32)")
    ap.add_argument("--fsdp", action="store_true", help="shard weights, gradients and moments (FSDP2 fully_shard "
                                                       "per Llama block) instead of replicating them (DDP)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    ap.add_argument("--threads", type=int, help="CPU threads per process")
    ap.add_argument("--log-every", type=int, default=10)
    args = ap.parse_args(argv)
    if args.resume is None:
        if args.out is None or not args.data:
            ap.error("a new run needs --out and --data")
    elif args.out or args.data or args.freeze:
        ap.error("--resume continues a run with its saved options (only --steps, a new total, applies)")
    return args


def new_run_options(args):
    options = {
        "data": args.data, "validation_fraction": args.validation_fraction, "seed": args.seed,
        "rows_per_batch": args.rows_per_batch, "words_per_row": args.words_per_row, "max_row_bytes": args.max_row_bytes,
        "accumulation": args.accumulation, "steps": args.steps or 1000, "learning_rate": args.learning_rate,
        "backbone_learning_rate": args.backbone_learning_rate, "warmup_steps": args.warmup_steps,
        "adamw": {"beta1": 0.9, "beta2": 0.95, "epsilon": 1e-8, "weightDecay": args.weight_decay},
        "clip_norm": args.clip_norm, "freeze": args.freeze, "validate_every": args.validate_every,
        "validation_rows": args.validation_rows, "checkpoint_every": args.checkpoint_every,
        "keep_checkpoints": args.keep_checkpoints}
    return files.complete_options({k: v for k, v in options.items() if v is not None}, source="command line")


def preset_path(name):
    if os.path.exists(name):
        return name
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.join(root, "Models", "configs", name + ".json")


def fresh_tensors(config, seed):
    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for name, shape in config.parameter_specs():
        if name.endswith("norm.weight"):
            tensors[name] = torch.ones(shape)
        else:
            tensors[name] = torch.randn(shape, generator=generator) * 0.02
    return tensors


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    runtime = Distributed(args.device)
    total_steps = None
    if args.resume:
        run = args.resume
        options = files.read_options(run)
        checkpoint = files.newest_checkpoint(run)
        if checkpoint is None:
            raise SystemExit(f"cannot resume: no checkpoint in {run}/checkpoints")
        config = HATConfig.load(os.path.join(checkpoint, "config.json"))
        tensors = files.read_weights(config, os.path.join(checkpoint, "model.safetensors"))
        if args.steps is not None and args.steps != options["steps"]:
            total_steps = args.steps
            options["steps"] = args.steps
    else:
        run, checkpoint = args.out, None
        if files.newest_checkpoint(run):
            raise SystemExit(f"{run} already holds checkpoints: use --resume {run} or another --out")
        options = new_run_options(args)
        if args.init_from:
            config = HATConfig.load(os.path.join(args.init_from, "config.json"))
            tensors = files.read_weights(config, os.path.join(args.init_from, "model.safetensors"))
        else:
            config = HATConfig.load(preset_path(args.config))
            tensors = fresh_tensors(config, args.seed)
        if config.max_word_size > options["max_row_bytes"]:
            raise SystemExit(f"max row bytes ({options['max_row_bytes']}) must be ≥ the model's max_word_size "
                             f"({config.max_word_size})")
        if runtime.main:
            files.write_options(run, options)
            metrics = os.path.join(run, "metrics.jsonl")
            if os.path.exists(metrics):
                os.remove(metrics)
        if runtime.world > 1:
            dist.barrier()
    trainer = Trainer(run, options, config, tensors, checkpoint, runtime, fsdp=args.fsdp, dtype=args.dtype,
                      compile_model=args.compile, total_steps=total_steps)
    if checkpoint is not None:
        trainer.truncate_metrics()
        if total_steps is not None and runtime.main:
            files.write_options(run, options)
            with open(os.path.join(run, "NOTES.txt"), "a", encoding="utf-8") as f:
                f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} resumed at step {trainer.state['step']} "
                        f"(hat_torch) with the total steps changed to {total_steps}; the cosine schedule continues "
                        f"from step {trainer.state['step']} toward the new end\n")

    def request_stop(*_):
        trainer.stop_requested = True
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        trainer.train(stop_at=args.stop_at, log_every=args.log_every)
    finally:
        runtime.close()


if __name__ == "__main__":
    main()
