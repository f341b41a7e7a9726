//! How many bytes of upstream response bodies the gateway holds at once.
//!
//! A judged body is read whole, parsed and rewritten in memory, several times
//! its size in all, and held until its ledger record is durable. Without a
//! bound shared by every request, concurrency alone would decide how much
//! memory responses take: a few hundred agents running large searches at once
//! could take gigabytes. Each response reserves its body's bytes here before
//! they are read; one that cannot fit in time is refused, not queued forever.

use std::fmt::Write;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::UpstreamError;

/// Bytes are reserved in units of this many, so that a budget of any size fits
/// the semaphore's permit count.
const UNIT: usize = 1024;

/// What a body of unknown length (chunked) reserves before its first byte:
/// most answers fit, and a larger one grows its reservation as it arrives.
const UNKNOWN_LENGTH_START: usize = 64 * 1024;

/// The shared bound on response bytes held at once (`limits.max_buffered_response_bytes`).
#[derive(Debug)]
pub struct ResponseBudget {
    /// One permit per [`UNIT`] bytes.
    units: Arc<Semaphore>,
    /// The budget's size in units.
    capacity: u32,
}

/// Bytes of the budget held by one response until it is dropped.
#[derive(Debug)]
pub struct Reservation {
    /// The units held.
    permit: OwnedSemaphorePermit,
}

impl ResponseBudget {
    /// A budget of `bytes` (rounded up to whole units).
    pub fn new(bytes: usize) -> ResponseBudget {
        let capacity = u32::try_from(bytes.div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .min(Semaphore::MAX_PERMITS as u32);
        ResponseBudget {
            units: Arc::new(Semaphore::new(capacity as usize)),
            capacity,
        }
    }

    /// Bytes reserved by responses in flight right now.
    pub fn reserved_bytes(&self) -> u64 {
        let free = self.units.available_permits() as u64;
        (u64::from(self.capacity) - free.min(u64::from(self.capacity))) * UNIT as u64
    }

    /// The gauges for `/metrics`: how full the budget is, for an operator sizing it.
    pub fn render(&self, out: &mut String) {
        let limit = u64::from(self.capacity) * UNIT as u64;
        let rows = [
            (
                "keyhole_response_budget_reserved_bytes",
                self.reserved_bytes(),
            ),
            ("keyhole_response_budget_limit_bytes", limit),
        ];
        for (name, value) in rows {
            let _ = writeln!(out, "# TYPE {name} gauge\n{name} {value}");
        }
    }

    /// Reserves `bytes`, waiting until `until` for others to release theirs.
    /// Waiting holds nothing, so waiters never block each other for good.
    async fn reserve(&self, bytes: usize, until: Instant) -> Result<Reservation, UpstreamError> {
        let wanted = self.units_for(bytes);
        let acquire = self.units.clone().acquire_many_owned(wanted);
        match tokio::time::timeout_at(until, acquire).await {
            Ok(Ok(permit)) => Ok(Reservation { permit }),
            _ => Err(UpstreamError::OverBudget),
        }
    }

    /// Grows `held` to cover `bytes`, without waiting: a response that holds
    /// part of the budget must not wait for more, or two of them could wait
    /// on each other.
    fn grow(&self, held: &mut Reservation, bytes: usize) -> Result<(), UpstreamError> {
        let wanted = self.units_for(bytes);
        let more = wanted.saturating_sub(held.permit.num_permits() as u32);
        if more == 0 {
            return Ok(());
        }
        let extra = self
            .units
            .clone()
            .try_acquire_many_owned(more)
            .map_err(|_| UpstreamError::OverBudget)?;
        held.permit.merge(extra);
        Ok(())
    }

    /// Units for `bytes`; never more than the whole budget, so that a body
    /// larger than the budget (after a reload raised the size limit) takes all
    /// of it rather than never fitting.
    fn units_for(&self, bytes: usize) -> u32 {
        u32::try_from(bytes.div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .clamp(1, self.capacity.max(1))
    }
}

/// How a body ended when it was not read whole.
pub(super) enum Unread {
    /// Longer than the limit.
    TooLarge,
    /// The exchange failed or the budget had no room.
    Failed(UpstreamError),
}

/// Reads a whole response body of at most `limit` bytes under the budget.
/// A declared length is reserved before reading; an unknown one starts small
/// and grows as the body arrives.
pub(super) async fn read_body(
    body: hyper::body::Incoming,
    declared: Option<u64>,
    limit: usize,
    budget: &ResponseBudget,
    until: Instant,
) -> Result<(Bytes, Reservation), Unread> {
    let first = match declared {
        Some(len) if len > limit as u64 => return Err(Unread::TooLarge),
        Some(len) => len as usize,
        None => UNKNOWN_LENGTH_START.min(limit),
    };
    let mut held = budget.reserve(first, until).await.map_err(Unread::Failed)?;
    let mut limited = http_body_util::Limited::new(body, limit);
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut len = 0;
    while let Some(frame) = limited.frame().await {
        let frame = frame.map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Unread::TooLarge
            } else {
                Unread::Failed(UpstreamError::Truncated)
            }
        })?;
        if let Ok(data) = frame.into_data() {
            len += data.len();
            if len > first {
                let target = len.max(held_bytes(&held) * 2).min(limit);
                budget.grow(&mut held, target).map_err(Unread::Failed)?;
            }
            chunks.push(data);
        }
    }
    Ok((joined(chunks, len), held))
}

