#!/usr/bin/env python3
"""Time one HAT training step (forward + backward + clipping + AdamW) in PyTorch on the CPU,
for `hat bench train`, which runs this script in the same run on the same batch, weights and
thread count and prints both. An efficient float32 implementation of ARCHITECTURE.md §1
(not the dense-mask float64 parity model of hat_reference.py): per-row padded tensors [B, T],
torch scaled_dot_product_attention for the causal sliding-window self-attentions, pooling and
the decoder's cross-attention as gathers and segment sums, fused torch.optim.AdamW.

It checks that it does the same work: the loss of each step from the same weights and batch
equals the losses `hat bench train` measured, within a tolerance. With --serve, hat bench train
drives it line by line ("step" after each of its own steps, then "done LOSSES"); alone, it runs
--warmup + --steps steps and checks --expect-losses. Prints JSON. Helpers here are shared with
bench_torch_generate.py.

Requirements (pip): torch==2.13.0 (CPU), safetensors==0.8.0
"""

import argparse
import json
import math
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

# Shapes: B rows, T bytes per row (padded), W words per row (padded), Dl local width,
# Db backbone width, H heads, G kv heads, D head size, V = 256.


# ---------------------------------------------------------------------------- model pieces

def block_cfg(cfg):
    """(H, G, D, eps, theta, window) of a transformer config block of config.json."""
    h = cfg["num_attention_heads"]
    g = cfg.get("num_key_value_heads", h)
    d = cfg.get("head_dim", cfg["hidden_size"] // h)
    return h, g, d, cfg.get("rms_norm_eps", 1e-5), cfg.get("rope_theta", 10000.0), cfg.get("sliding_window")


class Rope:
    """cos/sin tables (computed in float64 like the Swift RotaryEmbedding) for positions < n."""

    def __init__(self, head_dim, theta, n):
        inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
        ang = torch.arange(n, dtype=torch.float64)[:, None] * inv[None, :]
        emb = torch.cat((ang, ang), dim=-1)
        self.cos = emb.cos().float()      # [n, D]
        self.sin = emb.sin().float()      # [n, D]
        self.half = head_dim // 2

    def apply(self, x, positions):
        """x [..., P, heads, D] rotated by the angles of positions [P] (long)."""
        cos = self.cos[positions][:, None, :]
        sin = self.sin[positions][:, None, :]
        h = self.half
        rotated = torch.cat((-x[..., h:], x[..., :h]), dim=-1)
        return x * cos + rotated * sin


def rms_norm(x, w, eps):
    return F.rms_norm(x, (x.shape[-1],), w, eps)


def causal_window_mask(t, window, offset=0, keys=None):
    """bool [t, keys]: query i (stream index offset + i) may see key j (stream index j) when
    j ≤ offset + i and offset + i − j < window."""
    keys = keys if keys is not None else t
    i = torch.arange(t)[:, None] + offset
    j = torch.arange(keys)[None, :]
    allowed = j <= i
    if window is not None:
        allowed &= (i - j) < window
    return allowed


def blocked_window_attention(q, k, v, window, block=256):
    """Causal sliding-window attention computed per block of `block` queries against only the
    block + window − 1 keys it can see (instead of all T keys under a mask). q, k, v [B, H, T, D]
    (k, v already repeated to H heads)."""
    b, h, t, d = q.shape
    nb = (t + block - 1) // block
    tp, span = nb * block, block + window - 1
    qb = F.pad(q, (0, 0, 0, tp - t)).view(b, h * nb, block, d)
    kb = F.pad(k, (0, 0, window - 1, tp - t)).unfold(2, span, block).transpose(-1, -2).reshape(b, h * nb, span, d)
    vb = F.pad(v, (0, 0, window - 1, tp - t)).unfold(2, span, block).transpose(-1, -2).reshape(b, h * nb, span, d)
    r = torch.arange(block)[:, None]
    j = torch.arange(span)[None, :]
    first_key = torch.arange(nb)[:, None, None] * block - (window - 1)      # stream index of key j = 0
    allowed = (j >= r) & (j <= r + window - 1) & (first_key + j >= 0)        # [nb, Q, span]
    a = F.scaled_dot_product_attention(qb, kb, vb, attn_mask=allowed.repeat(h, 1, 1)[None])
    return a.view(b, h, tp, d)[:, :, :t]


def self_attention(p, prefix, x, cfg, rope, mask, positions, is_causal, blocked=False):
    """Llama attention of x [B, T, C] (RoPE, GQA), keys restricted by `mask` [T, T] or causal,
    or (blocked) by the config's sliding window computed block by block."""
    b, t, _ = x.shape
    h, g, d, _, _, window = block_cfg(cfg)
    q = F.linear(x, p[f"{prefix}.q_proj.weight"]).view(b, t, h, d)
    k = F.linear(x, p[f"{prefix}.k_proj.weight"]).view(b, t, g, d)
    v = F.linear(x, p[f"{prefix}.v_proj.weight"]).view(b, t, g, d)
    q = rope.apply(q, positions).transpose(1, 2)
    k = rope.apply(k, positions).transpose(1, 2)
    v = v.transpose(1, 2)
    if is_causal:
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=h != g)
    elif blocked:
        if g != h:
            k, v = k.repeat_interleave(h // g, dim=1), v.repeat_interleave(h // g, dim=1)
        a = blocked_window_attention(q, k, v, window)
    else:
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=h != g)
    a = a.transpose(1, 2).reshape(b, t, h * d)
    return F.linear(a, p[f"{prefix}.o_proj.weight"])


