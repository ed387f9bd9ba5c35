#!/usr/bin/env bash
# graft_distill.sh: the distilled-grafting experiment of Reports/graft-smollm2.md, end to end and
# resumable: rerunning it picks up where it stopped (finished steps are skipped, unfinished runs
# continue from their newest checkpoint with `hat train --resume`).
#
# Runs live in ROOT (runs/, not in git); what the report needs from a finished arm — its metrics,
# options, times, notes, provenance and held-out evaluations — is copied to ARCHIVE
# (Reports/graft-smollm2-runs, in git) as soon as the arm is evaluated, so an arm finished on one
# machine is not trained again on a fresh one. Stage 2 starts from (a)'s final checkpoint, so it
# runs right after (a); on a machine without that checkpoint (a) is trained again first, and an arm
# trained again is compared with its archived metrics (ROOT/ARM/reproduction.txt).
#
#   (a) distilled   SmolLM2-135M's blocks frozen; stage-1 losses against SmolLM2 as the teacher
#                   (alignment after ALIGN_BLOCKS blocks, oracle decoder inputs, word distillation)
#   (b) plain       the same graft and bytes, next-byte cross-entropy only (the earlier recipe)
#   (c) random      a random backbone of the same shape with the same recipe as (a) (the teacher
#                   keeps its own copy of SmolLM2's blocks)
#   (a2) stage 2    from (a): everything trained end to end with the student's own backbone,
#                   the backbone at BACKBONE_LR, cross-entropy only
#   (a2′) stage2-long  from STAGE2_LONG_FROM (the stage-1 arm that did best held out: plain):
#                   the local parts trained end to end on the student's own backbone
#                   output, cross-entropy only, the backbone frozen — so the model is its local
#                   weights plus the unchanged SmolLM2 GGUF, which is what can be shipped —
#                   STAGE2_LONG_STEPS steps on bytes in another order (STAGE2_LONG_SEED). The
#                   candidate for shipping may take more bytes than the compared arms; it
#                   resumes from its newest checkpoint when the script is run again
#   (a2″) stage2-prose  the same as (a2′) — same start, steps, rate and seed — on a training set
#                   of half literature, half technical text by bytes (DATA/train-half-prose: every
#                   literature training document and a fixed subset of the technical ones): (a2′)
#                   trains on 93 % technical bytes, and held-out prose is where the grafts lose to
#                   the default (trained on literature alone)
#   (a3) stage2-more  from (a2″)'s final checkpoint, STAGE2_MORE_STEPS more steps on the same
#                   half-literature set at STAGE2_MORE_LR (seed STAGE2_MORE_SEED: bytes in another
#                   order), backbone frozen: (a2″) ended 0.047 above the default on prose with its
#                   held-out prose still falling as its cosine rate ran out — does more of the same
#                   close the gap?
#   (a4) stage2-lit  from (a3)'s final checkpoint, STAGE2_LIT_STEPS more steps on the literature
#                   training documents alone (DATA/train-literature: the shipped default's own
#                   training set) at STAGE2_MORE_LR, seed STAGE2_LIT_SEED, backbone frozen: (a2″)
#                   and (a3) trained on half literature and stayed above the default on prose —
#                   how much of that gap is the mix?
#   (a2″ᵈ) stage2-prose-distilled, (a3ᵈ) stage2-more-distilled, (a4ᵈ) stage2-lit-distilled
#                   the same three stage-2 arms, same steps, rates, seeds and data, starting from
#                   (a) instead of (b): (a4) met the stage-2 target from plain stage 1, which beat
#                   distilled stage 1 held out (2.232 vs 2.430 prose) — does the teacher's head
#                   start show after the whole stage 2, at equal bytes?
#
# Local parts: by default warm-started from the shipped default model's (LOCAL_FROM, `hat graft
# --local-from`: its encoder, decoder and head; the tensors that meet the backbone's width are
# fresh); LOCAL_FROM= (empty) starts them fresh from the graft-local preset instead.
#
# Every compared arm trains on the same bytes in the same order (same seed, rows and steps). Held out
# (never trained on): six works of literature (the shipped default model's held-out documents) and
# a fixed subset of the technical corpus's held-out documents. Afterwards every arm, the shipped
# default and the teacher itself are evaluated on both, and the report is written.
#
# Usage: scripts/graft_distill.sh        Knobs (environment): STEPS STAGE2_STEPS STAGE2_LONG_STEPS
#   STAGE2_LONG_SEED STAGE2_LONG_FROM ROWS WORDS LR STAGE2_LR BACKBONE_LR WARMUP ALIGN_BLOCKS ALIGN_DISTANCE VALIDATE_EVERY
#   STAGE2_MORE_STEPS STAGE2_MORE_LR STAGE2_MORE_SEED STAGE2_LIT_STEPS STAGE2_LIT_SEED
#   VALIDATION_ROWS CHECKPOINT_EVERY SEED THREADS NICE ARMS (default "distilled stage2 random plain
#   stage2-long stage2-prose stage2-more stage2-lit stage2-prose-distilled stage2-more-distilled
#   stage2-lit-distilled") ARCHIVE SCRATCH PYTHON HAT (a hat binary to use)
#   ROOT (the experiment's directory, default runs/graft-warm; the first, unequal 2-MB runs of
#   2026-12-03 are in runs/distill, 108 steps of the fresh-local 5-MB recipe in runs/graft-5mb)
#   LOCAL_FROM (a HAT model whose local parts start the graft; empty: fresh from graft-local)
#   EVAL_HAT (the binary that evaluates and reports; default HAT) EVAL_BYTES EVAL_TECH_BYTES SCORE_BLOCKS

