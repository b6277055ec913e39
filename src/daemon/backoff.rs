//! Waiting before trying again: one [`Backoff`] (doubling steps with jitter) serves the
//! IMAP reconnect ([`reconnecting`]) and the retry of undelivered messages ([`RetryTimer`]).
//!
//! Jitter keeps many autosvar instances (or one autosvar and its own earlier attempts) from
//! knocking on a recovering server in step. Every wait uses tokio's clock, so the tests run
//! with paused time and never sleep. This module never decides what is worth a retry: the
//! caller says whether an error is fatal.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Doubling waits between `first` and `max`, each drawn between half and the whole of its
/// step ("equal jitter").
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    step: Duration,
    rng: u64,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Backoff {
        let first = first.max(Duration::from_millis(1));
        Backoff {
            first,
            max: max.max(first),
            step: first,
            rng: seed(),
        }
    }

    /// The wait before the next attempt; the step after it is twice as long (up to `max`).
    pub fn next_delay(&mut self) -> Duration {
        let step = self.step;
        self.step = (step * 2).min(self.max);
        let half = step / 2;
        // A fraction in [0, 1] of the other half, from 53 random bits.
        let fraction = (self.next_random() >> 11) as f64 / ((1u64 << 53) - 1) as f64;
        half + (step - half).mul_f64(fraction)
    }

    /// Back to the first step (after a success).
    pub fn reset(&mut self) {
        self.step = self.first;
    }

    /// splitmix64: enough for spreading waits, no dependency.
    fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// A seed that differs between processes and between backoffs of one process.
fn seed() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let nanos = crate::clock::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ u64::from(std::process::id()).rotate_left(32) ^ COUNT.fetch_add(1, Ordering::Relaxed)
}

/// How one attempt (a connection and the session on it) ended.
#[derive(Debug)]
pub enum Attempt<E> {
    /// Finished as asked (`--once` done, or shutdown): no retry.
    Done,
    /// Lost (a dropped connection, a timeout): try again after a wait. `progressed` says
    /// the attempt got somewhere (it connected) before it was lost, so the waits start over.
    Lost { error: E, progressed: bool },
    /// Trying again cannot help (a refused login, a ledger error, `--once`).
    Fatal(E),
}

