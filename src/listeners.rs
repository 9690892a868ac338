//! Per-instance listeners (parity with XSOAR's per-instance listen port): an instance
//! with a `listen_port` is also served on that port at `POST /` (and at the normal paths),
//! over HTTPS with its own certificate when it has one.
//!
//! Each is a small actix server of its own (one worker, no signal handling: the main server
//! owns signals), so one can be started, stopped or re-certified without touching the
//! others. `apply` makes the running set match the database; it runs at start and on SIGHUP.
//! A listener that cannot start (port taken, certificate now invalid) is logged and skipped:
//! it never stops the main service.

use std::collections::HashMap;
use std::net::{IpAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpServer};
use anyhow::Context;

use crate::config::HttpLimits;
use crate::http::{access_log, healthz, keep_alive, no_route};
use crate::ingest::ServedInstance;
use crate::instances::ListenerSpec;
use crate::state::AppState;
use crate::tls::ReloadableCert;

struct Running {
    spec: ListenerSpec,
    handle: ServerHandle,
    certificate: Option<Arc<ReloadableCert>>,
}

pub struct InstanceListeners {
    ip: IpAddr,
    /// The main server's client timeouts and connection caps, applied to each listener too.
    http: HttpLimits,
    /// Taken out by `stop_all`, so that nothing keeps the writer alive after shutdown.
    state: Mutex<Option<web::Data<AppState>>>,
    running: Mutex<HashMap<String, Running>>,
}

impl InstanceListeners {
    /// Listeners bind on `ip`, the address of the main listener.
    pub fn new(ip: IpAddr, state: web::Data<AppState>, http: HttpLimits) -> Arc<InstanceListeners> {
        Arc::new(InstanceListeners {
            ip,
            http,
            state: Mutex::new(Some(state)),
            running: Mutex::new(HashMap::new()),
        })
    }

    /// Starts listeners that are wanted and not running, stops those no longer wanted (or
    /// changed), and re-reads the certificates of the others.
    pub async fn apply(&self, wanted: Vec<(String, ListenerSpec)>) {
        let Some(state) = lock(&self.state).clone() else {
            return;
        };
        let wanted: HashMap<String, ListenerSpec> = wanted.into_iter().collect();
        let mut stale = Vec::new();
        {
            let mut running = lock(&self.running);
            running.retain(|name, listener| {
                let keep = wanted.get(name) == Some(&listener.spec);
                if !keep {
                    stale.push((name.clone(), listener.handle.clone()));
                }
                keep
            });
            for (name, listener) in running.iter() {
                if let Some(certificate) = &listener.certificate {
                    match certificate.reload() {
                        Ok(info) => crate::tls::log_validity(&format!("instance '{name}'"), &info),
                        Err(e) => log::error!(
                            "instance '{name}': new certificate refused, the previous one keeps serving: {e:#}"
                        ),
                    }
                }
            }
        }
        for (name, handle) in stale {
            handle.stop(true).await;
            log::info!("instance '{name}': own listener stopped");
        }
        for (name, spec) in wanted {
            if lock(&self.running).contains_key(&name) {
                continue;
            }
            match self.start(&name, &spec, &state) {
                Ok(listener) => {
                    lock(&self.running).insert(name, listener);
                }
                Err(e) => log::error!("instance '{name}': own listener not started: {e:#}"),
            }
        }
    }

    fn start(
        &self,
        name: &str,
        spec: &ListenerSpec,
        state: &web::Data<AppState>,
    ) -> anyhow::Result<Running> {
        let port = u16::try_from(spec.port).context("listen_port out of range")?;
        let socket = TcpListener::bind((self.ip, port))
            .with_context(|| format!("cannot listen on {}:{port}", self.ip))?;
        let (state, served) = (
            state.clone(),
            web::Data::new(ServedInstance(name.to_string())),
        );
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(served.clone())
                .wrap_fn(access_log)
                .route("/", web::post().to(crate::ingest::execute_served_instance))
                .configure(crate::ingest::routes)
                .route("/healthz", web::get().to(healthz))
                .default_service(web::to(no_route))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(30)
        .client_request_timeout(Duration::from_millis(self.http.client_request_timeout_ms))
        .client_disconnect_timeout(Duration::from_millis(
            self.http.client_disconnect_timeout_ms,
        ))
        .keep_alive(keep_alive(&self.http))
        .max_connections(self.http.max_connections);
        let (server, certificate, scheme) = match &spec.tls {
            Some((cert, key)) => {
                let (certificate, info) = ReloadableCert::load(cert.as_ref(), key.as_ref())?;
                crate::tls::log_validity(&format!("instance '{name}'"), &info);
                let config = crate::tls::server_config(certificate.clone())?;
                (
                    server.listen_rustls_0_23(socket, config)?,
                    Some(certificate),
                    "https",
                )
            }
            None => (server.listen(socket)?, None, "http"),
        };
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        log::info!(
            "instance '{name}': own listener on {scheme}://{}:{port}/",
            self.ip
        );
        Ok(Running {
            spec: spec.clone(),
            handle,
            certificate,
        })
    }

    /// Stops every listener, letting requests in flight finish.
    pub async fn stop_all(&self) {
        lock(&self.state).take();
        let handles: Vec<ServerHandle> = lock(&self.running)
            .drain()
            .map(|(_, listener)| listener.handle)
            .collect();
        for handle in handles {
            handle.stop(true).await;
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
