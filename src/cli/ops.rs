//! How `instance show` prints an instance's activity and `instance deliveries` its log.

use crate::ops::store::{DeliveryView, InstanceWithActivity};
use crate::time::rfc3339;

pub fn instance(view: &InstanceWithActivity, as_json: bool) {
    if as_json {
        return super::output::json(view);
    }
    super::output::instance(&view.instance, false);
    let activity = &view.activity;
    println!(
        "last accepted:   {}",
        activity.last_accepted.map_or("never".to_string(), rfc3339)
    );
    println!(
        "last 24 h:       {} accepted, {} refused",
        activity.accepted_24h, activity.refused_24h
    );
}

pub fn deliveries(views: &[DeliveryView], as_json: bool) {
    if as_json {
        return super::output::json(views);
    }
    if views.is_empty() {
        println!("no refused requests");
    }
    for d in views {
        let from = match &d.forwarded_for {
            Some(forwarded) => format!("{} (for {forwarded})", d.remote_addr),
            None => d.remote_addr.clone(),
        };
        println!(
            "{} {} {} {} {} {} {}: {} [{} bytes, {}]",
            d.received,
            from,
            d.method,
            d.path,
            d.status,
            d.error,
            d.reason.as_deref().unwrap_or("-"),
            d.message,
            d.body_bytes.map_or("?".to_string(), |b| b.to_string()),
            d.user_agent.as_deref().unwrap_or("no user agent"),
        );
    }
}
