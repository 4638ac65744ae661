//! The one error policy: the person sees a plain French message and a request id;
//! the cause goes to the log only. Pages are rendered by the context middleware,
//! which knows the request id and the navigation.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("page introuvable")]
    NotFound,
    #[error("accès refusé")]
    Forbidden,
    #[error("requête invalide : {0}")]
    BadRequest(&'static str),
    #[error("erreur interne : {0}")]
    Internal(String),
}

impl From<crate::db::Error> for AppError {
    fn from(e: crate::db::Error) -> Self {
        AppError::Internal(format!("base de données : {e}"))
    }
}

impl From<askama::Error> for AppError {
    fn from(e: askama::Error) -> Self {
        AppError::Internal(format!("gabarit : {e}"))
    }
}

impl From<crate::accounts::AccountError> for AppError {
    fn from(e: crate::accounts::AccountError) -> Self {
        AppError::Internal(e.to_string())
    }
}

/// Marker put on error responses; the context middleware turns it into a page.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: &'static str,
}

impl ErrorPage {
    pub fn for_status(status: StatusCode) -> Self {
        let (title, message) = match status {
            StatusCode::NOT_FOUND => (
                "Page introuvable",
                "Cette page n'existe pas ou plus. Vérifiez l'adresse, ou revenez à l'accueil.",
            ),
            StatusCode::FORBIDDEN => (
                "Accès refusé",
                "Votre compte n'a pas accès à cette page. Si vous pensez que c'est une erreur, contactez le référent de votre structure.",
            ),
            StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => (
                "Demande incorrecte",
                "La demande envoyée est incomplète ou incorrecte. Revenez à la page précédente et recommencez.",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => (
                "Envoi trop volumineux",
                "Les données envoyées sont trop volumineuses. Réduisez-les puis recommencez.",
            ),
            StatusCode::REQUEST_TIMEOUT => (
                "Envoi interrompu",
                "Les données sont arrivées trop lentement et rien n'a été enregistré. Vérifiez votre connexion puis envoyez de nouveau le formulaire.",
            ),
            StatusCode::METHOD_NOT_ALLOWED => (
                "Action impossible",
                "Cette adresse ne permet pas cette action. Revenez à l'accueil.",
            ),
            _ => (
                "Erreur du service",
                "Une erreur s'est produite de notre côté et rien n'a été enregistré. Réessayez dans un instant ; si l'erreur persiste, écrivez au support (adresse ci-dessous) en donnant le numéro de requête.",
            ),
        };
        ErrorPage {
            status,
            title,
            message,
        }
    }

    /// 503: the server is too busy checking passwords (see
    /// [`crate::accounts::password`]).
    pub fn busy() -> Self {
        ErrorPage {
            status: StatusCode::SERVICE_UNAVAILABLE,
            title: "Service très sollicité",
            message: "Relais reçoit beaucoup de connexions en ce moment et rien n'a été enregistré. Patientez quelques secondes puis envoyez de nouveau le formulaire.",
        }
    }

    pub fn csrf() -> Self {
        ErrorPage {
            status: StatusCode::FORBIDDEN,
            title: "Page expirée",
            message: "Cette page a expiré ou l'envoi ne vient pas de Relais, et rien n'a été enregistré. Revenez à la page précédente, rechargez-la, puis recommencez.",
        }
    }
}

impl IntoResponse for ErrorPage {
    fn into_response(self) -> Response {
        let mut res = self.status.into_response();
        res.extensions_mut().insert(self);
        res
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = match &self {
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Forbidden => StatusCode::FORBIDDEN,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Internal(cause) => {
                tracing::error!(cause = %cause, "erreur interne");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        ErrorPage::for_status(status).into_response()
    }
}

pub type AppResult<T> = Result<T, AppError>;
