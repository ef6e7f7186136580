#!/usr/bin/env bash
# The main job, now an experiment file: `g4u run experiments/main.json` (experiments/README.md).
#   bash scripts/main_job.sh [out dir, default runs/main] [more g4u run flags, e.g. --dry-run]
# Rerunning after an interruption continues where it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
exec ./build/release/apps/g4u run experiments/main.json --out "${1:-runs/main}" "${@:2}"
