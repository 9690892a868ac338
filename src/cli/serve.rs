//! `intake serve`: runs the server until it is stopped; `--demo` first creates an instance
//! to try it with.

use std::path::PathBuf;

use clap::Args;

use super::common::{connect, fail};
use crate::app::Application;
use crate::auth::{hash_secret, CredentialSpec};
use crate::config::Settings;
use crate::instances::{store, NewInstance};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// HTTP listen address (default 127.0.0.1:8000 unless only HTTPS is asked for).
    #[arg(long, env = "INTAKE_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// HTTPS listen address; needs --tls-cert and --tls-key.
    #[arg(long, env = "INTAKE_TLS_LISTEN", value_name = "ADDR")]
    pub tls_listen: Option<String>,
    /// PEM certificate chain (leaf first). Re-read on SIGHUP.
    #[arg(long, env = "INTAKE_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1). Re-read on SIGHUP.
    #[arg(long, env = "INTAKE_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Largest accepted body in bytes.
    #[arg(long, env = "INTAKE_MAX_BODY_BYTES", value_name = "N")]
    pub max_body_bytes: Option<usize>,
    /// Most elements in one JSON array body.
    #[arg(long, env = "INTAKE_MAX_ELEMENTS", value_name = "N")]
    pub max_elements: Option<usize>,
    /// Deepest accepted JSON nesting.
    #[arg(long, env = "INTAKE_MAX_DEPTH", value_name = "N")]
    pub max_depth: Option<usize>,
    /// On a database with no instances, create a `demo` instance and print a curl to try it.
    #[arg(long)]
    pub demo: bool,
}

pub(super) fn serve(settings: &Settings, demo: bool) -> anyhow::Result<()> {
    for line in settings.describe() {
        log::info!("{line}");
    }
    actix_web::rt::System::new().block_on(async {
        // Before the server loads its instances, so the demo works from the first request.
        let demo = if demo {
            create_demo(settings)?
        } else {
            Demo::default()
        };
        let app = Application::build(settings).await?;
        let mut addr = app.addr();
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let base = app.urls()[0].replace(&app.addr().to_string(), &addr.to_string());
        if let Some(password) = demo.sender_password {
            println!(
                "\nCreated instance 'demo' with user 'demo' and password {password} (shown only now).\n\
                 Send it an event:\n\n  \
                 curl -u 'demo:{password}' -d '{{\"name\":\"Hello from curl\",\"type\":\"Test\"}}' {base}/instance/execute/demo\n\n\
                 Then list incidents:  ./target/release/intake incidents list\n"
            );
        }
        if let Some(password) = demo.admin_password {
            println!(
                "Created console user 'admin' with password {password} (shown only now).\n\
                 Open the console:  {base}/\n"
            );
        }
        for url in app.urls() {
            log::info!("listening on {url}");
            println!("intake listening on {url}");
        }
        println!("console at {base}/");
        println!("intake ready");
        app.run_until_stopped().await
    })
}

/// What the first start of `serve --demo` created, with the passwords to show once.
#[derive(Default)]
struct Demo {
    sender_password: Option<String>,
    admin_password: Option<String>,
}

/// First start on an empty database: a `demo` instance and an `admin` console user, each
/// with a generated password, which the caller shows once (never logged). Each is created
/// only when there is no instance (no user) yet.
fn create_demo(settings: &Settings) -> anyhow::Result<Demo> {
    use crate::console::users;
    let mut conn = connect(settings)?;
    let mut demo = Demo::default();
    if store::list(&mut conn).map_err(fail)?.is_empty() {
        let password = generate_password();
        let spec = CredentialSpec::parse("demo").map_err(anyhow::Error::msg)?;
        let hash = hash_secret(&password)?;
        let mut instance = NewInstance::named("demo");
        instance.store_samples = true;
        store::create(&mut conn, &instance, Some((&spec, &hash))).map_err(fail)?;
        demo.sender_password = Some(password);
    }
    if !users::any(&mut conn).map_err(fail)? {
        let password = generate_password();
        let role = crate::auth::tokens::Role::Admin;
        users::add(&mut conn, "admin", role, &hash_secret(&password)?).map_err(fail)?;
        demo.admin_password = Some(password);
    }
    Ok(demo)
}

fn generate_password() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::rngs::OsRng, 24)
}
