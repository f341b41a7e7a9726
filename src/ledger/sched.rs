//! How the ledger's own threads are scheduled next to the request workers.
//!
//! The writer and the sync threads wake once per batch and per fsync. As
//! ordinary threads each wake-up preempts the request worker on its CPU, and
//! under load that is most of the gateway's context switches. `SCHED_BATCH`
//! keeps their share of the CPU (same nice value) but stops a wake-up from
//! preempting a running worker: they run at the worker's next pause, which
//! under load comes within microseconds. Measured on the full path: about 10%
//! less CPU per request and more requests per second
//! (`benches/README.md`, "Ledger threads").

/// Moves the calling thread to `SCHED_BATCH`. Best effort: a system that
/// refuses leaves the thread as it was, which is only slower.
pub(super) fn run_as_batch() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: pid 0 names the calling thread, `param` is a valid
        // sched_param that outlives the call, and SCHED_BATCH with priority
        // 0 is a valid policy for an unprivileged thread.
        let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
        if rc != 0 {
            tracing::debug!(
                error = %std::io::Error::last_os_error(),
                "ledger thread stays on the default scheduling policy"
            );
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_calling_thread_becomes_batch() {
        let policy = std::thread::spawn(|| {
            run_as_batch();
            // SAFETY: pid 0 names the calling thread; the call reads no memory.
            unsafe { libc::sched_getscheduler(0) }
        })
        .join()
        .unwrap();
        assert_eq!(policy, libc::SCHED_BATCH);
    }
}
