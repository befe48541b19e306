//! The three web pages people use — the verifier kiosk (`wz terminal
//! serve`), the citizen wallet (`wz wallet serve`) and the operator console
//! (`wz serve`, under `/console`) — as static files compiled into the
//! binaries: plain HTML, CSS and JavaScript, no framework and no CDN, so
//! they work offline. Chinese first, English one click away.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One embedded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

macro_rules! assets {
    ($($name:literal => $mime:literal),* $(,)?) => {
        /// Every embedded file.
        pub const ASSETS: &[Asset] = &[
            $(Asset { name: $name, content_type: $mime, bytes: include_bytes!(concat!("../assets/", $name)) },)*
        ];
    };
}

assets! {
    "common.css" => "text/css; charset=utf-8",
    "common.js" => "text/javascript; charset=utf-8",
    "camera.js" => "text/javascript; charset=utf-8",
    "kiosk.html" => "text/html; charset=utf-8",
    "kiosk.js" => "text/javascript; charset=utf-8",
    "wallet.html" => "text/html; charset=utf-8",
    "wallet.js" => "text/javascript; charset=utf-8",
    "console.html" => "text/html; charset=utf-8",
    "console.js" => "text/javascript; charset=utf-8",
}

/// The file called `name`, if embedded.
#[must_use]
pub fn asset(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// Headers every page and file gets: scripts and styles from this origin
/// only, no framing, no referrer, no caching of pages that show a citizen's data.
fn secure(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; \
             object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(self), microphone=(), geolocation=()"),
    );
    resp
}

/// The response serving `name`: the file, or 404.
#[must_use]
pub fn serve(name: &str) -> Response {
    match asset(name) {
        Some(a) => {
            secure((StatusCode::OK, [(header::CONTENT_TYPE, a.content_type)], a.bytes).into_response())
        }
        None => secure((StatusCode::NOT_FOUND, "not found").into_response()),
    }
}

/// Handler for `/assets/{name}`.
pub async fn serve_asset(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    serve(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_links_only_embedded_files() {
        for page in ASSETS.iter().filter(|a| a.name.ends_with(".html")) {
            let text = std::str::from_utf8(page.bytes).unwrap_or_default();
            for part in text.split("/assets/").skip(1) {
                let name: String = part.chars().take_while(|c| *c != '"').collect();
                assert!(asset(&name).is_some(), "{} links /assets/{name}", page.name);
            }
            assert!(
                !text.contains("http://") && !text.contains("https://"),
                "{} links off-site",
                page.name
            );
            assert!(
                !text.contains("<script>"),
                "{}: inline script (the CSP forbids it)",
                page.name
            );
            assert!(
                !text.contains(" style=\""),
                "{}: inline style (the CSP forbids it)",
                page.name
            );
        }
    }

    #[test]
    fn unknown_files_are_404() {
        assert_eq!(serve("../Cargo.toml").status(), StatusCode::NOT_FOUND);
        assert_eq!(serve("kiosk.html").status(), StatusCode::OK);
    }
}
