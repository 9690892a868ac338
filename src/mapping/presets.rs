//! Built-in mappings for known senders, written from their public payload documentation.
//! A preset is an ordinary mapping document, so it can be the `base` of a custom one.

use super::document::MappingDoc;

/// Preset names (the contract).
pub const PRESETS: [&str; 7] = [
    "cato",
    "cado",
    "cii",
    "connectsecure",
    "alertmanager",
    "grafana",
    "github",
];

/// A preset's mapping document, by name.
pub fn preset(name: &str) -> Option<MappingDoc> {
    let text = match name {
        "alertmanager" => ALERTMANAGER,
        "grafana" => GRAFANA,
        "github" => GITHUB,
        "cato" => CATO,
        "cado" => CADO,
        "cii" => CII,
        "connectsecure" => CONNECTSECURE,
        _ => return None,
    };
    // The presets are tested to parse and compile; a failure here is a build defect.
    // A preset built on another (`base`) is returned resolved.
    MappingDoc::parse(text).ok()?.resolved().ok()
}

/// Prometheus Alertmanager webhook (`version` 4): a group with `alerts[]`, each alert with
/// `labels`, `annotations`, `startsAt`, `status` and a stable `fingerprint`.
const ALERTMANAGER: &str = r#"{
  "split": "$.alerts",
  "name": ["{{$.labels.alertname}}: {{$.annotations.summary}}", "$.labels.alertname", "$.annotations.description"],
  "type": {"value": "$.labels.alertname", "default": "Alertmanager alert"},
  "occurred": "$.startsAt",
  "severity": "$.labels.severity",
  "severity_map": {"critical": "critical", "page": "high", "error": "high", "warning": "medium",
                   "warn": "medium", "info": "info", "none": "info"},
  "dedup_key": "$.fingerprint",
  "resolve_when": {"when": "$.status", "matches": "^resolved$"},
  "labels": {"status": "$.status", "instance": "$.labels.instance", "job": "$.labels.job",
             "receiver": "$parent.receiver", "generator_url": "$.generatorURL"}
}"#;

/// Grafana unified alerting webhook: Alertmanager's shape plus `title`, `state`, `message`
/// and per-alert `dashboardURL`/`panelURL`/`valueString`; built on the Alertmanager preset.
const GRAFANA: &str = r#"{
  "base": "alertmanager",
  "name": ["{{$.labels.alertname}}: {{$.annotations.summary}}", "$.labels.alertname", "$parent.title"],
  "type": {"value": "$.labels.alertname", "default": "Grafana alert"},
  "severity_map": {"high": "high"},
  "labels": {"folder": "$.labels.grafana_folder", "dashboard": "$.dashboardURL",
             "panel": "$.panelURL", "value": "$.valueString"}
}"#;

/// GitHub webhooks: the event is the `X-GitHub-Event` header, the delivery id
/// `X-GitHub-Delivery` (a retried delivery keeps it). Security alerts carry `alert`
/// (code scanning: `rule`; Dependabot: `security_advisory`; secret scanning:
/// `secret_type_display_name`); other events `issue`, `pull_request`, `workflow_run`…
const GITHUB: &str = r#"{
  "name": ["{{$.repository.full_name}}: {{$.alert.rule.description}}",
           "{{$.repository.full_name}}: {{$.alert.security_advisory.summary}}",
           "{{$.repository.full_name}}: {{$.alert.secret_type_display_name}} exposed",
           "{{$.repository.full_name}}: {{$.issue.title}}",
           "{{$.repository.full_name}}: {{$.pull_request.title}}",
           "{{$.repository.full_name}}: workflow {{$.workflow_run.name}} {{$.workflow_run.conclusion}}",
           "{{$.repository.full_name}}: {{$.headers['x-github-event']}} {{$.action}}",
           "{{$.repository.full_name}}: {{$.headers['x-github-event']}}"],
  "type": {"value": "$.headers['x-github-event']", "default": "GitHub event"},
  "occurred": ["$.alert.updated_at", "$.alert.created_at", "$.issue.updated_at",
               "$.pull_request.updated_at", "$.workflow_run.updated_at", "$.head_commit.timestamp"],
  "severity": ["$.alert.rule.security_severity_level", "$.alert.security_advisory.severity",
               "$.alert.rule.severity"],
  "severity_map": {"critical": "critical", "high": "high", "error": "high", "medium": "medium",
                   "moderate": "medium", "warning": "medium", "low": "low", "note": "low"},
  "dedup_key": "$.headers['x-github-delivery']",
  "labels": {"repository": "$.repository.full_name", "action": "$.action",
             "url": ["$.alert.html_url", "$.issue.html_url", "$.pull_request.html_url"],
             "sender": "$.sender.login"}
}"#;

