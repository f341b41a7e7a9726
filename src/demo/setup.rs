//! Creating the demo's files once, and describing them (`demo.json`, the welcome text).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::data::DataSet;
use super::pki::{ed25519_keypair, DevCa};
use crate::config::Config;

/// The example policies, embedded so the demo works from the binary alone.
pub const POLICIES: [(&str, &str); 2] = [
    (
        "customer-records.toml",
        include_str!("../../policies/customer-records.toml"),
    ),
    ("devices.toml", include_str!("../../policies/devices.toml")),
];

/// Seed of the demo data set: the same customers on every machine.
pub const DEMO_SEED: u64 = 20_240_501;

/// The demo agents: (id, vendor).
pub const AGENTS: [(&str, &str); 2] = [
    ("alice", "northwind-support"),
    ("bob", "contoso-callcenter"),
];

/// Writes a fresh random key or secret file.
type KeyGenerator = fn(&Path) -> std::io::Result<()>;

/// Paths of the files the demo made.
pub struct DemoFiles {
    /// The demo directory, absolute.
    pub dir: PathBuf,
    /// The gateway config.
    pub config: PathBuf,
    /// The CA certificate agents trust.
    pub ca_cert: PathBuf,
    /// The synthetic data set.
    pub data: PathBuf,
    /// The tickets file.
    pub tickets: PathBuf,
    /// The sample API's bearer credential.
    pub upstream_credential: PathBuf,
}

/// A demo file problem.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A file could not be written or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The demo directory names something that is not a directory.
    #[error("{}: exists and is not a directory; pass --dir with a new or demo directory", .0.display())]
    NotADirectory(PathBuf),
    /// Certificate or key generation failed.
    #[error("generating keys: {0}")]
    Keys(#[from] rcgen::Error),
    /// A JSON file could not be read.
    #[error("{}: {reason}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Minting an agent token failed.
    #[error("minting agent tokens: {0}")]
    Mint(#[from] crate::authenticate::MintError),
}

fn write(path: &Path, contents: &str) -> Result<(), SetupError> {
    let io = |source| SetupError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(path, contents).map_err(io)
}

fn write_secret(path: &Path, contents: &str) -> Result<(), SetupError> {
    write(path, contents)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|source| {
        SetupError::Io {
            path: path.to_path_buf(),
            source,
        }
    })
}

fn io_at(path: &Path) -> impl Fn(std::io::Error) -> SetupError + '_ {
    move |source| SetupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates whatever is missing in `dir`, and (re)writes the config for these ports.