/// The chunks as one buffer: the only chunk as it is, several copied once.
fn joined(mut chunks: Vec<Bytes>, len: usize) -> Bytes {
    if chunks.len() == 1 {
        return chunks.pop().unwrap_or_default();
    }
    let mut out = BytesMut::with_capacity(len);
    chunks.iter().for_each(|c| out.extend_from_slice(c));
    out.freeze()
}

fn held_bytes(held: &Reservation) -> usize {
    held.permit.num_permits() * UNIT
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn soon() -> Instant {
        Instant::now() + Duration::from_millis(50)
    }

    #[tokio::test]
    async fn reservations_are_returned_when_dropped() {
        let budget = ResponseBudget::new(10 * UNIT);
        let a = budget.reserve(6 * UNIT, soon()).await.unwrap();
        assert_eq!(budget.reserved_bytes(), 6 * UNIT as u64);
        assert!(matches!(
            budget.reserve(5 * UNIT, soon()).await,
            Err(UpstreamError::OverBudget)
        ));
        drop(a);
        assert_eq!(budget.reserved_bytes(), 0);
        let b = budget.reserve(10 * UNIT, soon()).await.unwrap();
        assert_eq!(budget.reserved_bytes(), 10 * UNIT as u64);
        drop(b);
    }

    #[tokio::test]
    async fn a_waiter_gets_room_released_while_it_waits() {
        let budget = Arc::new(ResponseBudget::new(4 * UNIT));
        let held = budget.reserve(4 * UNIT, soon()).await.unwrap();
        let waiter = {
            let budget = budget.clone();
            tokio::spawn(async move {
                let until = Instant::now() + Duration::from_secs(30);
                budget.reserve(2 * UNIT, until).await.map(|_| ())
            })
        };
        drop(held);
        assert!(waiter.await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn growing_never_waits_and_never_exceeds_the_budget() {
        let budget = ResponseBudget::new(8 * UNIT);
        let mut a = budget.reserve(2 * UNIT, soon()).await.unwrap();
        let _b = budget.reserve(4 * UNIT, soon()).await.unwrap();
        budget.grow(&mut a, 4 * UNIT).unwrap();
        assert_eq!(budget.reserved_bytes(), 8 * UNIT as u64);
        assert!(matches!(
            budget.grow(&mut a, 5 * UNIT),
            Err(UpstreamError::OverBudget)
        ));
        // Asking again for what it already holds costs nothing.
        budget.grow(&mut a, 3 * UNIT).unwrap();
        assert_eq!(budget.reserved_bytes(), 8 * UNIT as u64);
    }

    #[tokio::test]
    async fn a_body_larger_than_the_whole_budget_takes_all_of_it() {
        let budget = ResponseBudget::new(3 * UNIT);
        let all = budget.reserve(100 * UNIT, soon()).await.unwrap();
        assert_eq!(budget.reserved_bytes(), 3 * UNIT as u64);
        drop(all);
        let small = budget.reserve(1, soon()).await.unwrap();
        assert_eq!(budget.reserved_bytes(), UNIT as u64);
        drop(small);
    }
}