set -euo pipefail
cd "$(dirname "$0")/.."

STEPS=${STEPS:-520}                 # stage-1 steps per arm (8 rows of ≤ 256 words: ≈ 10 KB per step, 5 MB in all)
STAGE2_STEPS=${STAGE2_STEPS:-100}
STAGE2_LONG_STEPS=${STAGE2_LONG_STEPS:-600}    # ≈ 6 MB (first planned as 1,000; cut to fit one session)
STAGE2_LONG_SEED=${STAGE2_LONG_SEED:-2}        # another order of the documents: bytes (a) did not see
STAGE2_LONG_FROM=${STAGE2_LONG_FROM:-plain}        # (b) beat (a) on held-out text: 2.232 vs 2.430 prose
STAGE2_MORE_STEPS=${STAGE2_MORE_STEPS:-600}    # ≈ 6 MB more, as much again as (a2″)
STAGE2_MORE_LR=${STAGE2_MORE_LR:-1.5e-4}       # half (a2″)'s peak: it continues a trained model
STAGE2_MORE_SEED=${STAGE2_MORE_SEED:-3}
STAGE2_LIT_STEPS=${STAGE2_LIT_STEPS:-600}      # ≈ 6 MB of the 16.1 MB of literature
STAGE2_LIT_SEED=${STAGE2_LIT_SEED:-4}
ROWS=${ROWS:-8}
WORDS=${WORDS:-256}
MAX_ROW_BYTES=${MAX_ROW_BYTES:-2048}
LR=${LR:-5e-4}                        # warm local parts (fresh ones trained at 1e-3)
STAGE2_LR=${STAGE2_LR:-3e-4}          # stage 2: local parts (the backbone at BACKBONE_LR)
BACKBONE_LR=${BACKBONE_LR:-3e-5}
WARMUP=${WARMUP:-50}
ALIGN_BLOCKS=${ALIGN_BLOCKS:-4}
ALIGN_DISTANCE=${ALIGN_DISTANCE:-relative}   # ‖h − t‖/‖t‖: SmolLM2's massive activations dominate plain L2
VALIDATE_EVERY=${VALIDATE_EVERY:-50}
VALIDATION_ROWS=${VALIDATION_ROWS:-32}
CHECKPOINT_EVERY=${CHECKPOINT_EVERY:-25}
SEED=${SEED:-1}
THREADS=${THREADS:-2}
NICE=${NICE:-5}
ARMS=${ARMS:-"distilled stage2 random plain stage2-long stage2-prose stage2-more stage2-lit stage2-prose-distilled stage2-more-distilled stage2-lit-distilled"}
SCRATCH=${SCRATCH:-.build-graft}
PYTHON=${PYTHON:-python3}

