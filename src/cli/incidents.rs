//! `intake incidents …` and `intake samples`: what analysts read from the command line.

use anyhow::bail;
use clap::{Args, Subcommand};

use super::common::{connect, fail};
use super::output;
use crate::config::Settings;
use crate::incidents::{self, IncidentFilter};
use crate::instances::store;

/// The incident filters of the API, as flags of the same names; each list flag is
/// repeatable or comma-separated.
#[derive(Debug, clap::Args)]
pub struct IncidentFilterArgs {
    #[arg(long)]
    pub instance: Vec<String>,
    #[arg(long = "type", value_name = "TYPE")]
    pub type_: Vec<String>,
    /// open, acknowledged or resolved.
    #[arg(long)]
    pub status: Vec<String>,
    #[arg(long)]
    pub severity: Vec<String>,
    /// KEY:VALUE; every one given must match.
    #[arg(long, value_name = "KEY:VALUE")]
    pub label: Vec<String>,
    #[arg(long, alias = "dedup_key")]
    pub dedup_key: Option<String>,
    /// Case-insensitive substring of the name.
    #[arg(long, alias = "name_contains")]
    pub name_contains: Option<String>,
    /// Free text: every word (or "quoted phrase") must occur in the name or the payload.
    #[arg(long)]
    pub q: Option<String>,
    /// RFC 3339.
    #[arg(long, alias = "occurred_after")]
    pub occurred_after: Option<String>,
    #[arg(long, alias = "occurred_before")]
    pub occurred_before: Option<String>,
    #[arg(long, alias = "created_after")]
    pub created_after: Option<String>,
    #[arg(long, alias = "created_before")]
    pub created_before: Option<String>,
}

impl IncidentFilterArgs {
    /// The filter, checked by the same parser as the API's query parameters.
    fn parse(self) -> anyhow::Result<IncidentFilter> {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        for (name, values) in [
            ("instance", self.instance),
            ("type", self.type_),
            ("status", self.status),
            ("severity", self.severity),
            ("label", self.label),
        ] {
            pairs.extend(values.into_iter().map(|v| (name, v)));
        }
        for (name, value) in [
            ("dedup_key", self.dedup_key),
            ("name_contains", self.name_contains),
            ("q", self.q),
            ("occurred_after", self.occurred_after),
            ("occurred_before", self.occurred_before),
            ("created_after", self.created_after),
            ("created_before", self.created_before),
        ] {
            pairs.extend(value.map(|v| (name, v)));
        }
        IncidentFilter::from_pairs(pairs).map_err(|e| anyhow::anyhow!("--{e}"))
    }
}

// Parsed once per process: the size of the filter flags costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum IncidentsCommand {
    /// List incidents, newest first.
    List {
        #[command(flatten)]
        filter: IncidentFilterArgs,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Only incidents with an id below this (next page).
        #[arg(long, value_name = "ID")]
        before: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// Change an incident's status: open, acknowledged or resolved.
    Update {
        id: i64,
        #[arg(long)]
        status: String,
        #[arg(long)]
        json: bool,
    },
    /// Show one incident with its raw JSON.
    Show {
        id: i64,
        /// Every delivery of the incident instead, oldest first.
        #[arg(long)]
        events: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct SamplesArgs {
    pub name: String,
    /// Delete the instance's samples.
    #[arg(long)]
    pub clear: bool,
    #[arg(long)]
    pub json: bool,
}

pub(super) fn incidents_command(
    settings: &Settings,
    command: IncidentsCommand,
) -> anyhow::Result<()> {
    let mut conn = connect(settings)?;
    match command {
        IncidentsCommand::List {
            filter,
            limit,
            before,
            json,
        } => {
            if !(1..=1000).contains(&limit) {
                bail!("--limit must be between 1 and 1000");
            }
            let filter = IncidentFilter {
                before_id: before,
                limit,
                ..filter.parse()?
            };
            let found = incidents::store::list(&mut conn, &filter).map_err(fail)?;
            output::incidents(&found, json);
        }
        IncidentsCommand::Show {
            id,
            events: true,
            json,
        } => {
            let found = incidents::store::events(&mut conn, id).map_err(fail)?;
            output::events(&found, json);
        }
        IncidentsCommand::Show { id, json, .. } => {
            let found = incidents::store::get(&mut conn, id).map_err(fail)?;
            output::incident(&found, json);
        }
        IncidentsCommand::Update { id, status, json } => {
            let updated = incidents::store::set_status(&mut conn, id, &status).map_err(fail)?;
            output::incident(&updated, json);
        }
    }
    Ok(())
}

pub(super) fn samples(settings: &Settings, args: SamplesArgs) -> anyhow::Result<()> {
    let mut conn = connect(settings)?;
    if args.clear {
        let n = store::clear_samples(&mut conn, &args.name).map_err(fail)?;
        println!("cleared {n} sample(s) of '{}'", args.name);
        return Ok(());
    }
    let found = store::samples(&mut conn, &args.name).map_err(fail)?;
    output::samples(&found, args.json);
    Ok(())
}
