//! `GET /api/v1/openapi.json`: the OpenAPI 3 document of `/api/v1`, generated from the
//! handlers' annotations.

use actix_web::HttpResponse;
use utoipa::OpenApi;

use super::{credentials, incidents, instances, ops, samples, tls};
use crate::error::ErrorBody;
use crate::incidents::{EventView, Facets, IncidentView};
use crate::instances::{CredentialView, InstanceView, SampleView};
use crate::tls::CertInfo;

/// The OpenAPI 3 document of `/api/v1`, generated from the handlers' annotations.
#[derive(OpenApi)]
#[openapi(
    info(title = "intake", description = "Admin and analyst interface of the intake webhook receiver."),
    paths(
        incidents::list_incidents, incidents::export_incidents, incidents::incident_facets,
        incidents::show_incident, incidents::update_incident, incidents::incident_events,
        instances::list_instances, instances::create_instance,
        instances::show_instance, instances::update_instance, instances::remove_instance,
        credentials::add_credential, credentials::remove_credential,
        samples::list_samples, samples::clear_samples, samples::test_mapping,
        tls::install_certificate, ops::list_deliveries
    ),
    components(schemas(
        IncidentView, EventView, Facets, InstanceView, CredentialView, SampleView, CertInfo,
        instances::CreateInstance, instances::UpdateInstance, credentials::NewCredential,
        tls::NewCertificate, samples::MappingTest, incidents::IncidentChange, ErrorBody,
        crate::ops::store::DeliveryView, super::pagination::Page
    )),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// `GET /api/v1/openapi.json`, unauthenticated: it describes, it reveals nothing.
pub(super) async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