GGUF=data/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
ROOT=${ROOT:-runs/graft-warm}
ARCHIVE=${ARCHIVE:-Reports/graft-smollm2-runs}
LOCAL_FROM=${LOCAL_FROM-Models/default}
BACKBONE=$ROOT/backbone
INIT=$ROOT/init
DATA=$ROOT/data
PROSE_HELD_OUT="kjv-48-galatians kjv-56-titus kjv-65-jude shakespeare-henry-viii shakespeare-merry-wives-of-windsor shakespeare-richard-ii"

step() { printf '\n+ %s\n' "$*"; "$@"; }

# 1. Data: literature, the technical corpus and the SmolLM2 GGUF (skipped when present).
step "$PYTHON" scripts/fetch_data.py smollm2 english technical

# 2. The hat binary, copied so that rebuilding the checkout during a long run does not change it.
if [ -z "${HAT:-}" ]; then
    step swift build -c release --scratch-path "$SCRATCH"
    mkdir -p "$ROOT/bin"
    [ -x "$ROOT/bin/hat" ] || step cp "$SCRATCH/release/hat" "$ROOT/bin/hat"
    HAT=$ROOT/bin/hat
fi

# 3. Training and held-out sets as directories of links (so every command names one directory).
if [ ! -f "$DATA/READY" ]; then
    rm -rf "$DATA"
    mkdir -p "$DATA/train" "$DATA/heldout-prose" "$DATA/heldout-technical"
    for f in data/english/*.txt; do
        name=$(basename "$f" .txt)
        case " $PROSE_HELD_OUT " in
            *" $name "*) ln -s "../../../../$f" "$DATA/heldout-prose/$name.txt" ;;
            *) ln -s "../../../../$f" "$DATA/train/english--$name.txt" ;;
        esac
    done
    for f in data/technical/train/*.txt; do ln -s "../../../../$f" "$DATA/train/$(basename "$f")"; done
    # A fixed sixth of the technical held-out documents (by sorted name), prose and code-heavy alike.
    ls data/technical/heldout-prose/*.txt data/technical/heldout-code/*.txt | sort | awk 'NR % 6 == 1' |
        while read -r f; do ln -s "../../../../$f" "$DATA/heldout-technical/$(basename "$(dirname "$f")")--$(basename "$f")"; done
    touch "$DATA/READY"
fi
# Half literature, half technical text by bytes, for (a2″): every literature training document and
# every thirteenth technical one by sorted name (16.1 MB of literature against about 16 MB).
if [ ! -f "$DATA/HALF_PROSE_READY" ]; then
    rm -rf "$DATA/train-half-prose"
    mkdir -p "$DATA/train-half-prose"
    for f in "$DATA"/train/english--*.txt; do ln -s "$(readlink "$f")" "$DATA/train-half-prose/$(basename "$f")"; done
    find "$DATA/train" -maxdepth 1 -name '*.txt' ! -name 'english--*' | sort | awk 'NR % 13 == 1' |
        while read -r f; do ln -s "$(readlink "$f")" "$DATA/train-half-prose/$(basename "$f")"; done
    touch "$DATA/HALF_PROSE_READY"
fi
# Literature alone, for (a4): every literature training document (the shipped default's training set).
if [ ! -f "$DATA/LITERATURE_READY" ]; then
    rm -rf "$DATA/train-literature"
    mkdir -p "$DATA/train-literature"
    for f in "$DATA"/train/english--*.txt; do ln -s "$(readlink "$f")" "$DATA/train-literature/$(basename "$f")"; done
    touch "$DATA/LITERATURE_READY"
fi

# 4. Backbone and the two starting models (identical local parts; backbone pretrained or random).
[ -f "$BACKBONE/model.safetensors" ] || step "$HAT" convert-backbone "$GGUF" --out "$BACKBONE" --dtype f32
if [ -n "$LOCAL_FROM" ]; then LOCAL=(--local-from "$LOCAL_FROM"); else LOCAL=(--config graft-local); fi
[ -f "$INIT/pretrained/model.safetensors" ] ||
    step "$HAT" graft --backbone "$BACKBONE" "${LOCAL[@]}" --seed "$SEED" --out "$INIT/pretrained"
[ -f "$INIT/random/model.safetensors" ] ||
    step "$HAT" graft --backbone "$BACKBONE" "${LOCAL[@]}" --seed "$SEED" --random-backbone --out "$INIT/random"

newest_step() {
    local newest
    newest=$(ls -d "$1"/checkpoints/step-* 2>/dev/null | sort | tail -n 1 || true)
    if [ -z "$newest" ]; then echo 0; else sed -n 's/^ *"step" : \([0-9]*\).*/\1/p' "$newest/state.json"; fi
}

