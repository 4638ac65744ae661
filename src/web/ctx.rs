//! The request context every handler may read ([`Ctx`]): request id, session,
//! CSRF token, client IP. Filled by the context middleware ([`super::context`]);
//! its own module so that the views read it without depending on the middleware.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::AppError;
use crate::sessions::Session;

/// What every handler may know about the request.
#[derive(Clone)]
pub struct Ctx {
    pub request_id: Arc<str>,
    pub session: Option<Arc<Session>>,
    /// The CSRF token to put in forms.
    pub csrf: Arc<str>,
    /// Client IP as seen by the server (or the trusted proxy).
    pub client_ip: Arc<str>,
    /// The support address shown at the foot of every page (`support_email`).
    pub support: Arc<str>,
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AppError> {
        parts
            .extensions
            .get::<Ctx>()
            .cloned()
            .ok_or_else(|| AppError::Internal("contexte de requête absent".into()))
    }
}
