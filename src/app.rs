//! Builds the HTTP server from settings and runs it until it is stopped.
//!
//! Shutdown order (SIGTERM/SIGINT, or `stop` on [`Application::handle`]): the server stops
//! accepting, in-flight requests finish (each answered only after its commit), then the writer
//! drains its queue and ends.

use std::net::TcpListener;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context;
use arc_swap::ArcSwap;
use diesel::connection::SimpleConnection;

use crate::auth::Verifier;
use crate::config::Settings;
use crate::error::ApiError;
use crate::http::{access_log, healthz, keep_alive, no_route};
use crate::instances::freshness::Freshness;
use crate::instances::registry::{spawn_reloader, Registry, SharedRegistry};
use crate::listeners::InstanceListeners;
use crate::state::AppState;
use crate::storage::writer::Writer;
use crate::storage::{Database, Pool};
use crate::tls::ReloadableCert;

/// A bound, ready-to-run server.
pub struct Application {
    server: Server,
    /// The first listener's address.
    addr: std::net::SocketAddr,
    urls: Vec<String>,
    listeners: Arc<InstanceListeners>,
    writer_threads: Vec<JoinHandle<()>>,
    recorder: crate::ops::recorder::Recorder,
}

impl Application {
    /// Opens the database (running migrations), starts the writer and binds the listener.
    /// SIGTERM/SIGINT stop the server, SIGHUP reloads certificates and instance listeners.
    /// Must be called inside the actix system (see `main`).
    pub async fn build(settings: &Settings) -> anyhow::Result<Application> {
        Application::build_with(settings, true).await
    }

    /// As [`Application::build`], but the process's signals neither stop nor reload this
    /// server: it ends when `stop` is called on its [`Application::handle`]. For several
    /// servers in one process (the integration tests' in-process server), where a signal
    /// handler would also outlive the server and keep Ctrl-C from ending the process.
    pub async fn build_without_signals(settings: &Settings) -> anyhow::Result<Application> {
        Application::build_with(settings, false).await
    }

    async fn build_with(settings: &Settings, signals: bool) -> anyhow::Result<Application> {
        let db = Database::open(&settings.database_url)?;
        log::info!("database {}", db.describe());
        let pool = db.pool(settings.database_pool_size)?;
        let registry = {
            let mut conn = pool.get().context("cannot connect to the database")?;
            let secrets = crate::auth::secret_box::load(settings, &db)?;
            Registry::load(&mut conn, secrets).context("cannot load instances")?
        };
        let registry: SharedRegistry = Arc::new(ArcSwap::from_pointee(registry));
        let https = match (
            settings.tls_listen_addr()?,
            &settings.tls_cert,
            &settings.tls_key,
        ) {
            (Some(addr), Some(cert), Some(key)) => {
                let (resolver, info) = ReloadableCert::load(cert, key)?;
                crate::tls::log_validity("HTTPS", &info);
                let listener = TcpListener::bind(addr)
                    .with_context(|| format!("cannot listen on {addr} (HTTPS)"))?;
                Some((listener, resolver))
            }
            _ => None,
        };
        let (writer, writer_threads) = Writer::spawn(
            &db,
            settings.writer_queue,
            settings.idempotency_retention_hours,
            settings.writer_connections,
        )?;
        let (ops, recorder) = crate::ops::recorder::start(
            pool.clone(),
            crate::ops::OpsSettings {
                metrics_public: settings.metrics_public,
                delivery_log_limit: settings.delivery_log_limit,
                trusted_proxies: settings.trusted_proxies.clone(),
            },
        )?;
        let state = web::Data::new(AppState {
            ops,
            registry: registry.clone(),
            writer,
            pool: pool.clone(),
            limits: settings.limits,
            backend: db.backend(),
            verifier: Verifier::for_this_machine()
                .context("cannot start the credential verifier threads")?,
            tls: https.as_ref().map(|(_, resolver)| resolver.clone()),
            freshness: Freshness::default(),
            console: crate::console::state::Console::new(settings.session_idle_minutes),
        });
        spawn_reloader(
            pool.clone(),
            registry,
            Duration::from_millis(settings.reload_interval_ms),
        );
        if db.backend() == crate::storage::Backend::Postgres {
            crate::incidents::counts::spawn_folder(pool.clone());
        }

        // Bind and validate everything before serving anything: a bad address or certificate
        // stops the start with a message naming it.
        let http = settings
            .listen_addr()?
            .map(|addr| TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}")))
            .transpose()?;
        let main_certificate = https.as_ref().map(|(_, resolver)| resolver.clone());
        let listeners_state = state.clone();
        let listeners_pool = pool.clone();

        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .wrap_fn(access_log)
                .configure(crate::ingest::routes)
                .configure(crate::auth::oauth::routes)
                .configure(crate::api::routes)
                .configure(crate::console::routes)
                .route("/healthz", web::get().to(healthz))
                .route("/readyz", web::get().to(readyz))
                .route("/metrics", web::get().to(crate::api::ops::metrics))
                .default_service(web::to(no_route))
        })
        .shutdown_timeout(30);
        let clients = &settings.http;
        server = server
            .client_request_timeout(Duration::from_millis(clients.client_request_timeout_ms))
            .client_disconnect_timeout(Duration::from_millis(clients.client_disconnect_timeout_ms))
            .keep_alive(keep_alive(clients))
            .max_connections(clients.max_connections)
            .max_connection_rate(clients.max_tls_handshakes);
        if settings.workers > 0 {
            server = server.workers(settings.workers);
        }
        if !signals {
            server = server.disable_signals();
        }
        let mut urls = Vec::new();
        let mut first = None;
        if let Some(listener) = http {
            let addr = listener.local_addr()?;
            first.get_or_insert(addr);
            urls.push(format!("http://{addr}"));
            server = server.listen(listener)?;
        }
        if let Some((listener, resolver)) = https {
            let addr = listener.local_addr()?;
            first.get_or_insert(addr);
            urls.push(format!("https://{addr}"));
            server = server.listen_rustls_0_23(listener, crate::tls::server_config(resolver)?)?;
        }
        let addr = first.context("no listener configured")?;
        listeners_state.console.set_listeners(&urls);
        let server = server.run();

        let listeners = InstanceListeners::new(addr.ip(), listeners_state, settings.http);
        listeners
            .apply(wanted_listeners(&listeners_pool).await?)
            .await;
        if signals {
            spawn_sighup_handler(main_certificate, listeners.clone(), listeners_pool)?;
        }
        Ok(Application {
            server,
            addr,
            urls,
            listeners,
            writer_threads,
            recorder,
        })
    }

    /// Every listener, as `http://IP:PORT` or `https://IP:PORT`.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Stops the server from another task or thread: `handle().stop(true)` lets in-flight
    /// requests finish, then [`Application::run_until_stopped`] drains the writer and returns.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM/SIGINT (or `stop`), then waits for the writer to commit what is
    /// queued.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.server.await.context("server failed")?;
        self.listeners.stop_all().await;
        // Every Writer clone lived in the workers, which are gone now: the writers drain and end.
        let threads = self.writer_threads;
        let recorder = self.recorder;
        web::block(move || {
            recorder.stop();
            threads
                .into_iter()
                .map(|t| t.join())
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .context("cannot wait for the writer")?
        .map_err(|_| anyhow::anyhow!("a writer thread panicked"))?;
        log::info!("stopped; every acknowledged incident is committed");
        Ok(())
    }
}