/// Cato CMA webhooks. The body is the admin's choice of Cato template: Basic/All fields
/// (`title`, `subject`, alert type, content, account), ServiceNow (`short_description`,
/// `work_notes`), Jira (`fields.summary`, `fields.description`), Zendesk (`ticket.subject`,
/// `ticket.comment.body`) or Slack (`text`). Correlated (XOps story) webhooks carry the story
/// id. Cato writes `NA` for fields an alert does not have.
const CATO: &str = r#"{
  "name": ["$.title", "$.subject", "$.short_description", "$.fields.summary", "$.summary",
           "$.ticket.subject", "{{$.text | first_line | plain}}"],
  "type": {"value": "$.alertType", "fallbacks": ["$.alert_type", "$.type"], "default": "Cato alert"},
  "occurred": ["$.time", "$.creationTime", "$.created_at"],
  "severity": ["$.criticality", "$.severity"],
  "severity_map": {"10": "critical", "9": "critical", "8": "high", "7": "high", "6": "medium",
                   "5": "medium", "4": "low", "3": "low", "2": "info", "1": "info"},
  "dedup_key": ["$.storyId", "$.story_id"],
  "labels": {"account": ["$.accountName", "$.account_name"], "account_id": ["$.accountId", "$.account_id"]}
}"#;

/// Cado Security notifications: the webhook body `{"title", "message"}`, or Slack/Teams
/// messages whose `text` starts with the alert title in markup.
const CADO: &str = r#"{
  "name": ["$.title", "{{$.text | first_line | plain}}", "{{$.message | first_line | plain}}"],
  "type": {"value": "$.type", "default": "Cado alert"},
  "occurred": ["$.timestamp", "$.created"]
}"#;

/// Cisco Identity Intelligence: an Amazon EventBridge-style envelope (`id`, `detail-type`,
/// `source`, `time`) around the finding in `detail` (`title`, `published`, `severity`).
const CII: &str = r#"{
  "name": ["$.detail.title", "$['detail-type']"],
  "type": {"value": "$['detail-type']", "default": "Identity Intelligence"},
  "occurred": ["$.detail.published", "$.time"],
  "severity": ["$.detail.severity", "$.detail.risk"],
  "dedup_key": ["$.detail.id", "$.id"],
  "labels": {"source": "$.source", "account": "$.account"}
}"#;

/// ConnectSecure notifications: `{"subject", "body"}`; the kind of event is in the subject.
const CONNECTSECURE: &str = r#"{
  "name": ["$.subject", "{{$.body | first_line | plain}}"],
  "classify": [
    {"when": "$.subject", "matches": "(?i)critical", "severity": "critical"},
    {"when": "$.subject", "matches": "(?i)vulnerab|CVE-", "type": "Vulnerability", "severity": "high"},
    {"when": "$.subject", "matches": "(?i)agent.*(offline|disconnect)|offline", "type": "Agent Health", "severity": "medium"},
    {"when": "$.subject", "matches": "(?i)compliance", "type": "Compliance", "severity": "medium"},
    {"when": "$.subject", "matches": ".", "type": "ConnectSecure", "severity": "info"}
  ]
}"#;
