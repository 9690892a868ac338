# Shared by run.sh (`make bench`) and ab.sh: payloads, the credential, starting and stopping
# a server, wrk, and reading /proc. Sourced from the repository root, after the caller has set
# PORT, BIN (intake), BASELINE, WORK (a temp directory), RAW (where wrk's output goes),
# WRK_THREADS and SERVER_PID="".

# Payloads: one ~1 KB event, and an array of 100 of them.
event() {
  printf '{"name":"Suspicious login from %s","type":"Authentication","occurred":"2026-11-22T10:00:%02dZ","severity":"high","source":{"product":"bench","host":"host-%s.example.net","ip":"10.1.%s.%s"},"user":"user%s@example.com","description":"%s"}' \
    "$1" "$(( $1 % 60 ))" "$1" "$(( $1 % 250 ))" "$(( $1 % 200 ))" "$1" "$(head -c 1200 /dev/zero | tr '\0' 'x' | head -c 700)"
}
event 1 > "$WORK/one.json"
{ printf '['; for i in $(seq 1 100); do [ "$i" -gt 1 ] && printf ','; event "$i"; done; printf ']'; } > "$WORK/hundred.json"

# A fresh random password for each run, hashed by intake like any other credential.
PASSWORD=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24)
AUTH="Basic $(printf 'bench:%s' "$PASSWORD" | base64 -w0)"

wait_ready() {
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/$1" && return 0
    sleep 0.1
  done
  echo "server on port $PORT did not come up" >&2; exit 1
}

# start_intake LABEL [DATABASE_URL]: a fresh SQLite file unless a URL is given.
start_intake() {
  # Nothing left to write back: the build leaves ~180 MB of dirty pages that the kernel writes
  # back ~30 s later, in the middle of scenario (a), whose fsyncs then wait behind it ((a)'s
  # p99 went from 8 ms to 72-85 ms).
  sync
  export INTAKE_DATABASE_URL="${2:-sqlite://$WORK/intake-$1.db}"
  printf %s "$PASSWORD" | "$BIN" instance add bench --username bench --password-stdin >/dev/null
  "$BIN" serve --listen "127.0.0.1:$PORT" >"$WORK/intake-$1.log" 2>&1 &
  SERVER_PID=$!
  wait_ready healthz
}

start_baseline() {
  sync # as in start_intake
  BASELINE_AUTH="$AUTH" "$BASELINE" "127.0.0.1:$PORT" >"$WORK/baseline.log" 2>&1 &
  SERVER_PID=$!
  wait_ready nothing
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
peak_rss_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

# wrk SCRIPT BODY CONNECTIONS SECONDS LABEL -> appends raw output, prints the BENCH_JSON line
run_wrk() {
  local out
  out=$(BENCH_BODY="$2" BENCH_AUTH_NAME="${AUTH_NAME:-Authorization}" BENCH_AUTH_HEADER="$AUTH" BENCH_USER=bench \
    wrk -t"$WRK_THREADS" -c"$3" -d"$4"s --latency -s "tools/bench/$1" \
    "http://127.0.0.1:$PORT/instance/execute/bench")
  { echo "=== $5 ($1, $3 connections, $4 s)"; echo "$out"; echo; } >>"$RAW"
  echo "$out" | sed -n 's/^BENCH_JSON //p'
}

field() { echo "$1" | sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"; }

# Scenarios f and g, run back to back on fresh databases: ingest authenticated by a header rule
# (X-Api-Key, argon2-hashed like every secret, then cached) and by a bearer token fetched from
# the token endpoint with the Basic pair (a SHA-256 and a map lookup, no password hash).
# Needs measure() from run.sh; sets F_RATE and G_RATE.
auth_pair() {
  local key token basic=$AUTH
  key=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24)
  echo "scenario f: intake, 1 event/request, header rule"
  start_intake f
  printf %s "$key" | "$BIN" instance credential add bench --username _header:X-Api-Key --password-stdin >/dev/null
  AUTH_NAME=X-Api-Key AUTH=$key
  measure "f) intake: 1 event/request, header rule" post.lua "$WORK/one.json" 1
  F_RATE=$LAST_RATE
  AUTH_NAME=Authorization AUTH=$basic
  stop_server

  echo "scenario g: intake, 1 event/request, bearer token from the token endpoint"
  start_intake g
  token=$(curl -sf -X POST -H "Authorization: $basic" "http://127.0.0.1:$PORT/instance/token/bench" |
    sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
  [ -n "$token" ] || { echo "the token endpoint gave no token" >&2; exit 1; }
  AUTH="Bearer $token"
  measure "g) intake: 1 event/request, bearer token" post.lua "$WORK/one.json" 1
  G_RATE=$LAST_RATE
  AUTH=$basic
  stop_server
}
