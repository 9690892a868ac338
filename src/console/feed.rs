//! The incident feed (`/incidents`): newest first, keyset pages, the free-text search and
//! every incident filter, with the whole state in the URL under the API's parameter names,
//! so a link shows the same rows to whoever opens it.
//!
//! The page itself runs one indexed query (a page of rows). The facet counts, which may scan
//! every matching incident, come from `/incidents/counts` once the page is shown, and
//! `/incidents/latest` tells the page's script when newer incidents have arrived.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use super::form::FormFields;
use super::page::{self, ConsoleError, Notice, Page, Section};
use super::sessions::SessionUser;
use super::{blocking, incident};
use crate::incidents::filter::{encode_cursor, DEFAULT_LIMIT};
use crate::incidents::{self, Facets, IncidentFilter, IncidentView};
use crate::state::AppState;

/// The query string of a feed showing `filter` (from its first page).
pub fn query_of(filter: &IncidentFilter) -> String {
    let mut pairs = filter.to_pairs();
    if filter.limit != DEFAULT_LIMIT {
        pairs.push(("limit", filter.limit.to_string()));
    }
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

fn feed_url(filter: &IncidentFilter) -> String {
    match query_of(filter) {
        q if q.is_empty() => "/incidents".to_string(),
        q => format!("/incidents?{q}"),
    }
}

/// `GET /incidents`.
pub async fn page(
    user: SessionUser,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let notice = Notice::take(&req);
    let filter = match IncidentFilter::from_query_string(req.query_string()) {
        Ok(filter) => filter,
        Err(e) => {
            let page = Page {
                title: "Incidents",
                user: &user,
                notice: Some(Notice::refused(format!("This search cannot run: {e}."))),
                section: Section::Incidents,
            };
            let body = html! {
                h1 { "Incidents" }
                p { a href="/incidents" { "Show all incidents" } }
            };
            return Ok(page.render(StatusCode::BAD_REQUEST, body));
        }
    };
    let query = filter.clone();
    let items = blocking(&state, move |conn| incidents::store::list(conn, &query)).await?;
    let body = feed(&user, &filter, &items, req.uri().to_string());
    let page = Page {
        title: "Incidents",
        user: &user,
        notice,
        section: Section::Incidents,
    };
    Ok(page.render(StatusCode::OK, body))
}

fn feed(
    user: &SessionUser,
    filter: &IncidentFilter,
    items: &[IncidentView],
    here: String,
) -> Markup {
    let first_page = filter.before_id.is_none();
    let newest = items.first().map_or(0, |i| i.id);
    let older = (items.len() as i64 == filter.limit)
        .then(|| items.last())
        .flatten()
        .map(|last| {
            let mut pairs = filter.to_pairs();
            if filter.limit != DEFAULT_LIMIT {
                pairs.push(("limit", filter.limit.to_string()));
            }
            pairs.push(("cursor", encode_cursor(last.id)));
            format!(
                "/incidents?{}",
                serde_urlencoded::to_string(pairs).unwrap_or_default()
            )
        });
    let query = query_of(filter);
    html! {
        div.feed {
            section.results {
                (search_form(filter))
                form #bulk method="post" action="/incidents/status" {
                    input type="hidden" name="csrf" value=(user.csrf());
                    input type="hidden" name="return" value=(here);
                    div.actions {
                        span.selected #selected-count { "Select incidents to change them" }
                        button type="submit" name="status" value="acknowledged" { "Acknowledge" }
                        button type="submit" name="status" value="resolved" { "Resolve" }
                        button type="submit" name="status" value="open" { "Reopen" }
                    }
                }
                div #feed-list data-newest=(newest)
                    data-live=[first_page.then(|| format!("/incidents/latest?{query}"))] {
                @if items.is_empty() {
                    div.empty {
                        @if first_page && filter == &IncidentFilter::default() {
                            p { "No incidents yet. They appear here as senders deliver them to "
                                code { "/instance/execute/<instance>" } "." }
                        } @else {
                            p { "No incidents match." }
                            p { a href="/incidents" { "Show all incidents" } }
                        }
                    }
                } @else {
                    table.incidents #incidents {
                        thead {
                            tr {
                                th.select { input type="checkbox" #select-all aria-label="Select all on this page"; }
                                th { "Name" } th { "Instance" } th { "Type" } th { "Severity" }
                                th { "Status" } th.num { "Occurrences" } th { "Occurred" }
                            }
                        }
                        tbody #incident-rows {
                            @for item in items { (row(item)) }
                        }
                    }
                }
                }
                nav.pager aria-label="Pages" {
                    @if !first_page {
                        a href=(feed_url(filter)) { "← Newest" }
                    }
                    @if let Some(older) = older {
                        a href=(older) rel="next" { "Older →" }
                    }
                }
            }
            aside.facets #facets data-src=(format!("/incidents/counts?{query}")) aria-live="polite" {
                p.muted { "Counting…" }
            }
        }
    }
}

