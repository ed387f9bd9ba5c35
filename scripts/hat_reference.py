"""An independent PyTorch implementation of the HAT model of ARCHITECTURE.md §1 and §3,
written from the contract (not from the Swift code), used to make parity fixtures and to
time a reference training step. It reads our config.json and model.safetensors names.

Requirements: torch==2.13.0 (CPU), safetensors, numpy.
"""
import math

import torch
import torch.nn.functional as F


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope(x, positions, theta):
    """x: [N, heads, D]; positions: [N] (long). Hugging Face rotate-half layout."""
    d = x.shape[-1]
    inv_freq = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    angles = positions.to(torch.float64)[:, None] * inv_freq[None, :]
    emb = torch.cat((angles, angles), dim=-1)
    cos = emb.cos().to(x.dtype)[:, None, :]
    sin = emb.sin().to(x.dtype)[:, None, :]
    return x * cos + rotate_half(x) * sin


def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def attention(q, k, v, allowed):
    """q: [Nq, H, D], k/v: [Nk, G, D], allowed: [Nq, Nk] bool. Rows with nothing allowed give 0."""
    h, g = q.shape[1], k.shape[1]
    k = k.repeat_interleave(h // g, dim=1)
    v = v.repeat_interleave(h // g, dim=1)
    scores = torch.einsum("qhd,khd->hqk", q, k) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(~allowed[None], float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    probs = torch.nan_to_num(probs, nan=0.0)
    return torch.einsum("hqk,khd->qhd", probs, v)


class Params:
    """Tensors by checkpoint name."""

    def __init__(self, tensors):
        self.t = tensors

    def __getitem__(self, name):
        return self.t[name]


def llama_block(p, prefix, x, positions, allowed, cfg):
    heads, kv_heads = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
    d = cfg.get("head_dim", cfg["hidden_size"] // heads)
    eps, theta = cfg.get("rms_norm_eps", 1e-5), cfg.get("rope_theta", 10000.0)
    n = rms_norm(x, p[f"{prefix}.input_layernorm.weight"], eps)
    q = (n @ p[f"{prefix}.self_attn.q_proj.weight"].T).view(-1, heads, d)
    k = (n @ p[f"{prefix}.self_attn.k_proj.weight"].T).view(-1, kv_heads, d)
    v = (n @ p[f"{prefix}.self_attn.v_proj.weight"].T).view(-1, kv_heads, d)
    q, k = rope(q, positions, theta), rope(k, positions, theta)
    a = attention(q, k, v, allowed).reshape(x.shape[0], heads * d)
    x = x + a @ p[f"{prefix}.self_attn.o_proj.weight"].T
    n = rms_norm(x, p[f"{prefix}.post_attention_layernorm.weight"], eps)
    gate = n @ p[f"{prefix}.mlp.gate_proj.weight"].T
    up = n @ p[f"{prefix}.mlp.up_proj.weight"].T
    return x + (F.silu(gate) * up) @ p[f"{prefix}.mlp.down_proj.weight"].T


def cross_attention(p, prefix, queries, keys_values, q_positions, k_positions, allowed, cross_cfg, theta):
    heads, kv_heads = cross_cfg["num_attention_heads"], cross_cfg.get("num_key_value_heads", cross_cfg["num_attention_heads"])
    d = cross_cfg["hidden_size"] // heads
    q = (queries @ p[f"{prefix}.q_proj.weight"].T).view(-1, heads, d)
    k = (keys_values @ p[f"{prefix}.k_proj.weight"].T).view(-1, kv_heads, d)
    v = (keys_values @ p[f"{prefix}.v_proj.weight"].T).view(-1, kv_heads, d)
    q, k = rope(q, q_positions, theta), rope(k, k_positions, theta)
    a = attention(q, k, v, allowed).reshape(queries.shape[0], heads * d)
    return a @ p[f"{prefix}.o_proj.weight"].T


def causal_mask(row_of, positions, window):
    """allowed[i, j]: same row, j ≤ i, and i - j < window (when a window is set)."""
    n = row_of.shape[0]
    i = torch.arange(n)[:, None]
    j = torch.arange(n)[None, :]
    allowed = (row_of[:, None] == row_of[None, :]) & (j <= i)
    if window is not None:
        allowed &= (i - j) < window
    return allowed


def hat_loss(config, tensors, byte_ids, byte_row, byte_pos, word_of_byte, word_row, word_pos, teacher=None):
    """Returns (logits [N, 256], summed loss, number of predicted bytes); with `teacher` (stage 1 of
    distilled grafting: a dict of aligned [W, Db], align_mask [W], oracle_states [W, Db], oracle_mask [W],
    word_logp [W], distill_mask [W], align_blocks n, use_oracle bool) also a dict of the stage-1 sums:
    align = Σ ‖h_n − t‖/√Db (or /‖t‖ with relative: True) over aligned words, distill = Σ |log p_student(word) − word_logp| over
    distilled words, and their counts."""
    p = Params(tensors)
    enc, bb, dec = config["encoder_config"], config["backbone_config"], config["decoder_config"]
    n_words = word_row.shape[0]

    # Encoder
    x = p["encoder.embedding_layer.weight"][byte_ids]
    enc_allowed = causal_mask(byte_row, byte_pos, enc.get("sliding_window"))
    for i in range(enc["num_hidden_layers"]):
        x = llama_block(p, f"encoder.layers.{i}", x, byte_pos, enc_allowed, enc)
    e = x

    # Pooling: the latent query of each word over the word's bytes
    queries = p["encoder_connector.latent_query"][None, :].expand(n_words, -1)
    pool_allowed = word_of_byte[None, :] == torch.arange(n_words)[:, None]
    words = cross_attention(p, "encoder_connector.cross_attention_encoder_connector", queries, e,
                            word_pos, byte_pos, pool_allowed, enc["cross_attention_config"], enc.get("rope_theta", 10000.0))

    # Backbone (keeping the states after n blocks for stage 1)
    bb_allowed = causal_mask(word_row, word_pos, bb.get("sliding_window"))
    h = words
    aligned = h if teacher is not None and teacher["align_blocks"] == 0 else None
    for i in range(bb["num_hidden_layers"]):
        h = llama_block(p, f"backbone.layers.{i}", h, word_pos, bb_allowed, bb)
        if teacher is not None and i + 1 == teacher["align_blocks"]:
            aligned = h

    # Shift right by one word within each row (or the teacher's final states: the oracle)
    row_start = torch.ones(n_words, dtype=torch.bool)
    row_start[1:] = word_row[1:] != word_row[:-1]
    first = p["decoder_connector.first_word_embedding"][None, :].expand(n_words, -1)
    if teacher is not None and teacher["use_oracle"]:
        oracle_ok = torch.cat([torch.zeros(1, dtype=torch.bool), teacher["oracle_mask"][:-1] != 0])
        previous = torch.cat([teacher["oracle_states"][:1] * 0, teacher["oracle_states"][:-1]], dim=0)
        pred = torch.where((row_start | ~oracle_ok)[:, None], first, previous)
    else:
        previous = torch.cat([h[:1] * 0, h[:-1]], dim=0)
        pred = torch.where(row_start[:, None], first, previous)

    # Decoder
    x = e
    dec_allowed = causal_mask(byte_row, byte_pos, dec.get("sliding_window"))
    cross_allowed = word_of_byte[:, None] == torch.arange(n_words)[None, :]
    for i in range(dec["num_hidden_layers"]):
        prefix = f"decoder.decoder_layers.{i}"
        if i == 0 or dec.get("cross_attn_every_layer", False):
            eps = dec.get("rms_norm_eps", 1e-5)
            qn = rms_norm(x, p[f"{prefix}.query_norm.weight"], eps)
            kvn = rms_norm(pred, p[f"{prefix}.kv_norm.weight"], eps)
            x = x + cross_attention(p, f"{prefix}.cross_attention", qn, kvn, byte_pos, word_pos, cross_allowed,
                                    dec["cross_attention_config"], dec.get("rope_theta", 10000.0))
        x = llama_block(p, f"{prefix}.llama_layer", x, byte_pos, dec_allowed, dec)

    x = rms_norm(x, p["layer_norm.weight"], dec.get("rms_norm_eps", 1e-5))
    logits = x @ p["lm_head.weight"].T

    # Next byte within the row
    has_target = torch.zeros(byte_ids.shape[0], dtype=torch.bool)
    has_target[:-1] = byte_row[1:] == byte_row[:-1]
    targets = torch.zeros_like(byte_ids)
    targets[:-1] = byte_ids[1:]
    losses = F.cross_entropy(logits, targets, reduction="none")
    loss_sum = (losses * has_target).sum()
    if teacher is None:
        return logits, loss_sum, int(has_target.sum())

    # Stage 1: alignment after n blocks, and each word's log-probability (−Σ of the losses of the
    # predictions of its bytes: rows start−1 … end−2) against the teacher's.
    db = aligned.shape[1]
    scale = torch.linalg.norm(teacher["aligned"], dim=1) if teacher.get("relative") else math.sqrt(db)
    distance = torch.linalg.norm(aligned - teacher["aligned"], dim=1) / scale
    align_mask = teacher["align_mask"] != 0
    word_first = torch.tensor([int((word_of_byte == w).nonzero()[0]) for w in range(n_words)])
    word_last = torch.tensor([int((word_of_byte == w).nonzero()[-1]) for w in range(n_words)])
    distill = []
    for w in range(n_words):
        if teacher["distill_mask"][w] != 0:
            student = -losses[int(word_first[w]) - 1:int(word_last[w])].sum()
            distill.append(torch.abs(student - teacher["word_logp"][w]))
    stage1 = {"align": (distance * align_mask).sum(), "aligned_words": int(align_mask.sum()),
              "distill": torch.stack(distill).sum(), "distilled_words": len(distill)}
    return logits, loss_sum, int(has_target.sum()), stage1
