"""The HAT model of ARCHITECTURE.md §1 as a torch.nn.Module whose state_dict keys are hat's
checkpoint names (encoder.layers.0.self_attn.q_proj.weight, …), so a hat model directory loads
with load_state_dict and saves back unchanged. It computes what Sources/HATModel/
HierarchicalModel.swift computes (and scripts/hat_reference.py, the float64 oracle), batched:

  ids [B, T] ─► encoder (Llama blocks, causal sliding window, RoPE at byte positions) ─► e [B, T, Dl]
  e ─► pooling: the latent query (RoPE at the word's position) attends to the word's bytes
       (keys gathered into [B, W, S]) ─► words [B, W, Db]
  ─► backbone (Llama blocks over words, causal, RoPE at word positions) ─► h [B, W, Db]
  shift right one word (position 0 gets first_word_embedding) ─► p [B, W, Db]
  e ─► decoder: layer 0 (or every layer) adds each byte's cross-attention to its own word's p
       (one key: the softmax is 1, q/k still run as in hat) then a Llama block ─► RMSNorm ─► lm_head

One batch row is one hat row (whole words, positions from 0), padded at the end: B rows,
T bytes (longest row), W words (most words of a row), S bytes of the longest word. Padding
comes after every real byte and word of its row, so causal attention never reads it; the
pooling reads only a word's own bytes; padded bytes have no target. Attention runs in
torch.nn.functional.scaled_dot_product_attention (GQA without copying keys).
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import HATConfig


# ---------------------------------------------------------------------------- pieces

def rope_tables(count, head_dim, theta, dtype, device):
    """cos, sin [count, D] for positions 0..<count; angles in float64 as hat's RotaryEmbedding."""
    inverse = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64, device=device) / head_dim))
    angles = torch.arange(count, dtype=torch.float64, device=device)[:, None] * inverse[None, :]
    angles = torch.cat((angles, angles), dim=-1)
    return angles.cos().to(dtype), angles.sin().to(dtype)


def apply_rope(x, cos, sin):
    """x [..., P, heads, D] rotated by the tables of its P positions (rotate-half layout)."""
    half = x.shape[-1] // 2
    cos, sin = cos[:, None, :], sin[:, None, :]
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


def causal_mask(count, window, device):
    """bool [count, count]: query i sees key j when j ≤ i and i − j < window; None when plain causal does it."""
    if window is None or window >= count:
        return None
    i = torch.arange(count, device=device)[:, None]
    j = torch.arange(count, device=device)[None, :]
    return (j <= i) & (i - j < window)


class RMSNorm(nn.Module):
    def __init__(self, width, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))
        self.eps = eps

    def forward(self, x):
        return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)


def linear(rows, cols):
    return nn.Linear(cols, rows, bias=False)


class SelfAttention(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = s.num_attention_heads, s.num_key_value_heads, s.head_dim
        q, kv = self.heads * self.head_dim, self.kv_heads * self.head_dim
        self.q_proj, self.k_proj = linear(q, s.hidden_size), linear(kv, s.hidden_size)
        self.v_proj, self.o_proj = linear(kv, s.hidden_size), linear(s.hidden_size, q)

    def forward(self, x, cos, sin, mask):
        """x [B, T, C]; mask [T, T] bool or None (causal)."""
        b, t, _ = x.shape
        q = apply_rope(self.q_proj(x).view(b, t, self.heads, self.head_dim), cos, sin).transpose(1, 2)
        k = apply_rope(self.k_proj(x).view(b, t, self.kv_heads, self.head_dim), cos, sin).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        gqa = self.heads != self.kv_heads
        if mask is None:
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)
        else:
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=gqa)
        return self.o_proj(a.transpose(1, 2).reshape(b, t, self.heads * self.head_dim))