def llama_block(p, prefix, x, cfg, rope, mask, positions, is_causal, blocked=False):
    eps = cfg.get("rms_norm_eps", 1e-5)
    x = x + self_attention(p, f"{prefix}.self_attn", rms_norm(x, p[f"{prefix}.input_layernorm.weight"], eps),
                           cfg, rope, mask, positions, is_causal, blocked)
    n = rms_norm(x, p[f"{prefix}.post_attention_layernorm.weight"], eps)
    hidden = F.silu(F.linear(n, p[f"{prefix}.mlp.gate_proj.weight"])) * F.linear(n, p[f"{prefix}.mlp.up_proj.weight"])
    return x + F.linear(hidden, p[f"{prefix}.mlp.down_proj.weight"])


def pooling(p, e, latent, word_of_byte, n_words, cross_cfg, theta, rope_bytes, rope_words, byte_pos, word_pos):
    """Each word's latent query cross-attends over its bytes' states: a segment softmax.
    e [B, T, Dl]; word_of_byte [B, T] (padding bytes → slot n_words, dropped). Returns [B, W, Db]."""
    prefix = "encoder_connector.cross_attention_encoder_connector"
    b, t, _ = e.shape
    h = cross_cfg["num_attention_heads"]
    g = cross_cfg.get("num_key_value_heads", h)
    d = cross_cfg["hidden_size"] // h
    # The query is the same vector for every word before RoPE: project it once.
    q0 = F.linear(latent, p[f"{prefix}.q_proj.weight"]).view(1, h, d).expand(n_words, h, d)
    q = rope_words.apply(q0, word_pos)                                    # [W, H, D]
    k = rope_bytes.apply(F.linear(e, p[f"{prefix}.k_proj.weight"]).view(b, t, g, d), byte_pos)
    v = F.linear(e, p[f"{prefix}.v_proj.weight"]).view(b, t, g, d)
    if g != h:
        k = k.repeat_interleave(h // g, dim=2)
        v = v.repeat_interleave(h // g, dim=2)
    slot = word_of_byte                                                   # [B, T]
    qb = F.pad(q, (0, 0, 0, 0, 0, 1))[slot]                               # [B, T, H, D] the byte's word query
    s = (qb * k).sum(-1) * (1.0 / math.sqrt(d))                           # [B, T, H]
    idx = slot[..., None].expand(b, t, h)
    m = torch.full((b, n_words + 1, h), -float("inf")).scatter_reduce(1, idx, s.detach(), "amax", include_self=True)
    ex = torch.exp(s - m.gather(1, idx))                                  # [B, T, H]
    den = torch.zeros(b, n_words + 1, h).scatter_add(1, idx, ex)          # [B, W+1, H]
    num = torch.zeros(b, n_words + 1, h, d).scatter_add(1, idx[..., None].expand(b, t, h, d), ex[..., None] * v)
    out = (num[:, :n_words] / den[:, :n_words, :, None].clamp_min(1e-30)).reshape(b, n_words, h * d)
    return F.linear(out, p[f"{prefix}.o_proj.weight"])


def decoder_cross(p, prefix, x, pred, word_of_byte, dec, rope_bytes, rope_words, byte_pos, word_pos):
    """x + cross-attention of each byte to its word's predictive vector, as written (one key per
    byte, so the softmax is 1; its q/k still run, as in training). x [B, T, Dl], pred [B, W, Db]."""
    cc = dec["cross_attention_config"]
    h = cc["num_attention_heads"]
    g = cc.get("num_key_value_heads", h)
    d = cc["hidden_size"] // h
    eps = dec.get("rms_norm_eps", 1e-5)
    b, t, _ = x.shape
    w = pred.shape[1]
    qn = rms_norm(x, p[f"{prefix}.query_norm.weight"], eps)
    kvn = rms_norm(pred, p[f"{prefix}.kv_norm.weight"], eps)
    q = rope_bytes.apply(F.linear(qn, p[f"{prefix}.cross_attention.q_proj.weight"]).view(b, t, h, d), byte_pos)
    k = rope_words.apply(F.linear(kvn, p[f"{prefix}.cross_attention.k_proj.weight"]).view(b, w, g, d), word_pos)
    v = F.linear(kvn, p[f"{prefix}.cross_attention.v_proj.weight"]).view(b, w, g, d)
    if g != h:
        k = k.repeat_interleave(h // g, dim=2)
        v = v.repeat_interleave(h // g, dim=2)
    rows = torch.arange(b)[:, None]
    kb, vb = k[rows, word_of_byte], v[rows, word_of_byte]                 # [B, T, H, D]
    s = (q * kb).sum(-1, keepdim=True) * (1.0 / math.sqrt(d))             # [B, T, H, 1]
    a = (torch.softmax(s, dim=-1) * vb).reshape(b, t, h * d)
    return x + F.linear(a, p[f"{prefix}.cross_attention.o_proj.weight"])


# ---------------------------------------------------------------------------- batch and loss

class PaddedBatch:
    """Rows of whole words as padded tensors. rows: list of (bytes, word_ends) per row."""

    def __init__(self, rows, eos):
        self.b = len(rows)
        self.t = max(len(r[0]) for r in rows)
        self.w = max(len(r[1]) for r in rows)
        ids = torch.zeros(self.b, self.t, dtype=torch.long)
        targets = torch.full((self.b, self.t), -100, dtype=torch.long)
        pool_slot = torch.full((self.b, self.t), self.w, dtype=torch.long)   # padding → dropped slot
        word = torch.zeros(self.b, self.t, dtype=torch.long)
        self.bytes = 0
        for r, (data, ends) in enumerate(rows):
            n = len(data)
            row = torch.tensor(list(data), dtype=torch.long)
            ids[r, :n] = row
            targets[r, : n - 1] = row[1:]
            start = 0
            for i, end in enumerate(ends):
                pool_slot[r, start:end] = i
                word[r, start:end] = i
                start = end
            word[r, n:] = len(ends) - 1
            self.bytes += n
        self.ids, self.targets, self.pool_slot, self.word = ids, targets, pool_slot, word
        self.count = int((targets != -100).sum())
        self.byte_pos = torch.arange(self.t)
        self.word_pos = torch.arange(self.w)


class HATTorch:
    """The HAT model of config.json over a dict of tensors by checkpoint name."""

    def __init__(self, config, params, max_bytes, max_words, attention="blocked"):
        """attention: "blocked" (windowed self-attention per query block) or "mask" (one sdpa call
        over all T keys with a causal sliding-window mask)."""
        self.config, self.p = config, params
        self.blocked = attention == "blocked"
        enc, bb, dec = config["encoder_config"], config["backbone_config"], config["decoder_config"]
        self.enc, self.bb, self.dec = enc, bb, dec
        self.rope_enc = Rope(block_cfg(enc)[2], enc.get("rope_theta", 10000.0), max_bytes)
        self.rope_dec = Rope(block_cfg(dec)[2], dec.get("rope_theta", 10000.0), max_bytes)
        self.rope_bb = Rope(block_cfg(bb)[2], bb.get("rope_theta", 10000.0), max_words)
        ec, dc = enc["cross_attention_config"], dec["cross_attention_config"]
        self.rope_pool_bytes = Rope(ec["hidden_size"] // ec["num_attention_heads"], enc.get("rope_theta", 10000.0), max_bytes)
        self.rope_pool_words = Rope(ec["hidden_size"] // ec["num_attention_heads"], enc.get("rope_theta", 10000.0), max_words)
        self.rope_cross_bytes = Rope(dc["hidden_size"] // dc["num_attention_heads"], dec.get("rope_theta", 10000.0), max_bytes)
        self.rope_cross_words = Rope(dc["hidden_size"] // dc["num_attention_heads"], dec.get("rope_theta", 10000.0), max_words)

    def loss(self, batch):
        """Summed next-byte cross-entropy (nats) over the bytes with a target."""
        logits = self.logits(batch)
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), batch.targets.view(-1), ignore_index=-100,
                               reduction="sum")

    def logits(self, batch):
        """Next-byte logits [B, T, V]."""
        p, enc, bb, dec = self.p, self.enc, self.bb, self.dec
        bp, wp = batch.byte_pos, batch.word_pos
        x = p["encoder.embedding_layer.weight"][batch.ids]                 # [B, T, Dl]
        enc_mask = causal_window_mask(batch.t, enc.get("sliding_window"))
        enc_causal = enc.get("sliding_window") is None or enc["sliding_window"] >= batch.t
        for i in range(enc["num_hidden_layers"]):
            x = llama_block(p, f"encoder.layers.{i}", x, enc, self.rope_enc, enc_mask, bp, enc_causal, self.blocked)
        e = x
        words = pooling(p, e, p["encoder_connector.latent_query"], batch.pool_slot, batch.w,
                        enc["cross_attention_config"], enc.get("rope_theta", 10000.0),
                        self.rope_pool_bytes, self.rope_pool_words, bp, wp)   # [B, W, Db]
        bb_mask = causal_window_mask(batch.w, bb.get("sliding_window"))
        bb_causal = bb.get("sliding_window") is None or bb["sliding_window"] >= batch.w
        h = words
        for i in range(bb["num_hidden_layers"]):
            h = llama_block(p, f"backbone.layers.{i}", h, bb, self.rope_bb, bb_mask, wp, bb_causal, self.blocked)
        first = p["decoder_connector.first_word_embedding"].view(1, 1, -1).expand(batch.b, 1, -1)
        pred = torch.cat((first, h[:, :-1]), dim=1)                         # [B, W, Db] shift right one word
        x = e
        dec_mask = causal_window_mask(batch.t, dec.get("sliding_window"))
        dec_causal = dec.get("sliding_window") is None or dec["sliding_window"] >= batch.t
        for i in range(dec["num_hidden_layers"]):
            prefix = f"decoder.decoder_layers.{i}"
            if i == 0 or dec.get("cross_attn_every_layer", False):
                x = decoder_cross(p, prefix, x, pred, batch.word, dec, self.rope_cross_bytes, self.rope_cross_words, bp, wp)
            x = llama_block(p, f"{prefix}.llama_layer", x, dec, self.rope_dec, dec_mask, bp, dec_causal, self.blocked)
        x = rms_norm(x, p["layer_norm.weight"], dec.get("rms_norm_eps", 1e-5))
        return F.linear(x, p["lm_head.weight"])                             # [B, T, V]


def load_model_dir(path):
    with open(f"{path}/config.json") as f:
        config = json.load(f)
    tensors = {k: v.float().contiguous() for k, v in load_file(f"{path}/model.safetensors").items()}
    return config, tensors


def read_batch(path):
    """The batch file `hat bench train` writes: {"rows": [{"bytes": [...], "word_ends": [...]}], ...}."""
    with open(path) as f:
        obj = json.load(f)
    return [(bytes(r["bytes"]), r["word_ends"]) for r in obj["rows"]]


# ---------------------------------------------------------------------------- the benchmark

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="directory with config.json and model.safetensors (initial weights)")
    ap.add_argument("--batch", required=True, help="batch JSON written by hat bench train")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    ap.add_argument("--steps", type=int, default=5, help="timed steps (default 5)")
    ap.add_argument("--learning-rate", type=float, default=1e-3)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--expect-losses", default="", help="comma-separated mean losses of our steps 1, 2, … to check")
    ap.add_argument("--tolerance", type=float, default=2e-4, help="relative tolerance of the loss check")
    ap.add_argument("--attention", choices=["blocked", "mask"], default="blocked",
                    help="sliding-window self-attention: sdpa per query block over the keys it can see (default), "
                         "or one sdpa call over all keys with a mask")
    ap.add_argument("--compile", action="store_true", help="torch.compile the forward (the first warm-up step compiles)")
    ap.add_argument("--serve", action="store_true", help="take commands on stdin (step, done LOSSES); for hat bench train")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    config, tensors = load_model_dir(args.model)
    rows = read_batch(args.batch)
    batch = PaddedBatch(rows, config.get("eos_token_id", 192))
    params = {k: v.clone().requires_grad_(True) for k, v in tensors.items()}
    model = HATTorch(config, params, max_bytes=batch.t, max_words=batch.w, attention=args.attention)
    loss_of = (lambda: model.loss(batch))
    if args.compile:
        loss_of = torch.compile(loss_of)
    decay = [v for v in params.values() if v.dim() >= 2]
    no_decay = [v for v in params.values() if v.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.learning_rate, betas=(0.9, 0.95), eps=1e-8, fused=True)
    all_params = list(params.values())

    def cpu_seconds():
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def one_step():
        c0, t0 = cpu_seconds(), time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_of() / batch.count
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(all_params, args.clip, foreach=True)
        opt.step()
        t3 = time.perf_counter()
        return {"seconds": t3 - t0, "forward_seconds": t1 - t0, "backward_seconds": t2 - t1,
                "optimizer_seconds": t3 - t2, "cpu_seconds": cpu_seconds() - c0, "loss": float(loss.detach())}

    def summary(steps, expected):
        timed = steps[args.warmup:] or steps
        compared = list(zip(expected, (s["loss"] for s in steps)))
        worst = max((abs(a - b) / max(abs(a), 1e-12) for a, b in compared), default=None)
        seconds = statistics.median(s["seconds"] for s in timed)
        return {
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "rows": batch.b, "padded_bytes_per_row": batch.t, "padded_words_per_row": batch.w,
            "bytes": batch.bytes, "predicted_bytes": batch.count,
            "seconds": seconds, "seconds_all": [s["seconds"] for s in timed],
            "cpu_seconds_per_step": statistics.mean(s["cpu_seconds"] for s in timed),
            "forward_seconds": statistics.median(s["forward_seconds"] for s in timed),
            "backward_seconds": statistics.median(s["backward_seconds"] for s in timed),
            "optimizer_seconds": statistics.median(s["optimizer_seconds"] for s in timed),
            "bytes_per_second": batch.bytes / seconds,
            "max_resident_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "losses": [s["loss"] for s in steps], "loss_check": {
                "compared_steps": len(compared), "worst_relative_difference": worst, "tolerance": args.tolerance,
                "ok": worst is not None and worst <= args.tolerance,
            },
            "implementation": "padded [B, T]; " + (
                "sliding-window attention as sdpa per 256-query block over the keys it can see"
                if args.attention == "blocked" else "sliding-window attention as one sdpa call with a bool mask")
                + " (is_causal where no window applies); pooling as a segment softmax; fused AdamW"
                + ("; torch.compile" if args.compile else "; eager"),
        }

    steps = []
    if args.serve:
        # Driven by hat bench train, which alternates its steps with ours: "step" runs one and
        # prints its timing; "done LOSSES" prints the summary with the loss check and exits.
        print(json.dumps({"ready": True}), flush=True)
        for line in sys.stdin:
            command = line.split()
            if command and command[0] == "step":
                steps.append(one_step())
                print(json.dumps(steps[-1]), flush=True)
            elif command and command[0] == "done":
                expected = [float(x) for x in (command[1] if len(command) > 1 else "").split(",") if x]
                print(json.dumps(summary(steps, expected), sort_keys=True), flush=True)
                return
        return
    for _ in range(args.warmup + args.steps):
        steps.append(one_step())
    expected = [float(x) for x in args.expect_losses.split(",") if x]
    print(json.dumps(summary(steps, expected), sort_keys=True))

if __name__ == "__main__":
    main()
