//! Helpers for the policy tooling tests: a config, policies and tickets in a
//! temp dir, and the real `keyhole` binary run against them.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The config every fixture starts from; `{extra}` is appended to `[tickets]`.
const CONFIG: &str = r#"
[listen]
address = "127.0.0.1:8443"
cert = "unused/server.pem"
key = "unused/server.key"

[upstream]
url = "http://127.0.0.1:9"

[auth]
issuer = "keyhole-policy-tests"
audience = "keyhole"

[[auth.keys]]
algorithm = "EdDSA"
public_key = "unused/agent-signing.pub.pem"

[policies]
dir = "policies"

[tickets]
file = "tickets.json"
"#;

/// Tickets the fixtures refer to by id.
const TICKETS: &str = r#"[
  {"id": "T-1", "status": "open",   "assignee": "alice", "customer_id": "C-1", "category": "hardware"},
  {"id": "T-2", "status": "closed", "assignee": "alice", "customer_id": "C-1", "category": "hardware"}
]"#;

/// A policy with one route, used where the policy itself is not the subject.
pub const CUSTOMER_POLICY: &str = r#"[policy]
name = "customers"

[[route]]
methods = ["GET"]
path = "/customers/{customer}"
customer = ["{customer}", "id"]

[route.fields]
"id"                     = "pass"
"email"                  = { action = "mask", keep_first = 1, justify = ["account"] }
"phone"                  = { action = "mask", keep_last = 2, justify = ["dispatch"] }
"devices[*].service_tag" = { action = "tokenize", justify = ["hardware"] }
"notes"                  = { action = "redact", justify = ["hardware"] }

[[detector]]
name = "phone"
pattern = '\+?[0-9]{1,3}-[0-9]{3}-[0-9]{3}-[0-9]{4}'
action = "mask"
keep_last = 2
justify = ["dispatch"]
"#;

/// A policy on a route whose customer comes from the record.
pub const DEVICE_POLICY: &str = r#"[policy]
name = "devices"

[[route]]
methods = ["GET"]
path = "/devices/{tag}"
customer = "customer_id"

[route.fields]
"customer_id" = "pass"
"service_tag" = { action = "tokenize", justify = ["hardware"] }
"#;

/// A temp dir holding `keyhole.toml`, `tickets.json` and `policies/`.
pub struct Fixture {
    /// Keeps the files alive.
    pub dir: tempfile::TempDir,
}

impl Fixture {
    /// A fixture with these policy files (name, text) and extra `[tickets]` lines.
    pub fn new(policies: &[(&str, &str)], tickets_extra: &str) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir(root.join("policies")).expect("policies dir");
        std::fs::write(
            root.join("keyhole.toml"),
            format!("{CONFIG}{tickets_extra}\n"),
        )
        .expect("config");
        std::fs::write(root.join("tickets.json"), TICKETS).expect("tickets");
        for (name, text) in policies {
            std::fs::write(root.join("policies").join(name), text).expect("policy");
        }
        Fixture { dir }
    }

    /// The config file.
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("keyhole.toml")
    }

    /// A path inside the fixture.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Writes a file inside the fixture, creating its directory.
    pub fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.path(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("dir");
        }
        std::fs::write(&path, text).expect("write");
        path
    }
}

/// What a run of the binary printed.
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `keyhole <args>`.
pub fn keyhole(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_keyhole"))
        .args(args)
        .output()
        .expect("run keyhole");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A path as a command-line argument.
pub fn arg(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// 1-based line of the first line of `text` containing `needle`.
pub fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle:?} not in text"))
}

/// The repository root (for the shipped policies and cases).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
