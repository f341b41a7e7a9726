//! Sample API placeholder.
#![allow(missing_docs)]
pub struct SampleApiConfig { pub credential: Option<String> }
pub async fn serve(_l: tokio::net::TcpListener, _d: std::sync::Arc<tokio::sync::RwLock<super::data::DataSet>>, _c: SampleApiConfig, s: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()> { s.await; Ok(()) }
