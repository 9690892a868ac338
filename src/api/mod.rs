//! The admin and analyst interface under `/api/v1`: Bearer tokens with roles,
//! incidents with filters and keyset pagination, NDJSON export, instance management,
//! credentials, samples, and installing the HTTPS certificate.
//!
//! Handlers call the same store functions as the CLI, on the blocking pool. Every change to
//! instances or credentials refreshes this server's registry at once; other processes see it
//! through the configuration version within their reload interval.

pub(crate) mod blocking;
mod body_deadline;
mod caller;
mod credentials;
mod incidents;
mod instances;
mod openapi;
pub mod ops;
mod pagination;
mod query;
mod samples;
mod tls;

use actix_web::web;

use crate::error::{ApiError, ErrorCode};
use credentials::remove_credential;
use incidents::{
    export_incidents, incident_events, incident_facets, list_incidents, show_incident,
    update_incident,
};
use instances::{create_instance, list_instances, remove_instance, show_instance, update_instance};
use openapi::openapi;
use samples::{clear_samples, list_samples, test_mapping};
use tls::install_certificate;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .wrap_fn(query::refuse_unknown_parameters)
            .wrap(actix_web::middleware::from_fn(
                body_deadline::within_deadline,
            ))
            .app_data(web::QueryConfig::default().error_handler(|e, _| {
                ApiError::new(ErrorCode::InvalidQuery, format!("Query: {e}.")).into()
            }))
            .app_data(
                web::JsonConfig::default()
                    .limit(1024 * 1024)
                    .error_handler(|e, _| {
                        ApiError::new(ErrorCode::UnprocessableBody, format!("Body: {e}.")).into()
                    }),
            )
            .app_data(web::PathConfig::default().error_handler(|e, _| {
                ApiError::new(ErrorCode::InvalidPath, format!("Path: {e}.")).into()
            }))
            .route("/incidents", web::get().to(list_incidents))
            .route("/incidents/export", web::get().to(export_incidents))
            .route("/incidents/facets", web::get().to(incident_facets))
            .route("/incidents/{id}", web::get().to(show_incident))
            .route("/incidents/{id}", web::patch().to(update_incident))
            .route("/incidents/{id}/events", web::get().to(incident_events))
            .route("/instances", web::get().to(list_instances))
            .route("/instances", web::post().to(create_instance))
            .route("/instances/{name}", web::get().to(show_instance))
            .route("/instances/{name}", web::patch().to(update_instance))
            .route("/instances/{name}", web::delete().to(remove_instance))
            .route(
                "/instances/{name}/credentials",
                web::post().to(credentials::add_credential),
            )
            .route(
                "/instances/{name}/credentials/{id}",
                web::delete().to(remove_credential),
            )
            .route(
                "/instances/{name}/mapping/test",
                web::post().to(test_mapping),
            )
            .route("/instances/{name}/samples", web::get().to(list_samples))
            .route(
                "/instances/{name}/deliveries",
                web::get().to(ops::list_deliveries),
            )
            .route("/instances/{name}/samples", web::delete().to(clear_samples))
            .route("/tls", web::put().to(install_certificate))
            .route("/openapi.json", web::get().to(openapi)),
    );
}