fn row(item: &IncidentView) -> Markup {
    html! {
        tr data-id=(item.id) {
            td.select {
                input type="checkbox" name="id" value=(item.id) form="bulk"
                    aria-label=(format!("Select incident {}", item.id));
            }
            td.name { a href=(format!("/incidents/{}", item.id)) { (item.name) } }
            td { (item.instance) }
            td { (item.type_.as_deref().unwrap_or("")) }
            td { @if let Some(s) = &item.severity { span.severity data-severity=(s.to_lowercase()) { (s) } } }
            td { (incident::status_badge(&item.status)) }
            td.num { (item.occurrences) }
            td { (incident::time(&item.occurred)) }
        }
    }
}

/// A `datetime-local` field's value for a stored time (UTC, to the minute or second).
fn local_value(t: Option<chrono::NaiveDateTime>) -> String {
    t.map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_default()
}

fn search_form(filter: &IncidentFilter) -> Markup {
    let joined = |values: &[String]| values.join(",");
    let q = filter.q.as_ref().map(|q| q.to_q()).unwrap_or_default();
    let labels: Vec<String> = filter
        .labels
        .iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect();
    let more_open = !(filter.instance.is_empty()
        && filter.type_.is_empty()
        && filter.severity.is_empty()
        && filter.labels.is_empty()
        && filter.name_contains.is_none()
        && filter.dedup_key.is_none()
        && filter.occurred_after.is_none()
        && filter.occurred_before.is_none());
    html! {
        form.search method="get" action="/incidents" role="search" {
            div.searchbar {
                label.hidden for="q" { "Search" }
                input #q type="search" name="q" value=(q) placeholder="Search names and payloads: words, \"a phrase\"";
                fieldset.statuses {
                    legend.hidden { "Status" }
                    @for status in incidents::store::STATUSES {
                        label {
                            input type="checkbox" name="status" value=(status) checked[filter.status.iter().any(|s| s == status)];
                            " " (status)
                        }
                    }
                }
                button type="submit" { "Search" }
            }
            details.more open[more_open] {
                summary { "Filters" }
                div.fields {
                    (field("instance", "Instance", &joined(&filter.instance), "text", "any; a,b for either"))
                    (field("type", "Type", &joined(&filter.type_), "text", "any"))
                    (field("severity", "Severity", &joined(&filter.severity), "text", "any; high,critical"))
                    @for (n, label) in labels.iter().enumerate() {
                        (field_with_id(&format!("f-label-{n}"), "label", "Label", label, "text", "key:value"))
                    }
                    (field_with_id("f-label", "label", if labels.is_empty() { "Label" } else { "Another label" }, "", "text", "key:value"))
                    (field("name_contains", "Name contains", filter.name_contains.as_deref().unwrap_or(""), "text", ""))
                    (field("dedup_key", "Dedup key", filter.dedup_key.as_deref().unwrap_or(""), "text", ""))
                    (field("occurred_after", "Occurred after (UTC)", &local_value(filter.occurred_after), "datetime-local", ""))
                    (field("occurred_before", "Occurred before (UTC)", &local_value(filter.occurred_before), "datetime-local", ""))
                }
                @if filter.created_after.is_some() || filter.created_before.is_some() {
                    input type="hidden" name="created_after" value=(local_value(filter.created_after));
                    input type="hidden" name="created_before" value=(local_value(filter.created_before));
                }
                @if filter.limit != DEFAULT_LIMIT {
                    input type="hidden" name="limit" value=(filter.limit);
                }
                p { a href="/incidents" { "Clear search and filters" } }
            }
        }
    }
}

fn field(name: &str, label: &str, value: &str, kind: &str, placeholder: &str) -> Markup {
    field_with_id(&format!("f-{name}"), name, label, value, kind, placeholder)
}

fn field_with_id(
    id: &str,
    name: &str,
    label: &str,
    value: &str,
    kind: &str,
    placeholder: &str,
) -> Markup {
    html! {
        div.field {
            label for=(id) { (label) }
            input id=(id) name=(name) type=(kind) value=(value) placeholder=(placeholder)
                step=[(kind == "datetime-local").then_some("1")];
        }
    }
}

