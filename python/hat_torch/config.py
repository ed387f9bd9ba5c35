"""hat's config.json in Python (Sources/HATModel/Config.swift): the same keys, defaults and
checks, errors that name the dotted field; and the parameter layout of a config — every
tensor's checkpoint name and shape in `HierarchicalModel.parameterSpecs` order, and the flat
offsets of `ParameterSet` (each entry starts at a multiple of 16 floats), which the optimizer
moments in optimizer.safetensors follow.

The config is kept as the dict that was read, so writing it back changes nothing but the
provenance fields a trainer updates.
"""

import json
import os
from dataclasses import dataclass

ALIGN_FLOATS = 16   # Arena.alignmentBytes (64) / 4

_CROSS_KEYS = {"hidden_size", "num_attention_heads", "num_key_value_heads"}
_STACK_KEYS = {"hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
               "intermediate_size", "rms_norm_eps", "rope_theta", "sliding_window", "vocab_size",
               "cross_attention_config", "cross_attn_every_layer"}
_TOP_KEYS = {"model_type", "encoder_config", "backbone_config", "decoder_config", "max_word_size", "splitter",
             "eos_token_id", "provenance"}
_PROVENANCE_KEYS = {"grafted_from", "training_data", "training_steps", "training_bytes", "created_by", "notes"}


class ConfigError(ValueError):
    """A config problem, always naming the dotted field (and the file when known)."""

    def __init__(self, field, message, source=None):
        self.field = field
        where = f" in {source}" if source else ""
        super().__init__(f"config field {field}: {message}{where}")


@dataclass(frozen=True)
class Stack:
    """One stack of Llama blocks (encoder, backbone or decoder), with defaults filled in."""
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    intermediate_size: int
    rms_norm_eps: float
    rope_theta: float
    sliding_window: object      # int or None
    cross_heads: int = 0        # cross-attention (encoder: pooling; decoder: bytes → words); 0 when absent
    cross_kv_heads: int = 0
    cross_hidden: int = 0
    cross_every_layer: bool = False

    @property
    def cross_head_dim(self):
        return self.cross_hidden // self.cross_heads


def _check_keys(obj, known, path, source):
    if not isinstance(obj, dict):
        raise ConfigError(path or "(top level)", "must be a JSON object", source)
    for key in sorted(obj):
        if key not in known:
            field = f"{path}.{key}" if path else key
            raise ConfigError(field, f"unknown field (known: {', '.join(sorted(known))})", source)


def _int(obj, key, path, source, default=None):
    if key not in obj:
        if default is None:
            raise ConfigError(f"{path}.{key}", "is missing", source)
        return default
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{path}.{key}", f"expected an integer, found {value!r}", source)
    return value


