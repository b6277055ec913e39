//! Throttle: keeps SMTP submission within the server's published limits, and tells a
//! throttling reply from a refusal.
//!
//! [`Pacer`] spaces messages evenly at `[smtp] max-rate` (a token bucket holding one token:
//! never a burst, so no window of the server's, sliding or fixed, sees more than the rate
//! allows), and holds every send back for a while after the server said "too fast"
//! ([`Pacer::throttled`], doubling from [`THROTTLE_FIRST`] to [`THROTTLE_MAX`], reset by a
//! message that goes through). [`is_throttling`] reads a reply: "too many connections",
//! "too much mail", Microsoft 365's `432 4.3.2`, is the server's pace, not this message's
//! fault, so it must never count towards `max-attempts` or set a mail aside. The
//! connection limit (`max-connections`) is a semaphore in [`super::smtp`].
//!
//! Only time and reply text are looked at here: no mail, no ledger, no network.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::Rate;

/// The first wait after a throttling reply; it doubles while the server keeps saying so.
pub const THROTTLE_FIRST: Duration = Duration::from_secs(1);
/// The longest wait after a throttling reply.
pub const THROTTLE_MAX: Duration = Duration::from_secs(60);
/// Throttling replies to one message before its send gives up for now (it then waits in
/// the ledger for the daemon's next retry, uncounted): 1 + 2 + 4 + … + 60 s, about 5
/// minutes of waiting.
pub const THROTTLE_TRIES: u32 = 10;

/// Spaces sends at the configured rate and holds them back after a throttling reply.
/// Shared by every send of the process (the limits are per mailbox).
#[derive(Debug)]
pub struct Pacer {
    interval: Option<Duration>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// The earliest time the next send may start.
    next: Instant,
    /// No send starts before this (the server said "too fast").
    held_until: Instant,
    /// The wait the next throttling reply sets.
    backoff: Duration,
}

