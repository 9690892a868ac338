# intake: the two commands a newcomer needs are `make run` and `make test`.
CARGO ?= cargo

.PHONY: browsers run build build-postgres-tls test lint fmt bench bench-search bench-console certs

## Build a release binary, migrate the SQLite database under ./data and serve on 127.0.0.1:8000.
## On an empty database it creates a `demo` instance and prints a curl command to try it.
run: build
	./target/release/intake serve --demo

build:
	$(CARGO) build --release --locked

## The release binary with TLS to PostgreSQL (sslmode=… in database_url); builds OpenSSL.
build-postgres-tls:
	$(CARGO) build --release --locked --features postgres-tls

## A development CA and a localhost certificate signed by it, in certs/ (see certs/README.md).
certs: build
	./target/release/intake tls self-signed --hostname localhost --out-dir certs

## Unit tests and the property tests (tests/properties.rs, docs/testing.md), integration tests
## (the real binary, or its server in the test process, over real HTTP, on temp SQLite files),
## then the integration suite again on PostgreSQL when INTAKE_TEST_PG_URL names a server (each
## test in a database of its own, dropped afterwards).
## Tests named `postgres_only…` run in the PostgreSQL pass only, `sqlite_only…` in the SQLite pass.
## Then the console suite in headless Chromium (tests/console); `make browsers` installs Chromium
## and chromedriver when missing. INTAKE_TEST_BROWSER=1 (set by .ci/run) makes that pass required.
test: browsers
	$(CARGO) test --locked --all-features --lib --bins --benches --examples --test properties
	$(CARGO) test --locked --all-features --test api -- --skip postgres_only
	@if [ -n "$$INTAKE_TEST_PG_URL" ]; then \
	  echo "== PostgreSQL pass: the integration suite again, on databases created on INTAKE_TEST_PG_URL"; \
	  INTAKE_TEST_BACKEND=postgres $(CARGO) test --locked --all-features --test api -- --skip sqlite_only; \
	else \
	  echo "== PostgreSQL pass SKIPPED: set INTAKE_TEST_PG_URL (e.g. postgres://postgres@127.0.0.1:5432) to run it"; \
	fi
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then \
	  echo "== Browser pass: the console in headless Chromium"; \
	  $(CARGO) test --locked --all-features --test console; \
	elif [ -n "$$INTAKE_TEST_BROWSER" ]; then \
	  echo "== Browser pass required (INTAKE_TEST_BROWSER) but chromium/chromedriver are missing" >&2; exit 1; \
	else \
	  echo "== Browser pass SKIPPED: install chromium and chromedriver (make browsers) to run it"; \
	fi

## Chromium and chromedriver for the console tests (Debian packages), installed when missing
## and the machine lets us (root with apt-get); otherwise the browser pass says it is skipped.
browsers:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 || \
	     (apt-get update -qq && apt-get install -y -qq chromium chromium-driver)) || \
	      echo "could not install chromium and chromium-driver"; \
	  fi; \
	fi

## What CI checks besides the tests.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets --all-features -- -D warnings

fmt:
	$(CARGO) fmt --all

## Throughput and latency with wrk over loopback; writes docs/benchmarks.md. Installs wrk if missing.
## With INTAKE_TEST_PG_URL set (and psql present) it also measures intake on PostgreSQL (scenario d).
bench:
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk) || \
	  { echo "bench needs wrk (Debian package 'wrk')"; exit 1; }
	bash tools/bench/run.sh

## Search latency and size: fills a fresh SQLite database (and, with INTAKE_TEST_PG_URL set, a
## fresh PostgreSQL one) with BENCH_SEARCH_N incidents (default 1000000) through intake's
## writer, then times the first page of each filter and the facets (see tools/bench/search.sh).
bench-search:
	bash tools/bench/search.sh

## Console pages at scale: fills a fresh SQLite database (and PostgreSQL with INTAKE_TEST_PG_URL)
## with BENCH_CONSOLE_N incidents (default 1000000), serves it, signs in as an analyst and times
## the feed, its filters, the status counts and one incident with curl (tools/bench/console.sh).
bench-console:
	bash tools/bench/console.sh
