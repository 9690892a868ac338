//! Integration tests: the real binary, a real SQLite file, real HTTP over loopback.

mod admin_api;
mod auth;
mod cli;
mod correlation;
mod durability;
mod helpers;
mod ingest;
mod limits;
mod mapping;
mod ops;
mod samples;
mod tls;
