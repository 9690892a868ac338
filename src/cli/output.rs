//! How commands print: `--json` prints JSON only (an array for lists); otherwise short,
//! aligned text for people.

use serde::Serialize;

use crate::incidents::IncidentView;
use crate::instances::{InstanceView, SampleView};
use crate::tls::CertInfo;

/// A table for people: a header row and columns as wide as their widest value, two spaces
/// apart, no borders (comfy-table), so a long name does not shift the columns after it.
pub(super) fn table<R: Into<comfy_table::Row>>(header: &[&str], rows: impl IntoIterator<Item = R>) {
    let mut table = comfy_table::Table::new();
    table
        .load_preset(comfy_table::presets::NOTHING)
        .set_header(header.to_vec())
        .add_rows(rows);
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    println!("{}", table.trim_fmt());
}

pub(super) fn json<T: Serialize + ?Sized>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("error: cannot print JSON: {e}"),
    }
}

pub fn instance(view: &InstanceView, as_json: bool) {
    if as_json {
        return json(view);
    }
    println!("name:            {}", view.name);
    println!("enabled:         {}", view.enabled);
    println!(
        "incident_type:   {}",
        view.incident_type.as_deref().unwrap_or("-")
    );
    println!(
        "store_samples:   {} (keeps {})",
        view.store_samples, view.sample_limit
    );
    println!("allow_anonymous: {}", view.allow_anonymous);
    if let Some(port) = view.listen_port {
        let scheme = if view.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        println!("own listener:    {scheme} on port {port} (POST /)");
    }
    if view.credentials.is_empty() {
        println!("credentials:     none");
    }
    for c in &view.credentials {
        println!(
            "credential:      {} {} {} (added {})",
            c.id, c.kind, c.username, c.created
        );
    }
}

pub fn instances(views: &[InstanceView], as_json: bool) {
    if as_json {
        return json(views);
    }
    table(
        &["NAME", "ENABLED", "SAMPLES", "CREDENTIALS", "TYPE"],
        views.iter().map(|v| {
            vec![
                v.name.clone(),
                v.enabled.to_string(),
                v.store_samples.to_string(),
                v.credentials.len().to_string(),
                v.incident_type.clone().unwrap_or_else(|| "-".into()),
            ]
        }),
    );
}

pub fn incidents(views: &[IncidentView], as_json: bool) {
    if as_json {
        return json(views);
    }
    table(
        &["ID", "OCCURRED", "INSTANCE", "TYPE", "NAME"],
        views.iter().map(|v| {
            vec![
                v.id.to_string(),
                v.occurred.to_string(),
                v.instance.clone(),
                v.type_.clone().unwrap_or_else(|| "-".into()),
                v.name.clone(),
            ]
        }),
    );
}

pub fn incident(view: &IncidentView, as_json: bool) {
    if as_json {
        return json(view);
    }
    println!("id:       {}", view.id);
    println!("instance: {}", view.instance);
    println!("name:     {}", view.name);
    println!("type:     {}", view.type_.as_deref().unwrap_or("-"));
    println!("occurred: {}", view.occurred);
    println!("created:  {}", view.created);
    println!(
        "status:   {} ({} occurrence(s){})",
        view.status,
        view.occurrences,
        view.last_seen
            .as_ref()
            .map(|t| format!(", last seen {t}"))
            .unwrap_or_default()
    );
    if let Some(severity) = &view.severity {
        println!("severity: {severity}");
    }
    if let Some(key) = &view.dedup_key {
        println!("dedup:    {key}");
    }
    if let Some(raw) = &view.raw_json {
        println!(
            "raw_json: {}",
            serde_json::to_string_pretty(raw).unwrap_or_default()
        );
    }
}

pub fn samples(views: &[SampleView], as_json: bool) {
    if as_json {
        return json(views);
    }
    if views.is_empty() {
        println!("no samples");
    }
    for v in views {
        println!("{} {}", v.received, v.body);
    }
}

pub fn cert(info: &CertInfo, as_json: bool) {
    if as_json {
        return json(info);
    }
    println!("subject:    {}", info.subject);
    println!("issuer:     {}", info.issuer);
    println!("names:      {}", info.sans.join(", "));
    println!(
        "valid:      {} to {} ({} days left)",
        info.not_before,
        info.not_after,
        info.days_left()
    );
    println!("sha256:     {}", info.sha256);
    println!("key:        matches the certificate");
}

pub fn tokens(views: &[crate::auth::tokens::TokenView], as_json: bool) {
    if as_json {
        return json(views);
    }
    table(
        &["ID", "ROLE", "CREATED", "LAST USED", "NAME"],
        views.iter().map(|v| {
            vec![
                v.id.to_string(),
                v.role.to_string(),
                v.created.to_string(),
                v.last_used.clone().unwrap_or_else(|| "never".into()),
                v.name.clone(),
            ]
        }),
    );
}

pub fn users(views: &[crate::console::users::UserView], as_json: bool) {
    if as_json {
        return json(views);
    }
    table(
        &["NAME", "ROLE", "CREATED"],
        views
            .iter()
            .map(|v| vec![v.name.clone(), v.role.to_string(), v.created.to_string()]),
    );
}

pub fn mapping_report(report: &crate::mapping::report::TestReport, as_json: bool) {
    if as_json {
        return json(report);
    }
    for r in &report.results {
        let mark = if r.fully_mapped { "ok  " } else { "part" };
        match &r.error {
            Some(e) => println!("sample {} ({}): error: {e}", r.sample_id, r.received),
            None => {
                for i in &r.incidents {
                    println!(
                        "{mark} sample {}: name={:?} type={:?} occurred={:?} severity={:?} dedup_key={:?}",
                        r.sample_id, i.name, i.type_, i.occurred, i.severity, i.dedup_key
                    );
                }
            }
        }
    }
    println!(
        "{} of {} samples mapped fully (name and occurred from the data)",
        report.fully_mapped, report.samples
    );
}

pub fn events(views: &[crate::incidents::EventView], as_json: bool) {
    if as_json {
        return json(views);
    }
    for v in views {
        println!("{} {:<8} {}", v.received, v.kind, v.body);
    }
}
