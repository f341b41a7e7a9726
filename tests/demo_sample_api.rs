//! The demo's sample customer API, exercised over real sockets on loopback:
//! records, devices, search, notes, the credential and wrong methods.

#[path = "support/demo.rs"]
mod support;

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use keyhole::demo::data::DataSet;
use keyhole::demo::upstream::{serve, SampleApiConfig};
use serde_json::{json, Value};
use support::{CUSTOMERS, SEED};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, RwLock};
use tokio::task::JoinHandle;

const CREDENTIAL: &str = "demo-upstream-secret";

/// A running sample API and a client for it.
struct Api {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
    data: Arc<RwLock<DataSet>>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<io::Result<()>>,
}

/// What came back: status, headers and the body parsed as JSON.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

async fn start(credential: Option<&str>) -> Api {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let base = format!("http://{}", listener.local_addr().expect("local addr"));
    let data = Arc::new(RwLock::new(DataSet::generate(SEED, CUSTOMERS)));
    let cfg = SampleApiConfig {
        credential: credential.map(str::to_string),
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let task = tokio::spawn(serve(listener, Arc::clone(&data), cfg, shutdown));
    let client = Client::builder(TokioExecutor::new()).build_http();
    Api {
        base,
        client,
        data,
        stop,
        task,
    }
}

impl Api {
    async fn send(&self, method: Method, path: &str, auth: Option<&str>, body: &str) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(credential) = auth {
            request = request.header(header::AUTHORIZATION, format!("Bearer {credential}"));
        }
        let request = request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("request");
        let response = self.client.request(request).await.expect("response");
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.expect("body").to_bytes();
        let body = serde_json::from_slice(&bytes).expect("every response is JSON");
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, Some(CREDENTIAL), "").await
    }

    async fn post(&self, path: &str, body: &str) -> Reply {
        self.send(Method::POST, path, Some(CREDENTIAL), body).await
    }

    async fn stop(self) -> io::Result<()> {
        let _ = self.stop.send(());
        self.task.await.expect("serve task")
    }
}

#[tokio::test]
async fn health_check_answers_ok() {
    let api = start(None).await;
    let reply = api.get("/healthz").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, json!({ "status": "ok" }));
    api.stop().await.expect("clean stop");
}

#[tokio::test]
async fn customer_route_returns_the_whole_record() {
    let api = start(None).await;
    let expected = serde_json::to_value(&api.data.read().await.customers[5]).expect("to json");
    let reply = api.get("/customers/CUS-100005").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(reply.body, expected);
    api.stop().await.expect("clean stop");
}

#[tokio::test]
async fn unknown_customers_devices_and_routes_are_json_404s() {
    let api = start(None).await;
    for path in [
        "/customers/C999999",
        "/devices/ZZZZZZZ",
        "/nowhere",
        "/customers/CUS-100001/devices",
        "/",
    ] {
        let reply = api.get(path).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.body, json!({ "error": "not_found" }));
    }
    api.stop().await.expect("clean stop");
}

#[tokio::test]
async fn search_returns_a_page_of_results_and_the_total() {
    let api = start(None).await;
    let city = api.data.read().await.customers[0].address.city.clone();
    let expected_total = api.data.read().await.count_matches(&city);
    let reply = api
        .get(&format!("/customers?q={}&limit=3", city.to_lowercase()))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let results = reply.body["results"].as_array().expect("results list");
    assert_eq!(results.len(), 3.min(expected_total));
    assert_eq!(reply.body["total"], json!(expected_total));
    assert!(results.iter().all(|r| r["address"]["city"] == json!(city)));

    let everyone = api.get("/customers").await;
    assert_eq!(everyone.body["results"].as_array().map(Vec::len), Some(20));
    assert_eq!(everyone.body["total"], json!(CUSTOMERS));
    let capped = api.get("/customers?q=&limit=1000").await;
    assert_eq!(capped.body["results"].as_array().map(Vec::len), Some(100));
    assert_eq!(
        api.get("/customers?limit=lots").await.status,
        StatusCode::BAD_REQUEST
    );
    api.stop().await.expect("clean stop");
}

#[tokio::test]
async fn search_finds_a_customer_by_phone() {
    let api = start(None).await;
    let (id, phone) = {
        let data = api.data.read().await;
        (
            data.customers[9].id.clone(),
            data.customers[9].phone.clone(),
        )
    };
    let reply = api
        .get(&format!("/customers?q={}", phone.replace('+', "%2B")))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["total"], json!(1));
    assert_eq!(reply.body["results"][0]["id"], json!(id));
    api.stop().await.expect("clean stop");
}

