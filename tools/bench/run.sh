#!/usr/bin/env bash
# `make bench`: release builds, then wrk over loopback against intake (fresh temp SQLite,
# argon2-hashed Basic credential) and against the in-repo baseline (before and after the
# scenarios compared with it), in one run; and, when
# INTAKE_TEST_PG_URL names a PostgreSQL server, intake on a fresh database there (scenario d).
# Writes docs/benchmarks.md (table + machine facts) and target/bench-raw.txt (wrk output).
#
# Knobs: BENCH_DURATION (seconds per scenario, default 15), BENCH_CONNECTIONS (default 64),
# BENCH_WRK_THREADS (default 2), RUST_LOG for intake (default warn: no access log),
# BENCH_ONLY=auth (only scenarios f and g, header rule vs bearer token; prints, writes no docs).
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${BENCH_DURATION:-15}
CONNS=${BENCH_CONNECTIONS:-64}
WRK_THREADS=${BENCH_WRK_THREADS:-2}
export RUST_LOG=${RUST_LOG:-warn}
PORT=18700
BIN=${CARGO_TARGET_DIR:-target}/release/intake
BASELINE=${CARGO_TARGET_DIR:-target}/release/examples/bench_baseline

command -v wrk >/dev/null || { echo "wrk is missing: run 'make bench' (it installs wrk)" >&2; exit 1; }
cargo build --release --locked --bin intake --example bench_baseline

WORK=$(mktemp -d)
mkdir -p target
RAW=target/bench-raw.txt
: > "$RAW"
SERVER_PID=""
PG_DB=""
# The server part of INTAKE_TEST_PG_URL (any database name or query removed).
PG_SERVER=$(printf %s "${INTAKE_TEST_PG_URL:-}" | sed -E 's#^(postgres(ql)?://[^/?]+).*#\1#')
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  if [ -n "$PG_DB" ]; then
    sleep 0.5
    psql -q "$PG_SERVER/postgres" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# shellcheck source=tools/bench/lib.sh
source tools/bench/lib.sh

ROWS=()
CLK_TCK=$(getconf CLK_TCK)
# measure LABEL SCRIPT BODY EVENTS_PER_REQUEST -> one table row; sets LAST_RATE (incidents/s)
measure() {
  local label=$1 script=$2 body=$3 per=$4
  local warm
  warm=$(run_wrk "$script" "$body" "$CONNS" 2 "$label warm-up")
  local t0 t1 json
  t0=$(cpu_ticks "$SERVER_PID")
  json=$(run_wrk "$script" "$body" "$CONNS" "$DURATION" "$label")
  t1=$(cpu_ticks "$SERVER_PID")
  local requests non2xx dur p50 p99 errors rss
  requests=$(field "$json" requests); non2xx=$(field "$json" non2xx); dur=$(field "$json" duration_us)
  p50=$(field "$json" p50_us); p99=$(field "$json" p99_us); errors=$(field "$json" socket_errors)
  rss=$(peak_rss_kib "$SERVER_PID")
  LAST_OK=$(( requests - non2xx ))
  # Acknowledged incidents in warm-up and run together, for the durability check.
  LAST_ACKED=$(( (LAST_OK + $(field "$warm" requests) - $(field "$warm" non2xx)) * per ))
  LAST_RATE=$(awk -v ok="$LAST_OK" -v per="$per" -v d="$dur" 'BEGIN {printf "%.0f", ok * per / (d / 1e6)}')
  local cpu_us
  cpu_us=$(awk -v t=$(( t1 - t0 )) -v hz="$CLK_TCK" -v n="$requests" 'BEGIN {printf "%.1f", n ? t / hz * 1e6 / n : 0}')
  ROWS+=("| $label | $LAST_RATE | $(awk -v v="$p50" 'BEGIN{printf "%.2f", v/1000}') | $(awk -v v="$p99" 'BEGIN{printf "%.2f", v/1000}') | $non2xx | $errors | $cpu_us | $(( rss / 1024 )) |")
  echo "  $label: $LAST_RATE incidents/s, p50 ${p50} us, p99 ${p99} us, non-2xx $non2xx, CPU ${cpu_us} us/request, peak RSS $(( rss / 1024 )) MiB"
}

