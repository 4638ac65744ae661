//! The HTTP server: accepts connections under a limit and serves each with
//! hyper's HTTP/1.1, with timeouts, so slow or idle clients cannot hold the
//! server (slowloris):
//! - at most [`Limits::max_connections`] open connections (below the process's
//!   file limit): further clients wait in the kernel's queue until one closes;
//! - a client has [`Limits::header_timeout`] to send a request's headers, and an
//!   idle keep-alive connection is closed after the same time (hyper starts the
//!   header timer as soon as a connection waits for its next request);
//! - a request's body must arrive within the body timeout, enforced where bodies
//!   are read ([`super::context`]).
//!
//! Behind a reverse proxy, the proxy's own timeouts and limits come first; these
//! still protect the servers from the proxy's connections (docs/ARCHITECTURE.md).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::Service as _;

/// What the server allows a connection.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
}

impl Limits {
    pub fn from_config(config: &crate::config::Config) -> Limits {
        Limits {
            max_connections: config.connection_limit(),
            header_timeout: Duration::from_secs(config.header_timeout_seconds.max(1)),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting
/// and waits (10 s at most) for the connections still open.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    let mut last_full_warning: Option<tokio::time::Instant> = None;
    loop {
        // A free slot first: at the limit, new clients wait in the accept queue.
        let permit = if let Ok(p) = permits.clone().try_acquire_owned() {
            p
        } else {
            let now = tokio::time::Instant::now();
            if last_full_warning.is_none_or(|t| now.duration_since(t) > Duration::from_secs(60)) {
                tracing::warn!(
                    max = limits.max_connections,
                    "nombre maximal de connexions atteint : les nouvelles attendent"
                );
                last_full_warning = Some(now);
            }
            tokio::select! {
                p = permits.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
                () = &mut shutdown => break,
            }
        };
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: wait a
                    // little rather than spin.
                    tracing::warn!(cause = %e, "connexion non acceptée");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(addr));
                let mut router = router.clone();
                async move { Ok::<_, Infallible>(router.call(req).await.unwrap_or_else(|e| match e {})) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!(cause = %e, "connexion terminée sur une erreur");
            }
            drop(permit);
        });
    }
    // Connections in flight finish (idle ones close at their header timeout).
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(Duration::from_secs(10), permits.acquire_many(all)).await;
}

/// The largest body a route may receive within `timeout`, read whole; `Err` with
/// the status to answer (413 too large, 408 too slow, 400 broken).
pub async fn read_body(
    body: axum::body::Body,
    limit: usize,
    timeout: Duration,
) -> Result<axum::body::Bytes, axum::http::StatusCode> {
    use axum::http::StatusCode;
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Err(_) => Err(StatusCode::REQUEST_TIMEOUT),
        Ok(Ok(b)) => Ok(b),
        Ok(Err(e)) => {
            let too_large = e
                .into_inner()
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            Err(if too_large {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            })
        }
    }
}
