//! The HTTPS certificate for admins (`/tls`): what the serving pair says (subject, names,
//! issuer, validity, days left, with a warning under 30 days) and installing a new pair,
//! pasted or read from files, with the same validation as `PUT /api/v1/tls`: a bad pair is
//! refused with the reason and the old one keeps serving.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;

use super::admin::{self, Admin, FieldErrors};
use super::form::FormFields;
use super::incident::time;
use super::page::{self, ConsoleError, Notice, Page, Section};
use crate::error::ServiceError;
use crate::state::AppState;
use crate::tls::{CertInfo, EXPIRY_WARNING_DAYS};

fn render(
    admin: &Admin,
    info: Option<&CertInfo>,
    typed_cert: &str,
    errors: &FieldErrors,
    notice: Option<Notice>,
    status: StatusCode,
) -> HttpResponse {
    let body = html! {
        h1 { "HTTPS certificate" }
        @match info {
            None => {
                p.empty { "This server serves no HTTPS. Start it with " code { "--tls-listen" } ", " code { "--tls-cert" } " and " code { "--tls-key" } " (or "
                    code { "tls_listen" } ", " code { "tls_cert" } ", " code { "tls_key" } " in intake.toml); see docs/operations.md." }
            }
            Some(info) => {
                @let days = info.days_left();
                @if days < EXPIRY_WARNING_DAYS {
                    p.warning #expiry-warning role="alert" { "This certificate expires in " (days) " days. Install a new pair below." }
                }
                section.panel #certificate {
                    h2 { "Serving now" }
                    dl.fields {
                        dt { "Subject" } dd.subject { (info.subject) }
                        dt { "Names" } dd.names {
                            @if info.sans.is_empty() { "—" } @else {
                                ul.labels { @for name in &info.sans { li { span.value { (name) } } } }
                            }
                        }
                        dt { "Issuer" } dd.issuer { (info.issuer) }
                        dt { "Valid from" } dd { (time(&info.not_before)) }
                        dt { "Expires" } dd.expires { (time(&info.not_after)) }
                        dt { "Days left" } dd.days-left { (days) }
                        dt { "SHA-256" } dd { code.sha256 { (info.sha256) } }
                    }
                }
                section.panel {
                    h2 { "Install a new pair" }
                    p.muted { "The pair is checked first (it parses, the key matches, it has not expired); only then is it written over the configured files and served to new connections. A refused pair changes nothing." }
                    (errors.general())
                    form.settings method="post" action="/tls" {
                        (admin::csrf(admin))
                        div.field.invalid[errors.of("cert").is_some()] {
                            label for="cert" { "Certificate chain (PEM)" }
                            input type="file" accept=".pem,.crt,.cer" data-fills="cert" aria-label="Read the certificate from a file";
                            textarea #cert name="cert" spellcheck="false" placeholder="-----BEGIN CERTIFICATE-----" { (typed_cert) }
                            @if let Some(e) = errors.of("cert") { p.field-error id="cert-error" role="alert" { (e) } }
                        }
                        div.field.invalid[errors.of("key").is_some()] {
                            label for="key" { "Private key (PEM)" }
                            input type="file" accept=".pem,.key" data-fills="key" aria-label="Read the key from a file";
                            textarea #key name="key" spellcheck="false" placeholder="-----BEGIN PRIVATE KEY-----" {}
                            @if let Some(e) = errors.of("key") { p.field-error id="key-error" role="alert" { (e) } }
                        }
                        div.form-actions { button type="submit" { "Install certificate" } }
                    }
                }
            }
        }
    };
    let page = Page {
        title: "Certificate",
        user: admin,
        notice,
        section: Section::Certificate,
    };
    page.render(status, body)
}

async fn serving(state: &AppState) -> Result<Option<CertInfo>, ConsoleError> {
    let Some(certificate) = state.tls.clone() else {
        return Ok(None);
    };
    let info = web::block(move || certificate.info())
        .await
        .map_err(|_| ConsoleError::Internal)?
        .map_err(|e| ConsoleError::from(ServiceError::Internal(e)))?;
    Ok(Some(info))
}

/// `GET /tls`.
pub async fn page(
    admin: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let info = serving(&state).await?;
    Ok(render(
        &admin,
        info.as_ref(),
        "",
        &FieldErrors::default(),
        Notice::take(&req),
        StatusCode::OK,
    ))
}

/// `POST /tls`: cert, key.
pub async fn install(
    admin: Admin,
    fields: FormFields,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    fields.check_csrf(&admin)?;
    let Some(certificate) = state.tls.clone() else {
        return Err(ConsoleError::NotFound(
            "This server serves no HTTPS, so it has no certificate to replace".into(),
        ));
    };
    let cert = fields.get("cert").unwrap_or_default().to_string();
    let key = fields.get("key").unwrap_or_default().to_string();
    let mut errors = FieldErrors::default();
    if cert.trim().is_empty() {
        errors.add("cert", "paste or choose the certificate chain");
    }
    if key.trim().is_empty() {
        errors.add("key", "paste or choose the private key");
    }
    if errors.is_empty() {
        let (c, k) = (cert.clone(), key);
        let installed = web::block(move || certificate.install(c.as_bytes(), k.as_bytes()))
            .await
            .map_err(|_| ConsoleError::Internal)?;
        match installed {
            Ok(info) => {
                crate::tls::log_validity(
                    &format!("installed through the console by {}", admin.name),
                    &info,
                );
                log::info!(
                    "console: {} installed a new HTTPS certificate ({})",
                    admin.name,
                    info.subject
                );
                return Ok(page::see_other(
                    "/tls",
                    Some(Notice::done(format!(
                        "Installed the new certificate; new connections get {}.",
                        info.subject
                    ))),
                ));
            }
            Err(e) => {
                log::warn!(
                    "console: {} tried to install a certificate pair that was refused: {e:#}",
                    admin.name
                );
                errors.add_message(
                    &format!("Not installed, the current pair keeps serving: {e:#}."),
                    &[],
                );
            }
        }
    } else {
        errors.add_message("Not installed: give both the certificate and the key.", &[]);
    }
    let info = serving(&state).await?;
    Ok(render(
        &admin,
        info.as_ref(),
        &cert,
        &errors,
        None,
        StatusCode::UNPROCESSABLE_ENTITY,
    ))
}