# The highest incident id is the number stored (ids start at 1 and nothing is deleted).
stored_incidents() {
  "$BIN" incidents list --json --limit 1 | sed -n 's/.*"id": \([0-9]*\).*/\1/p' | head -1
}

# The baseline runs right before and right after each scenario it is compared with, and the
# ratio takes the mean of the two: this host's speed drifts by ±20 % within minutes (the same
# binary did 17.8k-26.6k requests/s under (a) within an hour), and one baseline run taken at
# another moment moved the ratio more than any change to intake did.
# baseline LABEL -> one table row; sets LAST_RATE
baseline() {
  echo "scenario c: baseline actix-web server ($1)"
  start_baseline
  measure "c) baseline: 1 event/request ($1)" post.lua "$WORK/one.json" 1
  stop_server
}
mean() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f", (a + b) / 2}'; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b ? a / b : 0}'; }

if [ "${BENCH_ONLY:-}" = auth ]; then
  auth_pair
  printf '%s\n' "${ROWS[@]}"
  echo "g/f (bearer token vs header rule): $(ratio "$G_RATE" "$F_RATE")"
  exit 0
fi

baseline "before a"
BASE_BEFORE_A=$LAST_RATE

echo "scenario a: intake, 1 event/request"
start_intake a
measure "a) intake: 1 event/request" post.lua "$WORK/one.json" 1
A_RATE=$LAST_RATE
A_ACKED=$LAST_ACKED
stop_server
A_STORED=$(stored_incidents)
baseline "after a"
BASE_AFTER_A=$LAST_RATE
BASE_RATE=$(mean "$BASE_BEFORE_A" "$BASE_AFTER_A")

D_ROW="| d) intake on PostgreSQL | not run: INTAKE_TEST_PG_URL is not set | | | | | | |"
D_LINE=""
if [ -n "$PG_SERVER" ]; then
  if command -v psql >/dev/null; then
    echo "scenario d: intake on PostgreSQL, 1 event/request"
    PG_DB="intake_bench_$$"
    psql -q "$PG_SERVER/postgres" -c "CREATE DATABASE $PG_DB" >/dev/null
    start_intake d "$PG_SERVER/$PG_DB"
    measure "d) intake on PostgreSQL: 1 event/request" post.lua "$WORK/one.json" 1
    D_RATE=$LAST_RATE
    D_ACKED=$LAST_ACKED
    stop_server
    # Sequences leave gaps (a drawn id is not given back), so count rather than take max(id).
    D_STORED=$(psql -tA "$PG_SERVER/$PG_DB" -c 'SELECT count(*) FROM incidents')
    D_ROW=""
    if [ "$D_STORED" -ge "$D_ACKED" ]; then D_VERDICT="none missing"; else D_VERDICT="**$(( D_ACKED - D_STORED )) MISSING**"; fi
    baseline "after d"
    D_BASE=$(mean "$BASE_AFTER_A" "$LAST_RATE")
    D_LINE="- d/c (intake on PostgreSQL vs the mean of the baselines before and after it, $D_BASE): **$(awk -v a="$D_RATE" -v b="$D_BASE" 'BEGIN {printf "%.2f", b ? a / b : 0}')** (goal ≥ 0.4); durability: $D_ACKED acknowledged, $D_STORED stored: $D_VERDICT"
  else
    D_ROW="| d) intake on PostgreSQL | not run: psql (to create the bench database) is missing | | | | | | |"
  fi
fi

echo "scenario b: intake, 100 events/request"
start_intake b
measure "b) intake: 100 events/request" post.lua "$WORK/hundred.json" 100
B_RATE=$LAST_RATE
stop_server

