//! A bounded pool of HTTP/1.1 connections to the one upstream.
//!
//! At most `max_connections` exist at once: every exchange holds a slot from
//! the start of checkout until its connection is back in the pool or closed,
//! and a new connection is dialled only when no idle one is left, so busy
//! plus idle never exceeds the slots. A burst of agents therefore queues in
//! Keyhole instead of opening a connection each on the customer API, and the
//! memory those connections cost is bounded with them.
//!
//! A connection returns to the pool only through [`Lease::keep`], after its
//! response was read to the end. A lease dropped early (timeout, body over
//! the limit, error) closes its connection, so no half-read response is ever
//! handed to the next request.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use tokio::sync::{Semaphore, SemaphorePermit};

use super::connect::{Connector, Sender};
use super::UpstreamError;

/// The pool: connector, slots and the idle connections.
pub(super) struct Pool {
    /// Shared with the idle reaper, which holds it weakly.
    shared: Arc<Shared>,
}

struct Shared {
    /// Opens new connections.
    connector: Connector,
    /// One permit per connection that may exist.
    slots: Semaphore,
    /// Idle connections, oldest first (each is pushed when it goes idle).
    idle: Mutex<Vec<Idle>>,
    /// Idle connections older than this are closed.
    idle_timeout: Duration,
}

/// A connection waiting for its next request.
struct Idle {
    /// Its sending half.
    sender: Sender,
    /// When it went idle.
    since: Instant,
}

/// A connection lent to one exchange, with the slot it occupies.
pub(super) struct Lease<'a> {
    /// The connection.
    sender: Sender,
    /// The pool it goes back to.
    shared: &'a Shared,
    /// Released when the lease ends, whether the connection is kept or closed.
    _slot: SemaphorePermit<'a>,
}

