//! `intake db copy`: copies every table from one database to another.

use clap::Subcommand;

use crate::storage::Database;

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copy instances, credentials, tokens, incidents (with their events) and samples to
    /// another database, keeping ids and timestamps. Resumable: run it again after an
    /// interruption. Verified by counting every table on both sides.
    Copy {
        /// The database to read, e.g. sqlite://data/intake.db.
        #[arg(long, env = "INTAKE_COPY_FROM", value_name = "URL")]
        from: String,
        /// The database to fill, e.g. postgres://intake@db-host/intake.
        #[arg(long, env = "INTAKE_COPY_TO", value_name = "URL")]
        to: String,
    },
}

/// `intake db copy`: prints each table's counts; fails unless every table matches.
pub(super) fn db_copy(from: &str, to: &str) -> anyhow::Result<()> {
    let (from, to) = (
        Database::without_migrating(from)?,
        Database::without_migrating(to)?,
    );
    let report = crate::storage::copy::copy(&from, &to)?;
    super::output::table(
        &["TABLE", "COPIED", "SOURCE ROWS", "TARGET ROWS", ""],
        report.iter().map(|table| {
            vec![
                table.table.to_string(),
                table.copied.to_string(),
                table.source_rows.to_string(),
                table.target_rows.to_string(),
                if table.verified() { "" } else { "MISMATCH" }.to_string(),
            ]
        }),
    );
    if report.iter().any(|t| !t.verified()) {
        anyhow::bail!(
            "the copy does not match the source: rows were added to the source meanwhile, or \
             the target had rows of its own; stop the servers writing to the source and run it again"
        );
    }
    println!(
        "copied {} to {}: every table verified",
        from.describe(),
        to.describe()
    );
    Ok(())
}