#[tokio::test]
async fn device_route_names_the_owner() {
    let api = start(None).await;
    let (owner, device) = {
        let data = api.data.read().await;
        (
            data.customers[3].id.clone(),
            data.customers[3].devices[0].clone(),
        )
    };
    let reply = api.get(&format!("/devices/{}", device.service_tag)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let expected = json!({
        "service_tag": device.service_tag,
        "express_service_code": device.express_service_code,
        "model": device.model,
        "purchase_date": device.purchase_date,
        "warranty": { "plan": device.warranty.plan, "expires": device.warranty.expires },
        "customer_id": owner,
    });
    assert_eq!(reply.body, expected);
    api.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_posted_note_shows_up_in_later_reads() {
    let api = start(None).await;
    let tag = api.data.read().await.customers[2].devices[0]
        .service_tag
        .clone();
    let note = json!({ "summary": "Follow-up call", "notes": format!("Checked {tag} again."), "service_tag": tag });
    let created = api
        .post("/customers/CUS-100002/notes", &note.to_string())
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.body["customer_id"], json!("CUS-100002"));
    assert_eq!(created.body["service_tag"], json!(tag));
    assert!(created.body["case_id"]
        .as_str()
        .is_some_and(|id| id.starts_with("SR")));

    let record = api.get("/customers/CUS-100002").await;
    let history = record.body["service_history"].as_array().expect("history");
    let last = history.last().expect("the new case");
    assert_eq!(last["case_id"], created.body["case_id"]);
    assert_eq!(last["notes"], note["notes"]);
    let others: Vec<&Value> = history[..history.len() - 1]
        .iter()
        .map(|c| &c["case_id"])
        .collect();
    assert!(
        !others.contains(&&created.body["case_id"]),
        "case ids stay unique"
    );
    api.stop().await.expect("clean stop");
}

#[tokio::test]
async fn bad_notes_are_refused_without_changing_the_record() {
    let api = start(None).await;
    let before = api.get("/customers/CUS-100004").await.body;
    let path = "/customers/CUS-100004/notes";
    let oversized = json!({ "summary": "s", "notes": "x".repeat(70 * 1024) }).to_string();
    let cases = [
        ("{not json", StatusCode::BAD_REQUEST, "bad_json"),
        (
            r#"{"notes":"no summary"}"#,
            StatusCode::BAD_REQUEST,
            "bad_json",
        ),
        (
            r#"{"summary":" ","notes":"n"}"#,
            StatusCode::BAD_REQUEST,
            "empty_summary",
        ),
        (
            r#"{"summary":"s","notes":"n","service_tag":"AAAAAAA"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_service_tag",
        ),
        (
            oversized.as_str(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
    ];
    for (body, status, code) in cases {
        let reply = api.post(path, body).await;
        assert_eq!(
            (reply.status, reply.body),
            (status, json!({ "error": code }))
        );
    }
    let unknown = api
        .post("/customers/C999999/notes", r#"{"summary":"s","notes":"n"}"#)
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(api.get("/customers/CUS-100004").await.body, before);
    api.stop().await.expect("clean stop");
}

#[tokio::test]
async fn the_credential_is_required_when_configured() {
    let api = start(Some(CREDENTIAL)).await;
    for path in ["/customers/CUS-100001", "/healthz", "/nowhere"] {
        let missing = api.send(Method::GET, path, None, "").await;
        assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
        assert_eq!(missing.headers[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(missing.body, json!({ "error": "unauthorized" }));
        let wrong = api
            .send(Method::GET, path, Some("not-the-secret"), "")
            .await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        api.get("/customers/CUS-100001").await.status,
        StatusCode::OK
    );
    let refused = api
        .send(
            Method::POST,
            "/customers/CUS-100001/notes",
            None,
            r#"{"summary":"s","notes":"n"}"#,
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    api.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_wrong_method_names_the_allowed_one() {
    let api = start(None).await;
    let reply = api
        .send(Method::DELETE, "/customers/CUS-100001", None, "")
        .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.headers[header::ALLOW], "GET");
    let reply = api
        .send(Method::GET, "/customers/CUS-100001/notes", None, "")
        .await;
    assert_eq!(reply.headers[header::ALLOW], "POST");
    api.stop().await.expect("clean stop");
}

/// Bad arguments to `demo` and `sample-api` get an error that names the
/// problem and a non-zero exit, before anything is created or served.
#[test]
fn bad_demo_and_sample_api_arguments_are_named() {
    let scratch = tempfile::tempdir().unwrap();
    let a_file = scratch.path().join("a-file");
    std::fs::write(&a_file, "").unwrap();
    let data = scratch.path().join("customers.json");
    let set = DataSet::generate(SEED, 3);
    std::fs::write(&data, serde_json::to_vec(&set.customers).unwrap()).unwrap();
    let missing = scratch.path().join("no-such.credential");
    let path = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let cases: [(Vec<String>, String); 3] = [
        (
            vec!["demo".into(), "--customers".into(), "0".into()],
            "from 3 to 1000000".into(),
        ),
        (
            vec![
                "demo".into(),
                "--dir".into(),
                path(&a_file),
                "--port".into(),
                "0".into(),
            ],
            "is not a directory".into(),
        ),
        (
            vec![
                "sample-api".into(),
                "--data".into(),
                path(&data),
                "--listen".into(),
                "127.0.0.1:0".into(),
                "--credential-file".into(),
                path(&missing),
            ],
            format!("credential file {}", missing.display()),
        ),
    ];
    for (args, says) in cases {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyhole"))
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr.contains(&says), "{args:?}: {stderr}");
    }
    assert_eq!(std::fs::read(&a_file).unwrap(), b"", "nothing was written");
}
