//! The admin listener: `/healthz`, `/readyz`, `/metrics` and the ticket webhook,
//! on its own (loopback by default) address, plain HTTP/1.1.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Invalid;
use crate::gateway::Gateway;

/// `[admin]` in the config.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Address of the admin listener.
    pub address: String,
    /// Largest webhook body accepted.
    pub max_body_bytes: usize,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            address: "127.0.0.1:9443".into(),
            max_body_bytes: 64 * 1024,
        }
    }
}

impl AdminConfig {
    /// Checks the address.
    pub fn validate(&self) -> Result<(), Invalid> {
        self.address
            .parse::<SocketAddr>()
            .map_err(|_| Invalid::new("admin.address", "must be IP:PORT"))?;
        Ok(())
    }
}

/// Serves admin requests until shutdown.
pub async fn serve(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r { Ok((s, _)) => s, Err(_) => continue },
            _ = shutdown.changed() => return,
        };
        let gateway = gateway.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let gateway = gateway.clone();
                async move { Ok::<_, std::convert::Infallible>(route(&gateway, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    resp
}

fn json(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    text(status, "application/json", body.to_string())
}

async fn route(gw: &Gateway, req: Request<Incoming>) -> Response<Full<Bytes>> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/healthz") => json(StatusCode::OK, serde_json::json!({"status": "ok"})),
        (&Method::GET, "/readyz") => readyz(gw).await,
        (&Method::GET, "/metrics") => {
            let mut body = gw.metrics.render();
            gw.ledger.stats().render(&mut body);
            gw.responses.render(&mut body);
            text(StatusCode::OK, "text/plain; version=0.0.4", body)
        }
        (&Method::POST, "/tickets/webhook") => webhook(gw, req).await,
        _ => refuse(
            gw,
            StatusCode::NOT_FOUND,
            "not-found",
            "no such admin endpoint",
        ),
    }
}

/// An error in the gateway's one error shape: stable code, message and a
/// request id the caller can quote, which the warning logged with it carries.
fn refuse(gw: &Gateway, status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    let request_id = gw.next_request_id();
    // Unknown paths are a scanner's noise; refused webhooks are worth a look.
    if status == StatusCode::NOT_FOUND {
        tracing::debug!(code, request_id, "admin request refused");
    } else {
        tracing::warn!(code, request_id, "admin request refused");
    }
    let mut resp = crate::rescue::error_response(status, code, message, &request_id);
    // The webhook authenticates by signature, not by a bearer token.
    resp.headers_mut().remove(http::header::WWW_AUTHENTICATE);
    resp
}

async fn readyz(gw: &Gateway) -> Response<Full<Bytes>> {
    let rt = gw.runtime();
    let upstream = rt.upstream.probe().await;
    let ledger = gw.ledger.is_healthy();
    let policies = rt.policies.routes.iter().next().is_some();
    let ready = upstream && ledger && policies;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(
        status,
        serde_json::json!({"ready": ready, "upstream": upstream, "ledger": ledger, "policies": policies}),
    )
}

async fn webhook(gw: &Gateway, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let limit = gw.runtime().config.admin.max_body_bytes;
    let (parts, body) = req.into_parts();
    let body = match http_body_util::Limited::new(body, limit).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            let message = "webhook body over admin.max_body_bytes";
            return refuse(
                gw,
                StatusCode::PAYLOAD_TOO_LARGE,
                "webhook-too-large",
                message,
            );
        }
    };
    match gw.tickets.webhook(&parts.headers, &body) {
        Ok(_) => {
            gw.metrics.add(
                format_args!("keyhole_webhook_total{{result=\"accepted\"}}"),
                1,
            );
            json(StatusCode::OK, serde_json::json!({"status": "accepted"}))
        }
        Err(refused) => {
            let code = refused.code();
            gw.metrics.add(
                format_args!("keyhole_webhook_total{{result=\"{code}\"}}"),
                1,
            );
            refuse(gw, refused.status(), code, &refused.to_string())
        }
    }
}
