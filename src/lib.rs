//! intake: a webhook receiver that turns events into durable incidents.
//! See `docs/` for the design and README.md for use.

// A panic in a request handler or a writer thread is a bug: errors are returned instead. Where a
// panic is impossible, an `#[allow]` says why.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod console;
pub mod error;
pub mod http;
pub mod incidents;
pub mod ingest;
pub mod instances;
pub mod listeners;
pub mod logging;
pub mod mapping;
pub mod ops;
pub mod state;
pub mod storage;
pub mod time;
pub mod tls;
