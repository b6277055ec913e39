//! What the daemon counts and how ready it is, for `/metrics`, `/healthz` and `/readyz` on
//! the console's listener. One [`Metrics`] is made per process and shared (`Arc`) by the
//! pipeline, the daemon's loops, the reloads and the console; each place calls a typed
//! method (`mail_done`, `sent`, `send_failed`, …), never a metric by its name.
//!
//! Labels are closed sets (outcome, category, failure class, stage, part): a metric never
//! carries an address, a subject, a Message-ID or a secret, and its cardinality is fixed.
//! This module never does I/O; the console encodes what it holds.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::clock::unix_seconds;
use crate::deliver::SendFailure;
use crate::types::{Category, MessageKind};

/// A stage of a mail's way through the daemon, timed by `autosvar_stage_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Fetching a batch of mails from the IMAP server (or reading a Maildir file).
    Fetch,
    /// Parse, classify, decide, compose and record one mail.
    Decide,
    /// One SMTP transaction (or outbox write).
    Send,
    /// Showing outcomes in the mailbox: Sent copies, flags, moves.
    Mark,
}

impl Stage {
    const ALL: [Stage; 4] = [Stage::Fetch, Stage::Decide, Stage::Send, Stage::Mark];

    fn name(self) -> &'static str {
        match self {
            Stage::Fetch => "fetch",
            Stage::Decide => "decide",
            Stage::Send => "send",
            Stage::Mark => "mark",
        }
    }
}

/// What a reload checked and refused (the running one stayed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Config,
    Rules,
    Training,
    Templates,
}

impl Part {
    const ALL: [Part; 4] = [Part::Config, Part::Rules, Part::Training, Part::Templates];

