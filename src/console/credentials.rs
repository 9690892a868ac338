//! Adding and removing an instance's credentials from its page.
//!
//! A secret the admin types is hashed (Basic, header) or sealed (signature) and never shown
//! again. "Generate a secret" creates a 256-bit random one and shows it exactly once, in the
//! answer to that form, with a curl that uses it; the page never holds it after that.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;

use super::admin::{self, path_of, Admin, FieldErrors};
use super::blocking;
use super::credential_form::{
    curl, describe, generated_secret, CredentialDraft, CurlAuth, NewSecret,
};
use super::form::FormFields;
use super::instance_page::{self, Extras};
use super::page::{self, ConsoleError, Notice, Section};
use crate::auth::signature::DEFAULT_HEADER;
use crate::auth::{hash_secret, CredentialSpec};
use crate::error::ServiceError;
use crate::instances::{store, CredentialView};
use crate::state::AppState;

/// `POST /instances/{name}/credentials`.
pub async fn add(
    admin: Admin,
    name: web::Path<String>,
    fields: FormFields,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    fields.check_csrf(&admin)?;
    let name = name.into_inner();
    let kind = admin::trimmed(&fields, "kind").to_string();
    let generate = fields.get("generate") == Some("yes");
    let mut draft = CredentialDraft {
        kind: kind.clone(),
        username: admin::trimmed(&fields, "username").to_string(),
        header_name: admin::trimmed(&fields, "header_name").to_string(),
        scheme: admin::trimmed(&fields, "scheme").to_string(),
        signature_header: admin::trimmed(&fields, "signature_header").to_string(),
        errors: FieldErrors::default(),
    };
    let secret_field = match kind.as_str() {
        "basic" => "secret",
        "header" => "header_secret",
        "signature" => "signing_secret",
        _ => return Err(ConsoleError::BadForm),
    };
    let secret = if generate {
        generated_secret(&kind, &draft.scheme)
    } else {
        fields.get(secret_field).unwrap_or_default().to_string()
    };
    if secret.is_empty() {
        draft
            .errors
            .add(secret_field, "type a secret, or press Generate a secret");
    }
    let result = match kind.as_str() {
        "basic" | "header" => {
            let (field, username) = if kind == "basic" {
                ("username", draft.username.clone())
            } else {
                (
                    "header_name",
                    format!("{}{}", crate::auth::rules::HEADER_PREFIX, draft.header_name),
                )
            };
            match CredentialSpec::parse(&username) {
                Err(e) => {
                    draft.errors.add(field, e);
                    None
                }
                Ok(_) if !draft.errors.is_empty() => None,
                Ok(spec) => {
                    let hashing = secret.clone();
                    let hash = web::block(move || hash_secret(&hashing))
                        .await
                        .map_err(|_| ConsoleError::Internal)?
                        .map_err(|e| ConsoleError::from(ServiceError::Internal(e)))?;
                    let target = name.clone();
                    Some(
                        blocking(&state, move |conn| {
                            Ok(store::add_credential(conn, &target, &spec, &hash))
                        })
                        .await?,
                    )
                }
            }
        }
        _ if !draft.errors.is_empty() => None,
        _ => {
            let secrets = state.registry.load().secrets.clone();
            let (target, scheme) = (name.clone(), draft.scheme.clone());
            let header =
                (!draft.signature_header.is_empty()).then(|| draft.signature_header.clone());
            let signing = secret.clone();
            Some(
                blocking(&state, move |conn| {
                    Ok(store::add_signature_rule(
                        conn,
                        &target,
                        &scheme,
                        header.as_deref(),
                        signing.as_bytes(),
                        secrets.as_deref(),
                    ))
                })
                .await?,
            )
        }
    };
    let added = match result {
        Some(Ok(added)) => added,
        Some(Err(e)) => {
            let message = match e {
                ServiceError::Invalid(m) | ServiceError::Conflict(m) => m,
                other => return Err(other.into()),
            };
            // The store names the API's fields; the form's are named apart per kind.
            let renamed = message
                .replacen("signature: ", "scheme: ", 1)
                .replacen("header: ", "signature_header: ", 1)
                .replacen("secret: ", "signing_secret: ", 1);
            draft
                .errors
                .add_message(&renamed, &["scheme", "signature_header", "signing_secret"]);
            return refused(&admin, &req, &state, &name, draft).await;
        }
        None => return refused(&admin, &req, &state, &name, draft).await,
    };
    admin::applied(&state).await;
    let what = describe(&added);
    log::info!(
        "console: {} added the {what} (credential {}) to instance {name}",
        admin.name,
        added.id
    );
    if !generate {
        return Ok(page::see_other(
            &path_of(&name, ""),
            Some(Notice::done(format!(
                "Added the {what}. It works from the next delivery; its secret is not shown again."
            ))),
        ));
    }
    // Shown in this answer only: never in a redirect, a cookie or a later page.
    let loaded = instance_page::load(&state, &name).await?;
    let endpoints = instance_page::endpoints(&req, &state, &name);
    let webhook = endpoints
        .first()
        .map(|e| e.webhook.clone())
        .unwrap_or_default();
    let header_name;
    let auth = match kind.as_str() {
        "basic" => CurlAuth::Basic(&draft.username, &secret),
        "header" => {
            header_name = draft.header_name.clone();
            CurlAuth::Header(&header_name, &secret)
        }
        _ => CurlAuth::Signature {
            scheme: &added.username,
            header: added.header.as_deref().unwrap_or(DEFAULT_HEADER),
            secret: &secret,
        },
    };
    let new_secret = NewSecret {
        what: what.clone(),
        curl: curl(&webhook, &auth),
        secret: secret.clone(),
    };
    let extras = Extras {
        notice: Some(Notice::done(format!(
            "Added the {what} with a generated secret."
        ))),
        draft: None,
        new_secret: Some(new_secret),
    };
    Ok(instance_page::render(
        &admin,
        &req,
        &state,
        &loaded,
        extras,
        StatusCode::OK,
    ))
}

