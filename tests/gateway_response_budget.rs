//! The response budget: upstream response bytes held at once, across all
//! requests, are bounded by `limits.max_buffered_response_bytes`. A response
//! that finds no room is refused with 503 and shows nothing; the room comes
//! back when the responses holding it leave.

#[path = "support/hostile.rs"]
mod hostile;
#[path = "support/hostile_upstream.rs"]
mod hostile_upstream;
mod support;

use std::sync::Arc;
use std::time::Duration;

use hostile::Step;
use hostile_upstream::{answer, chunked, Fixture, JSON};
use support::upstream::raw;
use support::Reply;
use tokio::sync::Notify;

const KIB: usize = 1024;

/// A gateway whose budget is 256 KiB, as large as the largest response it reads.
async fn budgeted() -> Fixture {
    Fixture::start_with(|c| {
        c.limits.max_response_bytes = 256 * KIB;
        c.limits.max_buffered_response_bytes = 256 * KIB;
        // The held response below must outlast the refused ones.
        c.upstream.response_timeout_ms = 30_000;
        c.upstream.queue_timeout_ms = 200;
    })
    .await
}

/// The ticketed customer's record, padded to at least `size` bytes.
fn record_of_size(f: &Fixture, size: usize) -> Vec<u8> {
    let mut record = hostile::record_value(&f.own);
    let plain = record.to_string().len();
    record["padding"] = "p".repeat(size.saturating_sub(plain + 16)).into();
    record.to_string().into_bytes()
}

/// The bytes the gateway holds for responses, from `/metrics`.
async fn reserved(f: &Fixture) -> u64 {
    let (_, metrics) = f.env.admin_get("/metrics").await;
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("keyhole_response_budget_reserved_bytes "))
        .and_then(|v| v.parse().ok())
        .expect("the reserved gauge is exported")
}

/// Waits until the gateway holds at least `bytes` (a state, not a time).
async fn until_reserved(f: &Fixture, bytes: u64) {
    for _ in 0..1000 {
        if reserved(f).await >= bytes {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the gateway never reserved {bytes} bytes");
}

/// Alice's request for a 150 KiB record whose upstream sends the head and
/// half the body, then waits for `go`: it holds 150 KiB of the budget.
async fn hold_150_kib(f: &Arc<Fixture>, go: &Arc<Notify>) -> tokio::task::JoinHandle<Reply> {
    let body = record_of_size(f, 150 * KIB);
    let whole = raw(200, &[JSON], &body);
    let half = whole.len() - body.len() / 2;
    let script = vec![
        Step::Read,
        Step::Write(whole[..half].to_vec()),
        Step::Until(go.clone()),
        Step::Write(whole[half..].to_vec()),
    ];
    let held = {
        let f = f.clone();
        tokio::spawn(async move { f.ask(script).await })
    };
    until_reserved(f, 150 * KIB as u64).await;
    held
}

#[tokio::test]
async fn a_response_that_finds_no_room_is_refused_and_room_returns() {
    let f = Arc::new(budgeted().await);
    let go = Arc::new(Notify::new());
    let held = hold_150_kib(&f, &go).await;

    // 110 KiB more would pass 256: refused after the wait, showing nothing.
    let big = record_of_size(&f, 110 * KIB);
    let refused = f.ask(answer(raw(200, &[JSON], &big))).await;
    f.withheld(&refused, "no room", 503, "response-budget-exhausted");
    assert!(
        refused.header("keyhole-request-id").is_some(),
        "the refusal carries a request id"
    );
    // A small one still fits beside the held response.
    let small = f
        .judged(&record_of_size(&f, 0), "room for a small one")
        .await;
    assert_eq!(small.status, 200);

    go.notify_one();
    let held = held.await.expect("held request");
    assert_eq!(
        held.status,
        200,
        "{}",
        String::from_utf8_lossy(&held.body[..held.body.len().min(300)])
    );
    f.oracle
        .assert_clean(&held.all_bytes(), Some(&f.grant()), "held response");
    assert_eq!(reserved(&f).await, 0, "every reservation was returned");

    // The room is back: the answer refused before now fits.
    let again = f.ask(answer(raw(200, &[JSON], &big))).await;
    assert_eq!(again.status, 200, "refused before, fits now");
    assert_eq!(reserved(&f).await, 0);
}

#[tokio::test]
async fn a_chunked_body_grows_its_reservation_only_while_there_is_room() {
    let f = Arc::new(budgeted().await);
    // 120 KiB in 8 KiB chunks: more than the 64 KiB a body of unknown length
    // reserves at first, so it must grow as it arrives.
    let body = record_of_size(&f, 120 * KIB);
    let pieces: Vec<&[u8]> = body.chunks(8 * KIB).collect();
    let script = || answer(chunked(&[JSON], &pieces));

    let alone = f.ask(script()).await;
    assert_eq!(alone.status, 200, "with the budget free, it grows and fits");
    f.oracle
        .assert_clean(&alone.all_bytes(), Some(&f.grant()), "chunked alone");

    // Beside 150 KiB held, its first 64 KiB fit but the rest does not: it is
    // refused rather than left waiting while it holds part of the budget.
    let go = Arc::new(Notify::new());
    let held = hold_150_kib(&f, &go).await;
    let refused = f.ask(script()).await;
    f.withheld(
        &refused,
        "chunked, no room",
        503,
        "response-budget-exhausted",
    );
    go.notify_one();
    assert_eq!(held.await.expect("held request").status, 200);
    assert_eq!(reserved(&f).await, 0, "the refused body returned its share");
}
