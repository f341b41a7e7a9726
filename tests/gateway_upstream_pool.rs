//! The upstream side of the gateway: an `https` upstream verified against
//! the configured CA with its connections reused, a bound on connections
//! that holds under a burst, and `503 upstream-busy` for a request that finds
//! every connection taken. Real gateway, real TLS, real sockets.

#[path = "support/hostile.rs"]
mod hostile;
mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use keyhole::demo::data::Customer;
use keyhole::demo::pki::DevCa;
use support::{bearer, oracle, Behaviour, TestEnv};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// A TLS front for the sample API: terminates TLS with a certificate from
/// its own CA and splices the plaintext to the sample API, counting handshakes.
struct TlsFront {
    /// Where it listens.
    addr: SocketAddr,
    /// Completed TLS handshakes.
    handshakes: Arc<AtomicUsize>,
    /// The sample API, known once the test environment has started it.
    target: Arc<OnceLock<SocketAddr>>,
    /// The CA whose certificate the front presents, PEM.
    ca_pem: String,
}

impl TlsFront {
    async fn start() -> TlsFront {
        let ca = DevCa::new("customer api").unwrap();
        let issued = ca.server(&["localhost"]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&cert, &issued.cert_pem).unwrap();
        std::fs::write(&key, &issued.key_pem).unwrap();
        let config = keyhole::accept::tls::server_config(&cert, &key, None).unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handshakes = Arc::new(AtomicUsize::new(0));
        let target: Arc<OnceLock<SocketAddr>> = Arc::new(OnceLock::new());
        let (count, to) = (handshakes.clone(), target.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, count, to) = (acceptor.clone(), count.clone(), to.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    count.fetch_add(1, Ordering::SeqCst);
                    let Some(target) = to.get() else { return };
                    if let Ok(mut plain) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                    }
                });
            }
        });
        TlsFront {
            addr,
            handshakes,
            target,
            ca_pem: ca.cert_pem,
        }
    }
}

impl TlsFront {
    /// Starts a gateway whose upstream is this front, trusting `ca_pem`
    /// (kept in the returned directory), and points the front at its sample API.
    async fn behind_gateway(&self, ca_pem: &str) -> (TestEnv, tempfile::TempDir) {
        let cas = tempfile::tempdir().unwrap();
        let ca_path = cas.path().join("upstream-ca.pem");
        std::fs::write(&ca_path, ca_pem).unwrap();
        let url = format!("https://localhost:{}", self.addr.port());
        let env = TestEnv::start_with(Behaviour::Forward, |c| {
            c.upstream.url = url;
            c.upstream.ca = Some(ca_path);
        })
        .await;
        self.target.set(env.sample_api).unwrap();
        (env, cas)
    }
}

async fn get_customer(
    env: &TestEnv,
    customer: &str,
    token: &str,
    ticket: Option<&str>,
) -> support::Reply {
    let auth = bearer(token);
    let mut headers = vec![("authorization", auth.as_str())];
    if let Some(t) = ticket {
        headers.push(("x-ticket-id", t));
    }
    env.h1()
        .get(&format!("{}/customers/{customer}", env.base()), &headers)
        .await
}

#[tokio::test]
async fn an_https_upstream_is_verified_and_its_connection_reused() {
    let front = TlsFront::start().await;
    let (env, _cas) = front.behind_gateway(&front.ca_pem).await;

    let ticketed = env.ticket_customer("T-1001").clone();
    let alice = get_customer(&env, &ticketed.id, &env.alice(), Some("T-1001")).await;
    assert_eq!(
        alice.status,
        200,
        "{}",
        String::from_utf8_lossy(&alice.body)
    );
    let tag = &ticketed.devices[0].service_tag;
    assert!(
        alice.json().to_string().contains(tag.as_str()),
        "the ticket reveals the tag"
    );

    for _ in 0..3 {
        let bob = get_customer(&env, &ticketed.id, &env.bob(), None).await;
        assert_eq!(bob.status, 200);
        oracle::assert_no_leak(&bob.all_bytes(), &oracle::forbidden(&ticketed));
    }
    assert_eq!(
        front.handshakes.load(Ordering::SeqCst),
        1,
        "four sequential requests share one TLS connection"
    );
}

