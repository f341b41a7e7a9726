//! A bounded pool of HTTP/1.1 connections to the one upstream.
//!
//! At most `max_connections` sockets exist at once: each connection's task
//! holds a slot from the moment it is dialled until its socket is closed, and
//! a request dials only when it holds a free slot and no idle connection is
//! ready. A burst of agents therefore queues in Keyhole instead of opening a
//! connection each on the customer API, and the memory those connections
//! cost is bounded with them.
//!
//! A connection returns to the pool only through [`Lease::keep`], after its
//! response was read to the end, and is reused only once hyper reports it
//! ready (request written, response read). A lease dropped early (timeout,
//! body over the limit, error) closes its connection at once, so no
//! half-finished exchange is ever handed to the next request.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use super::connect::{Conn, Connector};
use super::UpstreamError;

/// The pool: connector, slots and the idle connections.
pub(super) struct Pool {
    /// Shared with the idle reaper (weakly) and with connections settling.
    shared: Arc<Shared>,
}

struct Shared {
    /// Opens new connections.
    connector: Connector,
    /// One permit per socket that may exist.
    slots: Arc<Semaphore>,
    /// Idle connections and the requests waiting for one.
    parked: Mutex<Parked>,
    /// Idle connections older than this are closed.
    idle_timeout: Duration,
    /// How long a kept connection may take to become ready (its request
    /// body still being written after the answer came) before it is closed.
    settle_timeout: Duration,
    /// Held by the probe in flight.
    probing: tokio::sync::Mutex<()>,
}

/// Tries per request: a pooled connection found closed when the request was
/// about to go out sends it to checkout again, this many times in all.
const SEND_ATTEMPTS: usize = 3;

/// A probe reads at most this much of the answer before closing its connection.
const PROBE_BODY_LIMIT: usize = 64 * 1024;

/// What checkout found.
enum Checkout {
    /// A ready idle connection.
    Idle(Conn),
    /// A free slot: dial a new connection with it.
    Slot(OwnedSemaphorePermit),
}

/// Idle connections and the requests waiting for one. A returned
/// connection goes to the longest-waiting request before it may idle, so a
/// request arriving just then cannot take it from one already queued.
#[derive(Default)]
struct Parked {
    /// Idle connections, oldest first (each is pushed when it goes idle).
    conns: Vec<Idle>,
    /// Requests waiting for a connection, first come first served.
    waiters: VecDeque<oneshot::Sender<Conn>>,
    /// Queue length at which requests that stopped waiting are swept out.
    sweep_at: usize,
}

impl Parked {
    /// Queues a waiter. Requests that won a slot, timed out or went away
    /// leave their place behind; sweeping once the queue has doubled keeps
    /// it proportional to the requests really waiting, at amortized O(1).
    fn queue(&mut self, waiter: oneshot::Sender<Conn>) {
        if self.waiters.len() >= self.sweep_at {
            self.waiters.retain(|w| !w.is_closed());
            self.sweep_at = (2 * self.waiters.len()).max(MIN_SWEEP);
        }
        self.waiters.push_back(waiter);
    }
}

/// The shortest waiter queue that is swept.
const MIN_SWEEP: usize = 64;

/// A request's place in the waiter queue. If the request goes away (its
/// agent disconnected, its deadline passed) just as a connection is handed to
/// it, the connection goes on to the next in line instead of being closed.
struct Waiting<'a> {
    /// Where a returned connection arrives.
    handed: oneshot::Receiver<Conn>,
    /// The pool, to pass such a connection on.
    shared: &'a Shared,
}

impl Waiting<'_> {
    /// A connection handed over by now, if any; none can arrive afterwards.
    fn stop(&mut self) -> Option<Conn> {
        self.handed.close();
        self.handed.try_recv().ok()
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.stop() {
            self.shared.hand_over(conn);
        }
    }
}

/// A connection waiting for its next request.
struct Idle {
    /// The connection.
    conn: Conn,
    /// When it went idle.
    since: Instant,
}