/// The feed's filter from the request's query, from its newest match on.
fn first_page_filter(req: &HttpRequest) -> Result<IncidentFilter, ConsoleError> {
    let mut filter = IncidentFilter::from_query_string(req.query_string())
        .map_err(|e| ConsoleError::NotFound(e.to_string()))?;
    filter.before_id = None;
    Ok(filter)
}

/// `GET /incidents/latest`: the newest matching incident's id, which the feed's script
/// compares with the newest it shows.
pub async fn latest(
    _user: SessionUser,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let mut filter = first_page_filter(&req)?;
    filter.limit = 1;
    let items = blocking(&state, move |conn| incidents::store::list(conn, &filter)).await?;
    Ok(page::secured(HttpResponse::Ok())
        .json(serde_json::json!({"newest": items.first().map(|i| i.id)})))
}

/// `GET /incidents/counts`: the facet counts of a feed, as the aside it shows.
pub async fn counts(
    _user: SessionUser,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let filter = first_page_filter(&req)?;
    let query = filter.clone();
    let facets = blocking(&state, move |conn| incidents::store::facets(conn, &query)).await?;
    Ok(page::html(StatusCode::OK, facet_list(&filter, &facets)))
}

/// The counts by status, severity, type and instance; each links to the feed with that
/// value added to (or, when chosen, taken from) the filter.
fn facet_list(filter: &IncidentFilter, facets: &Facets) -> Markup {
    type Pick = fn(&mut IncidentFilter) -> &mut Vec<String>;
    let groups: [(&str, &std::collections::BTreeMap<String, i64>, Pick); 4] = [
        ("Status", &facets.status, |f| &mut f.status),
        ("Severity", &facets.severity, |f| &mut f.severity),
        ("Type", &facets.type_, |f| &mut f.type_),
        ("Instance", &facets.instance, |f| &mut f.instance),
    ];
    html! {
        p.total { strong #match-count { (facets.total) } " matching" }
        @for (title, counts, pick) in groups {
            @if !counts.is_empty() {
                h2 { (title) }
                ul {
                    @for (value, n) in counts {
                        @let mut toggled = filter.clone();
                        @let chosen = {
                            let values = pick(&mut toggled);
                            let chosen = values.contains(value);
                            if chosen { values.retain(|v| v != value); } else { values.push(value.clone()); }
                            chosen
                        };
                        li {
                            a.facet href=(feed_url(&toggled)) aria-pressed=(if chosen { "true" } else { "false" }) {
                                span.value { (value) }
                                span.count { (n) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `POST /incidents/status`: the selected rows (`id`, repeated) to one status.
pub async fn change_status(
    user: SessionUser,
    fields: FormFields,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    fields.check_csrf(&user)?;
    let back = fields
        .get("return")
        .filter(|r| r.starts_with("/incidents"))
        .unwrap_or("/incidents")
        .to_string();
    let status = fields.get("status").unwrap_or_default().to_string();
    let ids: Vec<i64> = fields.all("id").filter_map(|id| id.parse().ok()).collect();
    if ids.is_empty() {
        return Ok(page::see_other(
            &back,
            Some(Notice::refused("Select one or more incidents first.")),
        ));
    }
    let who = user.name.clone();
    let change = status.clone();
    let (changed, refused) = blocking(&state, move |conn| {
        let mut changed = 0;
        let mut refused = Vec::new();
        for id in ids {
            match incidents::store::set_status(conn, id, &change) {
                Ok(_) => {
                    log::info!("console: {who} set incident {id} to {change}");
                    changed += 1;
                }
                Err(crate::error::ServiceError::Unavailable(e)) => {
                    return Err(crate::error::ServiceError::Unavailable(e))
                }
                Err(e) => refused.push(e.to_string()),
            }
        }
        Ok((changed, refused))
    })
    .await?;
    let plural = |n: usize| if n == 1 { "incident" } else { "incidents" };
    let notice = if refused.is_empty() {
        Notice::done(format!(
            "{} {changed} {}.",
            incident::verb(&status),
            plural(changed)
        ))
    } else {
        Notice::refused(format!(
            "{} {changed} {}; {} refused: {}.",
            incident::verb(&status),
            plural(changed),
            refused.len(),
            refused.join("; ")
        ))
    };
    Ok(page::see_other(&back, Some(notice)))
}
