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
