//! The incident feed: search, filters, facets, paging, live updates — each view in its URL.

use std::time::Duration;

use serde_json::json;

use crate::*;

#[test]
fn a_word_typed_in_search_narrows_the_feed_and_the_link_reopens_the_same_view() {
    let console = Console::start();
    console.send(json!([
        {"name": "Ransomware beacon on host-17", "type": "EDR", "severity": "critical"},
        {"name": "Impossible travel for j.doe", "type": "Identity", "severity": "high"},
        {"name": "Ransomware note found on share", "type": "EDR", "severity": "high"},
        {"name": "Disk almost full", "type": "Infra", "severity": "low"},
    ]));
    let browser = console.signed_in("ana");
    assert_eq!(feed_names(&browser).len(), 4);

    browser.fill("#q", "ransomware");
    browser.press("Search");
    browser.wait_until(Duration::from_secs(10), "two matches", |b| {
        feed_names(b).len() == 2
    });
    assert_eq!(
        feed_names(&browser),
        [
            "Ransomware note found on share",
            "Ransomware beacon on host-17"
        ],
        "newest first"
    );
    let shared = browser.location();
    assert!(shared.contains("q=ransomware"), "{shared}");

    // Anyone with the link sees the same view.
    let other = console.signed_in("root");
    other.goto(&shared);
    assert_eq!(feed_names(&other), feed_names(&browser));
    assert_eq!(other.value("#q"), "ransomware");
}

#[test]
fn facet_counts_are_shown_and_clicking_one_filters_the_feed() {
    let console = Console::start();
    console.send(json!([
        {"name": "a", "type": "EDR", "severity": "critical"},
        {"name": "b", "type": "EDR", "severity": "high"},
        {"name": "c", "type": "Identity", "severity": "high"},
    ]));
    let browser = console.signed_in("ana");
    browser.wait_until(Duration::from_secs(10), "the facet counts", |b| {
        !b.all("#facets a.facet").is_empty()
    });
    assert_eq!(browser.text("#match-count"), "3");
    let high = "//aside[@id='facets']//a[span[@class='value' and .='high']]/span[@class='count']";
    assert_eq!(browser.text_xpath(high), "2");

    browser.click_xpath("//aside[@id='facets']//a[span[@class='value' and .='high']]");
    browser.wait_until(Duration::from_secs(10), "the high incidents", |b| {
        b.location().contains("severity=high") && feed_names(b).len() == 2
    });
    assert_eq!(feed_names(&browser), ["c", "b"]);
    browser.wait_until(
        Duration::from_secs(10),
        "counts of the filtered view",
        |b| b.all("#match-count").len() == 1 && b.text("#match-count") == "2",
    );
}

#[test]
fn filters_from_the_form_combine_and_stay_in_the_url() {
    let console = Console::start();
    console.send(json!([
        {"name": "EDR high", "type": "EDR", "severity": "high"},
        {"name": "EDR low", "type": "EDR", "severity": "low"},
        {"name": "Identity high", "type": "Identity", "severity": "high"},
    ]));
    let browser = console.signed_in("ana");
    browser.click("details.more summary");
    browser.fill("#f-type", "EDR");
    browser.fill("#f-severity", "high");
    browser.press("Search");
    browser.wait_until(Duration::from_secs(10), "one match", |b| {
        feed_names(b) == ["EDR high"]
    });
    let location = browser.location();
    assert!(
        location.contains("type=EDR") && location.contains("severity=high"),
        "{location}"
    );
    assert_eq!(browser.value("#f-type"), "EDR");
}

#[test]
fn older_pages_are_reached_with_keyset_paging_and_newest_leads_back() {
    let console = Console::start();
    let events: Vec<_> = (1..=12)
        .map(|n| json!({"name": format!("event {n:02}")}))
        .collect();
    console.send(json!(events));
    let browser = console.signed_in("ana");
    browser.goto("/incidents?limit=5");
    let first = feed_names(&browser);
    assert_eq!(
        first,
        ["event 12", "event 11", "event 10", "event 09", "event 08"]
    );

    browser.follow("Older →");
    browser.wait_until(Duration::from_secs(10), "the second page", |b| {
        feed_names(b).first().map(String::as_str) == Some("event 07")
    });
    assert_eq!(feed_names(&browser).len(), 5);
    assert!(
        browser.location().contains("cursor="),
        "{}",
        browser.location()
    );

    browser.follow("Older →");
    browser.wait_until(Duration::from_secs(10), "the last page", |b| {
        feed_names(b) == ["event 02", "event 01"]
    });
    assert!(
        browser.all("a[rel=next]").is_empty(),
        "no page after the last"
    );

    browser.follow("← Newest");
    browser.wait_until(Duration::from_secs(10), "the first page again", |b| {
        feed_names(b) == first
    });
}

#[test]
fn new_incidents_appear_in_the_open_feed_within_five_seconds_without_a_reload() {
    let console = Console::start();
    console.send(json!({"name": "first one"}));
    let browser = console.signed_in("ana");
    assert_eq!(feed_names(&browser), ["first one"]);
    // Typed but not submitted: a reload would lose it, an in-place update keeps it.
    browser.fill("#q", "half-typed");

    console.send(json!({"name": "arrived while watching"}));
    browser.wait_until(Duration::from_secs(5), "the new incident", |b| {
        feed_names(b).first().map(String::as_str) == Some("arrived while watching")
    });
    assert_eq!(
        feed_names(&browser),
        ["arrived while watching", "first one"]
    );
    assert_eq!(browser.value("#q"), "half-typed", "the page was reloaded");
}

#[test]
fn selected_rows_change_status_together() {
    let console = Console::start();
    let created = console.send(json!([{"name": "one"}, {"name": "two"}, {"name": "three"}]));
    let ids: Vec<i64> = created.iter().map(|i| i["id"].as_i64().unwrap()).collect();
    let browser = console.signed_in("ana");
    browser.click(&format!("input[name=id][value='{}']", ids[0]));
    browser.click(&format!("input[name=id][value='{}']", ids[2]));
    browser.press("Resolve");
    browser.wait_until(Duration::from_secs(10), "the notice", |b| {
        b.all(".notice").len() == 1
    });
    assert!(
        browser.text(".notice").contains('2'),
        "{}",
        browser.text(".notice")
    );
    assert_eq!(console.incident(ids[0])["status"], "resolved");
    assert_eq!(console.incident(ids[1])["status"], "open");
    assert_eq!(console.incident(ids[2])["status"], "resolved");
}