impl Pacer {
    /// `rate: None` spaces nothing; throttling replies still hold sends back.
    pub fn new(rate: Option<Rate>) -> Pacer {
        let now = Instant::now();
        Pacer {
            interval: rate.map(|r| r.interval()),
            state: Mutex::new(State {
                next: now,
                held_until: now,
                backoff: THROTTLE_FIRST,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a few instants, valid whatever a panicking holder left.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes the next free turn (first come, first served) and returns when it begins.
    pub async fn turn(&self) {
        loop {
            let start = {
                let mut s = self.lock();
                let start = Instant::now().max(s.next).max(s.held_until);
                s.next = start + self.interval.unwrap_or(Duration::ZERO);
                start
            };
            tokio::time::sleep_until(start).await;
            // A throttling reply while this one waited moves every turn behind it.
            let mut s = self.lock();
            if s.held_until <= start {
                return;
            }
            // The turn given up is free again when no later one was taken.
            if s.next == start + self.interval.unwrap_or(Duration::ZERO) {
                s.next = start;
            }
        }
    }

    /// The server answered with a throttling reply: no send starts for the returned wait,
    /// which doubles while the server keeps throttling (replies to sends that were already
    /// under way when it said so do not double it again).
    pub fn throttled(&self) -> Duration {
        let mut s = self.lock();
        let now = Instant::now();
        if now < s.held_until {
            return s.held_until - now;
        }
        let wait = s.backoff;
        s.held_until = now + wait;
        s.backoff = (wait * 2).min(THROTTLE_MAX);
        wait
    }

    /// A message went through: the next throttling reply waits [`THROTTLE_FIRST`] again.
    pub fn succeeded(&self) {
        self.lock().backoff = THROTTLE_FIRST;
    }
}

/// Whether an SMTP reply (`code`, and its text with the enhanced status code first) says
/// "you are going too fast" rather than "this message is refused": Microsoft 365's
/// `432 4.3.2` and `421 4.3.2` (concurrent connections), `4.4.5` (system congestion),
/// `421 4.7.0` (Postfix's and Gmail's "too many connections"/"try again later", closing
/// the channel), and 4xx replies that name the limit (Postfix's `450 4.7.1 Error: too
/// much mail from …`, "rate limit", "throttled", "server busy"). A 5xx reply is never
/// throttling, and a bare `450 4.7.1` (greylisting, a policy) is a refusal like any other.
pub fn is_throttling(code: u16, text: &str) -> bool {
    if !(400..500).contains(&code) {
        return false;
    }
    let text = text.trim().to_ascii_lowercase();
    let status = text
        .split_whitespace()
        .next()
        .filter(|w| w.starts_with("4.") && w.split('.').count() == 3)
        .unwrap_or("");
    if matches!(status, "4.3.2" | "4.4.5") || (code == 421 && status == "4.7.0") {
        return true;
    }
    const SAYS_SO: [&str; 10] = [
        "too many connections",
        "too much mail",
        "too many messages",
        "concurrent connections",
        "thread limit",
        "rate limit",
        "ratelimit",
        "rate-limit",
        "throttl",
        "server busy",
    ];
    SAYS_SO.iter().any(|p| text.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_replies_are_told_from_refusals() {
        let throttling = [
            (432, "4.3.2 Concurrent connections limit exceeded. Visit https://aka.ms/concurrent_sending for more information."),
            (421, "4.3.2 The maximum number of concurrent server connections has exceeded a limit, closing transmission channel"),
            (432, "4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded"),
            (450, "4.7.1 Error: too much mail from 127.0.0.1"),
            (421, "4.7.0 mail.example.test Error: too many connections from 127.0.0.1"),
            (421, "4.7.0 Try again later, closing connection."),
            (451, "4.7.500 Server busy. Please try again later from [192.0.2.1]."),
            (452, "4.4.5 Insufficient system resources"),
            (450, "4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages (rate limited)"),
        ];
        for (code, text) in throttling {
            assert!(is_throttling(code, text), "{code} {text}");
        }
        let refusals = [
            // The test servers' own deferral rule, and greylisting: counted as before.
            (450, "4.7.1 try again later (test rule)"),
            (
                450,
                "4.7.1 <a@b.test>: Recipient address rejected: Greylisted",
            ),
            (451, "4.3.0 Error: queue file write error"),
            (452, "4.3.1 Insufficient system storage"),
            (454, "4.7.0 Temporary authentication failure"),
            (421, "4.4.2 timeout exceeded"),
            // Permanent is never throttling, whatever the words.
            (
                554,
                "5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException",
            ),
            (550, "5.7.1 too much mail from you, go away"),
            (250, "2.0.0 Ok: rate limit fine"),
            (450, ""),
        ];
        for (code, text) in refusals {
            assert!(!is_throttling(code, text), "{code} {text}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn turns_are_spaced_at_the_rate_and_never_burst() {
        let rate = Rate {
            messages: 30,
            per: Duration::from_secs(60),
        };
        let pacer = Pacer::new(Some(rate));
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..4 {
            pacer.turn().await;
            at.push(start.elapsed());
        }
        let s = Duration::from_secs;
        assert_eq!(at, [s(0), s(2), s(4), s(6)]);
        // Idle time saves up no burst: after a long pause, still one turn, then 2 s.
        tokio::time::sleep(s(60)).await;
        let resumed = Instant::now();
        pacer.turn().await;
        pacer.turn().await;
        assert_eq!(resumed.elapsed(), s(2));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_turns_queue_in_order_at_the_rate() {
        let pacer = Pacer::new(Some(Rate {
            messages: 10,
            per: Duration::from_secs(1),
        }));
        let start = Instant::now();
        let times = futures::future::join_all((0..5).map(|_| async {
            pacer.turn().await;
            start.elapsed()
        }))
        .await;
        let ms = Duration::from_millis;
        assert_eq!(times, [ms(0), ms(100), ms(200), ms(300), ms(400)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttling_reply_holds_every_turn_back_doubling_until_one_goes_through() {
        let pacer = Pacer::new(None);
        let s = Duration::from_secs;
        let start = Instant::now();
        pacer.turn().await;
        assert_eq!(start.elapsed(), s(0), "no rate: no wait");
        assert_eq!(pacer.throttled(), s(1));
        // Replies to sends already under way do not double it again.
        assert_eq!(pacer.throttled(), s(1));
        pacer.turn().await;
        assert_eq!(start.elapsed(), s(1));
        assert_eq!(pacer.throttled(), s(2));
        pacer.turn().await;
        assert_eq!(pacer.throttled(), s(4));
        pacer.turn().await;
        assert_eq!(start.elapsed(), s(7));
        for _ in 0..10 {
            pacer.turn().await;
            pacer.throttled();
        }
        assert_eq!(pacer.lock().backoff, THROTTLE_MAX, "bounded");
        pacer.turn().await;
        pacer.succeeded();
        assert_eq!(pacer.throttled(), THROTTLE_FIRST);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_set_while_a_turn_waits_moves_that_turn() {
        let pacer = std::sync::Arc::new(Pacer::new(Some(Rate {
            messages: 1,
            per: Duration::from_secs(1),
        })));
        let start = Instant::now();
        pacer.turn().await;
        let waiting = tokio::spawn({
            let pacer = pacer.clone();
            async move {
                pacer.turn().await;
                start.elapsed()
            }
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(pacer.throttled(), Duration::from_secs(1));
        // Its turn at 1 s fell inside the hold (until 1.5 s): it begins when the hold ends.
        let began = waiting.await.unwrap();
        assert_eq!(began, Duration::from_millis(1500));
        // And the rate still holds after it.
        pacer.turn().await;
        assert_eq!(start.elapsed(), Duration::from_millis(2500));
    }
}