class MLP(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.gate_proj = linear(s.intermediate_size, s.hidden_size)
        self.up_proj = linear(s.intermediate_size, s.hidden_size)
        self.down_proj = linear(s.hidden_size, s.intermediate_size)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaBlock(nn.Module):
    """Pre-norm Llama block; the unit FSDP wraps."""

    def __init__(self, s):
        super().__init__()
        self.input_layernorm = RMSNorm(s.hidden_size, s.rms_norm_eps)
        self.self_attn = SelfAttention(s)
        self.post_attention_layernorm = RMSNorm(s.hidden_size, s.rms_norm_eps)
        self.mlp = MLP(s)

    def forward(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class CrossAttention(nn.Module):
    """q/k/v/o of an attention between two streams (A = heads × head size)."""

    def __init__(self, s, query_width, key_value_width):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = s.cross_heads, s.cross_kv_heads, s.cross_head_dim
        a, kv = s.cross_hidden, s.cross_kv_heads * s.cross_head_dim
        self.q_proj, self.k_proj = linear(a, query_width), linear(kv, key_value_width)
        self.v_proj, self.o_proj = linear(kv, key_value_width), linear(query_width, a)


class Backbone(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.layers = nn.ModuleList(LlamaBlock(s) for _ in range(s.num_hidden_layers))


class Encoder(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.embedding_layer = nn.Embedding(256, s.hidden_size)
        self.layers = nn.ModuleList(LlamaBlock(s) for _ in range(s.num_hidden_layers))


class EncoderConnector(nn.Module):
    def __init__(self, enc, backbone_width):
        super().__init__()
        self.latent_query = nn.Parameter(torch.zeros(backbone_width))
        self.cross_attention_encoder_connector = CrossAttention(enc, backbone_width, enc.hidden_size)


class DecoderConnector(nn.Module):
    def __init__(self, backbone_width):
        super().__init__()
        self.first_word_embedding = nn.Parameter(torch.zeros(backbone_width))


class DecoderLayer(nn.Module):
    def __init__(self, dec, backbone_width, has_cross_attention):
        super().__init__()
        if has_cross_attention:
            self.query_norm = RMSNorm(dec.hidden_size, dec.rms_norm_eps)
            self.kv_norm = RMSNorm(backbone_width, dec.rms_norm_eps)
            self.cross_attention = CrossAttention(dec, dec.hidden_size, backbone_width)
        self.has_cross_attention = has_cross_attention
        self.llama_layer = LlamaBlock(dec)


class Decoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        db = config.backbone.hidden_size
        self.decoder_layers = nn.ModuleList(DecoderLayer(config.decoder, db, config.has_cross_attention(i))
                                            for i in range(config.decoder.num_hidden_layers))


# ---------------------------------------------------------------------------- the model

class HATModel(nn.Module):
    """forward(batch) → summed next-byte cross-entropy in nats (at least float32) over the bytes with a
    target; `logits(batch)` → [B, T, 256]. `batch` is a data.PaddedBatch (or anything with its
    tensors on the model's device)."""

    def __init__(self, config):
        super().__init__()
        self.config = config if isinstance(config, HATConfig) else HATConfig(config)
        c = self.config
        enc, bb, dec = c.encoder, c.backbone, c.decoder
        self.encoder = Encoder(enc)
        self.encoder_connector = EncoderConnector(enc, bb.hidden_size)
        self.backbone = Backbone(bb)
        self.decoder_connector = DecoderConnector(bb.hidden_size)
        self.decoder = Decoder(c)
        self.layer_norm = RMSNorm(dec.hidden_size, dec.rms_norm_eps)
        self.lm_head = linear(256, dec.hidden_size)

    def blocks(self):
        """Every Llama block (the units that FSDP shards)."""
        return (list(self.encoder.layers) + list(self.backbone.layers)
                + [layer.llama_layer for layer in self.decoder.decoder_layers])

    def forward(self, batch, return_logits=False):
        logits = self.logits(batch)
        wide = logits if logits.dtype in (torch.float32, torch.float64) else logits.float()
        loss = F.cross_entropy(wide.reshape(-1, 256), batch.targets.reshape(-1), ignore_index=-100,
                               reduction="sum")
        return (loss, logits) if return_logits else loss

    def logits(self, batch):
        c = self.config
        enc, bb, dec = c.encoder, c.backbone, c.decoder
        ids = batch.ids                                     # [B, T]
        b, t = ids.shape
        w = batch.word_count_max
        device = ids.device
        x = self.encoder.embedding_layer(ids)               # [B, T, Dl]
        rope_dtype = x.dtype

        # Encoder
        cos, sin = rope_tables(t, enc.head_dim, enc.rope_theta, rope_dtype, device)
        mask = causal_mask(t, enc.sliding_window, device)
        for block in self.encoder.layers:
            x = block(x, cos, sin, mask)
        e = x

        # Pooling: each word's query over its own bytes, keys gathered into [B, W, S].
        pool = self.encoder_connector.cross_attention_encoder_connector
        h_, g_, d_ = pool.heads, pool.kv_heads, pool.head_dim
        byte_cos, byte_sin = rope_tables(t, d_, enc.rope_theta, rope_dtype, device)
        word_cos, word_sin = rope_tables(w, d_, enc.rope_theta, rope_dtype, device)
        query = pool.q_proj(self.encoder_connector.latent_query).view(1, 1, h_, d_).expand(b, w, h_, d_)
        query = apply_rope(query, word_cos, word_sin)                                   # [B, W, H, D]
        keys = apply_rope(pool.k_proj(e).view(b, t, g_, d_), byte_cos, byte_sin)         # [B, T, G, D]
        values = pool.v_proj(e).view(b, t, g_, d_)
        s = batch.word_bytes.shape[-1]
        index = batch.word_bytes.reshape(b, w * s, 1, 1).expand(b, w * s, g_, d_)
        keys = keys.gather(1, index).view(b * w, s, g_, d_).transpose(1, 2)              # [B·W, G, S, D]
        values = values.gather(1, index).view(b * w, s, g_, d_).transpose(1, 2)
        query = query.reshape(b * w, 1, h_, d_).transpose(1, 2)                          # [B·W, H, 1, D]
        allowed = batch.word_bytes_mask.reshape(b * w, 1, 1, s)
        pooled = F.scaled_dot_product_attention(query, keys.to(query.dtype), values.to(query.dtype),
                                                attn_mask=allowed, enable_gqa=h_ != g_)
        words = pool.o_proj(pooled.reshape(b, w, h_ * d_))                               # [B, W, Db]

        # Backbone
        cos, sin = rope_tables(w, bb.head_dim, bb.rope_theta, rope_dtype, device)
        mask = causal_mask(w, bb.sliding_window, device)
        h = words
        for block in self.backbone.layers:
            h = block(h, cos, sin, mask)

        # Shift right by one word: word 0 of each row gets the learned vector.
        first = self.decoder_connector.first_word_embedding.view(1, 1, -1).expand(b, 1, -1).to(h.dtype)
        predictive = torch.cat((first, h[:, :-1]), dim=1)                                # [B, W, Db]

        # Decoder
        x = e
        cos, sin = rope_tables(t, dec.head_dim, dec.rope_theta, rope_dtype, device)
        mask = causal_mask(t, dec.sliding_window, device)
        for layer in self.decoder.decoder_layers:
            if layer.has_cross_attention:
                x = x + self._byte_to_word(layer, x, predictive, batch.word_of_byte, t, w, rope_dtype)
            x = layer.llama_layer(x, cos, sin, mask)
        return self.lm_head(self.layer_norm(x))

    def _byte_to_word(self, layer, x, predictive, word_of_byte, t, w, rope_dtype):
        """Each byte's attention to its own word's predictive vector: a single key, so the softmax
        is exactly 1 (and passes no gradient to q/k), as in hat and the reference."""
        dec = self.config.decoder
        cross = layer.cross_attention
        h_, g_, d_ = cross.heads, cross.kv_heads, cross.head_dim
        b = x.shape[0]
        device = x.device
        byte_cos, byte_sin = rope_tables(t, d_, dec.rope_theta, rope_dtype, device)
        word_cos, word_sin = rope_tables(w, d_, dec.rope_theta, rope_dtype, device)
        q = apply_rope(cross.q_proj(layer.query_norm(x)).view(b, t, h_, d_), byte_cos, byte_sin)   # [B, T, H, D]
        kv_in = layer.kv_norm(predictive)
        k = apply_rope(cross.k_proj(kv_in).view(b, w, g_, d_), word_cos, word_sin)                # [B, W, G, D]
        v = cross.v_proj(kv_in).view(b, w, g_, d_)
        index = word_of_byte.reshape(b, t, 1, 1).expand(b, t, g_, d_)
        k = k.gather(1, index).repeat_interleave(h_ // g_, dim=2)                                # [B, T, H, D]
        v = v.gather(1, index).repeat_interleave(h_ // g_, dim=2)
        score = (q * k.to(q.dtype)).sum(-1, keepdim=True) / math.sqrt(d_)                        # [B, T, H, 1]
        a = torch.softmax(score, dim=-1) * v.to(q.dtype)
        return cross.o_proj(a.reshape(b, t, h_ * d_))

