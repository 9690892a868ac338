//! The mapping editor (`/instances/{name}/mapping`): a preset to start from, one field per
//! target (a JSONPath `$.x`, a template `{{$.x}} on {{$.y}}`, or a literal), labels one per
//! line, and the rest of the document (classify, split, severity_map, resolve_when, targets
//! with fallbacks) as JSON. A preview runs the draft over the instance's stored samples as
//! ingest would (`instances::store::mapping_test`, as the API's mapping test does) and shows
//! per sample what it would become and "N of M samples map fully"; the page's script
//! refreshes it as the admin types. Saving compiles the draft first; a refused draft keeps
//! what was typed and shows the error next to its field.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde_json::{Map, Value};

use super::admin::path_of;
use super::admin::{self, Admin, FieldErrors};
use super::blocking;
use super::form::FormFields;
use super::page::{self, ConsoleError, Notice, Page, Section};
use crate::error::ServiceError;
use crate::instances::{store, InstanceChanges};
use crate::mapping::report::TestReport;
use crate::mapping::MappingDoc;
use crate::state::AppState;

/// The targets with a field of their own: (document key, label).
const TARGETS: [(&str, &str); 5] = [
    ("name", "Name"),
    ("type", "Type"),
    ("occurred", "Occurred"),
    ("severity", "Severity"),
    ("dedup_key", "Dedup key"),
];

/// The form's fields, in the names errors are reported under.
const FIELDS: &[&str] = &[
    "base",
    "name",
    "type",
    "occurred",
    "severity",
    "dedup_key",
    "labels",
    "other",
];

/// The editor's form, as typed or as loaded from the stored document.
#[derive(Default)]
struct Draft {
    base: String,
    targets: Vec<(String, String)>,
    /// `key: expression`, one a line.
    labels: String,
    /// The rest of the document, as JSON.
    other: String,
}

