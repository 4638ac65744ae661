//! The request context middleware, around every route:
//! request id → session (one query) → CSRF + `Origin` check on unsafe methods →
//! handler → error pages, security headers, access log (route template only: paths
//! may carry tokens, so raw URIs are never logged).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ErrorPage;
use super::views;
use crate::crypto;
use crate::sessions;

pub const CSRF_COOKIE: &str = "relais_csrf";
pub const CSRF_FIELD: &str = "_csrf";
const MAX_FORM_BYTES: usize = 256 * 1024;
/// Routes that receive files, and how much they may receive.
pub const UPLOAD_ROUTES: [&str; 7] = [
    "/admin/lieux",
    "/ressources/{rsid}/fichiers",
    "/initiatives/import",
    "/admin/formations/import",
    "/admin/cartes/import",
    "/activites/import",
    "/beneficiaires/import",
];
pub const MAX_UPLOAD_BYTES: usize = 32 * 1024 * 1024;

pub use super::ctx::Ctx;

pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value with our attributes.
pub fn set_cookie(state: &AppState, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if state.config.secure_cookies() {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub fn session_cookie(state: &AppState, raw: &str) -> HeaderValue {
    set_cookie(state, sessions::COOKIE, raw, None)
}

pub fn clear_session_cookie(state: &AppState) -> HeaderValue {
    set_cookie(state, sessions::COOKIE, "", Some(0))
}

fn client_ip(state: &AppState, req: &Request) -> String {
    if state.config.trust_forwarded_for
        && let Some(ip) = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    {
        return ip.to_owned();
    }
    req.extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "inconnue".to_owned())
}

/// `Origin` (or, failing that, `Referer`) must be our public origin when present.
fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    if headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "cross-site")
    {
        return false;
    }
    let expected = state.config.public_origin();
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        return origin == expected;
    }
    if let Some(referer) = headers.get(header::REFERER).and_then(|v| v.to_str().ok()) {
        return url::Url::parse(referer)
            .map(|u| u.origin().ascii_serialization() == expected)
            .unwrap_or(false);
    }
    true
}

