//! Instances for admins (`/instances`): the list with each one's activity, creating and
//! editing (every setting the API has), enabling and disabling, and removing with a
//! confirmation. Every change goes through `instances::store`, as the API's and the CLI's do,
//! so the rules and their messages are the same; it is logged with the admin's name and
//! served from the next request on.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use super::admin::{self, Admin, FieldErrors};
use super::admin::{enabled_badge, path_of};
use super::blocking;
use super::form::FormFields;
use super::incident::time;
use super::instance_page;
use super::page::{self, ConsoleError, Notice, Page, Section};
use crate::instances::auth_settings::{
    AuthChanges, DEFAULT_SIGNATURE_TOLERANCE, DEFAULT_TOKEN_TTL,
};
use crate::instances::model::DEFAULT_SAMPLE_LIMIT;
use crate::instances::{store, InstanceChanges, InstanceView, NewInstance};
use crate::ops::store::{activity_of, Activity};
use crate::state::AppState;

/// The fields of the settings form, in the names the API uses.
const FIELDS: &[&str] = &[
    "name",
    "incident_type",
    "preset",
    "sample_limit",
    "token_ttl",
    "signature_tolerance_s",
    "rate_limit",
    "rate_burst",
];

/// `GET /instances`.
pub async fn list(
    admin: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let rows = blocking(&state, |conn| {
        let now = chrono::Utc::now().naive_utc();
        store::list(conn)?
            .into_iter()
            .map(|instance| {
                let activity = activity_of(conn, &instance.name, now)?;
                Ok((instance, activity))
            })
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    let page = Page {
        title: "Instances",
        user: &admin,
        notice: Notice::take(&req),
        section: Section::Instances,
    };
    Ok(page.render(StatusCode::OK, table(&rows)))
}

fn table(rows: &[(InstanceView, Activity)]) -> Markup {
    html! {
        div.page-head {
            h1 { "Instances" }
            a.button href="/instances/new" { "New instance" }
        }
        p.muted { "Each instance is one endpoint a sender delivers to, with its own credentials and settings." }
        @if rows.is_empty() {
            div.empty { p { "No instances yet. " a href="/instances/new" { "Create the first one" } " to receive webhooks." } }
        } @else {
            div.scroll {
                table.list #instances {
                    thead { tr {
                        th { "Name" } th { "Enabled" } th { "Type" } th { "Preset" }
                        th.num { "Credentials" } th { "Last accepted delivery" } th.num { "Refusals (24 h)" }
                    } }
                    tbody {
                        @for (instance, activity) in rows {
                            tr data-name=(instance.name) {
                                td.name { a href=(path_of(&instance.name, "")) { (instance.name) } }
                                td.enabled { (enabled_badge(instance.enabled)) }
                                td.type { (instance.incident_type.as_deref().unwrap_or("—")) }
                                td.preset { (instance.preset.as_deref().unwrap_or("—")) }
                                td.num.credentials { (instance.credentials.len()) }
                                td.last {
                                    @match activity.last_accepted {
                                        Some(at) => { (time(&crate::time::rfc3339(at))) }
                                        None => { span.muted { "never" } }
                                    }
                                }
                                td.num.refusals { (activity.refused_24h) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The settings form's values, as typed (or as stored, when editing).
struct Settings {
    name: String,
    incident_type: String,
    preset: String,
    store_samples: bool,
    sample_limit: String,
    allow_anonymous: bool,
    enabled: bool,
    token_ttl: String,
    signature_tolerance_s: String,
    rate_limit: String,
    rate_burst: String,
}

impl Settings {
    fn defaults() -> Settings {
        Settings {
            name: String::new(),
            incident_type: String::new(),
            preset: String::new(),
            store_samples: true,
            sample_limit: DEFAULT_SAMPLE_LIMIT.to_string(),
            allow_anonymous: false,
            enabled: true,
            token_ttl: DEFAULT_TOKEN_TTL.to_string(),
            signature_tolerance_s: DEFAULT_SIGNATURE_TOLERANCE.to_string(),
            rate_limit: String::new(),
            rate_burst: String::new(),
        }
    }

    fn of(instance: &InstanceView) -> Settings {
        Settings {
            name: instance.name.clone(),
            incident_type: instance.incident_type.clone().unwrap_or_default(),
            preset: instance.preset.clone().unwrap_or_default(),
            store_samples: instance.store_samples,
            sample_limit: instance.sample_limit.to_string(),
            allow_anonymous: instance.allow_anonymous,
            enabled: instance.enabled,
            token_ttl: instance.token_ttl.to_string(),
            signature_tolerance_s: instance.signature_tolerance_s.to_string(),
            rate_limit: instance
                .rate_limit
                .map(|r| r.to_string())
                .unwrap_or_default(),
            rate_burst: instance
                .rate_burst
                .map(|b| b.to_string())
                .unwrap_or_default(),
        }
    }

    fn submitted(fields: &FormFields) -> Settings {
        let text = |name: &str| admin::trimmed(fields, name).to_string();
        Settings {
            name: text("name"),
            incident_type: text("incident_type"),
            preset: text("preset"),
            store_samples: fields.get("store_samples").is_some(),
            sample_limit: text("sample_limit"),
            allow_anonymous: fields.get("allow_anonymous").is_some(),
            enabled: fields.get("enabled").is_some(),
            token_ttl: text("token_ttl"),
            signature_tolerance_s: text("signature_tolerance_s"),
            rate_limit: text("rate_limit"),
            rate_burst: text("rate_burst"),
        }
    }
}

/// The numbers of a submitted form (the store checks their ranges).
struct Numbers {
    sample_limit: Option<i32>,
    token_ttl: Option<i32>,
    signature_tolerance_s: Option<i32>,
    rate_limit: Option<f64>,
    rate_burst: Option<i32>,
}

fn numbers(fields: &FormFields, errors: &mut FieldErrors) -> Numbers {
    let numbers = Numbers {
        sample_limit: admin::optional_number(fields, "sample_limit", errors),
        token_ttl: admin::optional_number(fields, "token_ttl", errors),
        signature_tolerance_s: admin::optional_number(fields, "signature_tolerance_s", errors),
        rate_limit: admin::optional_number(fields, "rate_limit", errors),
        rate_burst: admin::optional_number(fields, "rate_burst", errors),
    };
    for (name, given) in [
        ("sample_limit", numbers.sample_limit.is_some()),
        ("token_ttl", numbers.token_ttl.is_some()),
        (
            "signature_tolerance_s",
            numbers.signature_tolerance_s.is_some(),
        ),
    ] {
        if !given && errors.of(name).is_none() {
            errors.add(name, "give a number");
        }
    }
    numbers
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_string())
}

/// The settings form, for a new instance (`editing` None) or an existing one.
fn settings_form(
    admin: &Admin,
    settings: &Settings,
    editing: Option<&str>,
    errors: &FieldErrors,
) -> Markup {
    let presets: Vec<(String, String)> = std::iter::once((String::new(), "none".to_string()))
        .chain(
            crate::mapping::PRESETS
                .iter()
                .map(|p| (p.to_string(), p.to_string())),
        )
        .collect();
    let action = match editing {
        Some(name) => path_of(name, "/edit"),
        None => "/instances".to_string(),
    };
    html! {
        (errors.general())
        form.settings method="post" action=(action) {
            (admin::csrf(admin))
            @if editing.is_none() {
                (admin::text_field("name", "Name", &settings.name,
                    Some("1-64 letters, digits, '_' or '-'. Senders deliver to /instance/execute/<name>."), errors))
            }
            fieldset {
                legend { "Incidents" }
                (admin::text_field("incident_type", "Default type", &settings.incident_type,
                    Some("The type of incidents whose payload names none. Empty: none."), errors))
                (admin::select_field("preset", "Preset", &presets, &settings.preset,
                    Some("A built-in mapping for a known sender."), errors))
                (admin::checkbox("enabled", "Enabled", settings.enabled,
                    Some("A disabled instance refuses every delivery with 404.")))
            }
            fieldset {
                legend { "Samples" }
                (admin::checkbox("store_samples", "Keep samples", settings.store_samples,
                    Some("Keep the newest deliveries as they arrived, to build and test a mapping.")))
                (admin::input_field("number", "sample_limit", "Samples kept", &settings.sample_limit, None, errors))
            }
            fieldset {
                legend { "Senders" }
                (admin::checkbox("allow_anonymous", "Allow anonymous deliveries", settings.allow_anonymous,
                    Some("Accept deliveries without any credential. Leave off unless the network is trusted.")))
                (admin::input_field("number", "token_ttl", "Token lifetime (s)", &settings.token_ttl,
                    Some("How long a bearer token from the token URL stays valid."), errors))
                (admin::input_field("number", "signature_tolerance_s", "Signature tolerance (s)", &settings.signature_tolerance_s,
                    Some("How far a signed request's timestamp may be from this server's clock."), errors))
                (admin::text_field("rate_limit", "Rate limit (requests/s)", &settings.rate_limit,
                    Some("Empty: no limit. Excess requests get 429 with Retry-After."), errors))
                (admin::input_field("number", "rate_burst", "Burst", &settings.rate_burst,
                    Some("Requests accepted at once above the rate (needs a rate limit)."), errors))
            }
            div.form-actions {
                button type="submit" { (if editing.is_some() { "Save settings" } else { "Create instance" }) }
                a href=(editing.map_or("/instances".to_string(), |n| path_of(n, ""))) { "Cancel" }
            }
        }
    }
}

/// `GET /instances/new`.
pub async fn new_form(admin: Admin) -> Result<HttpResponse, ConsoleError> {
    Ok(render_new(
        &admin,
        &Settings::defaults(),
        &FieldErrors::default(),
        StatusCode::OK,
    ))
}

fn render_new(
    admin: &Admin,
    settings: &Settings,
    errors: &FieldErrors,
    status: StatusCode,
) -> HttpResponse {
    let page = Page {
        title: "New instance",
        user: admin,
        notice: None,
        section: Section::Instances,
    };
    page.render(
        status,
        html! {
            p.crumbs { a href="/instances" { "← Instances" } }
            h1 { "New instance" }
            (settings_form(admin, settings, None, errors))
        },
    )
}

/// `POST /instances`.
pub async fn create(
    admin: Admin,
    fields: FormFields,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    fields.check_csrf(&admin)?;
    let settings = Settings::submitted(&fields);
    let mut errors = FieldErrors::default();
    let n = numbers(&fields, &mut errors);
    if !errors.is_empty() {
        return Ok(render_new(
            &admin,
            &settings,
            &errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        ));
    }
    let mut new = NewInstance::named(&settings.name);
    new.incident_type = non_empty(&settings.incident_type);
    new.preset = non_empty(&settings.preset);
    new.store_samples = settings.store_samples;
    new.sample_limit = n.sample_limit.unwrap_or(DEFAULT_SAMPLE_LIMIT);
    new.allow_anonymous = settings.allow_anonymous;
    new.enabled = settings.enabled;
    new.auth = AuthChanges {
        token_ttl: n.token_ttl,
        signature_tolerance_s: n.signature_tolerance_s,
        rate_limit: n.rate_limit.map(Some),
        rate_burst: n.rate_burst,
    };
    let created = blocking(&state, move |conn| Ok(store::create(conn, &new, None))).await?;
    match created {
        Ok(instance) => {
            admin::applied(&state).await;
            log::info!("console: {} created instance {}", admin.name, instance.name);
            Ok(page::see_other(
                &path_of(&instance.name, ""),
                Some(Notice::done(format!(
                    "Created instance {}. Add a credential below so a sender can deliver.",
                    instance.name
                ))),
            ))
        }
        Err(e) => {
            let errors = FieldErrors::from_refusal(e, FIELDS)?;
            Ok(render_new(
                &admin,
                &settings,
                &errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            ))
        }
    }
}

/// `GET /instances/{name}/edit`.
pub async fn edit_form(
    admin: Admin,
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let name = name.into_inner();
    let instance = instance_page::find(&state, &name).await?;
    Ok(render_edit(
        &admin,
        &name,
        &Settings::of(&instance),
        &FieldErrors::default(),
        StatusCode::OK,
    ))
}

fn render_edit(
    admin: &Admin,
    name: &str,
    settings: &Settings,
    errors: &FieldErrors,
    status: StatusCode,
) -> HttpResponse {
    let title = format!("Settings of {name}");
    let page = Page {
        title: &title,
        user: admin,
        notice: None,
        section: Section::Instances,
    };
    page.render(
        status,
        html! {
            p.crumbs { a href="/instances" { "Instances" } " / " a href=(path_of(name, "")) { (name) } }
            h1 { (title) }
            (settings_form(admin, settings, Some(name), errors))
        },
    )
}

/// `POST /instances/{name}/edit`.
pub async fn update(
    admin: Admin,
    name: web::Path<String>,
    fields: FormFields,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    fields.check_csrf(&admin)?;
    let name = name.into_inner();
    let mut settings = Settings::submitted(&fields);
    settings.name = name.clone();
    let mut errors = FieldErrors::default();
    let n = numbers(&fields, &mut errors);
    if !errors.is_empty() {
        return Ok(render_edit(
            &admin,
            &name,
            &settings,
            &errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        ));
    }
    let changes = InstanceChanges {
        incident_type: Some(non_empty(&settings.incident_type)),
        store_samples: Some(settings.store_samples),
        sample_limit: n.sample_limit,
        allow_anonymous: Some(settings.allow_anonymous),
        enabled: Some(settings.enabled),
        listener: None,
        mapping: None,
        preset: Some(non_empty(&settings.preset)),
        auth: AuthChanges {
            token_ttl: n.token_ttl,
            signature_tolerance_s: n.signature_tolerance_s,
            // An empty rate field removes the limit (and its burst).
            rate_limit: Some(n.rate_limit),
            rate_burst: n.rate_burst,
        },
    };
    let target = name.clone();
    let updated = blocking(&state, move |conn| {
        Ok(store::update(conn, &target, &changes))
    })
    .await?;
    match updated {
        Ok(_) => {
            admin::applied(&state).await;
            log::info!(
                "console: {} changed the settings of instance {name}",
                admin.name
            );
            Ok(page::see_other(
                &path_of(&name, ""),
                Some(Notice::done(
                    "Settings saved; they apply from the next delivery.",
                )),
            ))
        }
        Err(e) => {
            let errors = FieldErrors::from_refusal(e, FIELDS)?;
            Ok(render_edit(
                &admin,
                &name,
                &settings,
                &errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            ))
        }
    }
}

/// `POST /instances/{name}/enabled`: `enabled=true|false`.
pub async fn set_enabled(
    admin: Admin,
    name: web::Path<String>,
    fields: FormFields,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    fields.check_csrf(&admin)?;
    let name = name.into_inner();
    let enabled = fields.get("enabled") == Some("true");
    let changes = InstanceChanges {
        enabled: Some(enabled),
        ..Default::default()
    };
    let target = name.clone();
    blocking(&state, move |conn| store::update(conn, &target, &changes)).await?;
    admin::applied(&state).await;
    let done = if enabled { "enabled" } else { "disabled" };
    log::info!("console: {} {done} instance {name}", admin.name);
    let text = if enabled {
        format!("Enabled {name}: it accepts deliveries again.")
    } else {
        format!("Disabled {name}: every delivery to it is refused with 404 until it is enabled.")
    };
    Ok(page::see_other(
        &path_of(&name, ""),
        Some(Notice::done(text)),
    ))
}

/// `GET /instances/{name}/remove`: what removing takes away, and what stays.
pub async fn remove_form(
    admin: Admin,
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let name = name.into_inner();
    let target = name.clone();
    let (instance, samples) = blocking(&state, move |conn| {
        Ok((
            store::show(conn, &target)?,
            store::samples(conn, &target)?.len(),
        ))
    })
    .await?;
    let title = format!("Remove {name}?");
    let credentials = instance.credentials.len();
    let button = format!("Remove {name}");
    let action = path_of(&name, "/remove");
    let cancel = path_of(&name, "");
    Ok(admin::Confirmation {
        section: Section::Instances,
        crumbs: admin::instance_crumbs(&name),
        title: &title,
        explanation: html! {
            p { "Removing the instance " strong { (name) } " removes:" }
            ul {
                li { "its settings and mapping; deliveries to " code { "/instance/execute/" (name) } " are refused with 404 from the next request" }
                li { (credentials) " credential" (if credentials == 1 { "" } else { "s" }) " and the bearer tokens issued from them" }
                li { (samples) " stored sample" (if samples == 1 { "" } else { "s" }) " and its delivery log" }
            }
            p.stays { strong { "Its incidents stay" } ": they remain in the feed and the API, under instance " (name) "." }
        },
        action: &action,
        button: &button,
        cancel: &cancel,
    }
    .render(&admin))
}

/// `POST /instances/{name}/remove`.
pub async fn remove(
    admin: Admin,
    name: web::Path<String>,
    fields: FormFields,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    fields.check_csrf(&admin)?;
    let name = name.into_inner();
    let target = name.clone();
    blocking(&state, move |conn| store::remove(conn, &target)).await?;
    admin::applied(&state).await;
    log::info!("console: {} removed instance {name}", admin.name);
    Ok(page::see_other(
        "/instances",
        Some(Notice::done(format!(
            "Removed instance {name}; its incidents stay."
        ))),
    ))
}
