//! Form errors: a summary at the top of the page and a message tied to each field.

/// Errors of one submitted form, in field order.
#[derive(Debug, Default, Clone)]
pub struct FormErrors(Vec<(&'static str, String)>);

impl FormErrors {
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.push((field, message.into()));
    }
    /// Records the error of a parse result and returns the value when it parsed.
    pub fn check<T>(&mut self, field: &'static str, r: Result<T, &'static str>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(m) => {
                self.add(field, m);
                None
            }
        }
    }
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn list(&self) -> &[(&'static str, String)] {
        &self.0
    }
}

/// A local path to go back to after sign-in; anything else becomes `/`.
pub fn safe_next(raw: Option<&str>) -> String {
    match raw {
        Some(p)
            if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') && p.len() < 512 =>
        {
            p.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// `Form<T>` whose rejection is our French error page.
pub struct AppForm<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for AppForm<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = super::error::AppError;
    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::Form::<T>::from_request(req, state)
            .await
            .map(|axum::Form(v)| AppForm(v))
            .map_err(|_| super::error::AppError::BadRequest("formulaire illisible"))
    }
}

/// Query parameters common to pages: `?info=` (a confirmation message) and
/// `?suivant=` (where to go next).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct PageQuery {
    pub info: Option<String>,
    pub suivant: Option<String>,
    pub q: Option<String>,
    pub role: Option<String>,
}

/// One part of a `multipart/form-data` body.
#[derive(Debug, Clone)]
pub struct Part {
    pub name: String,
    pub file_name: Option<String>,
    pub data: axum::body::Bytes,
}

/// The parts of a buffered `multipart/form-data` body (file uploads); `None` when
/// the content type is not multipart or the body is malformed.
pub async fn multipart(content_type: &str, body: axum::body::Bytes) -> Option<Vec<Part>> {
    let boundary = multer::parse_boundary(content_type).ok()?;
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut mp = multer::Multipart::new(stream, boundary);
    let mut parts = Vec::new();
    while let Some(field) = mp.next_field().await.ok()? {
        let name = field.name().unwrap_or("").to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let data = field.bytes().await.ok()?;
        parts.push(Part {
            name,
            file_name,
            data,
        });
        if parts.len() > 32 {
            return None;
        }
    }
    Some(parts)
}

/// Whether a request body is `multipart/form-data`.
pub fn is_multipart(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"))
}

/// The parts of a `multipart/form-data` upload (empty when the body is not one);
/// the size limit is the context middleware's, per route.
pub struct Upload(pub Vec<Part>);

impl Upload {
    /// A non-empty file field.
    pub fn file(&self, name: &str) -> Option<&Part> {
        self.0.iter().find(|p| p.name == name && !p.data.is_empty())
    }
    /// A text field, trimmed ("" when absent).
    pub fn text(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|p| p.name == name)
            .map(|p| String::from_utf8_lossy(&p.data).trim().to_owned())
            .unwrap_or_default()
    }
}

impl<S: Send + Sync> axum::extract::FromRequest<S> for Upload {
    type Rejection = super::error::AppError;
    async fn from_request(
        req: axum::extract::Request,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let ct = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = axum::body::to_bytes(req.into_body(), usize::MAX)
            .await
            .map_err(|_| super::error::AppError::BadRequest("envoi incomplet"))?;
        Ok(Upload(multipart(&ct, body).await.unwrap_or_default()))
    }
}
