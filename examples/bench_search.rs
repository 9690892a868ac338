//! `make bench-search`: fills a database with realistic incidents through intake's own
//! writer (the group commit ingest uses, so every index is written as in production), then
//! times the first page of each filter the analyst API offers, and the facets.
//!
//! Usage: bench_search DATABASE_URL N [RUNS]
//! - Adds incidents until the database holds N (so a second run at a larger N grows it).
//! - 20 instances, 15 types, 4 severities, 3 labels, 3 statuses; names from templates;
//!   nested `raw_json` of ~600 bytes; 90 days of timestamps, oldest first; 2 % carry a dedup
//!   key (the writer's upsert path).
//! - RUNS = 0 only fills (for `make bench-console`).
//! - Prints the fill rate, each query's median and p95 over RUNS runs (default 30) after two
//!   warm-up runs, and the database's size (with the search structures' share) as Markdown.

use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use futures_util::StreamExt;
use intake::incidents::text_index::search_text;
use intake::incidents::{store, IncidentFilter};
use intake::storage::writer::{NewIncident, WriteBatch, WriteError, Writer};
use intake::storage::{Conn, Database};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const BATCH: usize = 500;
const DAYS: i64 = 90;
const TYPES: [&str; 15] = [
    "Malware",
    "Phishing",
    "Brute force",
    "Data exfiltration",
    "Policy violation",
    "Vulnerability",
    "Disk",
    "CPU",
    "Memory",
    "Network",
    "Certificate",
    "Login",
    "Configuration change",
    "Backup",
    "Availability",
];
const SEVERITIES: [(&str, u32); 4] = [("critical", 5), ("high", 20), ("medium", 35), ("low", 40)];
const TEAMS: [&str; 8] = [
    "ops", "sec", "net", "db", "web", "payments", "identity", "data",
];
const ENVS: [&str; 3] = ["prod", "staging", "dev"];
const USERS: [&str; 12] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "trent",
];
/// Words of the free-text messages; the first are common, the last rare.
const WORDS: [&str; 24] = [
    "connection",
    "timeout",
    "request",
    "failed",
    "server",
    "user",
    "error",
    "warning",
    "threshold",
    "exceeded",
    "retry",
    "blocked",
    "policy",
    "upload",
    "download",
    "session",
    "token",
    "expired",
    "quota",
    "latency",
    "replica",
    "checksum",
    "firmware",
    "zeppelin",
];

fn pick_weighted<'a>(rng: &mut StdRng, items: &[(&'a str, u32)]) -> &'a str {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut roll = rng.gen_range(0..total);
    for (item, weight) in items {
        if roll < *weight {
            return item;
        }
        roll -= weight;
    }
    items[0].0
}

/// A Zipf-like pick: index k with weight 1/(k+1).
fn zipf(rng: &mut StdRng, n: usize) -> usize {
    let total: f64 = (1..=n).map(|k| 1.0 / k as f64).sum();
    let mut roll = rng.gen::<f64>() * total;
    for k in 0..n {
        roll -= 1.0 / (k + 1) as f64;
        if roll <= 0.0 {
            return k;
        }
    }
    n - 1
}

