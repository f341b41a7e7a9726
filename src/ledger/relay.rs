//! Answers appenders from inside their runtime.
//!
//! A oneshot completed on a sync thread schedules its waiting task from
//! outside the runtime, and a current-thread runtime (Keyhole's on one CPU)
//! wakes its driver with an eventfd write for every such task: one syscall
//! per record. The sync thread instead hands each fsync's answers to one task
//! in the runtime, which completes the oneshots where the appenders live, so
//! a batch costs one cross-thread wake however many records it holds.

use tokio::runtime::{Handle, Id};
use tokio::sync::{mpsc, oneshot};

use super::LedgerError;

/// An appender's answer: its record's sequence number once durable.
pub(crate) struct Reply {
    /// Where the appender waits.
    tx: oneshot::Sender<Result<u64, LedgerError>>,
    /// Whether the appender runs on the relay task's runtime. One that runs
    /// elsewhere is answered directly: the relay's runtime may not be driven.
    relayed: bool,
}

impl Reply {
    /// A reply for an appender running on the runtime `relay_runtime` names.
    pub(crate) fn new(
        tx: oneshot::Sender<Result<u64, LedgerError>>,
        relay_runtime: Option<Id>,
    ) -> Reply {
        let here = Handle::try_current().ok().map(|h| h.id());
        Reply {
            tx,
            relayed: here.is_some() && here == relay_runtime,
        }
    }

    /// Answers the appender now (it may have stopped waiting).
    pub(crate) fn send(self, result: Result<u64, LedgerError>) {
        let _ = self.tx.send(result);
    }
}

/// Durable records: each appender's reply and its record's sequence number.
pub(crate) type Durable = Vec<(u64, Reply)>;

/// Hands durable batches to the answering task.
pub(crate) struct Relay {
    /// To the task; `None` outside a runtime (tests of the writer alone),
    /// where answers are sent directly.
    tx: Option<mpsc::UnboundedSender<Durable>>,
    /// The task's runtime.
    runtime: Option<Id>,
}

impl Relay {
    /// Starts the answering task on the current runtime, if there is one.
    /// It ends when the relay is dropped, after answering what it was given.
    pub(crate) fn start() -> Relay {
        let Ok(runtime) = Handle::try_current() else {
            return Relay {
                tx: None,
                runtime: None,
            };
        };
        let (tx, mut rx) = mpsc::unbounded_channel::<Durable>();
        runtime.spawn(async move {
            while let Some(durable) = rx.recv().await {
                answer(durable);
            }
        });
        Relay {
            tx: Some(tx),
            runtime: Some(runtime.id()),
        }
    }

    /// The runtime whose appenders the task answers.
    pub(crate) fn runtime(&self) -> Option<Id> {
        self.runtime
    }

    /// Answers every appender in `durable` with its sequence number.
    pub(crate) fn deliver(&self, mut durable: Durable) {
        // Appenders on other runtimes are answered here (rare: the gateway
        // opens and uses its ledger on one runtime).
        if durable.iter().any(|(_, reply)| !reply.relayed) {
            let (relayed, direct) = durable.into_iter().partition(|(_, r)| r.relayed);
            answer(direct);
            durable = relayed;
        }
        if durable.is_empty() {
            return;
        }
        match &self.tx {
            Some(tx) => {
                // The task is gone only if its runtime shut down; answer here then.
                if let Err(mpsc::error::SendError(durable)) = tx.send(durable) {
                    answer(durable);
                }
            }
            None => answer(durable),
        }
    }
}

fn answer(durable: Durable) {
    for (seq, reply) in durable {
        reply.send(Ok(seq));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Answers = Vec<oneshot::Receiver<Result<u64, LedgerError>>>;

    /// `n` appenders on the current runtime (if any), for a relay on `runtime`.
    fn pending(n: u64, runtime: Option<Id>) -> (Durable, Answers) {
        (1..=n)
            .map(|seq| {
                let (tx, rx) = oneshot::channel();
                ((seq, Reply::new(tx, runtime)), rx)
            })
            .unzip()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn answers_arrive_through_the_task() {
        let relay = Relay::start();
        let (durable, answers) = pending(3, relay.runtime());
        assert!(durable.iter().all(|(_, r)| r.relayed));
        std::thread::spawn(move || relay.deliver(durable))
            .join()
            .unwrap();
        for (i, rx) in answers.into_iter().enumerate() {
            assert_eq!(rx.await.unwrap().unwrap(), i as u64 + 1);
        }
    }

    #[test]
    fn outside_a_runtime_answers_directly() {
        let relay = Relay::start();
        let (durable, mut answers) = pending(2, relay.runtime());
        relay.deliver(durable);
        assert_eq!(answers[1].try_recv().unwrap().unwrap(), 2);
    }

    #[test]
    fn appenders_on_another_runtime_are_answered_directly() {
        // The relay's runtime is built and then never driven again.
        let idle = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let relay = idle.block_on(async { Relay::start() });
        let other = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (durable, answers) = other.block_on(async { pending(2, relay.runtime()) });
        relay.deliver(durable);
        for (i, mut rx) in answers.into_iter().enumerate() {
            assert_eq!(rx.try_recv().unwrap().unwrap(), i as u64 + 1);
        }
    }
}