/// The instances that want their own listener, from the database.
async fn wanted_listeners(
    pool: &Pool,
) -> anyhow::Result<Vec<(String, crate::instances::ListenerSpec)>> {
    let pool = pool.clone();
    let wanted = web::block(move || -> anyhow::Result<_> {
        let mut conn = pool.get()?;
        crate::instances::store::listeners(&mut conn).map_err(|e| anyhow::anyhow!("{e}"))
    })
    .await
    .context("cannot read instance listeners")??;
    Ok(wanted)
}

/// SIGHUP re-reads the main certificate files (when HTTPS is served) and applies instance
/// listener changes, re-reading their certificates. A bad new pair is refused with an error
/// in the log and the old one keeps serving. A SIGHUP never ends the process.
fn spawn_sighup_handler(
    certificate: Option<Arc<ReloadableCert>>,
    listeners: Arc<InstanceListeners>,
    pool: Pool,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
    actix_web::rt::spawn(async move {
        while hangups.recv().await.is_some() {
            log::info!("SIGHUP: reloading certificates and instance listeners");
            if let Some(certificate) = certificate.clone() {
                match web::block(move || certificate.reload()).await {
                    Ok(Ok(info)) => crate::tls::log_validity("SIGHUP: certificate reloaded", &info),
                    Ok(Err(e)) => log::error!(
                        "SIGHUP: new certificate refused, the previous one keeps serving: {e:#}"
                    ),
                    Err(e) => log::error!("SIGHUP: certificate reload did not run: {e}"),
                }
            }
            match wanted_listeners(&pool).await {
                Ok(wanted) => listeners.apply(wanted).await,
                Err(e) => log::error!("SIGHUP: instance listeners not updated: {e:#}"),
            }
        }
    });
    Ok(())
}

/// Ready when the database answers a query.
async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    use crate::storage::health::WriterState;
    let writer = state.writer.state();
    if writer == WriterState::Stopped {
        return Err(ApiError::unavailable(
            "The writer has stopped: nothing can be stored until intake restarts (see its log).",
        ));
    }
    let pool = state.pool.clone();
    // While the writer's last commit failed, a write shows whether storage is back (a read
    // succeeds on a full or read-only disk); otherwise a read shows the database answers.
    let probe_write = writer == WriterState::Failing;
    let reachable = web::block(move || -> anyhow::Result<()> {
        let mut conn = pool.get()?;
        if probe_write {
            crate::storage::write_probe(&mut conn)?;
        } else {
            conn.batch_execute("SELECT 1")?;
        }
        Ok(())
    })
    .await;
    match reachable {
        Ok(Ok(())) => {
            if probe_write {
                state.writer.probed(true);
            }
            Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready"})))
        }
        Ok(Err(e)) => {
            log::warn!("readiness check failed: {e:#}");
            Err(ApiError::unavailable(if probe_write {
                "Storage refuses writes (unreachable, full or read-only)."
            } else {
                "The database is not reachable."
            }))
        }
        Err(e) => Err(ApiError::unavailable(format!(
            "Readiness check did not run: {e}"
        ))),
    }
}
