"""Writes the HAT model parity fixtures of Tests/HATModelTests/Fixtures/hat-tiny/:
our tiny config, seeded random weights (model.safetensors, f32), a batch of two rows of
words (split by PyPI hat-splitter 0.1.10, the reference splitter), and what an independent
PyTorch implementation (scripts/hat_reference.py) computes from them in float64: the logits,
the mean next-byte loss, the gradient of every parameter, and the loss over ten AdamW steps
(β 0.9/0.95, weight decay 0.1 on matrices only, clipping at 1.0, constant learning rate).

Requirements: torch==2.13.0 (CPU), safetensors, numpy, hat-splitter==0.1.10.
Run: python3 scripts/make_model_fixtures.py
"""
import json
import os
import sys

import torch
from hat_splitter import HATSplitter
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(__file__))
from hat_reference import hat_loss  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "HATModelTests", "Fixtures", "hat-tiny")
SEED = 20261129
STEPS = 10
LEARNING_RATE = 3e-3
TEXTS = [
    "The quick brown fox jumps over the lazy dog, doesn't it? Yes: 3.14 times!",
    "Grüße aus Köln — Привет, мир! 你好世界 and camelCaseWords   with  spaces.",
]


def specs(config):
    """Parameter names and shapes, in the order of ARCHITECTURE.md §3."""
    enc, bb, dec = config["encoder_config"], config["backbone_config"], config["decoder_config"]
    dl, db = enc["hidden_size"], bb["hidden_size"]

    def block(prefix, c):
        h, g = c["num_attention_heads"], c.get("num_key_value_heads", c["num_attention_heads"])
        d = c.get("head_dim", c["hidden_size"] // h)
        w, f = c["hidden_size"], c["intermediate_size"]
        return [
            (f"{prefix}.input_layernorm.weight", [w]),
            (f"{prefix}.self_attn.q_proj.weight", [h * d, w]),
            (f"{prefix}.self_attn.k_proj.weight", [g * d, w]),
            (f"{prefix}.self_attn.v_proj.weight", [g * d, w]),
            (f"{prefix}.self_attn.o_proj.weight", [w, h * d]),
            (f"{prefix}.post_attention_layernorm.weight", [w]),
            (f"{prefix}.mlp.gate_proj.weight", [f, w]),
            (f"{prefix}.mlp.up_proj.weight", [f, w]),
            (f"{prefix}.mlp.down_proj.weight", [w, f]),
        ]

    def cross(prefix, cq, ckv, c):
        a = c["hidden_size"]
        kv = c.get("num_key_value_heads", c["num_attention_heads"]) * (a // c["num_attention_heads"])
        return [(f"{prefix}.q_proj.weight", [a, cq]), (f"{prefix}.k_proj.weight", [kv, ckv]),
                (f"{prefix}.v_proj.weight", [kv, ckv]), (f"{prefix}.o_proj.weight", [cq, a])]

    out = [("encoder.embedding_layer.weight", [256, dl])]
    for i in range(enc["num_hidden_layers"]):
        out += block(f"encoder.layers.{i}", enc)
    out.append(("encoder_connector.latent_query", [db]))
    out += cross("encoder_connector.cross_attention_encoder_connector", db, dl, enc["cross_attention_config"])
    for i in range(bb["num_hidden_layers"]):
        out += block(f"backbone.layers.{i}", bb)
    out.append(("decoder_connector.first_word_embedding", [db]))
    for i in range(dec["num_hidden_layers"]):
        prefix = f"decoder.decoder_layers.{i}"
        if i == 0 or dec.get("cross_attn_every_layer", False):
            out += [(f"{prefix}.query_norm.weight", [dl]), (f"{prefix}.kv_norm.weight", [db])]
            out += cross(f"{prefix}.cross_attention", dl, db, dec["cross_attention_config"])
        out += block(f"{prefix}.llama_layer", dec)
    out += [("layer_norm.weight", [dl]), ("lm_head.weight", [256, dl])]
    return out


def main():
    with open(os.path.join(ROOT, "Models", "configs", "tiny.json")) as f:
        config = json.load(f)
    generator = torch.Generator().manual_seed(SEED)
    weights = {}
    for name, shape in specs(config):
        if name.endswith("norm.weight"):
            weights[name] = 1 + 0.1 * torch.randn(shape, generator=generator)
        else:
            weights[name] = 0.2 * torch.randn(shape, generator=generator)

    # The batch: each text one row, opened by the end-of-sequence word (byte 192).
    splitter = HATSplitter()
    stream, word_ends, row_words = [], [], []
    for text in TEXTS:
        words = [bytes([192])] + [bytes(w) for w in splitter.split_with_limit(text, config["max_word_size"])]
        row_words.append(len(words))
        for w in words:
            stream += list(w)
            word_ends.append(len(stream))

    byte_ids, byte_row, byte_pos, word_of_byte, word_row, word_pos = [], [], [], [], [], []
    start, word = 0, 0
    for row, count in enumerate(row_words):
        row_first_byte = start
        for k in range(count):
            end = word_ends[word]
            for b in range(start, end):
                byte_ids.append(stream[b])
                byte_row.append(row)
                byte_pos.append(b - row_first_byte)
                word_of_byte.append(word)
            word_row.append(row)
            word_pos.append(k)
            start, word = end, word + 1
    as_long = lambda xs: torch.tensor(xs, dtype=torch.long)
    batch = [as_long(x) for x in (byte_ids, byte_row, byte_pos, word_of_byte, word_row, word_pos)]

    params = {k: v.to(torch.float64).clone().requires_grad_(True) for k, v in weights.items()}
    logits, loss_sum, count = hat_loss(config, params, *batch)
    loss = loss_sum / count
    loss.backward()
    expected = {"logits": logits.detach().to(torch.float32), "loss": loss.detach().reshape(1).to(torch.float32)}
    for name, p in params.items():
        expected["grad." + name] = p.grad.to(torch.float32)

    # Ten AdamW steps from the same weights.
    params = {k: v.to(torch.float64).clone().requires_grad_(True) for k, v in weights.items()}
    decay = [p for p in params.values() if p.ndim >= 2]
    no_decay = [p for p in params.values() if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=LEARNING_RATE, betas=(0.9, 0.95), eps=1e-8)
    losses = []
    for _ in range(STEPS):
        optimizer.zero_grad()
        _, s, c = hat_loss(config, params, *batch)
        step_loss = s / c
        step_loss.backward()
        torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)
        optimizer.step()
        losses.append(float(step_loss.detach()))
    expected["adamw_losses"] = torch.tensor(losses, dtype=torch.float32)

    # Stage 1 of distilled grafting: random teacher signals (every mask kind present), the total
    # loss ce·CE/N + align·A/Na + distill·D/Nd with the oracle and alignment after 1 block, and
    # its gradient of every parameter.
    n_words, db = len(word_row), config["backbone_config"]["hidden_size"]
    g = torch.Generator().manual_seed(SEED + 7)
    row_first = [0] + [i for i in range(1, n_words) if word_row[i] != word_row[i - 1]]
    teacher = {
        "aligned": torch.randn(n_words, db, generator=g, dtype=torch.float64),
        "oracle_states": torch.randn(n_words, db, generator=g, dtype=torch.float64),
        "align_mask": torch.tensor([0.0 if w % 3 == 1 else 1.0 for w in range(n_words)], dtype=torch.float64),
        "oracle_mask": torch.tensor([0.0 if w % 5 == 2 else 1.0 for w in range(n_words)], dtype=torch.float64),
        "distill_mask": torch.tensor([0.0 if (w in row_first or w % 4 == 3) else 1.0 for w in range(n_words)], dtype=torch.float64),
        "word_logp": -torch.randint(0, 30, (n_words,), generator=g).to(torch.float64) - 0.5,
        "align_blocks": 1, "use_oracle": True,
    }
    weights_ce, weights_align, weights_distill = 1.0, 0.7, 0.3
    stage1_fixtures = {}
    for relative in (False, True):
        teacher["relative"] = relative
        params = {k: v.to(torch.float64).clone().requires_grad_(True) for k, v in weights.items()}
        _, s, c, stage1 = hat_loss(config, params, *batch, teacher=teacher)
        total = (weights_ce * s / c + weights_align * stage1["align"] / stage1["aligned_words"]
                 + weights_distill * stage1["distill"] / stage1["distilled_words"])
        total.backward()
        fixture = {k: v.to(torch.float32) for k, v in teacher.items() if isinstance(v, torch.Tensor)}
        fixture["sums"] = torch.tensor([float(s.detach()), c, float(stage1["align"].detach()), stage1["aligned_words"],
                                        float(stage1["distill"].detach()), stage1["distilled_words"], float(total.detach())],
                                       dtype=torch.float64)
        for name, p in params.items():    # blocks past n get no gradient with the oracle
            fixture["grad." + name] = (p.grad if p.grad is not None else torch.zeros_like(p)).to(torch.float32)
        stage1_fixtures["stage1_relative.safetensors" if relative else "stage1.safetensors"] = fixture

    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    save_file({k: v.contiguous() for k, v in weights.items()}, os.path.join(OUT, "model.safetensors"),
              metadata={"format": "pt"})
    save_file({k: v.contiguous() for k, v in expected.items()}, os.path.join(OUT, "expected.safetensors"))
    for name, fixture in stage1_fixtures.items():
        save_file({k: v.contiguous() for k, v in fixture.items()}, os.path.join(OUT, name),
                  metadata={"align_blocks": "1", "oracle": "true", "weights": "ce 1.0, align 0.7, distill 0.3",
                            "align_distance": "relative" if "relative" in name else "l2",
                            "sums": "cross-entropy sum, predicted bytes, align sum, aligned words, distill sum, distilled words, total"})
    with open(os.path.join(OUT, "batch.json"), "w") as f:
        json.dump({"bytes": stream, "word_ends": word_ends, "row_words": row_words,
                   "learning_rate": LEARNING_RATE, "steps": STEPS, "clip_norm": 1.0,
                   "seed": SEED, "texts": TEXTS,
                   "made_by": "scripts/make_model_fixtures.py (torch %s)" % torch.__version__}, f, indent=1)
    print(f"wrote {OUT}: {len(byte_ids)} bytes, {len(word_row)} words, loss {float(loss):.6f}, "
          f"AdamW losses {losses[0]:.4f} … {losses[-1]:.4f}")


if __name__ == "__main__":
    main()
