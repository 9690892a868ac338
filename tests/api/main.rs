//! Integration tests: the real binary (or its server in the test process, see `helpers`), a
//! real database (an SQLite file, or PostgreSQL with INTAKE_TEST_BACKEND=postgres), real HTTP
//! over loopback.

/// The binary's allocator (src/main.rs says why), so that a server run in the test process
/// allocates as `intake serve` does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod admin_api;
mod api_input;
mod auth;
mod cli;
mod cli_exit;
mod correlation;
mod db_copy;
mod durability;
mod faults;
mod freshness;
mod helpers;
mod hostile_input;
mod ingest;
mod limits;
mod mapping;
mod metrics_lifecycle;
mod oauth;
mod observability;
mod ops;
mod rate_limit;
mod replicas;
mod samples;
mod search;
mod signatures;
mod slow_clients;
mod tls;
