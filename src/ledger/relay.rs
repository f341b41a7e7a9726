//! Answers appenders from inside their runtime.
//!
//! A oneshot completed on a sync thread schedules its waiting task from
//! outside the runtime, and a current-thread runtime (Keyhole's on one CPU)
//! wakes its driver with an eventfd write for every such task: one syscall
//! per record. The sync thread instead hands each fsync's answers to one task
//! in the runtime, which completes the oneshots where the appenders live, so
//! a batch costs one cross-thread wake however many records it holds.

use tokio::sync::mpsc;

use super::sync::Reply;

/// Durable records: each appender's reply and its record's sequence number.
pub(crate) type Durable = Vec<(u64, Reply)>;

/// Hands durable batches to the answering task.
pub(crate) struct Relay {
    /// To the task; `None` outside a runtime (tests of the writer alone),
    /// where answers are sent directly.
    tx: Option<mpsc::UnboundedSender<Durable>>,
}

impl Relay {
    /// Starts the answering task on the current runtime, if there is one.
    /// It ends when the relay is dropped, after answering what it was given.
    pub(crate) fn start() -> Relay {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Relay { tx: None };
        };
        let (tx, mut rx) = mpsc::unbounded_channel::<Durable>();
        runtime.spawn(async move {
            while let Some(durable) = rx.recv().await {
                answer(durable);
            }
        });
        Relay { tx: Some(tx) }
    }

    /// Answers every appender in `durable` with its sequence number.
    pub(crate) fn deliver(&self, durable: Durable) {
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
        let _ = reply.send(Ok(seq));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::oneshot;

    fn pending(
        n: u64,
    ) -> (
        Durable,
        Vec<oneshot::Receiver<Result<u64, super::super::LedgerError>>>,
    ) {
        (1..=n)
            .map(|seq| {
                let (tx, rx) = oneshot::channel();
                ((seq, tx), rx)
            })
            .unzip()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn answers_arrive_through_the_task() {
        let relay = Relay::start();
        let (durable, answers) = pending(3);
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
        let (durable, mut answers) = pending(2);
        relay.deliver(durable);
        assert_eq!(answers[1].try_recv().unwrap().unwrap(), 2);
    }
}
