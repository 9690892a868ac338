//! intake: a webhook receiver that turns events into durable incidents.
//! See `docs/` for the design and README.md for use.

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