/// A connection lent to one exchange.
pub(super) struct Lease<'a> {
    /// The connection.
    conn: Conn,
    /// The pool it goes back to.
    shared: &'a Arc<Shared>,
}

impl Pool {
    /// A pool of at most `max_connections`. Inside a Tokio runtime it also
    /// starts a task that closes connections idle beyond `idle_timeout`.
    pub(super) fn new(
        connector: Connector,
        max_connections: usize,
        idle_timeout: Duration,
        settle_timeout: Duration,
    ) -> Pool {
        let shared = Arc::new(Shared {
            connector,
            slots: Arc::new(Semaphore::new(max_connections)),
            parked: Mutex::new(Parked::default()),
            idle_timeout,
            settle_timeout,
            probing: tokio::sync::Mutex::new(()),
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(reap_idle(Arc::downgrade(&shared)));
        }
        Pool { shared }
    }

    /// Sends `req` on a pooled or new connection. Waiting for a connection
    /// or a slot ends at `queue_until` with [`UpstreamError::Busy`]: the
    /// upstream was not asked. Dialling is bounded by the connect timeout.
    pub(super) async fn send(
        &self,
        mut req: Request<Full<Bytes>>,
        queue_until: tokio::time::Instant,
    ) -> Result<(Response<Incoming>, Lease<'_>), UpstreamError> {
        let shared = &self.shared;
        for _ in 0..SEND_ATTEMPTS {
            let (mut conn, reused) = match shared.checkout(queue_until).await? {
                Checkout::Idle(conn) => (conn, true),
                // Boxed: dialling (TCP, TLS, handshake) is a large future that
                // a reused connection never needs, and every request's future
                // would otherwise carry room for it, copied at each move.
                Checkout::Slot(slot) => {
                    (Box::pin(shared.connector.connect(Some(slot))).await?, false)
                }
            };
            match conn.sender.try_send_request(req).await {
                Ok(response) => return Ok((response, Lease { conn, shared })),
                // A pooled connection the upstream closed while it sat idle:
                // the request was never written, so it may go out on another.
                Err(mut e) if reused => match e.take_message() {
                    Some(unsent) => req = unsent,
                    None => return Err(UpstreamError::Unreachable),
                },
                Err(_) => return Err(UpstreamError::Unreachable),
            }
        }
        Err(UpstreamError::Unreachable)
    }

    /// Sends `req` on a connection of its own, outside the pool and its
    /// slots, closed afterwards: for the readiness probe, which must learn
    /// whether the upstream answers now even when every pooled connection
    /// is busy. Probes run one at a time, so they add at most one socket.
    pub(super) async fn probe(&self, req: Request<Full<Bytes>>) -> Result<(), UpstreamError> {
        let _one_at_a_time = self.shared.probing.lock().await;
        let mut conn = self.shared.connector.connect(None).await?;
        let response = conn
            .sender
            .send_request(req)
            .await
            .map_err(|_| UpstreamError::Unreachable)?;
        // Read (a bounded part of) the answer before closing, so the close is
        // a clean one rather than a reset over unread bytes.
        let body = http_body_util::Limited::new(response.into_body(), PROBE_BODY_LIMIT);
        let _ = http_body_util::BodyExt::collect(body).await;
        Ok(())
    }

    /// Connections open and idle right now.
    #[cfg(test)]
    fn idle_count(&self) -> usize {
        self.shared.lock_parked().conns.len()
    }
}

impl Shared {
    /// A ready idle connection, or a free slot to dial one with, whichever
    /// comes first; [`UpstreamError::Busy`] at `queue_until`. Requests that
    /// find neither wait in line: returned connections and freed slots both
    /// go to the longest-waiting first.
    async fn checkout(&self, queue_until: tokio::time::Instant) -> Result<Checkout, UpstreamError> {
        let mut waiting = {
            let mut parked = self.lock_parked();
            if let Some(conn) = self.take_ready(&mut parked) {
                return Ok(Checkout::Idle(conn));
            }
            // Freed slots go to queued acquirers first, so this takes one
            // only when nobody is waiting for it.
            if let Ok(slot) = self.slots.clone().try_acquire_owned() {
                return Ok(Checkout::Slot(slot));
            }
            let (tx, rx) = oneshot::channel();
            parked.queue(tx);
            Waiting {
                handed: rx,
                shared: self,
            }
        };
        let wait = async {
            tokio::select! {
                biased;
                conn = &mut waiting.handed => {
                    conn.map(Checkout::Idle).map_err(|_| UpstreamError::Unreachable)
                }
                slot = self.slots.clone().acquire_owned() => {
                    slot.map(Checkout::Slot).map_err(|_| UpstreamError::Unreachable)
                }
            }
        };
        let outcome = tokio::time::timeout_at(queue_until, wait).await;
        // A connection handed over just as the wait ended is used, and a slot
        // won at the same moment goes back to the next in line: a ready
        // connection is cheaper than a new one.
        if let Some(conn) = waiting.stop() {
            return Ok(Checkout::Idle(conn));
        }
        outcome.map_err(|_| UpstreamError::Busy)?
    }