def _stack(obj, path, source):
    _check_keys(obj, _STACK_KEYS, path, source)
    heads = _int(obj, "num_attention_heads", path, source)
    hidden = _int(obj, "hidden_size", path, source)
    if heads <= 0:
        raise ConfigError(f"{path}.num_attention_heads", f"must be positive, found {heads}", source)
    kv = _int(obj, "num_key_value_heads", path, source, heads)
    head_dim = _int(obj, "head_dim", path, source, hidden // heads)
    window = obj.get("sliding_window")
    cross = obj.get("cross_attention_config")
    fields = dict(hidden_size=hidden, num_hidden_layers=_int(obj, "num_hidden_layers", path, source),
                  num_attention_heads=heads, num_key_value_heads=kv, head_dim=head_dim,
                  intermediate_size=_int(obj, "intermediate_size", path, source),
                  rms_norm_eps=float(obj.get("rms_norm_eps", 1e-5)), rope_theta=float(obj.get("rope_theta", 10000.0)),
                  sliding_window=window, cross_every_layer=bool(obj.get("cross_attn_every_layer", False)))
    if cross is not None:
        cpath = path + ".cross_attention_config"
        _check_keys(cross, _CROSS_KEYS, cpath, source)
        ch = _int(cross, "num_attention_heads", cpath, source)
        fields.update(cross_hidden=_int(cross, "hidden_size", cpath, source), cross_heads=ch,
                      cross_kv_heads=_int(cross, "num_key_value_heads", cpath, source, ch))
    stack = Stack(**fields)
    if kv <= 0 or heads % kv:
        raise ConfigError(f"{path}.num_key_value_heads", f"must divide num_attention_heads {heads}, found {kv}", source)
    if head_dim <= 0 or head_dim % 2:
        raise ConfigError(f"{path}.head_dim", f"must be positive and even (rotary pairs), found {head_dim}", source)
    if window is not None and (not isinstance(window, int) or window < 1):
        raise ConfigError(f"{path}.sliding_window", f"must be ≥ 1 or absent, found {window!r}", source)
    if cross is not None:
        if stack.cross_hidden % stack.cross_heads:
            raise ConfigError(f"{path}.cross_attention_config.hidden_size",
                              f"{stack.cross_hidden} is not divisible by num_attention_heads {stack.cross_heads}", source)
        if stack.cross_kv_heads <= 0 or stack.cross_heads % stack.cross_kv_heads:
            raise ConfigError(f"{path}.cross_attention_config.num_key_value_heads",
                              f"must divide num_attention_heads {stack.cross_heads}", source)
    return stack


class HATConfig:
    """A validated config.json: `raw` is the dict as read; encoder/backbone/decoder are Stacks."""

    def __init__(self, raw, source=None):
        self.raw = raw
        self.source = source
        _check_keys(raw, _TOP_KEYS, "", source)
        if raw.get("model_type", "hat") != "hat":
            raise ConfigError("model_type", f'must be "hat", found {raw.get("model_type")!r}', source)
        for key in ("encoder_config", "backbone_config", "decoder_config"):
            if key not in raw:
                raise ConfigError(key, "is missing", source)
        if "provenance" in raw:
            _check_keys(raw["provenance"], _PROVENANCE_KEYS, "provenance", source)
        if "splitter" in raw:
            _check_keys(raw["splitter"], {"name"}, "splitter", source)
        self.encoder = _stack(raw["encoder_config"], "encoder_config", source)
        self.backbone = _stack(raw["backbone_config"], "backbone_config", source)
        self.decoder = _stack(raw["decoder_config"], "decoder_config", source)
        for path, stack in (("encoder_config", self.encoder), ("decoder_config", self.decoder)):
            if stack.cross_heads == 0:
                raise ConfigError(path + ".cross_attention_config", "is required", source)
            vocab = raw[path].get("vocab_size", 256)
            if vocab != 256:
                raise ConfigError(path + ".vocab_size", f"must be 256 (bytes), found {vocab}", source)
        if self.backbone.cross_heads:
            raise ConfigError("backbone_config.cross_attention_config", "the backbone is plain Llama blocks", source)
        if self.encoder.num_hidden_layers < 1:
            raise ConfigError("encoder_config.num_hidden_layers", "needs at least 1 layer", source)
        if self.decoder.num_hidden_layers < 1:
            raise ConfigError("decoder_config.num_hidden_layers", "needs at least 1 layer", source)
        if self.decoder.hidden_size != self.encoder.hidden_size:
            raise ConfigError("decoder_config.hidden_size",
                              f"must equal encoder_config.hidden_size {self.encoder.hidden_size}", source)
        self.max_word_size = _int(raw, "max_word_size", "", source, 100) if "max_word_size" in raw else 100
        self.eos_token_id = raw.get("eos_token_id", 192)
        if not (self.eos_token_id in (0xC0, 0xC1) or 0xF5 <= self.eos_token_id <= 0xFF):
            raise ConfigError("eos_token_id", f"must be a byte that never occurs in UTF-8, found {self.eos_token_id}", source)
        self.splitter_name = raw.get("splitter", {}).get("name", "hat")
        if self.splitter_name != "hat":
            raise ConfigError("splitter.name", f'hat_torch splits with hat-splitter ("hat") only, found {self.splitter_name!r}',
                              source)

    @staticmethod
    def load(path):
        try:
            with open(path, encoding="utf-8") as f:
                raw = json.load(f)
        except OSError as error:
            raise ConfigError("(file)", f"cannot read {path}: {error}") from None
        except json.JSONDecodeError as error:
            raise ConfigError("(file)", f"not JSON ({error})", path) from None
        return HATConfig(raw, source=path)

    def has_cross_attention(self, decoder_layer):
        return decoder_layer == 0 or self.decoder.cross_every_layer

    def parameter_specs(self):
        """[(name, shape)] in hat's order (HierarchicalModel.parameterSpecs)."""
        enc, bb, dec = self.encoder, self.backbone, self.decoder
        dl, db = enc.hidden_size, bb.hidden_size

        def block(prefix, s):
            q, kv = s.num_attention_heads * s.head_dim, s.num_key_value_heads * s.head_dim
            w, f = s.hidden_size, s.intermediate_size
            return [(f"{prefix}.input_layernorm.weight", [w]), (f"{prefix}.self_attn.q_proj.weight", [q, w]),
                    (f"{prefix}.self_attn.k_proj.weight", [kv, w]), (f"{prefix}.self_attn.v_proj.weight", [kv, w]),
                    (f"{prefix}.self_attn.o_proj.weight", [w, q]), (f"{prefix}.post_attention_layernorm.weight", [w]),
                    (f"{prefix}.mlp.gate_proj.weight", [f, w]), (f"{prefix}.mlp.up_proj.weight", [f, w]),
                    (f"{prefix}.mlp.down_proj.weight", [w, f])]

        def cross(prefix, width_q, width_kv, s):
            a, kv = s.cross_hidden, s.cross_kv_heads * s.cross_head_dim
            return [(f"{prefix}.q_proj.weight", [a, width_q]), (f"{prefix}.k_proj.weight", [kv, width_kv]),
                    (f"{prefix}.v_proj.weight", [kv, width_kv]), (f"{prefix}.o_proj.weight", [width_q, a])]

        specs = [("encoder.embedding_layer.weight", [256, dl])]
        for i in range(enc.num_hidden_layers):
            specs += block(f"encoder.layers.{i}", enc)
        specs.append(("encoder_connector.latent_query", [db]))
        specs += cross("encoder_connector.cross_attention_encoder_connector", db, dl, enc)
        for i in range(bb.num_hidden_layers):
            specs += block(f"backbone.layers.{i}", bb)
        specs.append(("decoder_connector.first_word_embedding", [db]))
        for i in range(dec.num_hidden_layers):
            prefix = f"decoder.decoder_layers.{i}"
            if self.has_cross_attention(i):
                specs += [(f"{prefix}.query_norm.weight", [dl]), (f"{prefix}.kv_norm.weight", [db])]
                specs += cross(f"{prefix}.cross_attention", dl, db, dec)
            specs += block(f"{prefix}.llama_layer", dec)
        specs += [("layer_norm.weight", [dl]), ("lm_head.weight", [256, dl])]
        return specs

    def flat_layout(self):
        """[(name, shape, offset)] and the total float count of hat's ParameterSet for this config."""
        layout, offset = [], 0
        for name, shape in self.parameter_specs():
            count = 1
            for n in shape:
                count *= n
            layout.append((name, shape, offset))
            offset += (count + ALIGN_FLOATS - 1) // ALIGN_FLOATS * ALIGN_FLOATS
        return layout, offset

    def to_json(self):
        """Pretty JSON with sorted keys, as hat writes config.json."""
        return json.dumps(self.raw, indent=2, sort_keys=True, ensure_ascii=False, separators=(",", " : ")) + "\n"

    def save(self, directory):
        path = os.path.join(directory, "config.json")
        temporary = path + ".tmp"
        with open(temporary, "w", encoding="utf-8") as f:
            f.write(self.to_json())
        os.replace(temporary, path)
