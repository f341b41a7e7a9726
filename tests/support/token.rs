//! Key files and `[tokens]` configs on disk for the token tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use keyhole::token::{generate_key_file, Holder, TokenVault, TokensConfig};

pub const ALICE: Holder<'static> = Holder {
    agent: "alice",
    vendor: "acme",
};
pub const ALICE_AT_GLOBEX: Holder<'static> = Holder {
    agent: "alice",
    vendor: "globex",
};
pub const BOB: Holder<'static> = Holder {
    agent: "bob",
    vendor: "acme",
};
pub const CAROL: Holder<'static> = Holder {
    agent: "carol",
    vendor: "globex",
};

/// Where the key file for `id` lives under a config directory.
pub fn key_path(dir: &Path, id: &str) -> PathBuf {
    dir.join("keys").join(format!("token-{id}.key"))
}

/// Generates the key file for `id` under `dir`.
pub fn generate(dir: &Path, id: &str) {
    generate_key_file(&key_path(dir, id)).expect("generate key file");
}

/// Parses a `[tokens]` section naming `keys` as `(id, retired)` with relative
/// file paths, and resolves them against `dir` as the config loader does.
pub fn config(dir: &Path, active: &str, keys: &[(&str, bool)]) -> TokensConfig {
    let mut text = format!("active = \"{active}\"\n");
    for (id, retired) in keys {
        text.push_str(&format!(
            "[[keys]]\nid = \"{id}\"\nfile = \"keys/token-{id}.key\"\nretired = {retired}\n"
        ));
    }
    let mut cfg: TokensConfig = toml::from_str(&text).expect("tokens config");
    cfg.resolve_paths(dir);
    cfg
}

/// Loads a vault from freshly parsed config, as a restart would.
pub fn vault(dir: &Path, active: &str, keys: &[(&str, bool)]) -> TokenVault {
    TokenVault::load(&config(dir, active, keys)).expect("load vault")
}

/// A directory with one generated key `k1`, and the vault using it.
pub fn single_key() -> (tempfile::TempDir, TokenVault) {
    let dir = tempfile::tempdir().expect("tempdir");
    generate(dir.path(), "k1");
    let vault = vault(dir.path(), "k1", &[("k1", false)]);
    (dir, vault)
}
