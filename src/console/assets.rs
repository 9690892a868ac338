//! The console's stylesheet, script and icon, embedded in the binary. Each is served under a
//! URL that carries a hash of its content, so browsers may keep it for good and still get a
//! changed file after an upgrade.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use sha2::{Digest, Sha256};

pub struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
    version: LazyLock<String>,
}

impl Asset {
    /// Where pages link to it.
    pub fn url(&self) -> String {
        format!("/assets/{}?v={}", self.name, *self.version)
    }
}

macro_rules! asset {
    ($name:literal, $content_type:literal) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_str!(concat!("assets/", $name)),
            version: LazyLock::new(|| {
                let digest = Sha256::digest(include_str!(concat!("assets/", $name)).as_bytes());
                hex::encode(&digest[..6])
            }),
        }
    };
}

pub static STYLESHEET: Asset = asset!("console.css", "text/css; charset=utf-8");
pub static SCRIPT: Asset = asset!("console.js", "text/javascript; charset=utf-8");
pub static ICON: Asset = asset!("icon.svg", "image/svg+xml");

/// `GET /assets/{name}`.
pub async fn serve(name: web::Path<String>) -> HttpResponse {
    let Some(asset) = [&STYLESHEET, &SCRIPT, &ICON]
        .into_iter()
        .find(|a| a.name == name.as_str())
    else {
        return HttpResponse::NotFound()
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .finish();
    };
    HttpResponse::Ok()
        .content_type(asset.content_type)
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(asset.body)
}