    /// The newest idle connection that is ready; closes the dead and expired on the way.
    fn take_ready(&self, parked: &mut Parked) -> Option<Conn> {
        while let Some(candidate) = parked.conns.pop() {
            let fresh = candidate.since.elapsed() < self.idle_timeout;
            if fresh && candidate.conn.sender.is_ready() {
                return Some(candidate.conn);
            }
        }
        None
    }

    fn lock_parked(&self) -> std::sync::MutexGuard<'_, Parked> {
        // Nothing is left half-done under this lock, so a poisoned one is still sound.
        self.parked
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Gives a ready connection to the longest-waiting request, or lets it idle.
    fn hand_over(&self, mut conn: Conn) {
        let mut parked = self.lock_parked();
        while let Some(waiter) = parked.waiters.pop_front() {
            match waiter.send(conn) {
                Ok(()) => return,
                // That request stopped waiting; try the next.
                Err(back) => conn = back,
            }
        }
        parked.conns.push(Idle {
            conn,
            since: Instant::now(),
        });
    }

    /// Closes connections idle for `idle_timeout` or longer (the oldest are first).
    fn close_expired(&self) {
        let mut parked = self.lock_parked();
        let expired = parked
            .conns
            .iter()
            .take_while(|c| c.since.elapsed() >= self.idle_timeout)
            .count();
        parked.conns.drain(..expired);
    }
}

impl Lease<'_> {
    /// Returns the connection to the pool: call only once its response body
    /// has been read to the end. One whose request is still being written
    /// (an upstream may answer before reading all of a body) joins the pool
    /// when that is done, or is closed if it does not finish in time.
    pub(super) async fn keep(self) {
        let Lease { mut conn, shared } = self;
        if !conn.sender.is_ready() && !conn.sender.is_closed() {
            // On a multi-thread runtime the connection task may still be
            // finishing the exchange on another worker; give it that moment
            // rather than leave the next request to dial a new connection.
            tokio::task::yield_now().await;
        }
        if conn.sender.is_closed() {
            return;
        }
        if conn.sender.is_ready() {
            shared.hand_over(conn);
            return;
        }
        let shared = shared.clone();
        tokio::spawn(async move {
            let settle = shared.settle_timeout;
            if let Ok(Ok(())) = tokio::time::timeout(settle, conn.sender.ready()).await {
                shared.hand_over(conn);
            }
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
    use tokio::net::{TcpListener, TcpStream};

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

    /// A server on 127.0.0.1:0 running `serve` per connection; counts connections.
    async fn server<F, Fut>(serve: F) -> (std::net::SocketAddr, Arc<AtomicUsize>)
    where
        F: Fn(TcpStream) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(stream));
            }
        });
        (addr, accepted)
    }

    /// Reads one request head (a body is not read).
    async fn read_head(s: &mut TcpStream) -> Option<()> {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut byte).await.ok()?;
            head.push(byte[0]);
        }
        Some(())
    }

    /// Keep-alive: answers every request with "ok".
    async fn counting_server() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
        server(|mut s| async move {
            while read_head(&mut s).await.is_some() {
                if s.write_all(OK).await.is_err() {
                    return;
                }
            }
        })
        .await
    }

    fn pool_for(addr: std::net::SocketAddr, max: usize, idle: Duration) -> Pool {
        settling_pool(addr, max, idle, Duration::from_secs(2))
    }

    fn settling_pool(
        addr: std::net::SocketAddr,
        max: usize,
        idle: Duration,
        settle: Duration,
    ) -> Pool {
        let uri: http::Uri = format!("http://{addr}").parse().unwrap();
        let tls = crate::accept::tls::client_config(None).unwrap();
        let connector = Connector::new(&uri, tls, Duration::from_secs(2)).unwrap();
        Pool::new(connector, max, idle, settle)
    }

    fn get() -> Request<Full<Bytes>> {
        Request::get("/")
            .header("host", "x")
            .body(Full::new(Bytes::new()))
            .unwrap()
    }

    /// Sends a GET, allowing it up to 10 s to get a connection.
    async fn lend(pool: &Pool) -> Result<(Response<Incoming>, Lease<'_>), UpstreamError> {
        let queue_until = tokio::time::Instant::now() + Duration::from_secs(10);
        pool.send(get(), queue_until).await
    }

    async fn exchange(pool: &Pool) -> Result<Bytes, UpstreamError> {
        let (response, lease) = lend(pool).await?;
        let body = response.into_body().collect().await.unwrap().to_bytes();
        lease.keep().await;
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sequential_requests_reuse_connections_on_a_multi_thread_runtime() {
        let (addr, accepted) = counting_server().await;
        let pool = pool_for(addr, 8, Duration::from_secs(60));
        for _ in 0..20 {
            assert_eq!(exchange(&pool).await.unwrap(), "ok");
        }
        // Each exchange ends before the next starts, so one connection could
        // serve them all; a connection still settling may cost another.
        let opened = accepted.load(Ordering::SeqCst);
        assert!(
            opened <= 2,
            "{opened} connections for 20 sequential requests"
        );
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
        let (_held, _lease) = lend(&pool).await.unwrap();
        let soon = tokio::time::Instant::now() + Duration::from_millis(50);
        let second = pool.send(get(), soon).await;
        assert!(matches!(second, Err(UpstreamError::Busy)));
    }

    #[tokio::test]
    async fn a_dropped_lease_closes_its_connection() {
        let (addr, accepted) = counting_server().await;
        let pool = pool_for(addr, 2, Duration::from_secs(60));
        let (_unread, lease) = lend(&pool).await.unwrap();
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
        tokio::time::sleep(Duration::from_millis(5)).await;
        pool.shared.close_expired();
        assert_eq!(pool.idle_count(), 0);
        exchange(&pool).await.unwrap();
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_connection_closed_while_idle_is_replaced() {
        // Answers one request per connection, then closes it without saying so.
        let (addr, _) = server(|mut s| async move {
            if read_head(&mut s).await.is_some() {
                let _ = s.write_all(OK).await;
            }
        })
        .await;
        let pool = pool_for(addr, 1, Duration::from_secs(60));
        for _ in 0..3 {
            assert_eq!(exchange(&pool).await.unwrap(), "ok");
        }
    }

    #[tokio::test]
    async fn an_answer_before_the_request_body_is_read_does_not_stall_the_next_request() {
        // Answers as soon as a head has arrived and never reads a body.
        let (addr, accepted) = server(|mut s| async move {
            if read_head(&mut s).await.is_some() {
                let _ = s.write_all(OK).await;
                std::future::pending::<()>().await;
            }
        })
        .await;
        let pool = settling_pool(addr, 1, Duration::from_secs(60), Duration::from_millis(100));
        let big = Request::post("/")
            .header("host", "x")
            .body(Full::new(Bytes::from(vec![b'x'; 16 << 20])))
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let (response, lease) = pool.send(big, deadline).await.unwrap();
        assert_eq!(
            response.into_body().collect().await.unwrap().to_bytes(),
            "ok"
        );
        lease.keep().await;
        // The stuck connection is closed after settling fails, and its slot
        // serves a new connection: the only slot is never exceeded.
        assert_eq!(exchange(&pool).await.unwrap(), "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_dial_that_hangs_is_unreachable_not_busy() {
        // Accepts TCP and never says a word: the TLS handshake cannot finish.
        let (addr, _) = server(|s| async move {
            let _held = s;
            std::future::pending::<()>().await;
        })
        .await;
        let uri: http::Uri = format!("https://localhost:{}", addr.port())
            .parse()
            .unwrap();
        let tls = crate::accept::tls::client_config(None).unwrap();
        let connector = Connector::new(&uri, tls, Duration::from_millis(200)).unwrap();
        let pool = Pool::new(
            connector,
            4,
            Duration::from_secs(60),
            Duration::from_secs(1),
        );
        // The queue deadline passes while dialling: the wait for a slot was
        // over long before, so this is the upstream's fault, not a full pool.
        let queue_until = tokio::time::Instant::now() + Duration::from_millis(50);
        let outcome = pool.send(get(), queue_until).await;
        assert!(matches!(outcome, Err(UpstreamError::Unreachable)));
    }

    /// A one-slot pool (leaked: the spawned request borrows it) whose
    /// connection is lent out, and a spawned request queued behind it that
    /// runs `then` once served. Returns the pool, the held exchange, the
    /// server's connection count and the queued task.
    async fn one_lent_one_queued(
        then: impl FnOnce() + Send + 'static,
    ) -> (
        &'static Pool,
        (Response<Incoming>, Lease<'static>),
        Arc<AtomicUsize>,
        tokio::task::JoinHandle<()>,
    ) {
        let (addr, accepted) = counting_server().await;
        let pool: &'static Pool = Box::leak(Box::new(pool_for(addr, 1, Duration::from_secs(60))));
        let held = lend(pool).await.unwrap();
        let queued = tokio::spawn(async move {
            exchange(pool).await.unwrap();
            then();
        });
        while pool.shared.lock_parked().waiters.is_empty() {
            tokio::task::yield_now().await;
        }
        (pool, held, accepted, queued)
    }

    #[tokio::test]
    async fn a_returned_connection_goes_to_the_request_that_waited_longest() {
        let order = Arc::new(Mutex::new(Vec::new()));
        let waited = order.clone();
        let (pool, (held, lease), accepted, waiter) =
            one_lent_one_queued(move || waited.lock().unwrap().push("waited")).await;
        held.into_body().collect().await.unwrap();
        lease.keep().await;
        // Arrives as the connection comes back, before the waiter has run.
        exchange(pool).await.unwrap();
        order.lock().unwrap().push("arrived");
        waiter.await.unwrap();
        assert_eq!(*order.lock().unwrap(), ["waited", "arrived"]);
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_connection_handed_to_a_request_that_went_away_is_kept() {
        let (pool, (held, lease), accepted, gone) = one_lent_one_queued(|| {}).await;
        held.into_body().collect().await.unwrap();
        // Handed to the queued request, which is cancelled before it runs.
        lease.keep().await;
        gone.abort();
        assert!(gone.await.unwrap_err().is_cancelled());
        assert_eq!(pool.idle_count(), 1, "the connection went back to the pool");
        assert_eq!(exchange(pool).await.unwrap(), "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn requests_that_stopped_waiting_do_not_pile_up_in_line() {
        let (addr, _) = counting_server().await;
        let pool = pool_for(addr, 1, Duration::from_secs(60));
        let (_held, _lease) = lend(&pool).await.unwrap();
        for _ in 0..300 {
            let soon = tokio::time::Instant::now() + Duration::from_millis(1);
            assert!(matches!(
                pool.send(get(), soon).await,
                Err(UpstreamError::Busy)
            ));
        }
        let queued = pool.shared.lock_parked().waiters.len();
        assert!(
            queued <= 2 * MIN_SWEEP,
            "{queued} places kept for 300 requests gone"
        );
    }
}
