//! The `[tickets]` config section: which source, its limits, and the webhook.

use std::path::{Path, PathBuf};

use crate::config::{resolve_path, Invalid};

/// Longest cache TTL accepted: revocation of pulled tickets lags by up to this much.
const MAX_CACHE_TTL_MS: u64 = 30_000;

/// Where tickets are read from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// A local JSON or TOML file, reloaded on change.
    #[default]
    File,
    /// The ticketing system's HTTP API, `GET <url>/<id>`.
    Http,
}

/// `[tickets]`: the ticket source and how tickets justify disclosure.
#[derive(Debug, Clone, serde::Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TicketsConfig {
    /// `"file"` (default) or `"http"`.
    pub source: SourceKind,
    /// The tickets file: JSON (a list, or `{"tickets": [...]}`) or TOML (`[[ticket]]`
    /// tables), chosen by extension.
    pub file: PathBuf,
    /// How often the tickets file's metadata is checked for a change.
    pub reload_interval_ms: u64,
    /// `[tickets.http]`: the ticketing system's API.
    pub http: HttpSourceConfig,
    /// Shared HMAC secret (text) for the webhook; the webhook is disabled when unset.
    pub webhook_secret_file: Option<PathBuf>,
    /// How far a delivery's `sent_at` may be from our clock, either way.
    pub webhook_max_skew_secs: u64,
    /// How many pushed tickets are remembered; the least recently used fall back to the source.
    pub webhook_max_tickets: u64,
    /// Whether a `pending` ticket justifies disclosure like an `open` one.
    pub allow_pending: bool,
    /// Declared ticket categories (empty = undeclared); lets `policy check` catch typos.
    pub categories: Vec<String>,
}

impl Default for TicketsConfig {
    fn default() -> Self {
        TicketsConfig {
            source: SourceKind::File,
            file: PathBuf::from("tickets.json"),
            reload_interval_ms: 1000,
            http: HttpSourceConfig::default(),
            webhook_secret_file: None,
            webhook_max_skew_secs: 300,
            webhook_max_tickets: 100_000,
            allow_pending: false,
            categories: Vec::new(),
        }
    }
}

/// `[tickets.http]`: pulling tickets from the ticketing system's API.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSourceConfig {
    /// Base URL; a ticket is fetched from `<url>/<percent-encoded id>`.
    pub url: String,
    /// Whole-request deadline (connect, headers and body); past it the ticket is unavailable.
    pub timeout_ms: u64,
    /// How long a found ticket is reused; revocation of pulled tickets lags by this much.
    pub cache_ttl_ms: u64,
    /// How long a "no such ticket" answer is reused.
    pub negative_ttl_ms: u64,
    /// Most tickets kept in the cache.
    pub max_entries: u64,
    /// Optional file holding a bearer token sent to the API.
    pub token_file: Option<PathBuf>,
    /// Optional PEM bundle of CAs trusted for an `https` URL instead of the public roots.
    pub ca_file: Option<PathBuf>,
}

impl Default for HttpSourceConfig {
    fn default() -> Self {
        HttpSourceConfig {
            url: String::new(),
            timeout_ms: 1000,
            cache_ttl_ms: 3000,
            negative_ttl_ms: 1000,
            max_entries: 100_000,
            token_file: None,
            ca_file: None,
        }
    }
}

impl TicketsConfig {
    /// Resolves every path against the config file's directory.
    pub fn resolve_paths(&mut self, base: &Path) {
        self.file = resolve_path(base, &self.file);
        for path in [
            &mut self.webhook_secret_file,
            &mut self.http.token_file,
            &mut self.http.ca_file,
        ]
        .into_iter()
        .flatten()
        {
            *path = resolve_path(base, path);
        }
    }

    /// Checks values that cannot be expressed in types.
    pub fn validate(&self) -> Result<(), Invalid> {
        match self.source {
            SourceKind::File => self.validate_file()?,
            SourceKind::Http => self.http.validate()?,
        }
        if let Some(path) = &self.webhook_secret_file {
            non_empty_path("tickets.webhook_secret_file", path)?;
        }
        in_range(
            "tickets.webhook_max_skew_secs",
            self.webhook_max_skew_secs,
            1,
            3600,
        )?;
        in_range(
            "tickets.webhook_max_tickets",
            self.webhook_max_tickets,
            1,
            u64::MAX,
        )?;
        validate_categories(&self.categories)
    }

    fn validate_file(&self) -> Result<(), Invalid> {
        non_empty_path("tickets.file", &self.file)?;
        in_range(
            "tickets.reload_interval_ms",
            self.reload_interval_ms,
            10,
            60_000,
        )
    }
}