# timed RUN COMMAND…: at nice NICE, output appended to RUN/train.log, wall/user/sys seconds to
# RUN/time.txt and the load average at start and end to RUN/load.txt.
timed() {
    local run=$1
    shift
    mkdir -p "$run"
    printf '\n+ %s   (log: %s/train.log)\n' "nice -n $NICE $*" "$run"
    echo "start $(cut -d' ' -f1 /proc/loadavg)" >> "$run/load.txt"
    nice -n "$NICE" /usr/bin/time -f "%e %U %S" -a -o "$run/time.txt" "$@" >> "$run/train.log" 2>&1
    echo "end $(cut -d' ' -f1 /proc/loadavg)" >> "$run/load.txt"
}

COMMON=(--rows-per-batch "$ROWS" --words-per-row "$WORDS" --max-row-bytes "$MAX_ROW_BYTES"
        --warmup-steps "$WARMUP" --validation-fraction 0.01 --validate-every "$VALIDATE_EVERY"
        --validation-rows "$VALIDATION_ROWS" --checkpoint-every "$CHECKPOINT_EVERY" --keep-checkpoints 2
        --threads "$THREADS" --log-every 5)
TEACHER=(--teacher "$GGUF" --align-blocks "$ALIGN_BLOCKS" --align-distance "$ALIGN_DISTANCE")

# train ARM STEPS ARGS…: a new run, or the continuation of an unfinished one.
train() {
    local arm=$1 steps=$2
    shift 2
    local run=$ROOT/$arm
    local reached
    reached=$(newest_step "$run")
    if [ "$reached" -ge "$steps" ]; then echo "$arm: done ($reached steps)"; return; fi
    if [ "$reached" -gt 0 ]; then
        timed "$run" "$HAT" train --resume "$run" --steps "$steps" --threads "$THREADS"
    else
        rm -rf "$run/checkpoints" "$run/metrics.jsonl"
        timed "$run" "$HAT" train --out "$run" --steps "$steps" "$@"
    fi
}

# 5. Held-out sets: fixed excerpts of the held-out documents (EVAL_BYTES of each prose work,
# EVAL_TECH_BYTES of every fourth technical document, cut at a line end), scored in blocks of
# SCORE_BLOCKS bytes: the units of the report's intervals.
EVAL_HAT=${EVAL_HAT:-$HAT}
EVAL_BYTES=${EVAL_BYTES:-12000}
EVAL_TECH_BYTES=${EVAL_TECH_BYTES:-3000}
SCORE_BLOCKS=${SCORE_BLOCKS:-2048}
if [ ! -f "$DATA/EVAL_READY" ]; then
    "$PYTHON" - "$DATA" "$EVAL_BYTES" "$EVAL_TECH_BYTES" <<'PY'
import os, sys
data, prose_bytes, tech_bytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def excerpt(source, target, limit):
    raw = open(source, "rb").read()
    cut = raw[:limit]
    if len(raw) > limit and b"\n" in cut:
        cut = cut[:cut.rindex(b"\n") + 1]
    cut.decode("utf-8")  # the excerpts stay valid UTF-8 (token models refuse anything else)
    open(target, "wb").write(cut)
for name, limit, every in (("prose", prose_bytes, 1), ("technical", tech_bytes, 4)):
    os.makedirs(f"{data}/eval-{name}", exist_ok=True)
    for i, f in enumerate(sorted(os.listdir(f"{data}/heldout-{name}"))):
        if i % every == 0:
            excerpt(f"{data}/heldout-{name}/{f}", f"{data}/eval-{name}/{f}", limit)