impl Pool {
    /// A pool of at most `max_connections`. Inside a Tokio runtime it also
    /// starts a task that closes connections idle beyond `idle_timeout`.
    pub(super) fn new(
        connector: Connector,
        max_connections: usize,
        idle_timeout: Duration,
    ) -> Pool {
        let shared = Arc::new(Shared {
            connector,
            slots: Semaphore::new(max_connections),
            idle: Mutex::new(Vec::new()),
            idle_timeout,
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(reap_idle(Arc::downgrade(&shared)));
        }
        Pool { shared }
    }

    /// Sends `req` on a pooled or new connection. Waiting for a free slot
    /// ends at `queue_until` with [`UpstreamError::Busy`]: the upstream was not asked.
    pub(super) async fn send(
        &self,
        req: Request<Full<Bytes>>,
        queue_until: tokio::time::Instant,
    ) -> Result<(Response<Incoming>, Lease<'_>), UpstreamError> {
        let shared = &*self.shared;
        let slot = tokio::time::timeout_at(queue_until, shared.slots.acquire())
            .await
            .map_err(|_| UpstreamError::Busy)?
            .map_err(|_| UpstreamError::Unreachable)?;
        let (mut sender, reused) = shared.checkout().await?;
        let response = match sender.try_send_request(req).await {
            Ok(response) => response,
            // A pooled connection the upstream closed while it sat idle: the
            // request was never written, so it is safe to send on a new one.
            Err(mut e) if reused && e.message().is_some() => {
                let req = e.take_message().ok_or(UpstreamError::Unreachable)?;
                sender = shared.connector.connect().await?;
                sender
                    .send_request(req)
                    .await
                    .map_err(|_| UpstreamError::Unreachable)?
            }
            Err(_) => return Err(UpstreamError::Unreachable),
        };
        let lease = Lease {
            sender,
            shared,
            _slot: slot,
        };
        Ok((response, lease))
    }

    /// Connections open and idle right now.
    #[cfg(test)]
    fn idle_count(&self) -> usize {
        self.shared.lock_idle().len()
    }
}

impl Shared {
    /// The newest live idle connection, or a new one. `true` when reused.
    async fn checkout(&self) -> Result<(Sender, bool), UpstreamError> {
        loop {
            let Some(mut idle) = self.lock_idle().pop() else {
                return Ok((self.connector.connect().await?, false));
            };
            if idle.sender.is_closed() || idle.since.elapsed() >= self.idle_timeout {
                continue;
            }
            // Becomes ready once the connection task has finished the last
            // exchange; fails if the upstream closed it meanwhile.
            if idle.sender.ready().await.is_ok() {
                return Ok((idle.sender, true));
            }
        }
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        // Nothing is left half-done under this lock, so a poisoned one is still sound.
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Closes connections idle for `idle_timeout` or longer (the oldest are first).
    fn close_expired(&self) {
        let mut idle = self.lock_idle();
        let expired = idle
            .iter()
            .take_while(|c| c.since.elapsed() >= self.idle_timeout)
            .count();
        idle.drain(..expired);
    }
}

impl Lease<'_> {
    /// Returns the connection to the pool: call only once its response body
    /// has been read to the end.
    pub(super) fn keep(self) {
        if self.sender.is_closed() {
            return;
        }
        self.shared.lock_idle().push(Idle {
            sender: self.sender,
            since: Instant::now(),
        });
    }
}

/// Closes expired idle connections until the pool is dropped.
async fn reap_idle(shared: Weak<Shared>) {
    let period = match shared.upgrade() {
        Some(s) => (s.idle_timeout / 2).max(Duration::from_millis(100)),
        None => return,
    };
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match shared.upgrade() {
            Some(s) => s.close_expired(),
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A keep-alive HTTP/1.1 server that answers every request with "ok" and
    /// counts the connections it accepted.
    async fn counting_server() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut seen = Vec::new();
                    loop {
                        let Ok(n) = s.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        seen.extend_from_slice(&buf[..n]);
                        while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                            seen.drain(..end + 4);
                            let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                            if s.write_all(reply).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (addr, accepted)
    }

    fn pool_for(addr: std::net::SocketAddr, max: usize, idle: Duration) -> Pool {
        let uri: http::Uri = format!("http://{addr}").parse().unwrap();
        let tls = crate::accept::tls::client_config(None).unwrap();
        Pool::new(
            Connector::new(&uri, tls, Duration::from_secs(2)).unwrap(),
            max,
            idle,
        )
    }

    fn get() -> Request<Full<Bytes>> {
        Request::get("/")
            .header("host", "x")
            .body(Full::new(Bytes::new()))
            .unwrap()
    }

    async fn exchange(pool: &Pool) -> Result<Bytes, UpstreamError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let (response, lease) = pool.send(get(), deadline).await?;
        let body = response.into_body().collect().await.unwrap().to_bytes();
        lease.keep();
        Ok(body)
    }

    #[tokio::test]
    async fn sequential_requests_reuse_one_connection() {
        let (addr, accepted) = counting_server().await;
        let pool = pool_for(addr, 4, Duration::from_secs(60));
        for _ in 0..5 {
            assert_eq!(exchange(&pool).await.unwrap(), "ok");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert_eq!(pool.idle_count(), 1);
    }

    #[tokio::test]
    async fn concurrent_requests_never_open_more_than_the_slots() {
        let (addr, accepted) = counting_server().await;
        let pool = pool_for(addr, 3, Duration::from_secs(60));
        let all = futures_util::future::join_all((0..40).map(|_| exchange(&pool))).await;
        assert!(all.iter().all(|r| r.as_ref().is_ok_and(|b| b == "ok")));
        let opened = accepted.load(Ordering::SeqCst);
        assert!((1..=3).contains(&opened), "opened {opened} connections");
    }

    #[tokio::test]
    async fn a_full_pool_answers_busy_at_the_deadline() {
        let (addr, _) = counting_server().await;
        let pool = pool_for(addr, 1, Duration::from_secs(60));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let (_held, _lease) = pool.send(get(), deadline).await.unwrap();
        let soon = tokio::time::Instant::now() + Duration::from_millis(50);
        let second = pool.send(get(), soon).await;
        assert!(matches!(second, Err(UpstreamError::Busy)));
    }

    #[tokio::test]
    async fn a_dropped_lease_closes_its_connection() {
        let (addr, accepted) = counting_server().await;
        let pool = pool_for(addr, 2, Duration::from_secs(60));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let (_unread, lease) = pool.send(get(), deadline).await.unwrap();
        drop(lease);
        assert_eq!(pool.idle_count(), 0);
        assert_eq!(exchange(&pool).await.unwrap(), "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn idle_connections_are_closed_after_the_idle_timeout() {
        let (addr, accepted) = counting_server().await;
        let pool = pool_for(addr, 2, Duration::from_millis(1));
        exchange(&pool).await.unwrap();
        std::thread::sleep(Duration::from_millis(5));
        pool.shared.close_expired();
        assert_eq!(pool.idle_count(), 0);
        exchange(&pool).await.unwrap();
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_connection_closed_while_idle_is_replaced() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Answers one request per connection, then closes it without saying so.
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = vec![0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
                drop(s);
            }
        });
        let pool = pool_for(addr, 1, Duration::from_secs(60));
        for _ in 0..3 {
            assert_eq!(exchange(&pool).await.unwrap(), "ok");
        }
    }
}
