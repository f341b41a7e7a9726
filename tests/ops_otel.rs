//! OTLP export against a real OTLP/HTTP receiver on a loopback socket: the
//! request span arrives with its attributes, metrics arrive too, and no value
//! that is not meant for telemetry leaves.

use keyhole::otel;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use keyhole::telemetry::RequestLog;
use keyhole::transform::ActionCounts;
use tokio::net::TcpListener;

/// What the receiver was sent: (path, body).
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A minimal OTLP/HTTP receiver: records every POST and answers with an empty
/// (valid) protobuf export response.
async fn receiver() -> (SocketAddr, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let received: Received = Arc::default();
    let store = received.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let store = store.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let store = store.clone();
                    async move {
                        let path = req.uri().path().to_string();
                        let body = req.into_body().collect().await.map(|b| b.to_bytes());
                        store
                            .lock()
                            .expect("lock")
                            .push((path, body.unwrap_or_default().to_vec()));
                        let reply = Response::builder()
                            .header("content-type", "application/x-protobuf")
                            .body(Full::new(Bytes::new()))
                            .expect("response");
                        Ok::<_, Infallible>(reply)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, received)
}

fn bodies(received: &Received, path: &str) -> Vec<u8> {
    received
        .lock()
        .expect("lock")
        .iter()
        .filter(|(p, _)| p == path)
        .flat_map(|(_, body)| body.clone())
        .collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// A phone number an agent pasted into `X-Ticket-Id`: traces must not carry it.
const PASTED_VALUE: &str = "+1-555-013-4821";

fn request_log() -> RequestLog {
    RequestLog {
        request_id: "req-000042".into(),
        method: "GET".into(),
        route: Some("/customers/{customer}".into()),
        agent: Some("alice".into()),
        vendor: Some("northwind-support".into()),
        ticket: Some(PASTED_VALUE.into()),
        counts: ActionCounts {
            disclosed: 3,
            masked: 2,
            ..ActionCounts::default()
        },
        disclosed_classes: Default::default(),
        disclosure: Some(7),
        denial: None,
        error: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_span_and_metrics_reach_the_collector_without_values() {
    let (addr, received) = receiver().await;
    let cfg = otel::OtelConfig {
        endpoint: Some(format!("http://{addr}")),
        service_name: "keyhole-test".into(),
        metrics_interval_ms: 3_600_000,
        ..otel::OtelConfig::default()
    };
    cfg.validate().expect("valid");
    let guard = otel::init(&cfg).expect("init").expect("export configured");
    otel::record_request(&request_log(), 200, Duration::from_millis(12));
    // The SDK exports from its own thread through this runtime: wait off the workers.
    let guard = tokio::task::spawn_blocking(move || {
        guard.flush().expect("flush");
        guard
    })
    .await
    .expect("flush task");

    let traces = bodies(&received, "/v1/traces");
    assert!(!traces.is_empty(), "no trace export arrived");
    for expected in [
        "alice",
        "northwind-support",
        "/customers/{customer}",
        "GET /customers/{customer}",
        "keyhole.ticket.decision",
        "granted",
        "keyhole.values.disclosed",
        "req-000042",
        "keyhole-test",
    ] {
        assert!(contains(&traces, expected), "span lacks {expected:?}");
    }
    assert!(
        !contains(&traces, PASTED_VALUE),
        "a value reached the trace"
    );

    let metrics = bodies(&received, "/v1/metrics");
    assert!(contains(&metrics, "keyhole.requests"), "no request metric");
    assert!(contains(&metrics, "keyhole.disclosed_values"));
    assert!(
        !contains(&metrics, PASTED_VALUE),
        "a value reached the metrics"
    );
    guard.shutdown().await;
}

#[test]
fn an_endpoint_without_a_runtime_is_refused_and_no_endpoint_starts_nothing() {
    let cfg = otel::OtelConfig {
        endpoint: Some("http://127.0.0.1:4318".into()),
        ..otel::OtelConfig::default()
    };
    assert!(matches!(otel::init(&cfg), Err(otel::OtelError::NoRuntime)));
    assert!(matches!(otel::init(&otel::OtelConfig::default()), Ok(None)));
}
