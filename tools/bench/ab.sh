#!/usr/bin/env bash
# Interleaved A/B of two intake binaries under scenario (a) (or (b)), for judging one change on
# a host whose speed drifts by ±20 % within minutes: PAIRS rounds, the order swapped every
# round, each run on a fresh SQLite database, the mean of each side at the end.
#
#   tools/bench/ab.sh BINARY_A BINARY_B [PAIRS]     (PAIRS: default 3)
#
# A binary may be the word `baseline` (examples/bench_baseline). Build the two sides first, e.g.
#   git stash && cargo build --release && cp target/release/intake /tmp/intake.before
#   git stash pop && cargo build --release && cp target/release/intake /tmp/intake.after
#   tools/bench/ab.sh /tmp/intake.before /tmp/intake.after 4
#
# Knobs: BENCH_DURATION (seconds per run, default 10), BENCH_CONNECTIONS (64),
# BENCH_WRK_THREADS (2), BENCH_PAYLOAD (one or hundred: 1 or 100 events a request),
# BENCH_THREADS=1 (also print each server thread's user and system CPU per request).
set -euo pipefail
cd "$(dirname "$0")/../.."

[ $# -ge 2 ] || { sed -n 2,15p "$0" >&2; exit 2; }
SIDES=("$1" "$2")
PAIRS=${3:-3}
DURATION=${BENCH_DURATION:-10}
CONNS=${BENCH_CONNECTIONS:-64}
WRK_THREADS=${BENCH_WRK_THREADS:-2}
PAYLOAD=${BENCH_PAYLOAD:-one}
export RUST_LOG=${RUST_LOG:-warn}
PORT=18701
BASELINE=target/release/examples/bench_baseline
for side in "${SIDES[@]}"; do
  if [ "$side" = baseline ]; then
    [ -x "$BASELINE" ] || cargo build --release --locked --example bench_baseline
  else
    [ -x "$side" ] || { echo "not an executable: $side" >&2; exit 2; }
  fi
done
command -v wrk >/dev/null || { echo "wrk is missing: run 'make bench' once (it installs wrk)" >&2; exit 1; }
case "$PAYLOAD" in one) PER=1 ;; hundred) PER=100 ;; *) echo "BENCH_PAYLOAD: one or hundred" >&2; exit 2 ;; esac

WORK=$(mktemp -d)
RAW="$WORK/raw.txt"
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# shellcheck source=tools/bench/lib.sh
source tools/bench/lib.sh

# Each thread's name (made unique by its id) with its user and system ticks.
thread_ticks() {
  local task
  for task in /proc/"$1"/task/*; do
    printf '%s-%s %s\n' "$(tr -d ' |' <"$task/comm")" "${task##*/}" "$(awk '{print $14, $15}' "$task/stat")"
  done | sort
}

CLK_TCK=$(getconf CLK_TCK)
RUNS=0
# run SIDE -> prints one line; sets LAST_RATE (requests/s)
run() {
  local side=$1
  RUNS=$(( RUNS + 1 ))
  if [ "$side" = baseline ]; then
    start_baseline
  else
    BIN=$side
    start_intake "run-$RUNS" # a fresh database file each run
  fi
  run_wrk post.lua "$WORK/$PAYLOAD.json" "$CONNS" 2 warm-up >/dev/null
  local t0 t1 json before=""
  [ "${BENCH_THREADS:-}" = 1 ] && before=$(thread_ticks "$SERVER_PID")
  t0=$(cpu_ticks "$SERVER_PID")
  json=$(run_wrk post.lua "$WORK/$PAYLOAD.json" "$CONNS" "$DURATION" "$side")
  t1=$(cpu_ticks "$SERVER_PID")
  local requests non2xx dur p99 rss
  requests=$(field "$json" requests); non2xx=$(field "$json" non2xx)
  dur=$(field "$json" duration_us); p99=$(field "$json" p99_us)
  rss=$(peak_rss_kib "$SERVER_PID")
  LAST_RATE=$(awk -v r="$requests" -v d="$dur" 'BEGIN {printf "%.0f", r / (d / 1e6)}')
  awk -v s="$side" -v r="$LAST_RATE" -v per="$PER" -v p="$p99" -v t=$(( t1 - t0 )) -v hz="$CLK_TCK" \
    -v n="$requests" -v rss="$rss" -v bad="$non2xx" 'BEGIN {
      printf "%-28s %7d requests/s (%d incidents/s)  p99 %6.2f ms  CPU %5.1f µs/request  peak RSS %d MiB  non-2xx %d\n",
        s, r, r * per, p / 1000, t / hz * 1e6 / n, rss / 1024, bad }'
  if [ -n "$before" ]; then
    join <(echo "$before") <(thread_ticks "$SERVER_PID") | awk -v n="$requests" -v hz="$CLK_TCK" '
      ($4 - $2) + ($5 - $3) > 0 {
        printf "    %-26s user %5.1f  system %5.1f µs/request\n", $1, ($4 - $2) / hz * 1e6 / n, ($5 - $3) / hz * 1e6 / n }'
  fi
  stop_server
}

A=${SIDES[0]}
B=${SIDES[1]}
SUM_A=0 SUM_B=0 B_AHEAD=0
for n in $(seq 1 "$PAIRS"); do
  if [ $(( n % 2 )) = 1 ]; then
    run "$A"; RATE_A=$LAST_RATE; run "$B"; RATE_B=$LAST_RATE
  else
    run "$B"; RATE_B=$LAST_RATE; run "$A"; RATE_A=$LAST_RATE
  fi
  SUM_A=$(( SUM_A + RATE_A )); SUM_B=$(( SUM_B + RATE_B ))
  if [ "$RATE_B" -gt "$RATE_A" ]; then B_AHEAD=$(( B_AHEAD + 1 )); fi
done
MEAN_A=$(( SUM_A / PAIRS ))
MEAN_B=$(( SUM_B / PAIRS ))
echo "mean over $PAIRS pairs: A $MEAN_A, B $MEAN_B requests/s; B/A $(awk -v a="$MEAN_A" -v b="$MEAN_B" 'BEGIN {printf "%.3f", b / a}'); B ahead in $B_AHEAD of $PAIRS pairs"