fn incident(rng: &mut StdRng, n: u64, total: u64, start: NaiveDateTime) -> NewIncident {
    let span = Duration::from_secs((DAYS * 86_400) as u64);
    let created =
        start + chrono::Duration::from_std(span.mul_f64(n as f64 / total as f64)).unwrap();
    let occurred = created - chrono::Duration::seconds(rng.gen_range(0..600));
    let instance = format!("sender-{:02}", zipf(rng, 20));
    let type_ = TYPES[zipf(rng, TYPES.len())];
    let severity = pick_weighted(rng, &SEVERITIES);
    let host = format!(
        "{}-{:03}",
        ["db", "web", "app", "fw", "vpn"][rng.gen_range(0..5)],
        rng.gen_range(0..400)
    );
    let user = USERS[rng.gen_range(0..USERS.len())];
    let ip = format!(
        "10.{}.{}.{}",
        rng.gen_range(0..4),
        rng.gen_range(0..256),
        rng.gen_range(1..255)
    );
    let name = match rng.gen_range(0..6) {
        0 => format!("Disk {}% full on {host}", rng.gen_range(80..100)),
        1 => format!("Failed login for {user} from {ip}"),
        2 => format!("{type_} alert on {host}"),
        3 => format!(
            "Certificate for {host}.example.com expires in {} days",
            rng.gen_range(1..30)
        ),
        4 => format!(
            "Malware {} detected on {host}",
            ["Emotet", "Qakbot", "AgentTesla", "Remcos"][rng.gen_range(0..4)]
        ),
        _ => format!("Latency above threshold on {host}"),
    };
    // A message of 6-12 words, the common ones most often; "zeppelin" about once in 100,000.
    let words = rng.gen_range(6..12);
    let mut message = Vec::with_capacity(words);
    for _ in 0..words {
        let k = zipf(rng, WORDS.len() - 1);
        message.push(WORDS[k]);
    }
    if rng.gen_range(0..100_000) == 0 {
        message.push("zeppelin");
    }
    let team = TEAMS[zipf(rng, TEAMS.len())];
    let env = ENVS[zipf(rng, ENVS.len())];
    let os = ["linux", "windows", "macos"][rng.gen_range(0..3)];
    let raw = serde_json::json!({
        "alert": {
            "id": format!("{:016x}", rng.gen::<u64>()),
            "title": name,
            "rule": {"name": format!("{type_} rule {}", rng.gen_range(1..60)), "version": rng.gen_range(1..9)},
            "message": message.join(" "),
        },
        "asset": {"hostname": host, "ip": ip, "os": os,
                  "tags": [env, team]},
        "actor": {"user": user, "department": team},
        "metrics": {"count": rng.gen_range(1..500), "score": rng.gen::<f64>()},
        "headers": {"content-type": "application/json", "user-agent": "sender/2.4 (+https://example.com)",
                    "x-request-id": format!("{:032x}", rng.gen::<u128>())},
    });
    let dedup = rng.gen_range(0..50) == 0;
    let raw_json = raw.to_string();
    NewIncident {
        instance,
        search_text: search_text(&name, &raw_json),
        name,
        type_: Some(type_.to_string()),
        occurred,
        created,
        raw_json,
        severity: Some(severity.to_string()),
        dedup_key: dedup.then(|| format!("dk-{n}")),
        labels: Some(
            serde_json::json!({"env": env, "team": team, "region": format!("r{}", rng.gen_range(0..6))})
                .to_string(),
        ),
        resolves: rng.gen_range(0..20) == 0,
    }
}

fn count(conn: &mut Conn) -> i64 {
    use intake::storage::schema::incidents;
    incidents::table.count().get_result(conn).unwrap_or(0)
}

fn fill(db: &Database, conn: &mut Conn, n: u64) {
    let have = count(conn) as u64;
    if have >= n {
        println!("The database holds {have} incidents already.\n");
        return;
    }
    let start = chrono::Utc::now().naive_utc() - chrono::Duration::days(DAYS);
    let (writer, threads) = Writer::spawn(db, 1024, 24, 0).expect("writer");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // A PostgreSQL server folds the facet deltas every second (incidents::counts); so does the
    // fill, so the deltas table is measured at the size a server keeps it.
    let filling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let folder = {
        let filling = filling.clone();
        let mut conn = db.connect().expect("folder connection");
        std::thread::spawn(move || {
            while filling.load(std::sync::atomic::Ordering::Relaxed) {
                intake::incidents::counts::fold(&mut conn).expect("fold the facet deltas");
                std::thread::sleep(intake::incidents::counts::FOLD_INTERVAL);
            }
        })
    };
    let began = Instant::now();
    let batches: Vec<(u64, u64)> = (have..n)
        .step_by(BATCH)
        .map(|from| (from, (from + BATCH as u64).min(n)))
        .collect();
    runtime.block_on(async {
        futures_util::stream::iter(batches)
            .map(|(from, to)| {
                let writer = writer.clone();
                async move {
                    let mut rng = StdRng::seed_from_u64(from);
                    let incidents = (from..to)
                        .map(|i| incident(&mut rng, i, n, start))
                        .collect();
                    let batch = WriteBatch {
                        instance_id: 0,
                        incidents,
                        samples: Vec::new(),
                        sample_limit: 0,
                        idempotency: None,
                    };
                    match writer.write(batch).await {
                        // A batch the writer has not committed within a request's wait is
                        // still queued and is committed; the threads are joined below.
                        Ok(_) | Err(WriteError::TimedOut) => {}
                        Err(e) => panic!("stored: {e:?}"),
                    }
                    if to % 100_000 < BATCH as u64 {
                        eprintln!("{to} incidents");
                    }
                }
            })
            .buffer_unordered(8)
            .collect::<Vec<()>>()
            .await;
    });
    drop(writer);
    for thread in threads {
        thread.join().expect("writer thread");
    }
    let secs = began.elapsed().as_secs_f64();
    filling.store(false, std::sync::atomic::Ordering::Relaxed);
    folder.join().expect("folder thread");
    // Analysts acknowledge some: the status filter has three values to find.
    conn.batch_execute(
        "UPDATE incidents SET status = 'acknowledged' WHERE status = 'open' AND id % 10 = 3",
    )
    .expect("acknowledge");
    // The acknowledgements' deltas are folded too before anything is timed.
    intake::incidents::counts::fold(conn).expect("fold the facet deltas");
    println!(
        "Filled {} incidents in {secs:.0} s: {:.0} incidents/s through the writer (batches of {BATCH}, 8 in flight).\n",
        n - have,
        (n - have) as f64 / secs
    );
}