impl HttpSourceConfig {
    fn validate(&self) -> Result<(), Invalid> {
        validate_url(&self.url)?;
        in_range("tickets.http.timeout_ms", self.timeout_ms, 1, 60_000)?;
        in_range(
            "tickets.http.cache_ttl_ms",
            self.cache_ttl_ms,
            0,
            MAX_CACHE_TTL_MS,
        )?;
        in_range(
            "tickets.http.negative_ttl_ms",
            self.negative_ttl_ms,
            0,
            MAX_CACHE_TTL_MS,
        )?;
        in_range("tickets.http.max_entries", self.max_entries, 1, u64::MAX)?;
        if let Some(path) = &self.token_file {
            non_empty_path("tickets.http.token_file", path)?;
        }
        if let Some(path) = &self.ca_file {
            non_empty_path("tickets.http.ca_file", path)?;
        }
        Ok(())
    }
}

fn validate_url(url: &str) -> Result<(), Invalid> {
    const KEY: &str = "tickets.http.url";
    if url.is_empty() {
        return Err(Invalid::new(KEY, "required when tickets.source = \"http\""));
    }
    let uri: http::Uri = url
        .parse()
        .map_err(|_| Invalid::new(KEY, "not a valid URL"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(Invalid::new(KEY, "must start with http:// or https://")),
    }
    if uri.authority().is_none() {
        return Err(Invalid::new(KEY, "must name a host"));
    }
    if uri.query().is_some() {
        return Err(Invalid::new(KEY, "must not carry a query string"));
    }
    Ok(())
}

fn validate_categories(categories: &[String]) -> Result<(), Invalid> {
    let mut seen = std::collections::HashSet::new();
    for category in categories {
        if category.trim().is_empty() {
            return Err(Invalid::new("tickets.categories", "empty category name"));
        }
        if !seen.insert(category.as_str()) {
            return Err(Invalid::new(
                "tickets.categories",
                format!("category {category:?} is declared twice"),
            ));
        }
    }
    Ok(())
}

fn in_range(key: &str, value: u64, min: u64, max: u64) -> Result<(), Invalid> {
    if value < min || value > max {
        let reason = if max == u64::MAX {
            format!("must be at least {min}")
        } else {
            format!("must be between {min} and {max}")
        };
        return Err(Invalid::new(key, reason));
    }
    Ok(())
}

fn non_empty_path(key: &str, path: &Path) -> Result<(), Invalid> {
    if path.as_os_str().is_empty() {
        return Err(Invalid::new(key, "must not be empty"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> TicketsConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn defaults_are_a_valid_file_source() {
        let cfg = parse("");
        assert_eq!(cfg.source, SourceKind::File);
        assert_eq!(cfg.file, PathBuf::from("tickets.json"));
        assert_eq!(cfg.http.timeout_ms, 1000);
        assert!(cfg.http.cache_ttl_ms <= 5000);
        assert_eq!(cfg.webhook_max_skew_secs, 300);
        assert!(!cfg.allow_pending);
        cfg.validate().unwrap();
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<TicketsConfig>("sorce = \"file\"").is_err());
        assert!(toml::from_str::<TicketsConfig>("[http]\nttl = 3").is_err());
    }

    #[test]
    fn http_source_needs_a_usable_url() {
        let err = parse("source = \"http\"").validate().unwrap_err();
        assert_eq!(err.key, "tickets.http.url");
        let err = parse("source = \"http\"\n[http]\nurl = \"ftp://x/t\"")
            .validate()
            .unwrap_err();
        assert_eq!(err.key, "tickets.http.url");
        parse("source = \"http\"\n[http]\nurl = \"https://tickets.example/api/tickets\"")
            .validate()
            .unwrap();
    }

    #[test]
    fn long_cache_ttl_is_refused() {
        let cfg = parse("source = \"http\"\n[http]\nurl = \"http://t\"\ncache_ttl_ms = 600000");
        assert_eq!(cfg.validate().unwrap_err().key, "tickets.http.cache_ttl_ms");
    }

    #[test]
    fn duplicate_categories_are_refused() {
        let cfg = parse("categories = [\"hardware\", \"hardware\"]");
        assert_eq!(cfg.validate().unwrap_err().key, "tickets.categories");
    }

    #[test]
    fn relative_paths_resolve_against_the_config_dir() {
        let mut cfg = parse("webhook_secret_file = \"secret\"\n[http]\nca_file = \"/etc/ca.pem\"");
        cfg.resolve_paths(Path::new("/srv/keyhole"));
        assert_eq!(cfg.file, PathBuf::from("/srv/keyhole/tickets.json"));
        assert_eq!(
            cfg.webhook_secret_file,
            Some(PathBuf::from("/srv/keyhole/secret"))
        );
        assert_eq!(cfg.http.ca_file, Some(PathBuf::from("/etc/ca.pem")));
    }
}
