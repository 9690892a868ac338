#!/usr/bin/env bash
# `make bench-search`: examples/bench_search.rs on a fresh SQLite database and, when
# INTAKE_TEST_PG_URL names a PostgreSQL server, on a fresh database there. Prints Markdown
# for the "Search" section of docs/benchmarks.md.
#
# Knobs: BENCH_SEARCH_N (incidents, default 1000000), BENCH_SEARCH_RUNS (default 30),
# BENCH_SEARCH_DIR (where the SQLite file goes, default a temp dir removed afterwards; set it
# to keep the file and grow it with a larger N later).
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${BENCH_SEARCH_N:-1000000}
RUNS=${BENCH_SEARCH_RUNS:-30}
cargo build --release --locked --example bench_search
BIN=target/release/examples/bench_search
DIR=${BENCH_SEARCH_DIR:-}
if [ -z "$DIR" ]; then
  DIR=$(mktemp -d)
  trap 'rm -rf "$DIR"' EXIT
fi
echo "## SQLite"
"$BIN" "sqlite://$DIR/search.db" "$N" "$RUNS"
if [ -n "${INTAKE_TEST_PG_URL:-}" ]; then
  SERVER=$(printf %s "$INTAKE_TEST_PG_URL" | sed -E 's#^(postgres(ql)?://[^/?]+).*#\1#')
  DB=intake_bench_search
  psql -q "$SERVER/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
  echo "## PostgreSQL"
  "$BIN" "$SERVER/$DB" "$N" "$RUNS"
  [ -n "${BENCH_SEARCH_KEEP_PG:-}" ] || psql -q "$SERVER/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
fi
