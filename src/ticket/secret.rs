//! The webhook's shared secret file: generating one for the demo, reading one at startup.

use std::io::Write;
use std::path::Path;

use rand::RngCore;

/// Shortest secret accepted, in bytes of the trimmed secret file.
const MIN_SECRET_LEN: usize = 16;

/// Reads a secret file: its trimmed text. The error is a reason that never quotes
/// the content.
pub fn read_secret_file(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let secret = text.trim();
    if secret.len() < MIN_SECRET_LEN {
        return Err(format!("secret shorter than {MIN_SECRET_LEN} characters"));
    }
    warn_if_readable_by_others(path);
    Ok(secret.to_owned())
}

/// Writes a new random secret (32 bytes, hex) to `path`, readable by the owner only.
/// Creates missing parent directories; refuses to overwrite an existing file, so a
/// running sender's secret is never lost.
pub fn generate_secret_file(path: &Path) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(format!("{}\n", hex::encode(secret)).as_bytes())?;
    file.sync_all()
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "webhook secret file is accessible to group or others");
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ticket::webhook::Webhook;

    #[test]
    fn generated_secrets_are_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("webhook.secret");
        generate_secret_file(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim().len(), 64);
        assert!(hex::decode(text.trim()).is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(generate_secret_file(&path).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        assert!(Webhook::from_secret_file(&path, 300).is_ok());
    }

    #[test]
    fn short_secrets_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("short");
        std::fs::write(&path, "tooshort\n").unwrap();
        let err = Webhook::from_secret_file(&path, 300).err().unwrap();
        assert!(!err.to_string().contains("tooshort"));
    }
}