/// Paths of [`super::Access::Api`] routes: no CSRF token, no `Origin` check.
pub type ApiRoutes = Arc<[&'static str]>;

pub async fn context(
    State((state, api)): State<(AppState, ApiRoutes)>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let request_id: Arc<str> = Arc::from(&crypto::random_token()[..16]);
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "(inconnue)".to_owned());
    let now = state.now();

    let session_cookie_value = cookie_value(req.headers(), sessions::COOKIE).map(str::to_owned);
    let session = match &session_cookie_value {
        Some(raw) if !raw.is_empty() => match sessions::load(&state.db, raw, now).await {
            Ok(s) => s.map(Arc::new),
            Err(e) => {
                tracing::error!(request_id = %request_id, cause = %e, "lecture de session impossible");
                let ctx = Ctx {
                    request_id: request_id.clone(),
                    session: None,
                    csrf: Arc::from(""),
                    client_ip: Arc::from(""),
                    support: state.support.clone(),
                };
                return finish(
                    &state,
                    &ctx,
                    ErrorPage::for_status(StatusCode::SERVICE_UNAVAILABLE).into_response(),
                );
            }
        },
        _ => None,
    };
    let stale_session_cookie =
        session_cookie_value.is_some_and(|v| !v.is_empty()) && session.is_none();

    let mut new_csrf_cookie = None;
    let csrf: Arc<str> = match &session {
        Some(s) => Arc::from(s.csrf_token.as_str()),
        None => match cookie_value(req.headers(), CSRF_COOKIE) {
            Some(v) if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) => Arc::from(v),
            _ => {
                let t = crypto::random_token();
                new_csrf_cookie = Some(t.clone());
                Arc::from(t.as_str())
            }
        },
    };
    let ctx = Ctx {
        request_id: request_id.clone(),
        session,
        csrf: csrf.clone(),
        client_ip: Arc::from(client_ip(&state, &req).as_str()),
        support: state.support.clone(),
    };

    let mut req = req;
    let is_api = api.contains(&route.as_str());
    let safe = matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) || is_api;
    if is_api {
        new_csrf_cookie = None;
    }
    if !safe {
        if !same_origin(&state, req.headers()) {
            tracing::warn!(request_id = %request_id, route = %route, "envoi refusé : origine étrangère");
            return finish(&state, &ctx, ErrorPage::csrf().into_response());
        }
        let (parts, body) = req.into_parts();
        let limit = if UPLOAD_ROUTES.contains(&route.as_str()) {
            MAX_UPLOAD_BYTES
        } else {
            MAX_FORM_BYTES
        };
        let timeout = std::time::Duration::from_secs(state.config.body_timeout_seconds.max(1));
        let bytes = match super::server::read_body(body, limit, timeout).await {
            Ok(b) => b,
            Err(status) => {
                if status == StatusCode::REQUEST_TIMEOUT {
                    tracing::info!(request_id = %request_id, route = %route, "envoi trop lent : abandonné");
                }
                return finish(&state, &ctx, ErrorPage::for_status(status).into_response());
            }
        };
        let sent = if super::forms::is_multipart(&parts.headers) {
            let ct = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            super::forms::multipart(ct, bytes.clone())
                .await
                .and_then(|p| p.into_iter().find(|p| p.name == CSRF_FIELD))
                .map(|p| String::from_utf8_lossy(&p.data).into_owned())
        } else {
            url::form_urlencoded::parse(&bytes)
                .find(|(k, _)| k == CSRF_FIELD)
                .map(|(_, v)| v.into_owned())
        };
        if !sent.is_some_and(|t| crypto::ct_eq(&crypto::unmask_token(&t), &csrf)) {
            tracing::warn!(request_id = %request_id, route = %route, "envoi refusé : jeton CSRF absent ou faux");
            let mut res = ErrorPage::csrf().into_response();
            if let Some(t) = &new_csrf_cookie {
                res.headers_mut()
                    .append(header::SET_COOKIE, set_cookie(&state, CSRF_COOKIE, t, None));
            }
            return finish(&state, &ctx, res);
        }
        req = Request::from_parts(parts, Body::from(bytes));
    }

    let compress = compression_allowed(req.headers(), ctx.session.is_some());
    req.extensions_mut().insert(ctx.clone());
    let mut res = next.run(req).await;
    if let Some(t) = &new_csrf_cookie {
        res.headers_mut()
            .append(header::SET_COOKIE, set_cookie(&state, CSRF_COOKIE, t, None));
    }
    if stale_session_cookie && !res.headers().contains_key(header::SET_COOKIE) {
        res.headers_mut()
            .append(header::SET_COOKIE, clear_session_cookie(&state));
    }
    let res = finish(&state, &ctx, res);
    let res = if compress { gzip(res).await } else { vary(res) };
    let status = res.status().as_u16();
    let elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    if status >= 500 {
        tracing::error!(request_id = %request_id, method = %method, route = %route, status, elapsed_us, "requête");
    } else if status >= 400 {
        tracing::info!(request_id = %request_id, method = %method, route = %route, status, elapsed_us, "requête");
    } else {
        tracing::debug!(request_id = %request_id, method = %method, route = %route, status, elapsed_us, "requête");
    }
    res
}

/// Whether this response may be compressed (gzip, when the browser accepts it).
///
/// Compressing a page that holds a secret next to text an attacker chose (a
/// search reflected in the page) lets them guess the secret from the sizes of
/// responses they trigger (BREACH). So: the CSRF token is masked afresh in every
/// page ([`crypto::mask_token`]); and a signed-in person's pages — their
/// usagers' names are secrets too — are compressed only for requests the
/// browser says come from Relais itself or from the person (`Sec-Fetch-Site:
/// same-origin` or `none`), never for requests another site triggered, nor from
/// browsers that do not say.
fn compression_allowed(headers: &HeaderMap, signed_in: bool) -> bool {
    let accepts = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').any(|c| {
                let mut parts = c.split(';');
                let name = parts.next().unwrap_or("").trim();
                let refused = parts.any(|p| p.trim().replace(' ', "") == "q=0");
                name.eq_ignore_ascii_case("gzip") && !refused
            })
        });
    if !accepts {
        return false;
    }
    if !signed_in {
        return true;
    }
    matches!(
        headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()),
        Some("same-origin" | "none")
    )
}