pub fn prepare(
    dir: &Path,
    customers: usize,
    port: u16,
    upstream_port: u16,
) -> Result<DemoFiles, SetupError> {
    if dir.exists() && !dir.is_dir() {
        return Err(SetupError::NotADirectory(dir.to_path_buf()));
    }
    std::fs::create_dir_all(dir).map_err(io_at(dir))?;
    let dir = dir.canonicalize().map_err(io_at(dir))?;
    let files = DemoFiles {
        config: dir.join("keyhole.toml"),
        ca_cert: dir.join("certs/ca.pem"),
        data: dir.join("customers.json"),
        tickets: dir.join("tickets.json"),
        upstream_credential: dir.join("keys/upstream.credential"),
        dir,
    };
    let d = &files.dir;
    if !files.ca_cert.exists() {
        let ca = DevCa::new("Keyhole demo CA (development only)")?;
        let server = ca.server(&["127.0.0.1", "localhost"])?;
        write_secret(&d.join("certs/server.key"), &server.key_pem)?;
        write(&d.join("certs/server.pem"), &server.cert_pem)?;
        write(&files.ca_cert, &ca.cert_pem)?;
    }
    if !d.join("keys/agent-signing.pem").exists() {
        let (private, public) = ed25519_keypair()?;
        write_secret(&d.join("keys/agent-signing.pem"), &private)?;
        write(&d.join("keys/agent-signing.pub.pem"), &public)?;
    }
    let generated: [(&str, KeyGenerator); 3] = [
        ("keys/token-k1.key", crate::token::generate_key_file),
        ("keys/ledger.key", crate::ledger::generate_key_file),
        ("keys/webhook.secret", crate::ticket::generate_secret_file),
    ];
    for (name, generate) in generated {
        let path = d.join(name);
        if !path.exists() {
            generate(&path).map_err(io_at(&path))?;
        }
    }
    if !files.upstream_credential.exists() {
        let credential = hex::encode(rand::random::<[u8; 24]>());
        write_secret(&files.upstream_credential, &credential)?;
    }
    if !files.data.exists() {
        let data = DataSet::generate(DEMO_SEED, customers.max(3));
        let text = serde_json::to_string(&data.customers).map_err(|e| SetupError::Json {
            path: files.data.clone(),
            reason: e.to_string(),
        })?;
        write(&files.data, &text)?;
    }
    if !files.tickets.exists() {
        write(&files.tickets, &demo_tickets(&load_data(&files.data)?))?;
    }
    for (name, text) in POLICIES {
        let path = d.join("policies").join(name);
        if !path.exists() {
            write(&path, text)?;
        }
    }
    write(&files.config, &config_text(port, upstream_port, &files)?)?;
    Ok(files)
}

