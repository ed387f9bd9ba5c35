"""hat's files, read and written by PyTorch (Sources/HATModel/{ModelFiles,Trainer}.swift):

  MODEL/config.json, MODEL/model.safetensors      a model directory (f32 or bf16 tensors by name)
  RUN/options.json                                the run's options (hat's keys)
  RUN/metrics.jsonl                               one JSON object per step / validation
  RUN/checkpoints/step-NNNNNNNN/                  config.json, model.safetensors (f32),
      optimizer.safetensors (adamw.m, adamw.v: flat [count] in ParameterSet layout, metadata step),
      state.json (step, epoch, cursor, bytes_seen, elapsed_seconds, optimizer_step, schedule, …)

Loading checks the tensors against the config as hat does: every name present with its shape,
nothing extra, all finite; errors name the file and the tensors.
"""

import json
import os
import shutil

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .config import HATConfig
from .model import HATModel


class ModelFileError(ValueError):
    def __init__(self, path, message):
        super().__init__(f"{path}: {message}")


def _summary(names):
    return ", ".join(names) if len(names) <= 12 else ", ".join(names[:12]) + ", …"


def read_weights(config, path):
    """{name: float32 tensor} of a model.safetensors, checked against the config."""
    if not os.path.exists(path):
        raise ModelFileError(path, "file not found")
    expected = dict((name, shape) for name, shape in config.parameter_specs())
    tensors = {}
    with safe_open(path, framework="pt") as f:
        present = set(f.keys())
        missing = sorted(set(expected) - present)
        extra = sorted(present - set(expected))
        if missing or extra:
            lines = ["the tensors do not match the config"]
            if missing:
                lines.append(f"missing ({len(missing)}): {_summary(missing)}")
            if extra:
                lines.append(f"extra ({len(extra)}): {_summary(extra)}")
            raise ModelFileError(path, "\n  ".join(lines))
        for name, shape in expected.items():
            tensor = f.get_tensor(name)
            if list(tensor.shape) != shape:
                raise ModelFileError(path, f"tensor {name} has shape {list(tensor.shape)}, the config needs {shape}")
            tensor = tensor.float()
            if not torch.isfinite(tensor).all():
                raise ModelFileError(path, f"tensor {name} holds a non-finite value")
            tensors[name] = tensor
    return tensors


def load_model(directory):
    """(config, HATModel on the CPU in float32) of a hat model or checkpoint directory."""
    config_path = os.path.join(directory, "config.json")
    if not os.path.exists(config_path):
        raise ModelFileError(directory, "no config.json here: not a model directory")
    config = HATConfig.load(config_path)
    model = HATModel(config)
    model.load_state_dict(read_weights(config, os.path.join(directory, "model.safetensors")), strict=True)
    return config, model


def write_weights(tensors, config, path, dtype=torch.float32, producer="hat_torch"):
    """model.safetensors with hat's names in hat's order, written to a temporary name then renamed."""
    ordered = {}
    for name, shape in config.parameter_specs():
        if name not in tensors:
            raise ModelFileError(path, f"no tensor {name} to write")
        ordered[name] = tensors[name].detach().to("cpu", dtype).contiguous().reshape(shape)
    temporary = path + ".tmp"
    save_file(ordered, temporary, metadata={"format": "pt", "producer": producer})
    os.replace(temporary, path)


def save_model(config, tensors, directory, dtype=torch.float32):
    """A model directory (config.json + model.safetensors) that `hat` loads."""
    os.makedirs(directory, exist_ok=True)
    write_weights(tensors, config, os.path.join(directory, "model.safetensors"), dtype)
    config.save(directory)


# ---------------------------------------------------------------------------- runs

def hat_json(obj):
    """JSON as hat writes its files (sorted keys, two-space indent, " : ")."""
    return json.dumps(obj, indent=2, sort_keys=True, separators=(",", " : "))


def write_text_atomically(path, text):
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(temporary, path)


OPTION_DEFAULTS = {
    "validation_fraction": 0.05, "seed": 1, "rows_per_batch": 8, "words_per_row": 256, "max_row_bytes": 2048,
    "accumulation": 1, "steps": 1000, "learning_rate": 1e-3, "warmup_steps": 100,
    "adamw": {"beta1": 0.9, "beta2": 0.95, "epsilon": 1e-8, "weightDecay": 0.1}, "clip_norm": 1.0, "freeze": [],
    "validate_every": 100, "checkpoint_every": 100, "keep_checkpoints": 3,
}
PARTS = ("encoder", "pooling", "backbone", "decoder", "head")


