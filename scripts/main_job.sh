#!/usr/bin/env bash
# The main job: train a small encoder-free Gemma 4 model on the synthetic multimodal suites
# (runs/main/model/summary.json records how long it took), quantize it to 4 bits (two schemes), evaluate every variant on the
# held-out items of each suite and write the report (baseline: the fp32 model).
#   bash scripts/main_job.sh [out dir, default runs/main]
# G4U_TRAIN_CONFIG picks another training config (default experiments/train-small.json).
# Every step resumes: rerunning after an interruption continues where it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
G=./build/release/apps/g4u
OUT=${1:-runs/main}
mkdir -p "$OUT"

if [ ! -f "$OUT/model/summary.json" ]; then
  "$G" train --config "${G4U_TRAIN_CONFIG:-experiments/train-small.json}" --out "$OUT/model"
fi
DATA="$OUT/model/data/eval.jsonl"

for scheme in q4_0 q4_k_m; do
  if [ ! -f "$OUT/model-$scheme/config.json" ]; then
    "$G" quantize --model "$OUT/model" --scheme "$scheme" --out "$OUT/model-$scheme"
  fi
done

"$G" eval --model "$OUT/model" --data "$DATA" --out "$OUT/eval/fp32" --variant fp32 --batch 8
"$G" eval --model "$OUT/model" --dtype bf16 --data "$DATA" --out "$OUT/eval/bf16" --variant bf16 --batch 8
for scheme in q4_0 q4_k_m; do
  "$G" eval --model "$OUT/model-$scheme" --data "$DATA" --out "$OUT/eval/$scheme" --variant "$scheme" --batch 8
done

"$G" report --out "$OUT/report" --baseline fp32 "$OUT"/eval/{fp32,bf16,q4_0,q4_k_m}/results.json
echo "report: $OUT/report/report.md and $OUT/report/report.html"
