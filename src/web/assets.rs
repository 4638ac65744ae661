//! Static files served from the binary, under content-hashed names (cached forever).

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::header::{self, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::error::AppError;

const CSS: &str = include_str!("../../static/relais.css");

static CSS_NAME: LazyLock<String> =
    LazyLock::new(|| format!("relais.{}.css", &crate::crypto::sha256_hex(CSS)[..12]));
static CSS_HREF: LazyLock<String> = LazyLock::new(|| format!("/static/{}", CSS_NAME.as_str()));

/// The URL of the stylesheet, to put in pages.
pub fn css_href() -> &'static str {
    CSS_HREF.as_str()
}

pub async fn serve(Path(file): Path<String>) -> Result<Response, AppError> {
    if file != *CSS_NAME {
        return Err(AppError::NotFound);
    }
    let mut res = CSS.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Ok(res)
}
