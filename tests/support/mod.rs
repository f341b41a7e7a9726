//! Shared helpers for the integration tests: a real gateway over real TLS on
//! 127.0.0.1:0, the demo's files in a temp dir, a recording (or fault-injecting)
//! upstream, real JWTs, and a leak oracle.
#![allow(dead_code, unused_imports)]

pub mod client;
pub mod oracle;
#[cfg(target_os = "linux")]
pub mod process;
pub mod upstream;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use keyhole::config::Config;
use keyhole::demo::data::DataSet;
use keyhole::demo::setup::{self, DemoFiles};
use keyhole::gateway::Running;

pub use client::{Client, Reply};
pub use upstream::{Behaviour, Recorder, Seen};

/// Customers in the test data set (small: setup is per test).
pub const CUSTOMERS: usize = 40;

/// A running gateway with everything around it.
pub struct TestEnv {
    /// Keeps the files alive.
    pub dir: tempfile::TempDir,
    /// The demo files.
    pub files: DemoFiles,
    /// The config as loaded (and adjusted by the test).
    pub config: Config,
    /// The data set the upstream serves.
    pub data: DataSet,
    /// The gateway.
    pub running: Running,
    /// What the upstream saw.
    pub recorder: Recorder,
    /// Sample API address (behind the recorder).
    pub sample_api: SocketAddr,
}

impl TestEnv {
    /// Starts the demo set-up with the sample API behind a recorder.
    pub async fn start() -> TestEnv {
        Self::start_with(Behaviour::Forward, |_| {}).await
    }

    /// Starts with an upstream behaviour and a chance to adjust the config before start.
    pub async fn start_with(behaviour: Behaviour, adjust: impl FnOnce(&mut Config)) -> TestEnv {
        Self::start_full(behaviour, adjust, None).await
    }

    /// Starts with the ledger opened under `faults` (write/fsync failure injection).
    pub async fn start_with_faults(faults: std::sync::Arc<keyhole::ledger::Faults>) -> TestEnv {
        Self::start_full(Behaviour::Forward, |_| {}, Some(faults)).await
    }

    async fn start_full(
        behaviour: Behaviour,
        adjust: impl FnOnce(&mut Config),
        faults: Option<std::sync::Arc<keyhole::ledger::Faults>>,
    ) -> TestEnv {
        let dir = tempfile::tempdir().expect("tempdir");
        let recorder_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let recorder_port = recorder_listener.local_addr().expect("addr").port();
        let files =
            setup::prepare(dir.path(), CUSTOMERS, 0, recorder_port).expect("prepare demo files");
        let data = setup::load_data(&files.data).expect("data");
        let credential = std::fs::read_to_string(&files.upstream_credential).expect("credential");
        let sample_api =
            upstream::start_sample_api(data.clone(), credential.trim().to_string()).await;
        let recorder = Recorder::start(recorder_listener, behaviour, sample_api);
        let mut config = Config::load(&files.config).expect("config");
        adjust(&mut config);
        let ledger = match faults {
            Some(f) => keyhole::ledger::Ledger::open_with_faults(&config.ledger, f).await,
            None => keyhole::ledger::Ledger::open(&config.ledger).await,
        }
        .expect("ledger opens");
        let running = keyhole::gateway::start_with_ledger(config.clone(), ledger)
            .await
            .expect("gateway starts");
        TestEnv {
            dir,
            files,
            config,
            data,
            running,
            recorder,
            sample_api,
        }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("https://{}", self.running.addr)
    }

    /// The admin base URL.
    pub fn admin(&self) -> String {
        format!("http://{}", self.running.admin_addr)
    }

    /// GETs `path` from the admin listener: status and body.
    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http();
        let req = http::Request::get(format!("{}{path}", self.admin()))
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .expect("request");
        let resp = client.request(req).await.expect("admin answers");
        let status = resp.status().as_u16();
        let body = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .expect("admin body")
            .to_bytes();
        (status, String::from_utf8_lossy(&body).to_string())
    }

    /// An HTTP/1.1 client trusting the demo CA.
    pub fn h1(&self) -> Client {
        Client::new(&self.files.ca_cert, false)
    }

    /// An HTTP/2 client trusting the demo CA.
    pub fn h2(&self) -> Client {
        Client::new(&self.files.ca_cert, true)
    }

    /// A token for `agent` of `vendor`, signed by the demo key.
    pub fn token(&self, agent: &str, vendor: &str) -> String {
        agent_token(&self.config, agent, vendor)
    }

    /// Alice's token (vendor northwind-support).
    pub fn alice(&self) -> String {
        self.token("alice", "northwind-support")
    }

    /// Alice asks over HTTP/1.1 for the customer of her live ticket T-1001.
    pub async fn alice_under_her_ticket(&self) -> Reply {
        let customer = &self.ticket_customer("T-1001").id;
        self.h1()
            .get(
                &format!("{}/customers/{customer}", self.base()),
                &[
                    ("authorization", &bearer(&self.alice())),
                    ("x-ticket-id", "T-1001"),
                ],
            )
            .await
    }

    /// Bob's token (vendor contoso-callcenter).
    pub fn bob(&self) -> String {
        self.token("bob", "contoso-callcenter")
    }

    /// The customer of ticket T-1001 (alice, hardware).
    pub fn hardware_customer(&self) -> &keyhole::demo::data::Customer {
        self.ticket_customer("T-1001")
    }

    /// A customer of the data set other than the one with `id`.
    pub fn customer_other_than(&self, id: &str) -> &keyhole::demo::data::Customer {
        self.data
            .customers
            .iter()
            .find(|c| c.id != id)
            .expect("another customer")
    }

    /// The customer a demo ticket is about.
    pub fn ticket_customer(&self, ticket: &str) -> &keyhole::demo::data::Customer {
        let id = ticket_customer_id(&self.files, ticket);
        self.data.customer(&id).expect("customer")
    }

    /// The ledger directory.
    pub fn ledger_dir(&self) -> PathBuf {
        self.config.ledger.dir.clone()
    }

    /// Writes the tickets file (the file source reloads it).
    pub fn write_tickets(&self, tickets: serde_json::Value) {
        std::fs::write(
            &self.files.tickets,
            serde_json::to_vec_pretty(&tickets).expect("json"),
        )
        .expect("write tickets");
    }

    /// The data set shared, for upstream fakes.
    pub fn data_arc(&self) -> Arc<DataSet> {
        Arc::new(self.data.clone())
    }
}

/// Bearer header value.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A JWT for `agent` of `vendor`, signed by the demo key, valid for an hour.
pub fn agent_token(config: &Config, agent: &str, vendor: &str) -> String {
    keyhole::authenticate::mint(
        &config.auth,
        agent,
        vendor,
        std::time::Duration::from_secs(3600),
    )
    .expect("mint")
}

/// The id of the customer a demo ticket is about, from the tickets file.
pub fn ticket_customer_id(files: &DemoFiles, ticket: &str) -> String {
    let tickets: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files.tickets).expect("tickets"))
            .expect("json");
    tickets
        .as_array()
        .and_then(|list| list.iter().find(|t| t["id"] == ticket))
        .and_then(|t| t["customer_id"].as_str())
        .expect("ticket in demo file")
        .to_string()
}
