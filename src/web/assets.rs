//! Static files served from the binary, under content-hashed names (cached forever).

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::header::{self, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::error::AppError;

const CSS: &str = include_str!("../../static/relais.css");
/// The icon browsers show in tabs and bookmarks (a « R » on the State's blue).
const ICON: &str = include_str!("../../static/favicon.svg");

static CSS_NAME: LazyLock<String> =
    LazyLock::new(|| format!("relais.{}.css", &crate::crypto::sha256_hex(CSS)[..12]));
static CSS_HREF: LazyLock<String> = LazyLock::new(|| format!("/static/{}", CSS_NAME.as_str()));

static ICON_NAME: LazyLock<String> =
    LazyLock::new(|| format!("relais.{}.svg", &crate::crypto::sha256_hex(ICON)[..12]));
static ICON_HREF: LazyLock<String> = LazyLock::new(|| format!("/static/{}", ICON_NAME.as_str()));

/// The URL of the icon, linked from every page.
pub fn icon_href() -> &'static str {
    ICON_HREF.as_str()
}

/// `/favicon.ico`, asked for by clients that do not read the page's icon link:
/// sent to the icon (SVG, which every current browser shows).
pub async fn favicon() -> Response {
    let mut res = axum::response::Redirect::permanent(icon_href()).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    res
}

/// The URL of the stylesheet, to put in pages.
pub fn css_href() -> &'static str {
    CSS_HREF.as_str()
}

pub async fn serve(Path(file): Path<String>) -> Result<Response, AppError> {
    let (body, content_type) = if file == *CSS_NAME {
        (CSS, "text/css; charset=utf-8")
    } else if file == *ICON_NAME {
        (ICON, "image/svg+xml")
    } else {
        return Err(AppError::NotFound);
    };
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Ok(res)
}