/// Reads a data set written by [`prepare`].
pub fn load_data(path: &Path) -> Result<DataSet, SetupError> {
    let text = std::fs::read_to_string(path).map_err(io_at(path))?;
    let customers = serde_json::from_str(&text).map_err(|e| SetupError::Json {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(DataSet { customers })
}

/// Picks demo customers whose records show every feature: devices, and notes quoting a tag.
fn showcase_customers(data: &DataSet) -> Vec<usize> {
    let rich = |c: &super::data::Customer| {
        c.service_history.iter().any(|case| {
            c.devices
                .iter()
                .any(|d| case.notes.contains(&d.service_tag))
        })
    };
    let mut picked: Vec<usize> = (0..data.customers.len())
        .filter(|i| rich(&data.customers[*i]))
        .take(3)
        .collect();
    for i in 0..data.customers.len() {
        if picked.len() >= 3 {
            break;
        }
        if !picked.contains(&i) {
            picked.push(i);
        }
    }
    picked
}

fn demo_tickets(data: &DataSet) -> String {
    let picked = showcase_customers(data);
    let c = |i: usize| data.customers[picked[i]].id.clone();
    let expires = (chrono::Utc::now() + chrono::Duration::days(365)).to_rfc3339();
    let tickets = json!([
        {"id": "T-1001", "status": "open", "assignee": "alice", "customer_id": c(0), "category": "hardware", "expires_at": expires},
        {"id": "T-1002", "status": "open", "assignee": "alice", "customer_id": c(1), "category": "dispatch", "expires_at": expires},
        {"id": "T-1003", "status": "closed", "assignee": "alice", "customer_id": c(2), "category": "hardware", "expires_at": expires},
    ]);
    serde_json::to_string_pretty(&tickets).unwrap_or_default()
}

fn config_text(port: u16, upstream_port: u16, files: &DemoFiles) -> Result<String, SetupError> {
    let credential = std::fs::read_to_string(&files.upstream_credential)
        .map_err(io_at(&files.upstream_credential))?;
    let admin_port = if port == 0 { 0 } else { port.wrapping_add(1) };
    Ok(format!(
        r#"# Keyhole demo configuration, written by `keyhole demo`.
# An ordinary config: `keyhole serve --config keyhole.toml` runs it as it is
# (start the sample API first: `keyhole sample-api --data customers.json --listen 127.0.0.1:{upstream_port} --credential-file keys/upstream.credential`).

[listen]
address = "127.0.0.1:{port}"
cert = "certs/server.pem"
key = "certs/server.key"

[admin]
address = "127.0.0.1:{admin_port}"

[upstream]
url = "http://127.0.0.1:{upstream_port}"

[upstream.headers]
authorization = "Bearer {credential}"

[auth]
issuer = "keyhole-demo"
audience = "keyhole"

[[auth.keys]]
kid = "demo-ed25519"
algorithm = "EdDSA"
public_key = "keys/agent-signing.pub.pem"
private_key = "keys/agent-signing.pem"

[policies]
dir = "policies"

[tickets]
file = "tickets.json"
webhook_secret_file = "keys/webhook.secret"

[budget]
customers_per_agent_per_hour = 50

[tokens]
active = "k1"

[[tokens.keys]]
id = "k1"
file = "keys/token-k1.key"

[ledger]
dir = "ledger"
key_file = "keys/ledger.key"

[telemetry]
log_format = "text"
"#,
        credential = credential.trim()
    ))
}

/// Writes `demo.json` (fresh agent tokens every run) and returns its contents.
pub fn write_demo_json(
    files: &DemoFiles,
    config: &Config,
    gateway: SocketAddr,
    admin: SocketAddr,
    upstream: SocketAddr,
) -> Result<serde_json::Value, SetupError> {
    let ttl = std::time::Duration::from_secs(8 * 3600);
    let mut agents = Vec::new();
    for (id, vendor) in AGENTS {
        let token = crate::authenticate::mint(&config.auth, id, vendor, ttl)?;
        agents.push(json!({"id": id, "vendor": vendor, "token": token}));
    }
    let tickets_text = std::fs::read_to_string(&files.tickets).map_err(io_at(&files.tickets))?;
    let tickets: serde_json::Value =
        serde_json::from_str(&tickets_text).map_err(|e| SetupError::Json {
            path: files.tickets.clone(),
            reason: e.to_string(),
        })?;
    let demo = json!({
        "gateway": format!("https://{gateway}"),
        "ca_cert": files.ca_cert,
        "upstream": config.upstream.url,
        "admin": format!("http://{admin}"),
        "config": files.config,
        "ledger_dir": config.ledger.dir,
        "tickets_file": files.tickets,
        "agents": agents,
        "tickets": tickets,
        "upstream_port": upstream.port(),
    });
    let text = serde_json::to_string_pretty(&demo).unwrap_or_default();
    write(&files.dir.join("demo.json"), &text)?;
    Ok(demo)
}

/// Prints the ready-to-paste curl commands.
pub fn print_welcome(demo: &serde_json::Value, files: &DemoFiles) {
    let gateway = demo["gateway"].as_str().unwrap_or_default();
    let ca = files.ca_cert.display();
    let token = |i: usize| {
        demo["agents"][i]["token"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let customer = demo["tickets"][0]["customer_id"]
        .as_str()
        .unwrap_or_default();
    println!("Keyhole demo is running (Ctrl-C to stop).");
    println!("  gateway  {gateway}");
    println!("  admin    {}", demo["admin"].as_str().unwrap_or_default());
    println!(
        "  files    {}   (demo.json describes them)",
        files.dir.display()
    );
    println!();
    println!("Alice works ticket T-1001 (hardware) for customer {customer}: she sees its service tags in the clear.");
    println!(
        "  curl --cacert {ca} -H 'Authorization: Bearer {}' -H 'X-Ticket-Id: T-1001' {gateway}/customers/{customer}",
        token(0)
    );
    println!();
    println!("Bob has no ticket: the same customer, masked and tokenized.");
    println!(
        "  curl --cacert {ca} -H 'Authorization: Bearer {}' {gateway}/customers/{customer}",
        token(1)
    );
    println!();
    println!("Every clear disclosure is in the ledger:");
    println!(
        "  keyhole audit verify {}",
        demo["ledger_dir"].as_str().unwrap_or_default()
    );
}
