//! Who is on the other end of a connection.

use std::net::SocketAddr;

/// The connection a request arrived on.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The client's socket address.
    pub addr: SocketAddr,
    /// The client's IP as text, for `X-Forwarded-For` (written once per connection).
    pub ip: String,
    /// The client's socket address as text, for the ledger (written once per connection).
    pub addr_text: String,
    /// The client certificate's organization (else common name), when mTLS is on.
    pub client_identity: Option<String>,
}

/// The vendor a client certificate speaks for: its subject's O, else its CN.
pub fn client_identity(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let org = subject
        .iter_organization()
        .next()
        .and_then(|a| a.as_str().ok());
    let cn = subject
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok());
    org.or(cn).map(str::to_string)
}
