//! How commands print: `--json` prints JSON only (an array for lists); otherwise short,
//! aligned text for people.

use serde::Serialize;

use crate::incidents::IncidentView;
use crate::instances::{InstanceView, SampleView};
use crate::tls::CertInfo;

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
    println!(
        "{:<24} {:<8} {:<8} {:<12} TYPE",
        "NAME", "ENABLED", "SAMPLES", "CREDENTIALS"
    );
    for v in views {
        println!(
            "{:<24} {:<8} {:<8} {:<12} {}",
            v.name,
            v.enabled,
            v.store_samples,
            v.credentials.len(),
            v.incident_type.as_deref().unwrap_or("-")
        );
    }
}

pub fn incidents(views: &[IncidentView], as_json: bool) {
    if as_json {
        return json(views);
    }
    println!(
        "{:<8} {:<24} {:<16} {:<16} NAME",
        "ID", "OCCURRED", "INSTANCE", "TYPE"
    );
    for v in views {
        println!(
            "{:<8} {:<24} {:<16} {:<16} {}",
            v.id,
            v.occurred,
            v.instance,
            v.type_.as_deref().unwrap_or("-"),
            v.name
        );
    }
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
    println!(
        "{:<6} {:<8} {:<26} {:<26} NAME",
        "ID", "ROLE", "CREATED", "LAST USED"
    );
    for v in views {
        let last_used = v.last_used.as_deref().unwrap_or("never");
        println!(
            "{:<6} {:<8} {:<26} {:<26} {}",
            v.id, v.role, v.created, last_used, v.name
        );
    }
}

pub fn users(views: &[crate::console::users::UserView], as_json: bool) {
    if as_json {
        return json(views);
    }
    println!("{:<24} {:<8} CREATED", "NAME", "ROLE");
    for v in views {
        println!("{:<24} {:<8} {}", v.name, v.role, v.created);
    }
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