/// Runs `attempt` until it is done or fatal, waiting with `backoff` after each loss
/// (`on_lost` is told the error and the wait, to log them). Shutdown during a wait ends it
/// at once, as done.
///
/// # Errors
/// The error of a fatal attempt.
pub async fn reconnecting<E>(
    backoff: &mut Backoff,
    shutdown: &CancellationToken,
    mut attempt: impl AsyncFnMut() -> Attempt<E>,
    mut on_lost: impl FnMut(&E, Duration),
) -> Result<(), E> {
    loop {
        if shutdown.is_cancelled() {
            return Ok(());
        }
        match attempt().await {
            Attempt::Done => return Ok(()),
            Attempt::Fatal(e) => return Err(e),
            Attempt::Lost { error, progressed } => {
                if progressed {
                    backoff.reset();
                }
                let wait = backoff.next_delay();
                on_lost(&error, wait);
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

/// When to try the undelivered messages again: the first retry one backoff step after they
/// are first seen waiting, later ones further apart, back to the first step once nothing
/// waits.
#[derive(Debug, Clone)]
pub struct RetryTimer {
    backoff: Backoff,
    at: Option<Instant>,
}

impl RetryTimer {
    pub fn new(first: Duration, max: Duration) -> RetryTimer {
        RetryTimer {
            backoff: Backoff::new(first, max),
            at: None,
        }
    }

    /// Messages are waiting: is a retry due now? The first call schedules one; a due retry
    /// schedules the next, further off.
    pub fn due(&mut self) -> bool {
        let now = Instant::now();
        let due = self.at.is_some_and(|t| now >= t);
        if due || self.at.is_none() {
            self.at = Some(now + self.backoff.next_delay());
        }
        due
    }

    /// Nothing waits any more.
    pub fn clear(&mut self) {
        self.at = None;
        self.backoff.reset();
    }

    /// How long until the next retry (`Duration::MAX` when none is scheduled).
    pub fn until_next(&self) -> Duration {
        self.at.map_or(Duration::MAX, |t| {
            t.saturating_duration_since(Instant::now())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    const S: Duration = Duration::from_secs(1);
    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn waits_double_within_their_jitter_and_stop_at_the_cap() {
        for _ in 0..200 {
            let mut b = Backoff::new(S, 8 * S);
            for step in [1, 2, 4, 8, 8, 8] {
                let d = b.next_delay();
                let step = step * S;
                assert!(
                    d >= step / 2 && d <= step,
                    "{d:?} outside [{:?}, {step:?}]",
                    step / 2
                );
            }
            b.reset();
            assert!(b.next_delay() <= S);
        }
    }

    #[test]
    fn two_backoffs_do_not_wait_in_step() {
        let mut a = Backoff::new(60 * S, 60 * S);
        let mut b = Backoff::new(60 * S, 60 * S);
        let same = (0..20).filter(|_| a.next_delay() == b.next_delay()).count();
        assert!(same < 20, "two backoffs drew the same waits twenty times");
    }

    /// The moments (since the start) at which `attempt` was called.
    async fn run_attempts(
        script: Vec<Attempt<&'static str>>,
        shutdown: &CancellationToken,
    ) -> (Result<(), &'static str>, Vec<Duration>, Vec<Duration>) {
        let start = Instant::now();
        let calls = RefCell::new(Vec::new());
        let waits = RefCell::new(Vec::new());
        let script = RefCell::new(script.into_iter());
        let mut backoff = Backoff::new(S, 60 * S);
        let result = reconnecting(
            &mut backoff,
            shutdown,
            async || {
                calls.borrow_mut().push(start.elapsed());
                script.borrow_mut().next().unwrap_or(Attempt::Done)
            },
            |_, wait| waits.borrow_mut().push(wait),
        )
        .await;
        (result, calls.into_inner(), waits.into_inner())
    }

    fn lost(progressed: bool) -> Attempt<&'static str> {
        Attempt::Lost {
            error: "connection reset",
            progressed,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_connection_is_retried_after_growing_waits() {
        let shutdown = CancellationToken::new();
        let (result, calls, waits) =
            run_attempts(vec![lost(false), lost(false), lost(false)], &shutdown).await;
        assert_eq!(result, Ok(()));
        assert_eq!(
            calls.len(),
            4,
            "three losses, then the attempt that is done"
        );
        assert_eq!(calls[0], Duration::ZERO);
        for (i, step) in [1u32, 2, 4].into_iter().enumerate() {
            let (gap, wait) = (calls[i + 1] - calls[i], waits[i]);
            // tokio's timers round up to the millisecond.
            assert!(
                gap >= wait && gap - wait < MS,
                "waited {gap:?}, said {wait:?}"
            );
            assert!(
                wait >= step * S / 2 && wait <= step * S,
                "wait {i}: {wait:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_got_somewhere_starts_the_waits_over() {
        let shutdown = CancellationToken::new();
        let (_, _, waits) = run_attempts(
            vec![lost(false), lost(false), lost(false), lost(true)],
            &shutdown,
        )
        .await;
        assert!(waits[2] >= 2 * S, "the third loss waits the third step");
        assert!(
            waits[3] <= S,
            "a loss after connecting waits the first step again"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_fatal_error_ends_at_once() {
        let shutdown = CancellationToken::new();
        let (result, calls, _) = run_attempts(
            vec![lost(false), Attempt::Fatal("login refused")],
            &shutdown,
        )
        .await;
        assert_eq!(result, Err("login refused"));
        assert_eq!(calls.len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_ends_a_wait_at_once() {
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(10 * S).await;
            stop.cancel();
        });
        let start = Instant::now();
        // Enough losses for a wait far longer than ten seconds.
        let script = (0..8).map(|_| lost(false)).collect();
        let (result, calls, _) = run_attempts(script, &shutdown).await;
        assert_eq!(result, Ok(()));
        assert!(calls.len() < 8, "no attempt after shutdown");
        let took = start.elapsed();
        assert!(
            took >= 10 * S && took < 11 * S,
            "stopped {took:?} after the start"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retries_of_undelivered_mail_come_further_apart_until_nothing_waits() {
        let mut timer = RetryTimer::new(2 * S, 30 * S);
        assert_eq!(timer.until_next(), Duration::MAX, "nothing scheduled yet");
        assert!(!timer.due(), "the first look only schedules");
        let first = timer.until_next();
        assert!(first >= S && first <= 2 * S, "{first:?}");
        tokio::time::advance(first - MS).await;
        assert!(!timer.due(), "not before its time");
        tokio::time::advance(MS).await;
        assert!(timer.due());
        let second = timer.until_next();
        assert!(second >= 2 * S && second <= 4 * S, "{second:?}");
        timer.clear();
        assert_eq!(timer.until_next(), Duration::MAX);
        assert!(!timer.due());
        assert!(
            timer.until_next() <= 2 * S,
            "after a clear the steps start over"
        );
    }
}
