//! The real `keyhole serve` as a child process, in front of the demo's files
//! and a recording upstream: for tests that kill it, pin it or signal it.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use keyhole::config::Config;
use keyhole::demo::data::DataSet;
use keyhole::demo::setup::DemoFiles;

use super::{Behaviour, Client, Recorder};

/// The demo's files for a gateway on port 0 (each start binds a port of its
/// own, so no other socket can take it first), with the sample API behind a
/// forwarding recorder already running.
pub struct ServedDemo {
    /// Keeps the files alive.
    pub dir: tempfile::TempDir,
    /// The demo files.
    pub files: DemoFiles,
    /// The config as written.
    pub config: Config,
    /// The data set the upstream serves.
    pub data: DataSet,
    /// The customer of alice's ticket `T-1001`.
    pub ticket_customer: String,
    /// Keeps the upstream up.
    _recorder: Recorder,
}

impl ServedDemo {
    /// Writes the demo's files for `customers` customers and starts the upstream.
    pub async fn prepare(customers: usize) -> ServedDemo {
        let dir = tempfile::tempdir().unwrap();
        let recorder_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream_port = recorder_listener.local_addr().unwrap().port();
        let files = keyhole::demo::setup::prepare(dir.path(), customers, 0, upstream_port).unwrap();
        let data = keyhole::demo::setup::load_data(&files.data).unwrap();
        let credential = std::fs::read_to_string(&files.upstream_credential).unwrap();
        let api =
            super::upstream::start_sample_api(data.clone(), credential.trim().to_string()).await;
        let recorder = Recorder::start(recorder_listener, Behaviour::Forward, api);
        let config = Config::load(&files.config).unwrap();
        let ticket_customer = super::ticket_customer_id(&files, "T-1001");
        ServedDemo {
            dir,
            files,
            config,
            data,
            ticket_customer,
            _recorder: recorder,
        }
    }

    /// `Authorization` for a fresh JWT of `agent` at `vendor`.
    pub fn bearer(&self, agent: &str, vendor: &str) -> String {
        super::bearer(&super::agent_token(&self.config, agent, vendor))
    }

    /// The URL of the ticket customer's record at a gateway on `port`.
    pub fn record_url(&self, port: u16) -> String {
        format!(
            "https://127.0.0.1:{port}/customers/{}",
            self.ticket_customer
        )
    }

    /// Starts `keyhole serve` on the config, on the one CPU `cpu` if given.
    pub fn spawn(&self, cpu: Option<usize>) -> Serving {
        spawn_serve(&self.files.config, cpu)
    }
}

/// A `keyhole serve` process that has bound its port.
pub struct Serving {
    /// The process.
    pub child: Child,
    /// The port it listens on.
    pub port: u16,
}

/// Starts `keyhole serve --config config`, confined to CPU `cpu` if given, and
/// waits for its "keyhole listening" log line to learn the port it bound.
pub fn spawn_serve(config: &Path, cpu: Option<usize>) -> Serving {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keyhole"));
    command
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(cpu) = cpu {
        // SAFETY: between fork and exec the closure only calls the
        // async-signal-safe sched_setaffinity on a set on its own stack.
        unsafe {
            command.pre_exec(move || {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(cpu, &mut set);
                if libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = command.spawn().expect("spawn keyhole serve");
    let stderr = child.stderr.take().expect("piped stderr");
    let (bound, port) = mpsc::channel();
    // The log is read to its end, so the process never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut lines = BufReader::new(stderr).lines();
        let started = loop {
            match lines.next() {
                Some(Ok(line)) => match listening_port(&line) {
                    Some(port) => break Ok(port),
                    None => seen.push(line),
                },
                _ => break Err(seen.join("\n")),
            }
        };
        let _ = bound.send(started);
        lines.for_each(drop);
    });
    match port.recv_timeout(Duration::from_secs(30)) {
        Ok(Ok(port)) => Serving { child, port },
        Ok(Err(log)) => panic!("keyhole serve did not start:\n{log}"),
        Err(_) => panic!("keyhole serve did not report its port"),
    }
}

/// The gateway's port in a `keyhole listening addr=127.0.0.1:PORT …` line.
fn listening_port(line: &str) -> Option<u16> {
    let (_, rest) = line.split_once("keyhole listening addr=")?;
    let addr = rest.split_whitespace().next()?;
    addr.parse::<std::net::SocketAddr>().ok().map(|a| a.port())
}

/// The first CPU this process may run on.
pub fn first_allowed_cpu() -> usize {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity writes at most its size.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    assert_eq!(rc, 0, "sched_getaffinity");
    (0..libc::CPU_SETSIZE as usize)
        .find(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .expect("some CPU is allowed")
}

/// Waits until the gateway answers `url` at all.
pub async fn wait_ready(client: &Client, url: &str, auth: &str) {
    for _ in 0..200 {
        if client
            .try_send(http::Method::GET, url, &[("authorization", auth)], "")
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("keyhole serve did not come up");
}