PY
    touch "$DATA/EVAL_READY"
fi

# evaluate NAME MODEL: `hat eval --json --documents` of MODEL on both held-out sets, written to
# ARCHIVE/eval/NAME--SET.json (skipped when there).
evaluate() {
    local name=$1 model=$2 set out
    mkdir -p "$ARCHIVE/eval"
    for set in prose technical; do
        out=$ARCHIVE/eval/$name--$set.json
        [ -s "$out" ] && continue
        printf '\n+ %s\n' "hat eval --model $model --data $DATA/eval-$set …" >&2   # stdout is the JSON
        nice -n "$NICE" "$EVAL_HAT" eval --model "$model" --data "$DATA/eval-$set" --threads "$THREADS" --json \
            --documents --score-blocks "$SCORE_BLOCKS" > "$out.tmp"
        mv "$out.tmp" "$out"
    done
}

# archive ARM: the finished arm's evaluation, then the files the report reads, copied to ARCHIVE/ARM
# (config.json of the final checkpoint carries the provenance); ARCHIVE/ARM/DONE marks it finished.
archive() {
    local arm=$1 final f
    final=$(ls -d "$ROOT/$arm/checkpoints"/step-* | sort | tail -n 1)
    evaluate "$arm" "$final"
    mkdir -p "$ARCHIVE/$arm"
    for f in metrics.jsonl options.json time.txt load.txt NOTES.txt; do
        if [ -f "$ROOT/$arm/$f" ]; then cp "$ROOT/$arm/$f" "$ARCHIVE/$arm/$f"; fi
    done
    cp "$final/config.json" "$ARCHIVE/$arm/config.json"
    echo "$(basename "$final"), archived from checkout $(git rev-parse --short HEAD) at $(date -u +%Y-%m-%dT%H:%MZ)" > "$ARCHIVE/$arm/DONE"
}

# compare_with_archive ARM: an archived arm trained again (a later stage 2 needs its checkpoint), its
# metrics compared record by record with the archived ones — the same recipe, data and seed should
# give the same numbers; the verdict goes to the log and to ROOT/ARM/reproduction.txt.
compare_with_archive() {
    local arm=$1 verdict
    verdict=$("$PYTHON" - "$ARCHIVE/$arm/metrics.jsonl" "$ROOT/$arm/metrics.jsonl" <<'PY'
import json, sys
def records(path):
    return {(r["split"], r["step"]): r for r in map(json.loads, open(path))}
archived, again = records(sys.argv[1]), records(sys.argv[2])
fields = ("loss", "bits_per_byte", "bytes_seen")
shared = sorted(set(archived) & set(again), key=lambda k: (k[1], k[0]))
differing = [k for k in shared if any(archived[k].get(f) != again[k].get(f) for f in fields)]
if differing:
    split, step = differing[0]
    print(f"differs from the archived run first at step {step} ({split}); "
          f"{len(shared) - len(differing)} of {len(shared)} shared records the same")
else:
    print(f"the same loss, bits per byte and bytes as the archived run in all {len(shared)} shared records "
          f"(through step {shared[-1][1] if shared else 0})")
PY
)
    echo "$arm trained again: $verdict"
    echo "$(date -u +%Y-%m-%dT%H:%MZ) $HAT: $verdict" > "$ROOT/$arm/reproduction.txt"
}

evaluate teacher "$GGUF"
evaluate default Models/default

# The arm a stage-2 arm starts from, and the steps that arm must have reached. An arm named
# RECIPE-distilled is the stage-2 arm RECIPE on the chain that starts from (a), distilled.
source_of() {
    case $1 in
        stage2) echo distilled ;;
        stage2-long|stage2-prose) echo "$STAGE2_LONG_FROM" ;;
        stage2-more) echo stage2-prose ;;
        stage2-lit) echo stage2-more ;;
        stage2-prose-distilled) echo distilled ;;
        stage2-more-distilled) echo stage2-prose-distilled ;;
        stage2-lit-distilled) echo stage2-more-distilled ;;
    esac
}
steps_of() {
    case ${1%-distilled} in
        distilled|plain|random) echo "$STEPS" ;;
        stage2) echo "$STAGE2_STEPS" ;;
        stage2-long|stage2-prose) echo "$STAGE2_LONG_STEPS" ;;
        stage2-more) echo "$STAGE2_MORE_STEPS" ;;
        stage2-lit) echo "$STAGE2_LIT_STEPS" ;;
    esac
}

