#!/usr/bin/env bash
# Issue 24 session 2: the trainer options measured one at a time (and one combination) on
# one fold of the lag-1 daily world and the 15-minute time-of-day world, several seeds,
# in parallel: one `benchmarks.trainer_ablation` process per (configuration, world, seed),
# each on one thread, every result line "TAG {json}" appended to $1/sweep_results.txt.
#
#   N=16 benchmarks/sweep_issue24.sh /tmp/sweep          # N parallel processes (default 2)
#   SEEDS="0 1 2 3 4" STEPS=163840 ONLY=.              # the defaults (ONLY: a regex of tags)
#   ./dev python -m benchmarks.ablation_summary /tmp/sweep/sweep_results.txt   # the table
#
# 10 configurations x 2 worlds x 5 seeds = 100 runs of 163,840 steps (~25-40 s each on a
# free core): about 4-5 minutes on 16 cores.
set -euo pipefail
out="${1:?usage: benchmarks/sweep_issue24.sh OUT_DIR}"
N="${N:-2}"
SEEDS="${SEEDS:-0 1 2 3 4}"
STEPS="${STEPS:-163840}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-$root/.venv/bin/python}"
[ -x "$py" ] || py="$(command -v python3)"
mkdir -p "$out"
results="$out/sweep_results.txt"
: > "$results"

configs=(
  'base|{}'
  'wd0.1|{"weight_decay": 0.1}'
  'wd1.0|{"weight_decay": 1.0}'
  'aug3|{"augment_paths": 3}'
  'aug7|{"augment_paths": 7}'
  'ent.03-0|{"ent_coef": 0.03, "ent_coef_final": 0.0}'
  'es3|{"early_stop": 3}'
  'aug3+wd0.1|{"augment_paths": 3, "weight_decay": 0.1}'
  'ent.01-0|{"ent_coef_final": 0.0}'
  'aug3+ent.01-0|{"augment_paths": 3, "ent_coef_final": 0.0}'
)
worlds=(
  'lag1_daily_030|--train 858 --seg 250'
  'tod_15m_050|--train 2000 --seg 600'
)

jobs="$out/jobs.txt"
: > "$jobs"
for s in $SEEDS; do  # seeds outermost: a sweep cut short still has every configuration on the first seeds
  for c in "${configs[@]}"; do
    [[ "${c%%|*}" =~ ${ONLY:-.} ]] || continue
    for w in "${worlds[@]}"; do
      printf '%s\t%s\t%s\t%s\t%s\n' "${c%%|*}" "${c#*|}" "${w%%|*}" "${w#*|}" "$s" >> "$jobs"
    done
  done
done

run_one() {
  IFS=$'\t' read -r tag extra world wargs seed <<< "$1"
  # shellcheck disable=SC2086
  line=$(cd "$root" && OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 timeout 300 "$py" -m benchmarks.trainer_ablation \
    --world "$world" --seed "$seed" --window 5 --features compact --steps "$STEPS" --extra "$extra" $wargs \
    2>>"$out/stderr.txt" | tail -n 1) || true
  if [ -n "$line" ]; then
    { flock 9 2>/dev/null || true; printf '%s %s\n' "$tag" "$line" >> "$results"; } 9>>"$results.lock"
  else
    echo "FAILED $tag $world $seed" >> "$out/stderr.txt"
  fi
}
export -f run_one
export root py STEPS results out
echo "$(wc -l < "$jobs") runs on $N processes -> $results" >&2
start=$(date +%s)
tr '\n' '\0' < "$jobs" | xargs -0 -P "$N" -I{} bash -c 'run_one "$@"' _ {}
echo "done in $(( $(date +%s) - start )) s: $(wc -l < "$results") result lines" >&2