#[tokio::test]
async fn an_upstream_certificate_from_another_ca_is_refused() {
    let front = TlsFront::start().await;
    // The gateway trusts another CA, which did not sign the front's certificate.
    let other = DevCa::new("someone else").unwrap();
    let (env, _cas) = front.behind_gateway(&other.cert_pem).await;

    let customer = env.ticket_customer("T-1001").clone();
    let reply = get_customer(&env, &customer.id, &env.alice(), Some("T-1001")).await;
    assert_eq!(
        (reply.status.as_u16(), reply.error_code().as_str()),
        (502, "upstream-unreachable")
    );
    assert_eq!(front.handshakes.load(Ordering::SeqCst), 0);
    oracle::assert_no_leak(&reply.all_bytes(), &oracle::forbidden(&customer));
}

/// A keep-alive upstream that serves one customer's record for every
/// request and counts connections: accepted in all, and open at once at most.
struct CountingUpstream {
    /// Where it listens.
    addr: SocketAddr,
    /// Connections accepted.
    accepted: Arc<AtomicUsize>,
    /// Most connections open at the same time.
    peak_open: Arc<AtomicUsize>,
    /// Frees the held first request.
    release: Arc<Notify>,
    /// Requests read so far.
    requests: Arc<AtomicUsize>,
    /// The whole HTTP answer, set once the test knows its customer.
    answer: Arc<OnceLock<Vec<u8>>>,
}

impl CountingUpstream {
    async fn start(hold_first: bool) -> CountingUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let up = CountingUpstream {
            addr: listener.local_addr().unwrap(),
            accepted: Arc::new(AtomicUsize::new(0)),
            peak_open: Arc::new(AtomicUsize::new(0)),
            release: Arc::new(Notify::new()),
            requests: Arc::new(AtomicUsize::new(0)),
            answer: Arc::new(OnceLock::new()),
        };
        let open = Arc::new(AtomicUsize::new(0));
        let (accepted, peak, release, requests, answer) = (
            up.accepted.clone(),
            up.peak_open.clone(),
            up.release.clone(),
            up.requests.clone(),
            up.answer.clone(),
        );
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                accepted.fetch_add(1, Ordering::SeqCst);
                let now_open = open.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now_open, Ordering::SeqCst);
                let (open, release, requests, answer) = (
                    open.clone(),
                    release.clone(),
                    requests.clone(),
                    answer.clone(),
                );
                tokio::spawn(async move {
                    let answer = answer.get().map(Vec::as_slice).unwrap_or_default();
                    serve(stream, answer, &requests, hold_first.then_some(&*release)).await;
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        up
    }

    /// Starts a gateway in front of this upstream and has it serve the
    /// record of T-1001's customer.
    async fn behind_gateway(
        &self,
        adjust: impl FnOnce(&mut keyhole::config::Config),
    ) -> (TestEnv, Customer) {
        let url = format!("http://{}", self.addr);
        let env = TestEnv::start_with(Behaviour::Forward, |c| {
            c.upstream.url = url;
            adjust(c);
        })
        .await;
        let who = env.ticket_customer("T-1001").clone();
        let record = hostile::record_json(&who);
        let answer = hostile::keep_alive(200, "application/json", record.as_bytes());
        self.answer.set(answer).unwrap();
        (env, who)
    }
}

/// Answers each request on one connection; the very first request of the
/// upstream waits for `hold` when one is given.
async fn serve(
    mut stream: TcpStream,
    answer: &[u8],
    requests: &AtomicUsize,
    hold: Option<&Notify>,
) {
    let mut pending = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            pending.drain(..end + 4);
            if requests.fetch_add(1, Ordering::SeqCst) == 0 {
                if let Some(hold) = hold {
                    hold.notified().await;
                }
            }
            if stream.write_all(answer).await.is_err() {
                return;
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => pending.extend_from_slice(&chunk[..n]),
        }
    }
}

