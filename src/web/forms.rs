//! Form errors: a summary at the top of the page and a message tied to each field.

/// Errors of one submitted form, in field order.
#[derive(Debug, Default, Clone)]
pub struct FormErrors(Vec<(&'static str, String)>);

impl FormErrors {
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.push((field, message.into()));
    }
    /// Records the error of a parse result and returns the value when it parsed.
    pub fn check<T, M: Into<String>>(&mut self, field: &'static str, r: Result<T, M>) -> Option<T> {
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

/// A path of this site to go back to after sign-in (`?suivant=`); anything else
/// becomes `/`. The value is refused when a browser could read it as another host
/// or it could not go in a `Location` header: not starting with one `/`, a second
/// `/` or a backslash (`//evil.example`, `/\evil.example`), any control character or
/// white space (browsers drop tabs and line breaks, so `/%09/evil.example` is
/// `//evil.example`), over 512 bytes. What remains is parsed as a URL against this
/// site, must stay on it, and is given back normalised (path and query only).
pub fn safe_next(raw: Option<&str>) -> String {
    const HOME: &str = "/";
    let Some(p) = raw else {
        return HOME.to_owned();
    };
    let mut chars = p.chars();
    let well_started = chars.next() == Some('/') && !matches!(chars.next(), Some('/' | '\\'));
    if !well_started
        || p.len() > 512
        || p.chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        return HOME.to_owned();
    }
    let Ok(base) = url::Url::parse("http://relais.invalid/") else {
        return HOME.to_owned();
    };
    match base.join(p) {
        Ok(u)
            if u.scheme() == "http"
                && u.host_str() == Some("relais.invalid")
                && u.port().is_none()
                && u.username().is_empty() =>
        {
            let mut out = u.path().to_owned();
            if let Some(q) = u.query() {
                out.push('?');
                out.push_str(q);
            }
            out
        }
        _ => HOME.to_owned(),
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

/// The fields of a urlencoded form body, bounded (200 fields, 2,000 characters a
/// value), for handlers that read repeated or optional fields by hand.
pub fn pairs(body: &[u8]) -> Vec<(String, String)> {
    pairs_up_to(body, 2_000)
}

/// [`pairs`] for forms with a long text (a resource's body): a value keeps at
/// most `max_chars` + 1 characters, so that a check on `max_chars` still sees
/// a value that was too long (and says so) instead of a cut one.
pub fn pairs_up_to(body: &[u8], max_chars: usize) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body)
        .take(200)
        .map(|(k, v)| (k.into_owned(), v.chars().take(max_chars + 1).collect()))
        .collect()
}

/// One field of [`pairs`], trimmed ("" when absent).
pub fn field(pairs: &[(String, String)], name: &str) -> String {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        for (raw, want) in [
            ("/mandats?page=2", "/mandats?page=2"),
            ("/usagers/3", "/usagers/3"),
            ("/a/../b", "/b"),
            ("/é", "/%C3%A9"),
        ] {
            assert_eq!(safe_next(Some(raw)), want, "{raw:?}");
        }
        for raw in [
            "//evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/\0",
            "/\\evil.example",
            "\\/evil.example",
            "/ /evil.example",
            "https://evil.example",
            "evil.example",
            "javascript:alert(1)",
            "/\u{a0}/evil.example",
            "",
        ] {
            assert_eq!(safe_next(Some(raw)), "/", "{raw:?}");
        }
        assert_eq!(safe_next(Some(&format!("/{}", "a".repeat(600)))), "/");
        assert_eq!(safe_next(None), "/");
    }
}
