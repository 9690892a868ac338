#!/usr/bin/env bash
# `make bench-console`: the console's pages as an analyst's browser fetches them, at scale.
# Fills a fresh SQLite database (and, when INTAKE_TEST_PG_URL names a PostgreSQL server, a
# fresh database there) with BENCH_CONSOLE_N incidents through intake's writer
# (examples/bench_search.rs with RUNS=0), serves it with the release binary, signs in as an
# analyst with curl, and times each page over one kept-alive connection: time to first byte
# and page size, median and p95 of BENCH_CONSOLE_RUNS fetches after two warm-ups.
# Prints Markdown for the "Console" section of docs/benchmarks.md.
#
# Knobs: BENCH_CONSOLE_N (default 1000000), BENCH_CONSOLE_RUNS (default 30),
# BENCH_CONSOLE_DIR (where the SQLite file goes; default a temp dir removed afterwards).
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${BENCH_CONSOLE_N:-1000000}
RUNS=${BENCH_CONSOLE_RUNS:-30}
cargo build --release --locked --bin intake --example bench_search
INTAKE=target/release/intake
FILL=target/release/examples/bench_search
WORK=$(mktemp -d)
DIR=${BENCH_CONSOLE_DIR:-$WORK}
SERVER_PID=
cleanup() {
  [ -z "$SERVER_PID" ] || kill "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# The analyst's password, kept in a file: never in argv.
head -c 18 /dev/urandom | base64 | tr -d '/+=\n' >"$WORK/password"

# measure URL LABEL: serves the database at URL and prints one table row per page.
measure() {
  local url=$1 label=$2
  INTAKE_DATABASE_URL="$url" "$INTAKE" user add bench --role analyst --password-stdin \
    <"$WORK/password" >/dev/null
  INTAKE_DATABASE_URL="$url" RUST_LOG=warn "$INTAKE" serve --listen 127.0.0.1:0 \
    >"$WORK/serve.out" 2>"$WORK/serve.err" &
  SERVER_PID=$!
  local base=
  for _ in $(seq 1 600); do
    base=$(sed -nE 's#^intake listening on (http://[^ ]+).*#\1#p' "$WORK/serve.out" | head -1)
    [ -n "$base" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.err" >&2; exit 1; }
    sleep 0.1
  done
  [ -n "$base" ] || { echo "intake did not start" >&2; exit 1; }
  base=${base%/}
  local jar=$WORK/cookies
  rm -f "$jar"
  local csrf
  csrf=$(curl -sf -c "$jar" "$base/login" | grep -oE 'name="csrf" value="[^"]+"' | head -1 |
    sed -E 's/.*value="([^"]+)"/\1/')
  curl -sf -b "$jar" -c "$jar" -o /dev/null \
    --data-urlencode "username=bench" --data-urlencode "password@$WORK/password" \
    --data-urlencode "csrf=$csrf" "$base/login"
  local first older id
  first=$(curl -sf -b "$jar" "$base/incidents")
  older=$(printf %s "$first" | grep -oE 'href="[^"]+" rel="next"' | head -1 |
    sed -E 's/href="([^"]+)".*/\1/; s/&amp;/\&/g')
  id=$(printf %s "$first" | grep -oE 'href="/incidents/[0-9]+"' | head -1 | grep -oE '[0-9]+')
  [ -n "$older" ] && [ -n "$id" ] || { echo "the feed shows no incidents" >&2; exit 1; }
  local pages=(
    "feed, first page|/incidents"
    "feed, older page (cursor)|$older"
    "feed, common word|/incidents?q=connection"
    "feed, rare word|/incidents?q=zeppelin"
    "feed, instance + severity|/incidents?instance=sender-03&severity=high"
    "feed, label|/incidents?label=team:identity"
    "status counts (feed header)|/incidents/counts"
    "one incident|/incidents/$id"
  )
  local entry name path
  for entry in "${pages[@]}"; do
    name=${entry%%|*}
    path=${entry#*|}
    # One curl, one kept-alive connection, RUNS + 2 fetches of the page.
    local args=()
    for _ in $(seq 1 $((RUNS + 2))); do args+=(-o /dev/null "$base$path"); done
    curl -s -b "$jar" -w '%{http_code} %{time_starttransfer} %{size_download}\n' \
      "${args[@]}" | tail -n +3 | sort -k2 -g |
      awk -v name="$name" -v path="$path" -v label="$label" '
        { code[NR] = $1; t[NR] = $2 * 1000; size = $3; if ($1 != 200) bad++ }
        END {
          med = t[int((NR + 1) / 2)]; p95 = t[int(NR * 0.95 + 0.999)]
          printf "| %s | %s `%s` | %.1f | %.1f | %.1f | %s |\n", label, name, path, med, p95,
            size / 1024, bad ? bad " not 200" : "200"
        }'
  done
  kill "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

echo "| database | page | median ms | p95 ms | KiB | status |"
echo "|---|---|---|---|---|---|"
"$FILL" "sqlite://$DIR/console.db" "$N" 0 >"$WORK/fill-sqlite.txt"
measure "sqlite://$DIR/console.db" SQLite
if [ -n "${INTAKE_TEST_PG_URL:-}" ]; then
  SERVER=$(printf %s "$INTAKE_TEST_PG_URL" | sed -E 's#^(postgres(ql)?://[^/?]+).*#\1#')
  DB=intake_bench_console
  psql -q "$SERVER/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
  "$FILL" "$SERVER/$DB" "$N" 0 >"$WORK/fill-pg.txt"
  measure "$SERVER/$DB" PostgreSQL
  psql -q "$SERVER/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
fi
echo
echo "$N incidents; $RUNS fetches per page after two warm-ups, over one kept-alive connection;"
echo "time to first byte as curl measures it on loopback; KiB: the page's size as sent."