fn stats(mut times: Vec<f64>) -> (f64, f64) {
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95))
}

/// Median and p95 of `runs` timed runs after two warm-ups; a query slower than a second
/// gets 3 runs (its figure is far from any goal either way).
fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, f64) {
    let began = Instant::now();
    f();
    let runs = if began.elapsed() > Duration::from_secs(1) {
        3
    } else {
        f();
        runs
    };
    let times = (0..runs)
        .map(|_| {
            let began = Instant::now();
            f();
            began.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    stats(times)
}

#[derive(QueryableByName)]
struct Size {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    bytes: i64,
}

fn sizes(conn: &mut Conn, n: i64) {
    let rows: Vec<Size> = match conn {
        Conn::Sqlite(c) => {
            c.batch_execute("PRAGMA wal_checkpoint(TRUNCATE)").ok();
            diesel::sql_query(
                "SELECT CASE WHEN name LIKE 'incident_text%' THEN 'incident_text (FTS5)' ELSE name END AS name, \
                 sum(pgsize) AS bytes FROM dbstat GROUP BY 1 ORDER BY 2 DESC",
            )
            .load(c)
            .unwrap_or_default()
        }
        Conn::Pg(c) => {
            c.batch_execute("VACUUM ANALYZE incidents").ok();
            diesel::sql_query(
                "SELECT relname::text AS name, pg_relation_size(oid)::bigint AS bytes FROM pg_class \
                 WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'i', 't') \
                 UNION ALL SELECT 'incidents.search (tsvector column)', coalesce(sum(pg_column_size(search)), 0)::bigint FROM incidents \
                 ORDER BY 2 DESC",
            )
            .load(c)
            .unwrap_or_default()
        }
    };
    let search = |name: &str| {
        name.starts_with("incident_text")
            || name.starts_with("incident_labels")
            || name.starts_with("incident_counts")
            || name.starts_with("incident_count_deltas")
            || name == "incidents_name_trigrams"
            || name == "incidents_search"
            || name == "incidents_dedup_key"
            || name == "incidents_occurred"
            || name == "incidents_facets"
            || name == "incidents_labels"
            || name.starts_with("incidents.search")
    };
    let mut total = 0;
    let mut added = 0;
    println!("| relation | MB | MB per million incidents |\n|---|---|---|");
    for row in &rows {
        if row.name.starts_with("incidents.search") {
            // Inside the incidents heap already: counted there, shown for its share.
        } else {
            total += row.bytes;
        }
        if search(&row.name) {
            added += row.bytes;
        }
        if row.bytes > 1 << 20 {
            println!(
                "| {} | {:.0} | {:.0} |",
                row.name,
                row.bytes as f64 / 1e6,
                row.bytes as f64 / 1e6 / (n as f64 / 1e6)
            );
        }
    }
    let per_m = |b: i64| b as f64 / 1e6 / (n as f64 / 1e6);
    println!(
        "\nTotal {:.0} MB per million incidents; without the search structures {:.0}: growth ×{:.2}.\n",
        per_m(total),
        per_m(total - added),
        total as f64 / (total - added).max(1) as f64
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .expect("usage: bench_search DATABASE_URL N [RUNS]");
    let n: u64 = args.next().and_then(|a| a.parse().ok()).expect("N");
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(30);
    let db = Database::open(&url).expect("database");
    let mut conn = db.connect().expect("connection");
    fill(&db, &mut conn, n);
    let n = count(&mut conn);
    if let Conn::Pg(c) = &mut conn {
        c.batch_execute("VACUUM ANALYZE").ok();
    }
    if runs == 0 {
        // Fill only (`make bench-console` times the console on the filled database).
        println!("{n} incidents stored.");
        return;
    }
    let day = |days_ago: i64| {
        let d = (chrono::Utc::now() - chrono::Duration::days(days_ago)).date_naive();
        format!(
            "occurred_after={d}T00:00:00Z&occurred_before={}T00:00:00Z",
            d.succ_opt().unwrap()
        )
    };
    let queries: Vec<(String, String)> = vec![
        ("no filter".into(), String::new()),
        ("instance".into(), "instance=sender-07".into()),
        (
            "status (acknowledged, ~9 %)".into(),
            "status=acknowledged".into(),
        ),
        ("status (resolved, ~5 %)".into(), "status=resolved".into()),
        (
            "severity (critical, 5 %)".into(),
            "severity=critical".into(),
        ),
        ("label (team:identity)".into(), "label=team:identity".into()),
        ("two labels".into(), "label=env:dev&label=team:data".into()),
        (
            "dedup_key".into(),
            format!("dedup_key=dk-{}", n / 2 / 50 * 50),
        ),
        ("q rare word (zeppelin)".into(), "q=zeppelin".into()),
        ("q common word (connection)".into(), "q=connection".into()),
        ("q two words".into(), "q=firmware%20checksum".into()),
        ("q phrase".into(), "q=%22replica%20checksum%22".into()),
        ("q host (web-123)".into(), "q=web-123".into()),
        (
            "name_contains (Qakbot)".into(),
            "name_contains=qakbot".into(),
        ),
        (
            "name_contains (rare: web-123 )".into(),
            "name_contains=web-123%20".into(),
        ),
        (
            "instance+severity+yesterday".into(),
            format!("instance=sender-03&severity=high&{}", day(1)),
        ),
        (
            "instance+severity+one day 45 days ago".into(),
            format!("instance=sender-03&severity=high&{}", day(45)),
        ),
    ];
    println!("{n} incidents, {runs} runs each after 2 warm-ups; times in ms.\n");
    println!("| first page (limit 50) | matches on page | median | p95 |\n|---|---|---|---|");
    for (label, query) in &queries {
        let filter = IncidentFilter::from_query_string(query).expect("filter");
        let found = store::list(&mut conn, &filter).expect("list").len();
        let (median, p95) = time(runs, || store::list(&mut conn, &filter).expect("list"));
        println!("| {label} `{query}` | {found} | {median:.1} | {p95:.1} |");
    }
    // Page 10 of the unfiltered list and of a free-text match, by cursor.
    for (label, query) in [
        ("page 10 by cursor", ""),
        ("page 10 by cursor, q common word", "q=connection"),
    ] {
        let mut filter = IncidentFilter::from_query_string(query).expect("filter");
        for _ in 0..9 {
            let page = store::list(&mut conn, &filter).expect("list");
            filter.before_id = page.last().map(|i| i.id);
        }
        let (median, p95) = time(runs, || store::list(&mut conn, &filter).expect("list"));
        println!("| {label} `{query}` | 50 | {median:.1} | {p95:.1} |");
    }
    println!("\n| facets | total | median | p95 |\n|---|---|---|---|");
    for (label, query) in [
        ("no filter", String::new()),
        (
            "instance + severity",
            "instance=sender-03&severity=high,critical".into(),
        ),
        ("status", "status=open".into()),
        ("label", "label=team:identity".into()),
        ("q rare word", "q=zeppelin".into()),
        ("q two words", "q=firmware%20checksum".into()),
        ("q common word", "q=connection".into()),
        ("one day", day(45)),
        (
            "instance+severity+one day",
            format!("instance=sender-03&severity=high&{}", day(45)),
        ),
    ] {
        let filter = IncidentFilter::from_query_string(&query).expect("filter");
        let total = store::facets(&mut conn, &filter).expect("facets").total;
        let (median, p95) = time(runs.min(10), || {
            store::facets(&mut conn, &filter).expect("facets")
        });
        println!("| {label} `{query}` | {total} | {median:.1} | {p95:.1} |");
    }
    floor(&mut conn, runs);
    println!();
    sizes(&mut conn, n);
}

/// What the common word's facets cannot go below: finding its matches (count(*) of the
/// free-text index alone), then also reading each match's counted columns.
fn floor(conn: &mut Conn, runs: usize) {
    let steps: [(&str, &str); 2] = match conn {
        Conn::Sqlite(_) => [
            (
                "the matches alone",
                "SELECT count(*) AS n FROM incident_text WHERE incident_text MATCH '\"connection\"'",
            ),
            (
                "the matches and their counted columns",
                "SELECT count(i.instance || i.status || coalesce(i.type, '') || \
                 coalesce(i.severity, '')) AS n FROM incident_text CROSS JOIN incidents i \
                 INDEXED BY incidents_facets ON i.id = incident_text.rowid \
                 WHERE incident_text MATCH '\"connection\"'",
            ),
        ],
        Conn::Pg(_) => [
            (
                "the matches alone",
                "SELECT count(*) AS n FROM incidents WHERE search @@ \
                 plainto_tsquery('simple', 'connection')",
            ),
            (
                "the matches and their counted columns",
                "SELECT count(instance || status || coalesce(type, '') || \
                 coalesce(severity, '')) AS n FROM incidents WHERE search @@ \
                 plainto_tsquery('simple', 'connection')",
            ),
        ],
    };
    println!("\n| floor of the common word's facets | median | p95 |\n|---|---|---|");
    for (label, sql) in steps {
        let (median, p95) = time(runs.min(10), || {
            diesel::sql_query(sql)
                .load::<Counted>(conn)
                .expect("floor query")
        });
        println!("| {label} | {median:.1} | {p95:.1} |");
    }
}

#[derive(QueryableByName)]
struct Counted {
    #[allow(dead_code)]
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}