impl Draft {
    fn target(&self, key: &str) -> &str {
        self.targets
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Splits a document into the form's parts: single-expression targets and labels get
    /// their fields, everything else stays in the JSON.
    fn of(doc: &Value) -> Draft {
        let mut rest = doc.as_object().cloned().unwrap_or_default();
        let mut draft = Draft::default();
        if let Some(Value::String(base)) = rest.remove("base") {
            draft.base = base;
        }
        for (key, _) in TARGETS {
            if let Some(Value::String(expr)) = rest.get(key).cloned() {
                rest.remove(key);
                draft.targets.push((key.to_string(), expr));
            }
        }
        if let Some(Value::Object(labels)) = rest.get("labels").cloned() {
            if labels.values().all(Value::is_string) {
                rest.remove("labels");
                draft.labels = labels
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join("\n");
            }
        }
        if !rest.is_empty() {
            draft.other = serde_json::to_string_pretty(&Value::Object(rest)).unwrap_or_default();
        }
        draft
    }

    fn submitted(fields: &FormFields) -> Draft {
        Draft {
            base: admin::trimmed(fields, "base").to_string(),
            targets: TARGETS
                .iter()
                .map(|(k, _)| (k.to_string(), admin::trimmed(fields, k).to_string()))
                .collect(),
            labels: fields.get("labels").unwrap_or_default().trim().to_string(),
            other: fields.get("other").unwrap_or_default().trim().to_string(),
        }
    }

    /// The mapping document the form describes; a problem names the form's field.
    fn document(&self) -> Result<(Value, MappingDoc), (String, String)> {
        let mut doc: Map<String, Value> = if self.other.is_empty() {
            Map::new()
        } else {
            match serde_json::from_str(&self.other) {
                Ok(Value::Object(object)) => object,
                Ok(_) => return Err(("other".into(), "must be a JSON object".into())),
                Err(e) => return Err(("other".into(), format!("not JSON: {e}"))),
            }
        };
        if !self.base.is_empty() {
            doc.insert("base".into(), Value::String(self.base.clone()));
        }
        for (key, expr) in &self.targets {
            if !expr.is_empty() {
                doc.insert(key.clone(), Value::String(expr.clone()));
            }
        }
        if !self.labels.is_empty() {
            let labels = doc
                .entry("labels")
                .or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(labels) = labels else {
                return Err(("other".into(), "labels must be an object".into()));
            };
            for line in self.labels.lines().map(str::trim).filter(|l| !l.is_empty()) {
                let Some((key, expr)) = line.split_once(':') else {
                    return Err((
                        "labels".into(),
                        format!("'{line}' is not 'key: expression'"),
                    ));
                };
                labels.insert(key.trim().into(), Value::String(expr.trim().into()));
            }
        }
        let value = Value::Object(doc);
        let parsed: MappingDoc = serde_json::from_value(value.clone())
            .map_err(|e| ("other".to_string(), format!("not a mapping document: {e}")))?;
        Ok((value, parsed))
    }
}

/// What the chosen preset sets a target to, shown in the target's empty field.
fn preset_target(preset: Option<&Value>, key: &str) -> Option<String> {
    match preset?.get(key)? {
        Value::String(expr) => Some(format!("{expr} (preset)")),
        Value::Null => None,
        other => Some(format!("{other} (preset)")),
    }
}

/// The form field a mapping problem (`name: …`, `labels.host: …`, `classify[0].when: …`)
/// belongs to.
fn field_of(problem: &str) -> String {
    let head = problem.split([':', '.', '[']).next().unwrap_or_default();
    if FIELDS.contains(&head) {
        head.to_string()
    } else {
        "other".to_string()
    }
}

fn errors_of(field: String, text: String) -> FieldErrors {
    let mut errors = FieldErrors::default();
    errors.add(&field, text);
    errors
}

/// The draft run over the stored samples, or why it cannot run.
async fn preview(
    state: &AppState,
    name: &str,
    draft: &Draft,
) -> Result<Result<(Value, TestReport), FieldErrors>, ConsoleError> {
    let (value, doc) = match draft.document() {
        Ok(parsed) => parsed,
        Err((field, text)) => return Ok(Err(errors_of(field, text))),
    };
    if let Err(problem) = doc.compile() {
        return Ok(Err(errors_of(field_of(&problem), problem)));
    }
    let target = name.to_string();
    let report = blocking(state, move |conn| {
        match store::mapping_test(conn, &target, Some(doc)) {
            Ok(report) => Ok(Ok(report)),
            Err(ServiceError::Invalid(m)) => Ok(Err(m)),
            Err(e) => Err(e),
        }
    })
    .await?;
    Ok(match report {
        Ok(report) => Ok((value, report)),
        Err(m) => {
            let problem = m.strip_prefix("mapping.").unwrap_or(&m).to_string();
            Err(errors_of(field_of(&problem), problem))
        }
    })
}

fn preview_panel(result: &Result<(Value, TestReport), FieldErrors>) -> Markup {
    html! {
        @match result {
            Err(_) => {
                p.notice.error #preview-summary { "The draft does not compile: see the field marked in the form." }
            }
            Ok((doc, report)) => {
                p #preview-summary.(if report.fully_mapped == report.samples && report.samples > 0 { "ok" } else { "partial" }) {
                    strong { (report.fully_mapped) " of " (report.samples) " samples map fully" }
                    " (name and occurred from the data)."
                }
                @if report.samples == 0 {
                    p.empty { "No stored samples to run it on. Turn on Keep samples in the instance's settings and let the sender deliver." }
                }
                div.scroll {
                    table.list #preview-rows {
                        thead { tr {
                            th { "Sample" } th { "Name" } th { "Type" } th { "Occurred" } th { "Severity" } th { "Labels" } th { "Dedup key" } th { "Problems" }
                        } }
                        tbody {
                            @for sample in &report.results {
                                @if sample.incidents.is_empty() {
                                    tr.problem data-sample=(sample.sample_id) {
                                        td { (sample.sample_id) } td colspan="6" { "—" }
                                        td.problems { (sample.error.as_deref().unwrap_or("no incident")) }
                                    }
                                }
                                @for incident in &sample.incidents {
                                    tr.problem[!sample.fully_mapped] data-sample=(sample.sample_id) {
                                        td { (sample.sample_id) }
                                        td.name { (incident.name.as_deref().unwrap_or("—")) }
                                        td.type { (incident.type_.as_deref().unwrap_or("—")) }
                                        td.occurred { (incident.occurred.as_deref().unwrap_or("—")) }
                                        td.severity { (incident.severity.as_deref().unwrap_or("—")) }
                                        td.labels {
                                            @for (k, v) in &incident.labels { span.label { (k) "=" (v) } " " }
                                        }
                                        td.dedup { (incident.dedup_key.as_deref().unwrap_or("—")) }
                                        td.problems {
                                            @if incident.name.is_none() { "no name; " }
                                            @if incident.occurred.is_none() { "occurred not from the data; " }
                                            @for w in &incident.warnings { (w) "; " }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                details.raw {
                    summary { "The mapping document (JSON)" }
                    pre #draft-json { code { (serde_json::to_string_pretty(doc).unwrap_or_default()) } }
                }
            }
        }
    }
}

fn render(
    admin: &Admin,
    name: &str,
    draft: &Draft,
    result: &Result<(Value, TestReport), FieldErrors>,
    notice: Option<Notice>,
    status: StatusCode,
) -> HttpResponse {
    let none = FieldErrors::default();
    let errors = result.as_ref().err().unwrap_or(&none);
    let presets: Vec<(String, String)> = std::iter::once((String::new(), "none".to_string()))
        .chain(
            crate::mapping::PRESETS
                .iter()
                .map(|p| (p.to_string(), p.to_string())),
        )
        .collect();
    let preset = (!draft.base.is_empty())
        .then(|| crate::mapping::preset(&draft.base))
        .flatten()
        .and_then(|doc| serde_json::to_value(doc).ok());
    let title = format!("Mapping of {name}");
    let body = html! {
        p.crumbs { a href="/instances" { "Instances" } " / " a href=(path_of(name, "")) { (name) } }
        h1 { (title) }
        p.muted { "Each field is a JSONPath (" code { "$.alert.title" } "), a template (" code { "{{$.rule}} on {{$.host}}" }
            ") or a literal. Empty fields come from the preset, or stay unset. See docs/mapping.md." }
        div.mapping-editor {
            form.settings #mapping-form method="post" action=(path_of(name, "/mapping"))
                data-preview=(path_of(name, "/mapping/preview")) {
                (admin::csrf(admin))
                fieldset {
                    legend { "Targets" }
                    (admin::select_field("base", "Start from preset", &presets, &draft.base, None, errors))
                    @for (key, label) in TARGETS {
                        (admin::placeholder_field("text", key, label, draft.target(key),
                            preset_target(preset.as_ref(), key).as_deref(), None, errors))
                    }
                }
                div.field.invalid[errors.of("labels").is_some()] {
                    label for="labels" { "Labels (one " code { "key: expression" } " a line)" }
                    textarea #labels name="labels" spellcheck="false" { (draft.labels) }
                    @if let Some(e) = errors.of("labels") { p.field-error #labels-error role="alert" { (e) } }
                }
                div.field.invalid[errors.of("other").is_some()] {
                    label for="other" { "Other rules (JSON: classify, split, severity_map, resolve_when, targets with fallbacks)" }
                    textarea #other name="other" spellcheck="false" { (draft.other) }
                    @if let Some(e) = errors.of("other") { p.field-error #other-error role="alert" { (e) } }
                }
                div.form-actions {
                    button.secondary type="submit" name="action" value="preview" { "Preview" }
                    button type="submit" name="action" value="save" { "Save mapping" }
                    a href=(path_of(name, "/samples")) { "Samples" }
                }
            }
            section.panel #preview aria-live="polite" {
                h2 { "Preview on the stored samples" }
                div #preview-body { (preview_panel(result)) }
            }
        }
    };
    let page = Page {
        title: &title,
        user: admin,
        notice,
        section: Section::Instances,
    };
    page.render(status, body)
}

/// `GET /instances/{name}/mapping`.
pub async fn page(
    admin: Admin,
    name: web::Path<String>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let name = name.into_inner();
    let instance = super::instance_page::find(&state, &name).await?;
    let draft = match (&instance.mapping, &instance.preset) {
        (Some(doc), _) => Draft::of(doc),
        (None, Some(preset)) => Draft {
            base: preset.clone(),
            ..Default::default()
        },
        (None, None) => Draft::default(),
    };
    let result = preview(&state, &name, &draft).await?;
    Ok(render(
        &admin,
        &name,
        &draft,
        &result,
        Notice::take(&req),
        StatusCode::OK,
    ))
}

/// `POST /instances/{name}/mapping/preview`: the preview panel alone, for the page's script.
pub async fn preview_fragment(
    admin: Admin,
    name: web::Path<String>,
    fields: FormFields,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    fields.check_csrf(&admin)?;
    let draft = Draft::submitted(&fields);
    let result = preview(&state, &name, &draft).await?;
    Ok(page::html(StatusCode::OK, preview_panel(&result)))
}

/// `POST /instances/{name}/mapping`: `action=preview` shows the preview (without script),
/// `action=save` saves a draft that compiles.
pub async fn save(
    admin: Admin,
    name: web::Path<String>,
    fields: FormFields,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    fields.check_csrf(&admin)?;
    let name = name.into_inner();
    let draft = Draft::submitted(&fields);
    let result = preview(&state, &name, &draft).await?;
    let saving = fields.get("action") == Some("save");
    let doc = match (&result, saving) {
        (Ok((doc, _)), true) => doc.clone(),
        (Err(_), true) => {
            return Ok(render(
                &admin,
                &name,
                &draft,
                &result,
                Some(Notice::refused("Not saved: the mapping does not compile.")),
                StatusCode::UNPROCESSABLE_ENTITY,
            ))
        }
        _ => return Ok(render(&admin, &name, &draft, &result, None, StatusCode::OK)),
    };
    let doc: MappingDoc = serde_json::from_value(doc).map_err(|_| ConsoleError::BadForm)?;
    let changes = InstanceChanges {
        mapping: Some(Some(doc)),
        ..Default::default()
    };
    let target = name.clone();
    let saved = blocking(&state, move |conn| {
        Ok(store::update(conn, &target, &changes))
    })
    .await?;
    if let Err(e) = saved {
        let mut errors = FieldErrors::default();
        match e {
            ServiceError::Invalid(m) | ServiceError::Conflict(m) => {
                let problem = m.strip_prefix("mapping.").unwrap_or(&m).to_string();
                errors.add(&field_of(&problem), problem);
            }
            other => return Err(other.into()),
        }
        return Ok(render(
            &admin,
            &name,
            &draft,
            &Err(errors),
            Some(Notice::refused("Not saved.")),
            StatusCode::UNPROCESSABLE_ENTITY,
        ));
    }
    admin::applied(&state).await;
    log::info!(
        "console: {} saved the mapping of instance {name}",
        admin.name
    );
    Ok(page::see_other(
        &path_of(&name, "/mapping"),
        Some(Notice::done(
            "Mapping saved: deliveries from now on are mapped with it.",
        )),
    ))
}