/// The instance page again, with the refused form's errors by its fields.
async fn refused(
    admin: &Admin,
    req: &HttpRequest,
    state: &web::Data<AppState>,
    name: &str,
    draft: CredentialDraft,
) -> Result<HttpResponse, ConsoleError> {
    let loaded = instance_page::load(state, name).await?;
    let extras = Extras {
        notice: Some(Notice::refused(
            "The credential was not added: see the form below.",
        )),
        draft: Some(draft),
        new_secret: None,
    };
    Ok(instance_page::render(
        admin,
        req,
        state,
        &loaded,
        extras,
        StatusCode::UNPROCESSABLE_ENTITY,
    ))
}

async fn credential_of(
    state: &AppState,
    name: &str,
    id: i32,
) -> Result<CredentialView, ConsoleError> {
    let instance = instance_page::find(state, name).await?;
    instance
        .credentials
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| ConsoleError::NotFound(format!("Instance {name} has no credential {id}")))
}

/// `GET /instances/{name}/credentials/{id}/remove`.
pub async fn remove_form(
    admin: Admin,
    path: web::Path<(String, i32)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let (name, id) = path.into_inner();
    let credential = credential_of(&state, &name, id).await?;
    let what = describe(&credential);
    let title = format!("Remove the {what}?");
    let action = path_of(&name, &format!("/credentials/{id}/remove"));
    let cancel = path_of(&name, "");
    Ok(admin::Confirmation {
        section: Section::Instances,
        crumbs: admin::instance_crumbs(&name),
        title: &title,
        explanation: html! {
            p { "From the next request, " (name) " refuses deliveries that use it, and bearer tokens issued from it stop working. Other credentials keep working." }
        },
        action: &action,
        button: "Remove credential",
        cancel: &cancel,
    }
    .render(&admin))
}

/// `POST /instances/{name}/credentials/{id}/remove`.
pub async fn remove(
    admin: Admin,
    path: web::Path<(String, i32)>,
    fields: FormFields,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    fields.check_csrf(&admin)?;
    let (name, id) = path.into_inner();
    let credential = credential_of(&state, &name, id).await?;
    let target = name.clone();
    blocking(&state, move |conn| {
        store::remove_credential(conn, &target, id)
    })
    .await?;
    admin::applied(&state).await;
    let what = describe(&credential);
    log::info!(
        "console: {} removed the {what} (credential {id}) of instance {name}",
        admin.name
    );
    Ok(page::see_other(
        &path_of(&name, ""),
        Some(Notice::done(format!("Removed the {what}."))),
    ))
}