echo "scenario e: intake, good traffic beside a wrong-password flood"
start_intake e
run_wrk wrong_passwords.lua "$WORK/one.json" 16 $(( DURATION + 4 )) "e) wrong-password flood" >"$WORK/flood.json" &
FLOOD=$!
sleep 1
measure "e) intake: 1 event/request during flood" post.lua "$WORK/one.json" 1
E_RATE=$LAST_RATE
wait "$FLOOD" || true
FLOOD_JSON=$(cat "$WORK/flood.json")
stop_server

auth_pair
CPU_MODEL=$(awk -F: '/model name/ {gsub(/^ /, "", $2); print $2; exit}' /proc/cpuinfo)
# The sections after the generated table ("## …": the ingest analysis, make bench-search and
# make bench-console, written by hand from their output) are kept.
SEARCH_SECTION=$(sed -n '/^## /,$p' docs/benchmarks.md 2>/dev/null || true)
{
  echo "# Benchmarks"
  echo
  echo "Written by \`make bench\` ($(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown))."
  echo "Raw wrk output: target/bench-raw.txt of the run (not committed)."
  echo
  echo "Machine: $(nproc) cores ($CPU_MODEL), $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr); $(rustc --version)."
  echo "wrk and the server share the cores. wrk: $WRK_THREADS threads, $CONNS connections, ${DURATION} s per scenario after a 2 s warm-up."
  echo "intake: release build, fresh SQLite file (WAL; every acknowledged group fdatasync'ed first), one argon2id-hashed Basic credential, RUST_LOG=$RUST_LOG."
  [ -n "$PG_SERVER" ] && echo "(d): the same on a fresh PostgreSQL database ($(psql -tA "$PG_SERVER/postgres" -c 'SHOW server_version' 2>/dev/null), synchronous_commit=on, fsync=$(psql -tA "$PG_SERVER/postgres" -c 'SHOW fsync' 2>/dev/null)) on this machine, default writer_connections."
  echo "(f) authenticates with a header rule (X-Api-Key), (g) with a bearer token fetched once from the token endpoint with the Basic pair; each on a fresh database."
  echo "Payload: one ~1 KB JSON event per request, or an array of 100 of them."
  echo "The baseline (c) runs right before and right after (a), and again after (d); each ratio divides by the mean of the two baseline runs around its scenario, as this host's speed drifts within minutes."
  echo
  echo "| scenario | incidents/s | p50 ms | p99 ms | non-2xx | socket errors | server CPU µs/request | peak RSS MiB |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
  [ -n "$D_ROW" ] && echo "$D_ROW"
  echo
  echo "- a/c (intake vs the mean of the baselines before and after it, $BASE_RATE; 1 event/request): **$(ratio "$A_RATE" "$BASE_RATE")** (goal ≥ 0.6)"
  echo "- b (100 events/request): **$B_RATE incidents/s** (goal ≥ 80,000)"
  [ -n "$D_LINE" ] && echo "$D_LINE"
  echo "- g/f (a bearer token from the token endpoint vs a header rule, back to back): **$(ratio "$G_RATE" "$F_RATE")** (goal ≈ 1: a token costs no password hash)"
  echo "- e/a (good traffic during a wrong-password flood): **$(ratio "$E_RATE" "$A_RATE")** (goal ≥ 0.5); flood: $FLOOD_JSON"
  if [ "$A_STORED" -ge "$A_ACKED" ]; then VERDICT="none missing"; else VERDICT="**$(( A_ACKED - A_STORED )) MISSING**"; fi
  echo "- durability of (a): $A_ACKED incidents acknowledged (warm-up included), $A_STORED stored after the server stopped: $VERDICT"
  echo "  (more are stored than acknowledged: wrk does not count requests still in flight when it stops)"
  if [ -n "$SEARCH_SECTION" ]; then
    echo
    printf '%s\n' "$SEARCH_SECTION"
  fi
} > docs/benchmarks.md
echo
cat docs/benchmarks.md
