#!/usr/bin/env bash
# Every family's vs_reference benchmark, StyleGAN2 256px s/kimg with peak memory, and AnimeGAN
# stylize (512 px) and 720p video throughput, in one run that writes one table (at most ~8 minutes
# on a GPU).
#
#   benchmarks/gpu.sh [--device cuda|cpu] [--refs DIR] [--out DIR]
#
# --refs holds the reference checkouts, one folder per repository named as below (the GPU machine
# reaches no network, so they travel with the working tree; default: shared/refs). A missing
# checkout skips that benchmark with a note. --device cpu is the dry run: same commands, tiny sizes
# (per family, DRY below), at most LIMIT seconds each (environment; default 300).
set -u
DEVICE=cuda
REFS=shared/refs
OUT=benchmark-results
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE=$2; shift 2 ;;
    --refs) REFS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "gpu.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
PY=${PYTHON:-.venv/bin/python}
mkdir -p "$OUT"
RECORD="$OUT/vs_reference.jsonl"
LOG="$OUT/log.txt"
: > "$RECORD"
: > "$LOG"
if [ "$DEVICE" = cpu ]; then
  SIZE_ARGS=(--steps 1 --rounds 2 --warmup 1); PREC=(fp32); SG_SIZE=64; AG_SIZE=128; AV_SIZE=128  # 64: the smallest StyleGAN preset
  LIMIT=${LIMIT:-300}  # seconds per command; a busy CPU needs more
else
  SIZE_ARGS=(--steps 5 --rounds 4 --warmup 3); PREC=(fp32 bf16); SG_SIZE=256; AG_SIZE=512; AV_SIZE=1280; LIMIT=120
fi
[ "$DEVICE" = cuda ] && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >> "$LOG"

run() {  # run LABEL CMD...: time-limited, output to the log
  echo "== $1" | tee -a "$LOG"
  shift
  timeout "$LIMIT" "$@" >> "$LOG" 2>&1 || echo "   (exit $?)" | tee -a "$LOG"
}

# the dry run's tiny settings per family (the GPU run takes each driver's defaults)
declare -A DRY=([stylegan2]="--size 16" [singan]="--scale 1" [pggan]="--level 1"
                [animegan]="--size 64" [dcgan]="--batch 8")
# family driver : reference folder under --refs
for pair in pix2pix:pytorch-CycleGAN-and-pix2pix singan:SinGAN stylegan2:stylegan2-ada-pytorch \
            animegan:pytorch-animeGAN dcgan:examples pggan:pytorch_GAN_zoo; do
  fam=${pair%%:*}; ref=$REFS/${pair#*:}
  driver=benchmarks/vs_reference/$fam.py
  [ -f "$driver" ] || { echo "== $fam: no driver" | tee -a "$LOG"; continue; }
  [ -d "$ref" ] || { echo "== $fam: no checkout at $ref, skipped" | tee -a "$LOG"; continue; }
  dry=(); [ "$DEVICE" = cpu ] && read -r -a dry <<< "${DRY[$fam]:-}"
  for prec in "${PREC[@]}"; do
    run "$fam vs reference ($prec)" "$PY" "$driver" "$ref" --device "$DEVICE" --precision "$prec" \
      "${SIZE_ARGS[@]}" "${dry[@]}" --record "$RECORD"
  done
done

[ "$DEVICE" = cuda ] && [ -d "$REFS/stylegan2-ada-pytorch" ] && run "stylegan2 vs reference without NVlabs' CUDA plugins" \
  "$PY" benchmarks/vs_reference/stylegan2.py "$REFS/stylegan2-ada-pytorch" --device cuda --custom-ops off \
  "${SIZE_ARGS[@]}" --record "$RECORD"
run "stylegan2 ${SG_SIZE}px training s/kimg + peak memory" "$PY" benchmarks/stylegan_speed.py \
  --train --size "$SG_SIZE" --batch 16 --iters 3 --device "$DEVICE" --precision fp32
run "animegan stylize ${AG_SIZE}px" "$PY" benchmarks/animegan_speed.py \
  --n 8 --size "$AG_SIZE" --repeats 1 --video-frames 0
run "animegan video ${AV_SIZE}px wide (16:9; 1280: 720p)" "$PY" benchmarks/animegan_speed.py \
  --video-only --size "$AV_SIZE" --video-frames 32

{
  echo "# gankit benchmarks on $DEVICE ($(date -u +%Y-%m-%d))"
  echo
  "$PY" benchmarks/vs_reference/table.py "$RECORD"
  echo
  echo '```'
  cat "$LOG"
  echo '```'
} > "$OUT/table.md"
echo "wrote $OUT/table.md"