#[tokio::test]
async fn a_burst_never_opens_more_upstream_connections_than_allowed() {
    let up = CountingUpstream::start(false).await;
    let (env, who) = up.behind_gateway(|c| c.upstream.max_connections = 2).await;
    let bob = env.bob();
    let burst = (0..24).map(|_| get_customer(&env, &who.id, &bob, None));
    let replies = futures_util::future::join_all(burst).await;
    for reply in &replies {
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        oracle::assert_no_leak(&reply.all_bytes(), &oracle::forbidden(&who));
    }
    assert_eq!(up.requests.load(Ordering::SeqCst), 24);
    let accepted = up.accepted.load(Ordering::SeqCst);
    assert!((1..=2).contains(&accepted), "{accepted} connections opened");
    assert!(up.peak_open.load(Ordering::SeqCst) <= 2);
}

#[tokio::test]
async fn a_request_that_finds_every_connection_busy_gets_upstream_busy() {
    let up = CountingUpstream::start(true).await;
    let (env, who) = up
        .behind_gateway(|c| {
            c.upstream.max_connections = 1;
            c.upstream.queue_timeout_ms = 200;
        })
        .await;
    let env = Arc::new(env);
    // Alice's first request takes the only connection and is held there.
    let held = {
        let (env, id, token) = (env.clone(), who.id.clone(), env.alice());
        tokio::spawn(async move { get_customer(&env, &id, &token, Some("T-1001")).await })
    };
    while up.requests.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let busy = get_customer(&env, &who.id, &env.alice(), Some("T-1001")).await;
    assert_eq!(
        (busy.status.as_u16(), busy.error_code().as_str()),
        (503, "upstream-busy")
    );
    assert!(busy.json()["error"]["request_id"].as_str().is_some());
    assert!(busy.header("keyhole-disclosure").is_none());
    oracle::assert_no_leak(&busy.all_bytes(), &oracle::forbidden(&who));
    assert_eq!(
        up.requests.load(Ordering::SeqCst),
        1,
        "the busy request was never sent"
    );
    assert_eq!(
        env.admin_get("/readyz").await.0,
        200,
        "a saturated pool is not an unready upstream: the probe dials its own connection"
    );

    up.release.notify_one();
    let served = held.await.unwrap();
    assert_eq!(served.status, 200);
    let tag = &who.devices[0].service_tag;
    assert!(
        served.json().to_string().contains(tag.as_str()),
        "the held request is served in full"
    );
}

#[tokio::test]
async fn a_reload_keeps_the_pool_unless_its_connections_depend_on_the_change() {
    let env = TestEnv::start().await;
    let gateway = &env.running.gateway;
    let first = gateway.runtime();
    gateway.reload().expect("an unchanged config reloads");
    assert!(
        first.upstream.shares_pool_with(&gateway.runtime().upstream),
        "same settings: same pool, warm connections kept"
    );

    // A new fixed header applies at once and keeps the pool.
    let text = std::fs::read_to_string(&env.files.config).unwrap();
    let with_header = text.replacen(
        "[upstream.headers]\n",
        "[upstream.headers]\nx-keyhole-site = \"eu-1\"\n",
        1,
    );
    assert_ne!(
        text, with_header,
        "the config has an [upstream.headers] table"
    );
    std::fs::write(&env.files.config, &with_header).unwrap();
    gateway.reload().expect("the header change reloads");
    assert!(first.upstream.shares_pool_with(&gateway.runtime().upstream));
    let reply = env.alice_under_her_ticket().await;
    assert_eq!(reply.status, 200);
    let seen = env.recorder.seen();
    let last = seen.last().expect("the upstream saw the request");
    assert_eq!(
        last.headers.get("x-keyhole-site").map(|v| v.as_bytes()),
        Some(&b"eu-1"[..])
    );

    // A new connection cap is a new pool.
    let capped = with_header.replacen("[upstream]\n", "[upstream]\nmax_connections = 8\n", 1);
    std::fs::write(&env.files.config, capped).unwrap();
    gateway.reload().expect("the cap change reloads");
    assert!(!first.upstream.shares_pool_with(&gateway.runtime().upstream));
    let reply = env.alice_under_her_ticket().await;
    assert_eq!(reply.status, 200, "the new pool serves");
}
