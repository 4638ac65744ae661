//! Outgoing HTTP for the OpenID Connect client: a real HTTP/1.1 client (rustls with
//! ring, webpki roots), or — in tests — the application's own router called in
//! process, so the whole FranceConnect round trip runs without a socket. Every call
//! has a timeout.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::ServiceExt;

/// Largest response body read (discovery, JWKS, tokens are small).
const MAX_BODY: usize = 512 * 1024;

#[derive(Debug, Clone)]
pub struct Response {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Bytes,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("délai dépassé")]
    Timeout,
    #[error("requête impossible : {0}")]
    Transport(String),
}

type Https = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

#[derive(Clone)]
pub enum HttpClient {
    Real(Https),
    /// Requests go to this router, in process (tests). The slot is emptied when the
    /// test ends: the router holds the state that holds this client.
    InProcess(Arc<Mutex<Option<Router>>>),
}

impl HttpClient {
    pub fn real() -> Result<HttpClient, HttpError> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .build();
        Ok(HttpClient::Real(
            Client::builder(TokioExecutor::new()).build(https),
        ))
    }

    /// A client whose router is set later (it must exist before the router does).
    pub fn in_process() -> (HttpClient, Arc<Mutex<Option<Router>>>) {
        let slot = Arc::new(Mutex::new(None));
        (HttpClient::InProcess(slot.clone()), slot)
    }

    pub async fn get(
        &self,
        url: &str,
        bearer: Option<&str>,
        timeout: Duration,
    ) -> Result<Response, HttpError> {
        let mut req = Request::get(url).header(header::ACCEPT, "application/json, application/jwt");
        if let Some(token) = bearer {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        self.send(req, Bytes::new(), timeout).await
    }

    pub async fn post_form(
        &self,
        url: &str,
        fields: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<Response, HttpError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let req = Request::post(url)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json");
        self.send(req, Bytes::from(body), timeout).await
    }

    /// Posts a JSON body, with a bearer token when given (the SMS provider).
    pub async fn post_json(
        &self,
        url: &str,
        bearer: Option<&str>,
        body: String,
        timeout: Duration,
    ) -> Result<Response, HttpError> {
        let mut req = Request::post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json");
        if let Some(token) = bearer {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        self.send(req, Bytes::from(body), timeout).await
    }

    async fn send(
        &self,
        req: axum::http::request::Builder,
        body: Bytes,
        timeout: Duration,
    ) -> Result<Response, HttpError> {
        let fut = async {
            match self {
                HttpClient::Real(client) => {
                    let req = req
                        .body(Full::new(body))
                        .map_err(|e| HttpError::Transport(e.to_string()))?;
                    let res = client
                        .request(req)
                        .await
                        .map_err(|e| HttpError::Transport(e.to_string()))?;
                    let (parts, body) = res.into_parts();
                    let bytes = http_body_util::Limited::new(body, MAX_BODY)
                        .collect()
                        .await
                        .map_err(|e| HttpError::Transport(e.to_string()))?
                        .to_bytes();
                    Ok(response(parts.status, &parts.headers, bytes))
                }
                HttpClient::InProcess(slot) => {
                    let router = slot
                        .lock()
                        .ok()
                        .and_then(|r| r.clone())
                        .ok_or_else(|| HttpError::Transport("routeur absent".into()))?;
                    // Only the path and query matter in process.
                    let uri = req
                        .uri_ref()
                        .and_then(|u| u.path_and_query())
                        .map(|p| p.as_str().to_owned())
                        .unwrap_or_else(|| "/".to_owned());
                    let req = req
                        .uri(uri)
                        .body(Body::from(body))
                        .map_err(|e| HttpError::Transport(e.to_string()))?;
                    let res = router
                        .oneshot(req)
                        .await
                        .map_err(|e| HttpError::Transport(e.to_string()))?;
                    let (parts, body) = res.into_parts();
                    let bytes = axum::body::to_bytes(body, MAX_BODY)
                        .await
                        .map_err(|e| HttpError::Transport(e.to_string()))?;
                    Ok(response(parts.status, &parts.headers, bytes))
                }
            }
        };
        tokio::time::timeout(timeout, fut)
            .await
            .map_err(|_| HttpError::Timeout)?
    }
}

fn response(status: StatusCode, headers: &axum::http::HeaderMap, body: Bytes) -> Response {
    Response {
        status,
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
        body,
    }
}
