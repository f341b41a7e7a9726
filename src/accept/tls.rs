//! rustls configuration: TLS 1.2 and 1.3 only, ALPN h2 and http/1.1, optional client certificates.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct TlsSetupError {
    /// The file at fault.
    pub path: std::path::PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let err = |reason: String| TlsSetupError {
        path: path.to_path_buf(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    pem_certs(&pem).map_err(err)
}

/// The certificates in a PEM bundle; at least one.
fn pem_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("no certificate in file".into());
    }
    Ok(certs)
}

fn roots(path: &Path) -> Result<RootCertStore, TlsSetupError> {
    let certs = certs(path)?;
    trust(certs).map_err(|reason| TlsSetupError {
        path: path.to_path_buf(),
        reason,
    })
}

/// A root store trusting exactly `certs`.
fn trust(certs: Vec<CertificateDer<'static>>) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    for cert in certs {
        store.add(cert).map_err(|e| e.to_string())?;
    }
    Ok(store)
}

/// The agent-facing server configuration.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<ServerConfig>, TlsSetupError> {
    let chain = certs(cert)?;
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsSetupError {
        path: key.to_path_buf(),
        reason: e.to_string(),
    })?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsSetupError {
            path: cert.to_path_buf(),
            reason: e.to_string(),
        })?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca)?), provider())
                    .build()
                    .map_err(|e| TlsSetupError {
                        path: ca.to_path_buf(),
                        reason: e.to_string(),
                    })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key_der)
        .map_err(|e| TlsSetupError {
            path: key.to_path_buf(),
            reason: e.to_string(),
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The upstream client configuration: a private CA when given, else the public web roots.
pub fn client_config(ca: Option<&Path>) -> Result<ClientConfig, String> {
    let pem = ca
        .map(std::fs::read)
        .transpose()
        .map_err(|e| e.to_string())?;
    client_config_from_pem(pem.as_deref())
}

/// [`client_config`] from a CA bundle already read into memory (PEM), for a
/// caller that also compares the bundle's bytes.
pub fn client_config_from_pem(ca_pem: Option<&[u8]>) -> Result<ClientConfig, String> {
    let store = match ca_pem {
        Some(pem) => trust(pem_certs(pem)?)?,
        None => RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        },
    };
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(config)
}