for arm in $ARMS; do
    if [ -f "$ARCHIVE/$arm/DONE" ]; then
        # A finished arm is trained again only when a stage 2 still needs its checkpoint.
        waiting=no
        # (directly or through the arms between: stage2-lit needs stage2-more, which needs stage2-prose…).
        for later in $ARMS; do
            [ ! -f "$ARCHIVE/$later/DONE" ] || continue
            source=$(source_of "$later")
            while [ -n "$source" ]; do
                if [ "$arm" = "$source" ]; then waiting=yes; fi
                source=$(source_of "$source")
            done
        done
        if [ $waiting = no ]; then
            echo "$arm: done ($(cat "$ARCHIVE/$arm/DONE"))"; continue
        fi
    fi
    case $arm in
        distilled) train distilled "$STEPS" --data "$DATA/train" --init-from "$INIT/pretrained" --freeze backbone --learning-rate "$LR" --seed "$SEED" "${COMMON[@]}" "${TEACHER[@]}" ;;
        plain)     train plain "$STEPS" --data "$DATA/train" --init-from "$INIT/pretrained" --freeze backbone --learning-rate "$LR" --seed "$SEED" "${COMMON[@]}" ;;
        random)    train random "$STEPS" --data "$DATA/train" --init-from "$INIT/random" --freeze backbone --learning-rate "$LR" --seed "$SEED" "${COMMON[@]}" "${TEACHER[@]}" ;;
        stage2|stage2-long|stage2-prose|stage2-more|stage2-lit|stage2-prose-distilled|stage2-more-distilled|stage2-lit-distilled)
            source=$(source_of "$arm") recipe=${arm%-distilled}
            from=$(ls -d "$ROOT/$source/checkpoints"/step-* 2>/dev/null | sort | tail -n 1 || true)
            if [ -z "$from" ] || [ "$(newest_step "$ROOT/$source")" -lt "$(steps_of "$source")" ]; then
                echo "$arm: waits for the $source arm to finish"; continue
            fi
            if [ "$recipe" = stage2-more ]; then
                train "$arm" "$STAGE2_MORE_STEPS" --init-from "$from" --freeze backbone --learning-rate "$STAGE2_MORE_LR" \
                    --seed "$STAGE2_MORE_SEED" --data "$DATA/train-half-prose" "${COMMON[@]}"
            elif [ "$recipe" = stage2-lit ]; then
                train "$arm" "$STAGE2_LIT_STEPS" --init-from "$from" --freeze backbone --learning-rate "$STAGE2_MORE_LR" \
                    --seed "$STAGE2_LIT_SEED" --data "$DATA/train-literature" "${COMMON[@]}"
            elif [ "$arm" = stage2 ]; then
                train stage2 "$STAGE2_STEPS" --data "$DATA/train" --init-from "$from" --backbone-learning-rate "$BACKBONE_LR" --learning-rate "$STAGE2_LR" \
                    --seed "$SEED" "${COMMON[@]}"
            else
                data=$DATA/train
                [ "$recipe" = stage2-prose ] && data=$DATA/train-half-prose
                train "$arm" "$STAGE2_LONG_STEPS" --init-from "$from" --freeze backbone --learning-rate "$STAGE2_LR" \
                    --seed "$STAGE2_LONG_SEED" --data "$data" "${COMMON[@]}"
            fi ;;
        *) echo "unknown arm $arm" >&2; exit 2 ;;
    esac
    if [ -f "$ARCHIVE/$arm/DONE" ]; then compare_with_archive "$arm"; else archive "$arm"; fi
done

# 6. The report.
NOTES=Reports/graft-smollm2-notes.md   # the hand-written reading, once there is something to read
step "$EVAL_HAT" report distill "$ARCHIVE" --out Reports/graft-smollm2.md $([ -f "$NOTES" ] && echo --notes "$NOTES")