    fn name(self) -> &'static str {
        match self {
            Part::Config => "config",
            Part::Rules => "rules",
            Part::Training => "training",
            Part::Templates => "templates",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MailLabels {
    outcome: &'static str,
    category: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CategoryLabel {
    category: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabel {
    class: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabel {
    stage: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartLabel {
    part: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServerLabel {
    server: &'static str,
}

/// Arrival to SMTP 250, in seconds: 0.1 s to an hour, then "later".
const LATENCY_BUCKETS: [f64; 14] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];
/// One stage, in seconds: a millisecond to two minutes (a send waits for its turn first).
const STAGE_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 120.0,
];

/// Whether the mailbox side can be read: IMAP logged in and the folder selected, or the
/// Maildir scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Intake {
    /// Not yet connected since the start.
    Starting,
    Up,
    /// Lost, with a short reason (no address, no secret).
    Down(String),
}

/// How late the mail loop may come round after the time it gave ([`Metrics::loop_round`])
/// before `/healthz` calls it stuck: room for a batch's sends under a rate limit, the
/// server timeouts of a round, and a slow disk.
pub const LOOP_GRACE: Duration = Duration::from_secs(5 * 60);

/// What `/healthz` and `/readyz` look at besides the ledger.
#[derive(Debug)]
struct Health {
    /// When the mail loop must have come round again by (`None`: no promise, as before
    /// its first round or while it waits without a bound).
    loop_due: Option<Instant>,
    intake: Intake,
    /// The intake is a Maildir (else IMAP).
    maildir: bool,
    /// The last SMTP exchange that failed without an answer from the server (a refused or
    /// lost connection, a timeout, TLS), until an exchange succeeds. `None`: the server
    /// answered last time, or nothing has been sent yet.
    smtp_down: Option<&'static str>,
}

/// The daemon's counters and readiness, shared by every part of the process.
pub struct Metrics {
    registry: Registry,
    mails: Family<MailLabels, Counter>,
    doubtful: Family<CategoryLabel, Counter>,
    review_waiting: Gauge,
    replies_sent: Counter,
    forwards_sent: Counter,
    send_failures: Family<ClassLabel, Counter>,
    set_aside: Counter,
    imap_reconnects: Counter,
    reload_failures: Family<PartLabel, Counter>,
    reply_latency: Histogram,
    stages: Family<StageLabel, Histogram, fn() -> Histogram>,
    backlog: Gauge,
    last_imap_contact: Gauge,
    token_expiry: Family<ServerLabel, Gauge>,
    health: Mutex<Health>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

fn stage_histogram() -> Histogram {
    Histogram::new(STAGE_BUCKETS)
}

impl Metrics {
    /// Every family registered, all at zero, the intake not yet up.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("autosvar");
        let mails = Family::<MailLabels, Counter>::default();
        registry.register(
            "mails",
            "Mails handled, by outcome (the pipeline's labels) and category",
            mails.clone(),
        );
        let doubtful = Family::<CategoryLabel, Counter>::default();
        registry.register(
            "mails_doubtful",
            "Doubtful mails (a specific category below the rules' review-below): acknowledged, flagged for review, a desk forward held; by guessed category",
            doubtful.clone(),
        );
        let review_waiting = Gauge::default();
        registry.register(
            "review_waiting",
            "Mails waiting for review in the ledger (the console's review list), as of the last scrape",
            review_waiting.clone(),
        );
        let replies_sent = Counter::default();
        registry.register(
            "replies_sent",
            "Replies accepted by the SMTP server (or written to the outbox)",
            replies_sent.clone(),
        );
        let forwards_sent = Counter::default();
        registry.register(
            "forwards_sent",
            "Forwards to a desk accepted by the SMTP server (or written to the outbox)",
            forwards_sent.clone(),
        );
        let send_failures = Family::<ClassLabel, Counter>::default();
        registry.register(
            "send_failures",
            "Messages not delivered, by class: refused, temporary, throttled, connection, login, setup, write",
            send_failures.clone(),
        );
        let set_aside = Counter::default();
        registry.register(
            "set_aside",
            "Mails set aside for a person",
            set_aside.clone(),
        );
        let imap_reconnects = Counter::default();
        registry.register(
            "imap_reconnects",
            "IMAP connections lost and tried again",
            imap_reconnects.clone(),
        );
        let reload_failures = Family::<PartLabel, Counter>::default();
        registry.register(
            "reload_failures",
            "Reloads refused (the running set stayed), by part: config, rules, training, templates",
            reload_failures.clone(),
        );
        let reply_latency = Histogram::new(LATENCY_BUCKETS);
        registry.register_with_unit(
            "reply_latency",
            "From the mail's arrival (IMAP INTERNALDATE, or the Maildir file's mtime) to the SMTP server's acceptance of its reply",
            Unit::Seconds,
            reply_latency.clone(),
        );
        let stages: Family<StageLabel, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(stage_histogram);
        registry.register_with_unit(
            "stage",
            "Time spent per stage: fetch, decide, send, mark",
            Unit::Seconds,
            stages.clone(),
        );
        let backlog = Gauge::default();
        registry.register(
            "backlog",
            "Mails listed as waiting and not yet handled",
            backlog.clone(),
        );
        let last_imap_contact = Gauge::default();
        registry.register_with_unit(
            "last_imap_contact",
            "When the IMAP server (or the Maildir) last answered, Unix time",
            Unit::Seconds,
            last_imap_contact.clone(),
        );
        let token_expiry = Family::<ServerLabel, Gauge>::default();
        registry.register_with_unit(
            "oauth2_token_expiry",
            "When the last XOAUTH2 access token expires, Unix time (by server: imap, smtp)",
            Unit::Seconds,
            token_expiry.clone(),
        );
        // The series a dashboard looks for are there at 0 from the start (a series that
        // appears only with its first count hides that first count from `rate()`).
        for category in Category::ALL {
            for outcome in ["replied", "skipped", "set-aside", "failed"] {
                drop(mails.get_or_create(&MailLabels {
                    outcome,
                    category: category.name(),
                }));
            }
            if category != Category::Other {
                drop(doubtful.get_or_create(&CategoryLabel {
                    category: category.name(),
                }));
            }
        }
        for class in SendFailure::ALL {
            drop(send_failures.get_or_create(&ClassLabel {
                class: class.name(),
            }));
        }
        for part in Part::ALL {
            drop(reload_failures.get_or_create(&PartLabel { part: part.name() }));
        }
        for stage in Stage::ALL {
            drop(stages.get_or_create(&StageLabel {
                stage: stage.name(),
            }));
        }
        Metrics {
            registry,
            mails,
            doubtful,
            review_waiting,
            replies_sent,
            forwards_sent,
            send_failures,
            set_aside,
            imap_reconnects,
            reload_failures,
            reply_latency,
            stages,
            backlog,
            last_imap_contact,
            token_expiry,
            health: Mutex::new(Health {
                loop_due: None,
                intake: Intake::Starting,
                maildir: false,
                smtp_down: None,
            }),
        }
    }

    /// A mail's final outcome in this pass: `outcome` is the outcome's fixed word
    /// (`Outcome::label`: "replied", "set-aside" …, never a reason, which may quote an
    /// address), `category` the one it was classified as ("none" when it was never
    /// classified: already done, unreadable).
    pub fn mail_done(&self, outcome: &'static str, category: Option<Category>) {
        self.mails
            .get_or_create(&MailLabels {
                outcome,
                category: category.map_or("none", Category::name),
            })
            .inc();
    }

    /// A doubtful mail was acknowledged (its guess: `category`) and flagged for review.
    pub fn doubtful(&self, category: Category) {
        self.doubtful
            .get_or_create(&CategoryLabel {
                category: category.name(),
            })
            .inc();
    }

    /// How many mails wait for review in the ledger (read by whoever holds it open).
    pub fn review_waiting(&self, waiting: u64) {
        self.review_waiting
            .set(i64::try_from(waiting).unwrap_or(i64::MAX));
    }

    /// A message accepted by the server (SMTP 250) or written to the outbox.
    pub fn sent(&self, kind: MessageKind) {
        match kind {
            MessageKind::Reply => self.replies_sent.inc(),
            MessageKind::Forward => self.forwards_sent.inc(),
        };
        self.lock().smtp_down = None;
    }

    /// A message not delivered; a failure without an answer from the server makes SMTP
    /// not ready until the next success.
    pub fn send_failed(&self, class: SendFailure) {
        self.send_failures
            .get_or_create(&ClassLabel {
                class: class.name(),
            })
            .inc();
        let mut health = self.lock();
        if class.unanswered() {
            health.smtp_down = Some(class.name());
        } else {
            // It said no, or "too fast": it answered.
            health.smtp_down = None;
        }
    }

    /// A mail set aside for a person.
    pub fn set_aside(&self) {
        self.set_aside.inc();
    }

    /// The IMAP connection was lost (a reconnect follows); `why` is short, with no address.
    pub fn imap_lost(&self, why: &str) {
        self.imap_reconnects.inc();
        self.lock().intake = Intake::Down(why.to_string());
    }

    /// The mailbox answered: IMAP logged in and selected, or a Maildir scan succeeded.
    pub fn intake_up(&self, at: SystemTime) {
        self.last_imap_contact.set(unix_seconds(at));
        self.lock().intake = Intake::Up;
    }

    /// The mail comes from a Maildir, not IMAP: `/readyz` names it so.
    pub fn maildir_intake(&self) {
        self.lock().maildir = true;
    }

    /// A Maildir scan failed (IMAP failures are [`Metrics::imap_lost`]).
    pub fn maildir_unreadable(&self, why: &str) {
        self.lock().intake = Intake::Down(why.to_string());
    }

    /// A reload refused `part`.
    pub fn reload_refused(&self, part: Part) {
        self.reload_failures
            .get_or_create(&PartLabel { part: part.name() })
            .inc();
    }

    /// A reply accepted `after` its mail arrived.
    pub fn reply_latency(&self, after: Duration) {
        self.reply_latency.observe(after.as_secs_f64());
    }

    /// `stage` took `took`.
    pub fn stage(&self, stage: Stage, took: Duration) {
        self.stages
            .get_or_create(&StageLabel {
                stage: stage.name(),
            })
            .observe(took.as_secs_f64());
    }

    /// Mails listed and not yet handled.
    pub fn backlog(&self, waiting: usize) {
        self.backlog.set(i64::try_from(waiting).unwrap_or(i64::MAX));
    }

    /// An XOAUTH2 access token for `server` ("imap", "smtp") that expires at `at`.
    pub fn token_expires(&self, server: &'static str, at: SystemTime) {
        self.token_expiry
            .get_or_create(&ServerLabel { server })
            .set(unix_seconds(at));
    }

    /// The mail loop came round (or finished a batch, or waits out an outage) and will come
    /// round again within `next_within` (`Duration::MAX`: no bound), give or take
    /// [`LOOP_GRACE`].
    pub fn loop_round(&self, next_within: Duration) {
        self.loop_round_at(Instant::now(), next_within);
    }

    fn loop_round_at(&self, now: Instant, next_within: Duration) {
        self.lock().loop_due = now.checked_add(next_within.saturating_add(LOOP_GRACE));
    }

    /// How long past its promised time the mail loop is (`None`: alive).
    pub fn stuck(&self) -> Option<Duration> {
        self.stuck_at(Instant::now())
    }

    fn stuck_at(&self, now: Instant) -> Option<Duration> {
        let due = self.lock().loop_due?;
        now.checked_duration_since(due).filter(|d| !d.is_zero())
    }

    /// What fails readiness besides the ledger, a short line each ("imap: …", "smtp: …").
    pub fn unready(&self) -> Vec<String> {
        let health = self.lock();
        let mut why = Vec::new();
        match (&health.intake, health.maildir) {
            (Intake::Up, _) => {}
            (Intake::Starting, false) => why.push("imap: not logged in yet".to_string()),
            (Intake::Starting, true) => why.push("maildir: not read yet".to_string()),
            (Intake::Down(reason), false) => why.push(format!("imap: not logged in: {reason}")),
            (Intake::Down(reason), true) => why.push(format!("maildir: cannot be read: {reason}")),
        }
        if let Some(class) = health.smtp_down {
            why.push(format!("smtp: the last exchange failed ({class})"));
        }
        why
    }

    /// The Prometheus text (OpenMetrics) of every family.
    ///
    /// # Errors
    /// Only if formatting fails (it writes to a `String`).
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Health> {
        // The health is two plain values: a panic while holding it leaves them usable.
        self.health.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, start: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(start))
    }

    #[test]
    fn every_family_is_in_the_text_from_the_start() {
        let text = Metrics::new().encode().unwrap();
        for family in [
            "autosvar_mails",
            "autosvar_replies_sent",
            "autosvar_forwards_sent",
            "autosvar_send_failures",
            "autosvar_set_aside",
            "autosvar_imap_reconnects",
            "autosvar_reload_failures",
            "autosvar_reply_latency_seconds",
            "autosvar_stage_seconds",
            "autosvar_backlog",
            "autosvar_last_imap_contact_seconds",
        ] {
            assert!(
                text.contains(&format!("# TYPE {family} ")),
                "{family} missing from:\n{text}"
            );
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
        // Only once an XOAUTH2 token was read.
        assert!(!text.contains("oauth2_token_expiry_seconds{"), "{text}");
        for series in [
            "autosvar_mails_total{outcome=\"replied\",category=\"pricing\"} 0",
            "autosvar_send_failures_total{class=\"throttled\"} 0",
            "autosvar_reload_failures_total{part=\"rules\"} 0",
            "autosvar_stage_seconds_count{stage=\"mark\"} 0",
        ] {
            assert!(text.contains(series), "{series} missing from:\n{text}");
        }
        assert_eq!(
            line(&text, "autosvar_replies_sent_total "),
            Some("autosvar_replies_sent_total 0")
        );
    }

    #[test]
    fn doubtful_mails_are_counted_by_guess_and_the_review_list_is_a_gauge() {
        let m = Metrics::new();
        let text = m.encode().unwrap();
        assert!(
            text.contains("autosvar_mails_doubtful_total{category=\"technical\"} 0"),
            "{text}"
        );
        // `other` is never a guess that can be doubtful.
        assert!(!text.contains("autosvar_mails_doubtful_total{category=\"other\"}"));
        m.doubtful(Category::Technical);
        m.doubtful(Category::Technical);
        m.doubtful(Category::Pricing);
        m.review_waiting(7);
        let text = m.encode().unwrap();
        for series in [
            "autosvar_mails_doubtful_total{category=\"technical\"} 2",
            "autosvar_mails_doubtful_total{category=\"pricing\"} 1",
            "autosvar_mails_doubtful_total{category=\"terms\"} 0",
            "autosvar_review_waiting 7",
        ] {
            assert!(text.contains(series), "{series} missing from:\n{text}");
        }
    }

    #[test]
    fn mails_are_counted_by_outcome_and_category() {
        let m = Metrics::new();
        m.mail_done("replied", Some(Category::Pricing));
        m.mail_done("replied", Some(Category::Pricing));
        m.mail_done("skipped", Some(Category::Other));
        m.mail_done("set-aside", Some(Category::Terms));
        m.mail_done("already-done", None);
        let text = m.encode().unwrap();
        assert!(
            text.contains("autosvar_mails_total{outcome=\"replied\",category=\"pricing\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("autosvar_mails_total{outcome=\"skipped\",category=\"other\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("autosvar_mails_total{outcome=\"set-aside\",category=\"terms\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("autosvar_mails_total{outcome=\"already-done\",category=\"none\"} 1"),
            "{text}"
        );
        assert!(
            !text.contains("example.org"),
            "no address in a label: {text}"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        // Every label value here is a fixed word; the encoder still escapes what would
        // break the format, should one ever carry a quote or a backslash.
        let m = Metrics::new();
        m.token_expires("im\"ap\\", SystemTime::UNIX_EPOCH + Duration::from_secs(5));
        let text = m.encode().unwrap();
        assert!(
            text.contains(r#"autosvar_oauth2_token_expiry_seconds{server="im\"ap\\"} 5"#),
            "{text}"
        );
    }

    #[test]
    fn the_loop_is_stuck_only_past_its_promise_and_the_grace() {
        let m = Metrics::new();
        let t = Instant::now();
        assert_eq!(
            m.stuck_at(t + Duration::from_secs(86_400)),
            None,
            "no promise yet"
        );
        m.loop_round_at(t, Duration::from_secs(60));
        let due = t + Duration::from_secs(60) + LOOP_GRACE;
        assert_eq!(m.stuck_at(due), None);
        assert_eq!(
            m.stuck_at(due + Duration::from_secs(3)),
            Some(Duration::from_secs(3))
        );
        m.loop_round_at(t, Duration::MAX);
        assert_eq!(
            m.stuck_at(t + Duration::from_secs(86_400 * 365)),
            None,
            "no bound"
        );
    }

    #[test]
    fn sends_failures_and_readiness() {
        let m = Metrics::new();
        assert_eq!(m.unready(), ["imap: not logged in yet"]);
        m.intake_up(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        assert!(m.unready().is_empty());
        m.send_failed(SendFailure::Connection);
        assert_eq!(m.unready(), ["smtp: the last exchange failed (connection)"]);
        m.sent(MessageKind::Reply);
        m.sent(MessageKind::Forward);
        m.sent(MessageKind::Reply);
        assert!(m.unready().is_empty(), "a success makes SMTP ready again");
        m.send_failed(SendFailure::Refused);
        assert!(m.unready().is_empty(), "a refusal is an answer");
        m.imap_lost("connection reset");
        assert_eq!(m.unready(), ["imap: not logged in: connection reset"]);
        let maildir = Metrics::new();
        maildir.maildir_intake();
        assert_eq!(maildir.unready(), ["maildir: not read yet"]);
        maildir.maildir_unreadable("no new/");
        assert_eq!(maildir.unready(), ["maildir: cannot be read: no new/"]);
        m.set_aside();
        m.reload_refused(Part::Templates);
        m.backlog(7);
        m.reply_latency(Duration::from_millis(300));
        m.stage(Stage::Send, Duration::from_millis(20));
        let text = m.encode().unwrap();
        for want in [
            "autosvar_replies_sent_total 2",
            "autosvar_forwards_sent_total 1",
            "autosvar_send_failures_total{class=\"connection\"} 1",
            "autosvar_send_failures_total{class=\"refused\"} 1",
            "autosvar_set_aside_total 1",
            "autosvar_imap_reconnects_total 1",
            "autosvar_reload_failures_total{part=\"templates\"} 1",
            "autosvar_backlog 7",
            "autosvar_last_imap_contact_seconds 1700000000",
            "autosvar_reply_latency_seconds_bucket{le=\"0.25\"} 0",
            "autosvar_reply_latency_seconds_bucket{le=\"0.5\"} 1",
            "autosvar_reply_latency_seconds_count 1",
            "autosvar_stage_seconds_count{stage=\"send\"} 1",
        ] {
            assert!(text.contains(want), "{want} missing from:\n{text}");
        }
    }
}
