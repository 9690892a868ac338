//! Log output: env_logger's text lines (the default), or one JSON object per line for log
//! shippers (`--log-format json` / `INTAKE_LOG_FORMAT=json`). `RUST_LOG` sets the level
//! either way.

use std::io::Write;

use chrono::{SecondsFormat, Utc};

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// env_logger's text lines.
    #[default]
    Text,
    /// `{"time","level","target","message"}`, one object a line.
    Json,
}

/// Starts logging at `default_level` unless `RUST_LOG` says otherwise.
pub fn init(format: LogFormat, default_level: &str) {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_level));
    if format == LogFormat::Json {
        builder.format(|out, record| {
            // Written field by field to keep this order (a JSON map would sort the keys).
            let text = |s: &str| serde_json::to_string(s).unwrap_or_default();
            writeln!(
                out,
                "{{\"time\":\"{}\",\"level\":\"{}\",\"target\":{},\"message\":{}}}",
                Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
                record.level(),
                text(record.target()),
                text(&record.args().to_string())
            )
        });
    }
    builder.init();
}
