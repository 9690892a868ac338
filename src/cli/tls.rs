//! `intake tls …`: certificates for HTTPS.

use std::path::PathBuf;

use clap::Subcommand;

use super::output;

#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// Parse a certificate chain and key, check they match and are valid; print what they are.
    Check {
        #[arg(long, value_name = "FILE")]
        cert: PathBuf,
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Write a local CA (ca.pem) and a server certificate signed by it (cert.pem, key.pem).
    SelfSigned {
        /// Name (or IP address) clients connect to.
        #[arg(long, default_value = "localhost")]
        hostname: String,
        #[arg(long, value_name = "DIR", default_value = "certs")]
        out_dir: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
}

pub(super) fn tls(command: TlsCommand) -> anyhow::Result<()> {
    match command {
        TlsCommand::Check { cert, key, json } => {
            let pair = crate::tls::load_pair(&cert, &key)?;
            output::cert(&pair.info, json);
            if pair.info.days_left() < crate::tls::EXPIRY_WARNING_DAYS {
                eprintln!(
                    "warning: the certificate expires in {} days",
                    pair.info.days_left()
                );
            }
        }
        TlsCommand::SelfSigned {
            hostname,
            out_dir,
            days,
        } => {
            let files = crate::tls::self_signed(&hostname, &out_dir, days)?;
            println!(
                "wrote {} (CA: give it to clients, e.g. curl --cacert), {} and {} (serve with \
                 --tls-cert/--tls-key)",
                files.ca_cert.display(),
                files.cert.display(),
                files.key.display()
            );
        }
    }
    Ok(())
}