def complete_options(options, source="options"):
    """options.json with hat's defaults filled in and checked (TrainingOptions.validate)."""
    known = set(OPTION_DEFAULTS) | {"data", "backbone_learning_rate", "validation_rows", "teacher", "distillation"}
    for key in options:
        if key not in known:
            raise ValueError(f"{source}: unknown option {key!r} (known: {', '.join(sorted(known))})")
    if options.get("teacher") or options.get("distillation"):
        raise ValueError(f"{source}: teacher/distillation (stage 1 of grafting) is trained by hat only; "
                         "hat_torch trains the plain next-byte loss")
    full = json.loads(json.dumps(OPTION_DEFAULTS))
    full.update(options)
    full["adamw"] = {**OPTION_DEFAULTS["adamw"], **options.get("adamw", {})}
    checks = [(bool(full.get("data")), "data: no training data given"),
              (full["rows_per_batch"] >= 1, "rows_per_batch must be ≥ 1"),
              (full["words_per_row"] >= 2, "words_per_row must be ≥ 2"),
              (full["accumulation"] >= 1, "accumulation must be ≥ 1"),
              (full["steps"] >= 1, "steps must be ≥ 1"),
              (full["learning_rate"] > 0, "learning_rate must be positive"),
              ((full.get("backbone_learning_rate") or 0) >= 0, "backbone_learning_rate must be ≥ 0"),
              (full["warmup_steps"] >= 0, "warmup_steps must be ≥ 0"),
              (0 <= full["validation_fraction"] < 1, "validation_fraction must be in [0, 1)"),
              (full["validate_every"] >= 1 and full["checkpoint_every"] >= 1, "validate/checkpoint intervals must be ≥ 1"),
              (full["keep_checkpoints"] >= 1, "keep_checkpoints must be ≥ 1")]
    for ok, message in checks:
        if not ok:
            raise ValueError(f"{source}: {message}")
    for part in full["freeze"]:
        if part not in PARTS:
            raise ValueError(f"{source}: freeze: cannot freeze {part!r}: parts are {', '.join(PARTS)}")
    return full


def write_options(run, options):
    os.makedirs(run, exist_ok=True)
    saved = {k: v for k, v in options.items() if v is not None}
    write_text_atomically(os.path.join(run, "options.json"), hat_json(saved))


def read_options(run):
    path = os.path.join(run, "options.json")
    if not os.path.exists(path):
        raise ValueError(f"cannot resume: {path} not found: is {run} a training run?")
    with open(path, encoding="utf-8") as f:
        return complete_options(json.load(f), source=path)


def newest_checkpoint(run):
    directory = os.path.join(run, "checkpoints")
    if not os.path.isdir(directory):
        return None
    names = sorted(n for n in os.listdir(directory) if n.startswith("step-"))
    return os.path.join(directory, names[-1]) if names else None


def read_moments(checkpoint, count):
    """(m, v) flat float32 numpy arrays [count] of a checkpoint's optimizer.safetensors."""
    path = os.path.join(checkpoint, "optimizer.safetensors")
    with safe_open(path, framework="np") as f:
        moments = []
        for name in ("adamw.m", "adamw.v"):
            if name not in f.keys():
                raise ModelFileError(path, f"no tensor {name}")
            value = f.get_tensor(name).astype(np.float32)
            if value.shape != (count,):
                raise ModelFileError(path, f"tensor {name} has shape {list(value.shape)}, the config's layout needs [{count}]")
            moments.append(value)
    return moments


def read_state(checkpoint):
    with open(os.path.join(checkpoint, "state.json"), encoding="utf-8") as f:
        return json.load(f)


def write_checkpoint(run, config, options, state, tensors, m, v, keep):
    """RUN/checkpoints/step-NNNNNNNN in hat's format (via a temporary directory and a rename);
    keeps the newest `keep`. `tensors` by name (float32), m and v flat numpy [count]."""
    directory = os.path.join(run, "checkpoints")
    os.makedirs(directory, exist_ok=True)
    name = "step-%08d" % state["step"]
    final = os.path.join(directory, name)
    temporary = os.path.join(directory, ".tmp-" + name)
    shutil.rmtree(temporary, ignore_errors=True)
    os.makedirs(temporary)
    saved = HATConfig(json.loads(json.dumps(config.raw)), config.source)
    provenance = saved.raw.setdefault("provenance", {})
    provenance["training_steps"] = state["step"]
    provenance["training_bytes"] = state["bytes_seen"]
    provenance.setdefault("training_data", ", ".join(options["data"]))
    save_model(saved, tensors, temporary)
    save_file({"adamw.m": torch.from_numpy(m), "adamw.v": torch.from_numpy(v)},
              os.path.join(temporary, "optimizer.safetensors"), metadata={"step": str(state["optimizer_step"])})
    write_text_atomically(os.path.join(temporary, "state.json"), hat_json(state))
    if os.path.exists(final):
        shutil.rmtree(final)
    os.replace(temporary, final)
    for old in sorted(n for n in os.listdir(directory) if n.startswith("step-"))[:-keep]:
        shutil.rmtree(os.path.join(directory, old), ignore_errors=True)
    return final