/// Content worth compressing: pages, the style sheet, icons (not downloads,
/// which stream, nor PDFs and images, already compressed).
fn compressible(res: &Response) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| {
            t.starts_with("text/html")
                || t.starts_with("text/css")
                || t.starts_with("image/svg+xml")
        })
        && !res.headers().contains_key(header::CONTENT_ENCODING)
}

/// `Vary: Accept-Encoding` on what may be compressed, so that caches keep the
/// two forms apart.
fn vary(mut res: Response) -> Response {
    if compressible(&res) {
        res.headers_mut()
            .append(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    res
}

/// Pages smaller than this gain nothing (one network packet).
const COMPRESS_FROM_BYTES: usize = 1_400;

/// The response gzip-compressed (fast level: pages of a few KB shrink 3 to 5
/// times for tens of microseconds), when it is worth it.
async fn gzip(res: Response) -> Response {
    if !compressible(&res) {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    // Pages are rendered in memory: collecting them costs nothing more.
    let Ok(bytes) = axum::body::to_bytes(body, 8 * 1024 * 1024).await else {
        return Response::from_parts(parts, Body::empty());
    };
    parts
        .headers
        .append(header::VARY, HeaderValue::from_static("accept-encoding"));
    if bytes.len() < COMPRESS_FROM_BYTES {
        return Response::from_parts(parts, Body::from(bytes));
    }
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 3),
        flate2::Compression::fast(),
    );
    let compressed = encoder.write_all(&bytes).and_then(|()| encoder.finish());
    match compressed {
        Ok(gz) => {
            parts
                .headers
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(gz))
        }
        Err(_) => Response::from_parts(parts, Body::from(bytes)),
    }
}

/// The CSP of every page: nothing but our own style sheet and images, no script,
/// no framing; forms post to ourselves and may be redirected only to the origins
/// of [`crate::config::Config::form_action_origins`] (FranceConnect, the identity
/// provider's registered clients).
pub fn content_security_policy(config: &crate::config::Config) -> HeaderValue {
    let mut form_action = "'self'".to_owned();
    for origin in config.form_action_origins() {
        form_action.push(' ');
        form_action.push_str(&origin);
    }
    HeaderValue::from_str(&format!(
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action {form_action}; \
         frame-ancestors 'none'; base-uri 'none'"
    ))
    .unwrap_or_else(|_| {
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        )
    })
}

/// Renders error pages and adds the security headers.
fn finish(state: &AppState, ctx: &Ctx, mut res: Response) -> Response {
    let needs_page = res.extensions().get::<ErrorPage>().cloned().or_else(|| {
        {
            let s = res.status();
            // No body of ours: nothing, or the plain English text of a framework
            // rejection (« Invalid URL: Cannot parse … » for a malformed path
            // parameter): the person gets the French page instead.
            (s.is_client_error() || s.is_server_error())
                && res
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .is_none_or(|v| v.as_bytes().starts_with(b"text/plain"))
        }
        .then(|| ErrorPage::for_status(res.status()))
    });
    if let Some(page) = needs_page {
        let cookies: Vec<HeaderValue> = res
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .cloned()
            .collect();
        res = views::error_page(ctx, &page);
        for c in cookies {
            res.headers_mut().append(header::SET_COOKIE, c);
        }
    }
    let h = res.headers_mut();
    // A handler may set a stricter policy of its own (attachments: `sandbox`).
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(header::CONTENT_SECURITY_POLICY, state.csp.clone());
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static(
            "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
        ),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if state.config.secure_cookies() {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
        h.insert("x-request-id", v);
    }
    res
}
