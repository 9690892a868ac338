//! The benchmark's ceiling: a bare actix-web server that does the least a webhook receiver
//! can — compare the Authorization header with a fixed string, parse the JSON body, answer
//! with one small object per element — and stores nothing. `make bench` runs it beside
//! intake so the ratio intake/baseline is measured on the same machine in the same run.
//!
//! Usage: BASELINE_AUTH='Basic …' bench_baseline 127.0.0.1:PORT

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicI64, Ordering};

struct State {
    expected_auth: String,
    next_id: AtomicI64,
}

async fn execute(req: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let presented = req
        .headers()
        .get("authorization")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if presented != state.expected_auth.as_bytes() {
        return HttpResponse::Unauthorized().json(json!({"error":"unauthorized"}));
    }
    let elements = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(items)) => items.len(),
        Ok(_) => 1,
        Err(_) => return HttpResponse::BadRequest().json(json!({"error":"invalid_json"})),
    };
    let first = state.next_id.fetch_add(elements as i64, Ordering::Relaxed);
    let items: Vec<Value> = (0..elements as i64)
        .map(|i| json!({"id": first + i, "name": "Generic webhook triggered incident"}))
        .collect();
    HttpResponse::Ok().json(items)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8100".into());
    let state = web::Data::new(State {
        expected_auth: std::env::var("BASELINE_AUTH").unwrap_or_default(),
        next_id: AtomicI64::new(1),
    });
    HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::PayloadConfig::new(10 * 1024 * 1024))
            .route("/instance/execute/{name}", web::post().to(execute))
    })
    .bind(addr)?
    .run()
    .await
}
