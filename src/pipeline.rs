//! Pipeline: runs one mail through parse -> guard -> classify -> decide -> compose ->
//! ledger -> deliver, inside the mail's tracing span.
//!
//! The ledger is asked first, before the mail is parsed: bytes it has seen from the same
//! source, read as a mail it has finished, are not parsed or classified again (a restart
//! over a Maildir's `new/` reads only what is new); any other mail is read, and a mail the
//! ledger has finished is never touched again. The ledger is written before anything is
//! sent (decision plus outgoing messages, one transaction); each message is marked
//! delivered as it goes. A doubtful mail (a specific category below the rules'
//! `review-below`) gets the short acknowledgement (the `other` template) instead of its
//! guess's, is recorded with its guess and flagged for review; its desk forward is never
//! composed here, so no resume can send it: only a person's request does
//! (`pipeline/manual.rs`). One bad mail never stops the pipeline: it comes back as
//! an [`Outcome`], is recorded, and the caller goes on. Body text is never logged.
//!
//! Fault isolation: a panic while parsing, guarding, classifying or composing one mail is
//! caught here ([`contained`]); the mail is set aside for a person (ledger state
//! `set-aside` with the reason, `\Flagged` in IMAP) and the next mail goes on. What cannot
//! be caught (out of memory, an abort, a kill) is caught by a note: before any work on a
//! mail the ledger records which mail is in hand, and clears it after. A start that finds
//! the note counts a death against that mail; a mail in hand at [`POISON_AFTER`] deaths is
//! set aside unread when it comes round again, never retried for ever. It must never log
//! a panic's message (it may quote the mail).

use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use futures::{StreamExt as _, TryStreamExt as _};
use serde::Serialize;
use tracing::{debug, field, info, info_span, warn, Span};

use crate::classify::{Category, Classification, Classifier};
use crate::config::Config;
use crate::decide::{decide, guard, Decision, History, SkipReason};
use crate::deliver::throttle::THROTTLE_TRIES;
use crate::deliver::{DeliverError, Transport};
use crate::intake::RawMail;
use crate::ledger::{self, Ledger, LedgerError, Record, State};
use crate::metrics::{Metrics, Stage};
use crate::parse::{self, Mail};
use crate::render::compose;
use crate::render::Templates;
use crate::types::{Action, DeskKey, MessageKind, Source};

mod manual;
pub use manual::{Bell, Done};
mod swap;
pub use swap::{Followers, Reloaded, Reloader};

/// Everything decided about a mail without touching the ledger or a transport: what
/// `classify` prints and what `run` acts on.
#[derive(Debug, Clone)]
pub struct Assessment {
    pub mail: Mail,
    pub classification: Classification,
    /// Set when the mail must not be answered whatever it is about.
    pub guard: Option<SkipReason>,
}

/// Runs `f`, turning a panic into `None`: one mail's bug must never stop the daemon or the
/// mails behind it. The panic itself is logged by the hook [`install_panic_hook`] sets,
/// where it happened but never its message, which may quote the mail.
pub fn contained<T>(f: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
}

/// Replaces the default panic message (which may quote a mail's text, and so a CPR number)
/// with one log line naming where the panic happened.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(at = %at, "internal error (panic); its message is not logged, as it may quote the mail");
    }));
}

/// Test builds only (debug assertions on; never in a release binary): with
/// `AUTOSVAR_FAULT=panic:TOKEN` or `abort:TOKEN` (several joined by commas), a mail whose bytes contain TOKEN panics or
/// aborts the process, as a bug or an out-of-memory death would, so the tests can show that
/// such a mail is contained, recognised after a restart and set aside.
#[cfg(debug_assertions)]
fn inject_fault(bytes: &[u8]) {
    let Ok(spec) = std::env::var("AUTOSVAR_FAULT") else {
        return;
    };
    for (kind, token) in spec.split(',').filter_map(|f| f.split_once(':')) {
        if token.is_empty() || !bytes.windows(token.len()).any(|w| w == token.as_bytes()) {
            continue;
        }
        match kind {
            "abort" => std::process::abort(),
            _ => panic!("injected fault"),
        }
    }
}

/// Parses, guards and classifies raw bytes. Pure.
pub fn assess(bytes: &[u8], config: &Config, classifier: &Classifier) -> Assessment {
    #[cfg(debug_assertions)]
    inject_fault(bytes);
    let mail = parse::parse(bytes, config.replies());
    let guard = guard(&mail, &config.own_addresses);
    let mut classification = classifier.classify(&mail);
    if crate::decide::is_machine_generated(&mail, guard) {
        // A bounce, an out-of-office or a bulk mailing asks nothing: its words are not a
        // question about pricing or terms, whatever they say.
        classification.category = Category::Other;
        classification.desk = None;
        classification.secondary = None;
        classification.doubtful = false;
    }
    Assessment {
        mail,
        classification,
        guard,
    }
}

/// What happened to one mail.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    Replied {
        category: Category,
        desk: Option<DeskKey>,
        reply_id: String,
    },
    Skipped {
        reason: SkipReason,
        category: Category,
    },
    /// Doubtful (the classifier not sure enough of `guess`): the short acknowledgement was
    /// sent instead of `guess`'s template, the mail waits for review, and a technical
    /// guess's forward to `held` waits for a person.
    Acknowledged {
        guess: Category,
        held: Option<DeskKey>,
        reply_id: String,
    },
    /// A doubtful mail's held forward, sent as a person asked in the review list.
    Forwarded { guess: Category, desk: DeskKey },
    /// The ledger already has it.
    AlreadyDone,
    /// Not sent this time; will be tried again.
    Failed { error: String },
    /// Left for a human.
    SetAside { why: String },
    /// `--dry-run`: what would have happened.
    WouldReply {
        category: Category,
        desk: Option<DeskKey>,
    },
    WouldSkip {
        reason: SkipReason,
        category: Category,
    },
    /// `--dry-run`: a doubtful mail would get the acknowledgement.
    WouldAcknowledge {
        guess: Category,
        held: Option<DeskKey>,
    },
}

impl Outcome {
    /// One short word for the log and `run --once` lines.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Replied { .. } => "replied",
            Outcome::Acknowledged { .. } => "acknowledged",
            Outcome::Forwarded { .. } => "forwarded",
            Outcome::Skipped { .. } => "skipped",
            Outcome::AlreadyDone => "already-done",
            Outcome::Failed { .. } => "failed",
            Outcome::SetAside { .. } => "set-aside",
            Outcome::WouldReply { .. } => "would-reply",
            Outcome::WouldSkip { .. } => "would-skip",
            Outcome::WouldAcknowledge { .. } => "would-acknowledge",
        }
    }

    /// The category the mail was classified as, when the outcome says.
    pub fn category(&self) -> Option<Category> {
        match self {
            Outcome::Replied { category, .. }
            | Outcome::Skipped { category, .. }
            | Outcome::WouldReply { category, .. }
            | Outcome::WouldSkip { category, .. } => Some(*category),
            Outcome::Acknowledged { guess, .. }
            | Outcome::WouldAcknowledge { guess, .. }
            | Outcome::Forwarded { guess, .. } => Some(*guess),
            Outcome::AlreadyDone | Outcome::Failed { .. } | Outcome::SetAside { .. } => None,
        }
    }

    /// A human line: "replied technical desk=cimt", "skipped auto-reply",
    /// "acknowledged doubtful technical, forward to cimt held".
    pub fn describe(&self) -> String {
        match self {
            Outcome::Replied { category, desk, .. } | Outcome::WouldReply { category, desk } => {
                match desk {
                    Some(d) => format!("{} {category} desk={d}", self.label()),
                    None => format!("{} {category}", self.label()),
                }
            }
            Outcome::Skipped { reason, .. } | Outcome::WouldSkip { reason, .. } => {
                format!("{} {reason}", self.label())
            }
            Outcome::Acknowledged { guess, held, .. }
            | Outcome::WouldAcknowledge { guess, held } => match held {
                Some(d) => format!("{} doubtful {guess}, forward to {d} held", self.label()),
                None => format!("{} doubtful {guess}", self.label()),
            },
            Outcome::Forwarded { guess, desk } => format!("forwarded {guess} desk={desk}"),
            Outcome::Failed { error } => format!("failed {error}"),
            Outcome::SetAside { why } => format!("set-aside {why}"),
            Outcome::AlreadyDone => "already-done".into(),
        }
    }
}

/// Errors that stop the pipeline (the ledger is gone: nothing can be promised).
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// Delivery cannot work until the configuration or server is fixed.
    #[error("cannot deliver mail")]
    Delivery(#[source] DeliverError),
}

/// The stages wired together with their state.
pub struct Pipeline {
    config: Arc<Config>,
    classifier: Classifier,
    templates: Arc<ArcSwap<Templates>>,
    ledger: Ledger,
    transport: Transport,
    dry_run: bool,
    /// Refusals of a mail's messages before it is set aside for a human.
    max_attempts: u32,
    /// The digests of mails the process died with in hand [`POISON_AFTER`] times, read
    /// once when the ledger was asked which mail was in hand at the last death (`None`
    /// before). Only that start adds to them, so a mail not among them needs no ledger query.
    poisoned: Option<HashSet<String>>,
    /// Rung by the console when it writes a request, and by a finished retraining: the
    /// daemon's wait ends at once ([`Pipeline::bell`]).
    bell: Arc<tokio::sync::Notify>,
    /// A retrained model or reloaded parts waiting to be swapped in between mails.
    retrained: swap::Retrained,
    /// What the process counts, shared with the daemon's loops and the console.
    metrics: Arc<Metrics>,
}

/// Where reading an IMAP folder stands (see [`Pipeline::open_mailbox`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Every message up to this UID has been handled.
    pub last_uid: u32,
    /// The folder is read from the start: new to autosvar, or renumbered.
    pub first_start: bool,
}

/// The ledger's names for a folder's UIDVALIDITY and last handled UID.
fn cursor_keys(mailbox: &str) -> (String, String) {
    (
        format!("imap:{mailbox}:uidvalidity"),
        format!("imap:{mailbox}:last-uid"),
    )
}

/// How many times the process may die with one mail in hand before that mail is set aside
/// unread. The count is kept until the mail is once handled to the end (deaths with other
/// mails in hand do not reset it). One death may be a kill or a power cut that has nothing
/// to do with the mail, and a kill can land twice running on the same mail while it is
/// briefly in hand after a restart; three is the mail. Bounded: never retried for ever.
pub const POISON_AFTER: u32 = 3;

/// Messages sent at the same time (one SMTP connection each).
const SEND_CONCURRENCY: usize = 8;

/// A mail that has been decided and recorded; its messages are not sent yet.
pub struct Prepared {
    span: Span,
    key: String,
    /// The outcome once every message is delivered (final when there is nothing to send).
    outcome: Outcome,
    outgoing: Vec<ledger::Pending>,
    /// When the mail arrived, for the reply latency.
    arrived: Option<SystemTime>,
}

impl Pipeline {
    pub fn new(
        config: Arc<Config>,
        classifier: Classifier,
        templates: Templates,
        ledger: Ledger,
        transport: Transport,
        dry_run: bool,
    ) -> Pipeline {
        let (max_attempts, marking) = match &config.intake {
            crate::config::IntakeConfig::Imap(i) => (
                i.max_attempts,
                Some(ledger::Marking {
                    sent_copies: i.sent_copy == crate::config::SentCopy::Append,
                    category_folders: i.category_folders.is_some(),
                }),
            ),
            crate::config::IntakeConfig::Maildir { .. } => (5, None),
        };
        let mut ledger = ledger;
        ledger.set_marking(marking);
        let metrics = Metrics::new();
        if matches!(config.intake, crate::config::IntakeConfig::Maildir { .. }) {
            metrics.maildir_intake(); // `/readyz` names the intake it waits for
        }
        Pipeline {
            max_attempts,
            config,
            classifier,
            templates: Arc::new(ArcSwap::from_pointee(templates)),
            ledger,
            transport,
            dry_run,
            poisoned: None,
            bell: Arc::new(tokio::sync::Notify::new()),
            retrained: swap::Retrained::default(),
            metrics: Arc::new(metrics),
        }
    }

    /// The process's metrics: the daemon's loops, the reloads and the console report to
    /// (and read) the same ones.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// The live template set; storing a new, validated set into it takes effect with the
    /// next mail.
    pub fn templates(&self) -> Arc<ArcSwap<Templates>> {
        self.templates.clone()
    }

    /// Closes the transport cleanly (QUIT).
    pub async fn close(&self) {
        self.transport.close().await;
    }

    /// What the mailbox must still be shown (IMAP only: flags, keywords, Sent copies,
    /// category folders), journalled in the ledger with each outcome so a restart finishes
    /// what a stop interrupted.
    ///
    /// # Errors
    /// Only ledger errors.
    pub fn unshown(&self) -> Result<Vec<ledger::Unshown>, PipelineError> {
        Ok(self.ledger.unshown()?)
    }

    /// The mailbox shows these now.
    ///
    /// # Errors
    /// Only ledger errors.
    pub fn shown(&mut self, ids: &[i64]) -> Result<(), PipelineError> {
        Ok(self.ledger.shown(ids)?)
    }

    /// Message-IDs written but not confirmed delivered whose send had started when the
    /// process stopped: only the Sent folder can tell whether they went out.
    ///
    /// # Errors
    /// Only ledger errors.
    pub fn in_doubt(&self) -> Result<Vec<String>, PipelineError> {
        Ok(self.ledger.in_doubt()?)
    }

    /// Sends one prepared message, recording the attempt first and the delivery after.
    async fn send_one(
        &mut self,
        o: &ledger::Pending,
        now: SystemTime,
    ) -> Result<Result<(), DeliverError>, PipelineError> {
        send_recorded(
            &RefCell::new(&mut self.ledger),
            &self.transport,
            &self.metrics,
            o,
            now,
        )
        .await
    }

    /// Counts a temporary refusal (4xx) of a mail's message; after `max-attempts` the mail
    /// is set aside so it never blocks the mails behind it. Unreachable servers do not count.
    fn count_refusal(
        &mut self,
        key: &str,
        e: &DeliverError,
        now: SystemTime,
    ) -> Result<Option<String>, PipelineError> {
        if !e.is_refusal() {
            return Ok(None);
        }
        let mail = parse::MailKey::from_stored(key.to_string());
        // A pending message's mail has its row, source and all (the ledger joins them).
        let source = self
            .ledger
            .source_of(key)?
            .unwrap_or_else(|| Source::from_stored(""));
        let attempts = self
            .ledger
            .record_failure(&mail, &source, &format!("{e:#}"), now)?;
        if attempts < self.max_attempts {
            return Ok(None);
        }
        let why = format!("refused {attempts} times: {e}");
        warn!(%source, mail = %crate::log::id(key), attempts, outcome = "set-aside", "setting the mail aside after repeated refusals");
        self.set_aside(key, &why, now)?;
        Ok(Some(why))
    }

    fn set_aside(&mut self, key: &str, why: &str, now: SystemTime) -> Result<(), PipelineError> {
        self.ledger
            .set_aside(&parse::MailKey::from_stored(key.to_string()), why, now)?;
        self.metrics.set_aside();
        Ok(())
    }

    /// Delivers what the ledger holds as written but not delivered (after a crash, or a
    /// transient failure). `sent` is what the Sent folder shows of the in-doubt messages.
    /// `server_copies: Some(grace)` says the server files every accepted message there
    /// itself, within `grace`: absence after that proves a message never went out (a
    /// fresher one is left for a later call). Without that proof an in-doubt message is
    /// never sent again: its mail is set aside for a human instead. Returns how many went
    /// out.
    ///
    /// # Errors
    /// Only ledger errors; delivery failures stay pending for the next call.
    pub async fn resume_pending(
        &mut self,
        now: SystemTime,
        sent: &HashSet<String>,
        server_copies: Option<Duration>,
    ) -> Result<usize, PipelineError> {
        if self.dry_run {
            return Ok(0);
        }
        let mut count = 0;
        for o in self.ledger.pending()? {
            let span = info_span!("resume", source = field::Empty, mail = %crate::log::id(&o.mail_key), message_id = %o.message.message_id, kind = %o.message.kind);
            if let Some(source) = self.ledger.source_of(&o.mail_key)? {
                span.record("source", field::display(source));
            }
            let _g = span.enter();
            let known = self.transport.knows_sent(o.message.message_id.as_str());
            if sent.contains(o.message.message_id.as_str()) || known == Some(true) {
                info!(
                    outcome = "delivered",
                    "found among sent mail: it went out before the restart"
                );
                self.ledger
                    .delivered(o.message.message_id.as_str(), now, false)?;
                continue;
            }
            let settled = |grace: Duration| {
                o.started
                    .is_none_or(|t| now.duration_since(t).is_ok_and(|age| age >= grace))
            };
            if o.attempts > 0 && known.is_none() && server_copies.is_some_and(|g| !settled(g)) {
                debug!("not in Sent yet; the server's copy may still be on its way");
                continue;
            }
            let proven_unsent = o.attempts == 0 || server_copies.is_some() || known == Some(false);
            if !proven_unsent {
                warn!(outcome = "set-aside", "delivery was interrupted and the Sent folder cannot tell whether it went out; setting the mail aside for a human");
                self.set_aside(
                    &o.mail_key,
                    "delivery interrupted; may or may not have been sent",
                    now,
                )?;
                continue;
            }
            match self.send_one(&o, now).await? {
                Ok(()) => {
                    info!(outcome = "delivered", "delivered pending message");
                    count += 1;
                }
                Err(e) if e.is_fatal() => return Err(PipelineError::Delivery(e)),
                Err(e) if e.is_transient() => {
                    if self.count_refusal(&o.mail_key, &e, now)?.is_some() {
                        continue;
                    }
                    warn!(error = %crate::log::reason(&format!("{e:#}")), outcome = "failed", "pending message not delivered; will retry");
                    if !e.is_refusal() {
                        // The server is unreachable: the rest would fail the same way.
                        break;
                    }
                }
                Err(e) => {
                    warn!(error = %crate::log::reason(&e.to_string()), outcome = "set-aside", "pending message refused; setting mail aside");
                    self.set_aside(
                        &o.mail_key,
                        &format!("{} refused: {e}", o.message.kind),
                        now,
                    )?;
                }
            }
        }
        Ok(count)
    }

    /// Records mail that was waiting before autosvar was switched on and is older than the
    /// configured maximum age: skipped, never answered.
    ///
    /// # Errors
    /// Only ledger errors.
    pub fn record_old(&mut self, raw: &RawMail, now: SystemTime) -> Result<Outcome, PipelineError> {
        self.record_unanswered(raw, SkipReason::Old, now)
    }

    /// Records mail the ledger does not know but the mailbox shows answered or handled by
    /// autosvar (the ledger was lost, or is new over an old mailbox): never answered again.
    ///
    /// # Errors
    /// Only ledger errors.
    pub fn record_handled(
        &mut self,
        raw: &RawMail,
        now: SystemTime,
    ) -> Result<Outcome, PipelineError> {
        self.record_unanswered(raw, SkipReason::AlreadyHandled, now)
    }

    /// Records a mail as skipped for `reason`, unread beyond what its key needs.
    fn record_unanswered(
        &mut self,
        raw: &RawMail,
        reason: SkipReason,
        now: SystemTime,
    ) -> Result<Outcome, PipelineError> {
        let language = self.config.replies();
        let Some(mail) = contained(|| parse::parse(&raw.bytes, language)) else {
            return self.set_aside_unread(raw, "internal error while reading the mail", now);
        };
        if self.ledger.state(&mail.key)?.is_some() {
            return Ok(Outcome::AlreadyDone);
        }
        if self.dry_run {
            return Ok(Outcome::WouldSkip {
                reason,
                category: Category::Other,
            });
        }
        let record = Record {
            key: mail.key.as_str().to_string(),
            source: raw.source.clone(),
            action: Action::Skip,
            category: None,
            desk: None,
            language: Some(mail.language),
            sensitive: false,
            confidence: None,
            doubtful: false,
            skip_reason: Some(reason),
            reply_id: None,
            forward_id: None,
            sender_hash: mail.reply_address().map(|s| ledger::sender_hash(&s.email)),
            subject: Some(kept_subject(&mail.subject)),
            explain: None,
            sender_addresses: Vec::new(),
        };
        self.ledger.record_done(&record, now)?;
        let outcome = Outcome::Skipped {
            reason,
            category: Category::Other,
        };
        self.metrics.mail_done(outcome.label(), outcome.category());
        Ok(outcome)
    }

    /// A mail's Message-ID (without the angle brackets), read with the same parser and
    /// containment as any mail; `None` when it has none or cannot be read.
    pub fn message_id_of(&self, raw: &RawMail) -> Option<String> {
        let language = self.config.replies();
        let mail = contained(|| parse::parse(&raw.bytes, language))?;
        mail.message_id.map(|id| id.as_str().to_string())
    }

    /// Whether the ledger was new (missing or empty) when it was opened.
    pub fn ledger_was_new(&self) -> bool {
        self.ledger.was_new()
    }

    /// Notes in the ledger, for `autosvar status` (another process), that the mailbox
    /// answered just now (`what`: "imap connected", …) and which template set is in use.
    /// A dry run notes nothing; a failure is logged, never fatal.
    pub fn note_contact(&mut self, what: &str) {
        self.metrics.intake_up(crate::clock::now());
        if self.dry_run {
            return;
        }
        let digest = self.templates.load().digest().to_string();
        if let Err(e) = self.ledger.note_contact(crate::clock::now(), what, &digest) {
            warn!(error = %e, "cannot note the mailbox contact for autosvar status");
        }
    }

    /// Runs one mail through every stage (prepare, then deliver).
    ///
    /// # Errors
    /// Only ledger errors and delivery setup errors; everything else is an [`Outcome`].
    pub async fn process(
        &mut self,
        raw: &RawMail,
        now: SystemTime,
    ) -> Result<Outcome, PipelineError> {
        let p = self.prepare(raw, now).await?;
        let mut out = self.deliver(vec![p], now).await?;
        Ok(out.pop().unwrap_or(Outcome::AlreadyDone))
    }

    /// Parses, decides, composes and records one mail; what is left is to send its
    /// messages with [`Pipeline::deliver`].
    ///
    /// # Errors
    /// Only ledger errors.
    pub async fn prepare(
        &mut self,
        raw: &RawMail,
        now: SystemTime,
    ) -> Result<Prepared, PipelineError> {
        self.adopt_model();
        let started = std::time::Instant::now();
        let span = info_span!(
            "mail",
            source = %raw.source,
            message_id = field::Empty,
            category = field::Empty,
            outcome = field::Empty,
        );
        let (outcome, outgoing) = self.prepare_guarded(raw, now, &span).await?;
        self.metrics.stage(Stage::Decide, started.elapsed());
        Ok(Prepared {
            arrived: raw.arrived,
            span,
            key: outgoing
                .first()
                .map(|o| o.mail_key.clone())
                .unwrap_or_default(),
            outcome,
            outgoing,
        })
    }

    /// Sends the messages of prepared mails, several at a time, and records each result.
    /// Every send is recorded as started before any byte goes out.
    ///
    /// # Errors
    /// Ledger errors, and delivery errors no retry can fix (bad login, untrusted
    /// certificate): the messages then wait in the ledger.
    pub async fn deliver(
        &mut self,
        batch: Vec<Prepared>,
        now: SystemTime,
    ) -> Result<Vec<Outcome>, PipelineError> {
        let results = self.send_batch(&batch, now).await?;
        let mut fatal = None;
        let mut outcomes = Vec::with_capacity(batch.len());
        for (p, mut results) in batch.into_iter().zip(results) {
            let classified = p.outcome.category();
            let mut outcome = p.outcome;
            results.reverse();
            for o in p.outgoing {
                match results.pop() {
                    // Recorded as it happened, in send_batch.
                    Some(Ok(())) => {}
                    Some(Err(e)) => {
                        if e.is_fatal() {
                            outcome = Outcome::Failed {
                                error: format!("{e:#}"),
                            };
                            fatal = Some(e);
                        } else if e.is_transient() {
                            // Stays in `outgoing`; resume_pending delivers it later, unless
                            // the server keeps refusing it.
                            outcome = match self.count_refusal(&p.key, &e, now)? {
                                Some(why) => Outcome::SetAside { why },
                                None => Outcome::Failed {
                                    error: format!("{e:#}"),
                                },
                            };
                        } else {
                            let why = format!("{} refused: {e}", o.message.kind);
                            self.set_aside(&p.key, &why, now)?;
                            outcome = Outcome::SetAside { why };
                        }
                    }
                    // Not tried after an earlier failure: never begun, so not in doubt.
                    None => {}
                }
            }
            p.span.record("outcome", outcome.label());
            let _g = p.span.enter();
            match &outcome {
                Outcome::AlreadyDone => debug!(outcome = outcome.label(), "mail already handled"),
                Outcome::Failed { .. } | Outcome::SetAside { .. } => {
                    // A server's refusal may quote the address: masked.
                    warn!(outcome = %crate::log::reason(&outcome.describe()), "mail not answered")
                }
                _ => info!(outcome = %outcome.describe(), "mail handled"),
            }
            self.metrics
                .mail_done(outcome.label(), outcome.category().or(classified));
            outcomes.push(outcome);
        }
        match fatal {
            Some(e) => Err(PipelineError::Delivery(e)),
            None => Ok(outcomes),
        }
    }

    /// Sends a batch's messages, [`SEND_CONCURRENCY`] at a time, each mail's in order
    /// (after a failure the rest of that mail's wait), each recorded as it happens
    /// ([`send_recorded`]). A mail whose messages are done makes room for the next at
    /// once, whether or not the mails before it are done (unordered, then put back in the
    /// batch's order): a slow mail, such as one with a reply and a desk forward, does not
    /// hold the connections behind it idle.
    async fn send_batch(
        &mut self,
        batch: &[Prepared],
        now: SystemTime,
    ) -> Result<Vec<Vec<Result<(), DeliverError>>>, PipelineError> {
        // The sends interleave on this one task; the ledger is borrowed between awaits only.
        let ledger = RefCell::new(&mut self.ledger);
        let transport = &self.transport;
        let metrics = &*self.metrics;
        let ledger = &ledger;
        let mut done: Vec<(usize, Vec<Result<(), DeliverError>>)> =
            futures::stream::iter(batch.iter().enumerate().map(|(i, p)| async move {
                let mut results = Vec::new();
                for o in &p.outgoing {
                    let r = send_recorded(ledger, transport, metrics, o, now).await?;
                    if let (Ok(()), MessageKind::Reply, Some(arrived)) =
                        (&r, o.message.kind, p.arrived)
                    {
                        if let Ok(after) = crate::clock::now().duration_since(arrived) {
                            metrics.reply_latency(after);
                        }
                    }
                    let failed = r.is_err();
                    results.push(r);
                    if failed {
                        break;
                    }
                }
                Ok::<_, PipelineError>((i, results))
            }))
            .buffer_unordered(SEND_CONCURRENCY)
            .try_collect()
            .await?;
        done.sort_by_key(|(i, _)| *i);
        Ok(done.into_iter().map(|(_, r)| r).collect())
    }

    /// Notes which mail died with the process last time (once per pipeline).
    fn recover(&mut self) -> Result<(), PipelineError> {
        if self.poisoned.is_some() || self.dry_run {
            return Ok(());
        }
        let in_hand = self.ledger.take_in_hand()?;
        self.poisoned = Some(self.ledger.suspects(POISON_AFTER)?.into_iter().collect());
        if let Some((_, source, count)) = in_hand {
            if count >= POISON_AFTER {
                warn!(%source, deaths = count, "autosvar stopped while handling this mail, again: it will be set aside for a person when it is read");
            } else {
                warn!(%source, deaths = count, "autosvar stopped while handling this mail; it will be tried again");
            }
        }
        Ok(())
    }

    /// [`Pipeline::prepare_in_span`], with the mail noted as in hand while it runs, and a
    /// mail that killed the process before set aside unread. The ledger is asked first: a
    /// mail it has finished, known by these very bytes from this very source, is not read
    /// again ([`Pipeline::finished_before_reading`]).
    async fn prepare_guarded(
        &mut self,
        raw: &RawMail,
        now: SystemTime,
        span: &Span,
    ) -> Result<(Outcome, Vec<ledger::Pending>), PipelineError> {
        let bytes_key = parse::MailKey::of_bytes(&raw.bytes);
        if self.dry_run {
            if let Some(outcome) = self.finished_before_reading(raw, &bytes_key, span)? {
                return Ok((outcome, Vec::new()));
            }
            let assessed = self.assess_in_span(raw, span);
            return self
                .prepare_in_span(raw, assessed.as_ref(), now, span)
                .await;
        }
        self.recover()?;
        // A mail set aside unread is known by these bytes (reading it is what failed).
        if let Some((State::SetAside, _)) = self.ledger.state(&bytes_key)? {
            self.show_set_aside_again(raw)?;
            return Ok((Outcome::AlreadyDone, Vec::new()));
        }
        let suspect = self
            .poisoned
            .as_ref()
            .is_some_and(|p| p.contains(bytes_key.as_str()));
        // Asked again: `release` may have forgiven it since.
        if suspect && self.ledger.suspect_count(bytes_key.as_str())? >= POISON_AFTER {
            let _g = span.enter();
            span.record("message_id", crate::log::id(bytes_key.as_str()));
            let outcome = self.set_aside_unread(
                raw,
                "autosvar stopped three times while handling this mail; not read again",
                now,
            )?;
            return Ok((outcome, Vec::new()));
        }
        if let Some(outcome) = self.finished_before_reading(raw, &bytes_key, span)? {
            // As when it was read to find this out: no note of it in hand, no count of
            // deaths with it.
            self.ledger.clear_in_hand(bytes_key.as_str())?;
            return Ok((outcome, Vec::new()));
        }
        self.ledger.set_in_hand(&raw.source, bytes_key.as_str())?;
        let assessed = self.assess_in_span(raw, span);
        let result = self
            .prepare_in_span(raw, assessed.as_ref(), now, span)
            .await;
        // Done with, whatever the outcome: only a process that dies leaves the note. What
        // these bytes were read as is noted (in the same commit) for the next time.
        let key = assessed.as_ref().map(|a| &a.mail.key);
        self.ledger
            .finish_reading(&raw.source, bytes_key.as_str(), key)?;
        result
    }

    /// The outcome of a mail the ledger has finished (done, sending, or set aside) that was
    /// read before from this source with these bytes (`bytes_key`), without parsing or
    /// classifying it: what [`Pipeline::known_outcome`] would say after reading it.
    /// `None` (read it) for anything else, such as a mail that failed and is tried again.
    fn finished_before_reading(
        &mut self,
        raw: &RawMail,
        bytes_key: &parse::MailKey,
        span: &Span,
    ) -> Result<Option<Outcome>, PipelineError> {
        let Some((key, state)) = self.ledger.read_before(&raw.source, bytes_key.as_str())? else {
            return Ok(None);
        };
        match state {
            State::Done | State::Sending => {}
            State::SetAside => self.show_set_aside_again(raw)?,
            State::Failed => return Ok(None),
        }
        span.record(
            "message_id",
            crate::log::id(key.message_id_part().unwrap_or(key.as_str())),
        );
        Ok(Some(Outcome::AlreadyDone))
    }

    /// A set-aside mail seen again (the process may have stopped before the mailbox showed
    /// it): the mailbox is told once more; flagging is idempotent.
    fn show_set_aside_again(&mut self, raw: &RawMail) -> Result<(), PipelineError> {
        Ok(self.ledger.show_again(&raw.source)?)
    }

    /// Records a mail that cannot be read safely as set aside for a person, under the
    /// digest of its bytes (its Message-ID may be what cannot be read).
    fn set_aside_unread(
        &mut self,
        raw: &RawMail,
        why: &str,
        now: SystemTime,
    ) -> Result<Outcome, PipelineError> {
        let key = parse::MailKey::of_bytes(&raw.bytes);
        // Its Message-ID may be what could not be read: the log names it as the ledger does.
        Span::current().record("message_id", crate::log::id(key.as_str()));
        warn!(source = %raw.source, key = %crate::log::id(key.as_str()), reason = why, outcome = "set-aside", "mail set aside for a person");
        self.ledger.record_failure(&key, &raw.source, why, now)?;
        self.set_aside(key.as_str(), why, now)?;
        Ok(Outcome::SetAside { why: why.into() })
    }

    /// Acts on one assessed mail (`None`: assessing it panicked, and it is set aside
    /// unread): stop at a mail the ledger has finished, decide, and for a reply compose and
    /// record the messages (sent later by [`Pipeline::deliver`]).
    async fn prepare_in_span(
        &mut self,
        raw: &RawMail,
        assessed: Option<&Assessment>,
        now: SystemTime,
        span: &Span,
    ) -> Result<(Outcome, Vec<ledger::Pending>), PipelineError> {
        let Some(a) = assessed else {
            let _g = span.enter();
            let outcome = self.set_aside_unread(
                raw,
                "internal error while reading the mail (parse, guard or classify)",
                now,
            )?;
            return Ok((outcome, Vec::new()));
        };
        let sender = a
            .mail
            .reply_address()
            .map(|s| ledger::sender_hash(&s.email));
        if let Some(outcome) = self.known_outcome(raw, &a.mail.key, sender.as_deref())? {
            return Ok((outcome, Vec::new()));
        }
        let c = &a.classification;
        let decision = self.decision(a, sender.as_deref(), now)?;
        let mut record = new_record(raw, a, decision.action(), sender, &self.classifier);
        let (desk, doubtful) = match decision {
            Decision::Skip(reason) => {
                let outcome = self.skip(record, reason, c.category, now)?;
                return Ok((outcome, Vec::new()));
            }
            Decision::Reply { desk } => (desk, false),
            Decision::Acknowledge { held } => (held, true),
        };
        if self.dry_run {
            let outcome = if doubtful {
                Outcome::WouldAcknowledge {
                    guess: c.category,
                    held: desk,
                }
            } else {
                Outcome::WouldReply {
                    category: c.category,
                    desk,
                }
            };
            return Ok((outcome, Vec::new()));
        }
        // A doubtful mail's guessed desk is recorded (for the reviewer); no forward to it is
        // composed: nothing held is ever in `outgoing`, so nothing can send it but a person.
        record.desk.clone_from(&desk);
        record.doubtful = doubtful;
        let composed = if doubtful {
            self.compose_acknowledgement(raw, a, now)
        } else {
            self.compose(raw, a, desk.as_ref(), now)
        };
        match composed {
            Ok(messages) => self.record_reply(record, messages, c.category, desk, now),
            Err(e) => {
                // Nothing about this mail will change on a retry: a human takes it.
                let why = format!("cannot compose reply: {e}");
                self.ledger
                    .record_failure(&a.mail.key, &raw.source, &why, now)?;
                self.ledger.describe(&record)?;
                self.set_aside(a.mail.key.as_str(), &why, now)?;
                Ok((Outcome::SetAside { why }, Vec::new()))
            }
        }
    }

    /// Parses, guards and classifies the mail in its span, a panic contained (`None`); the
    /// span gets the mail's Message-ID (or key) and category.
    fn assess_in_span(&self, raw: &RawMail, span: &Span) -> Option<Assessment> {
        let a = {
            let _g = span.enter();
            contained(|| assess(&raw.bytes, &self.config, &self.classifier))
        }?;
        span.record(
            "message_id",
            crate::log::id(
                a.mail
                    .message_id
                    .as_ref()
                    .map_or(a.mail.key.as_str(), |id| id.as_str()),
            ),
        );
        span.record("category", a.classification.category.name());
        Some(a)
    }

    /// What the ledger already knows of the mail `key`: finished (done, sending, or set
    /// aside, which the mailbox is shown again) is [`Outcome::AlreadyDone`]; failed, or
    /// unknown, is `None`: go on. A ledger from before keys carried a digest knows the
    /// mail by its Message-ID (and `sender`).
    fn known_outcome(
        &mut self,
        raw: &RawMail,
        key: &parse::MailKey,
        sender: Option<&str>,
    ) -> Result<Option<Outcome>, PipelineError> {
        match self.ledger.state(key)? {
            Some((State::SetAside, _)) => {
                self.show_set_aside_again(raw)?;
                Ok(Some(Outcome::AlreadyDone))
            }
            Some((State::Done | State::Sending, _)) => Ok(Some(Outcome::AlreadyDone)),
            Some((State::Failed, _)) => Ok(None),
            None => {
                let legacy = match key.message_id_part() {
                    Some(id) => self.ledger.legacy_state(id, sender)?,
                    None => None,
                };
                let finished =
                    matches!(legacy, Some(State::Done | State::SetAside | State::Sending));
                Ok(finished.then_some(Outcome::AlreadyDone))
            }
        }
    }

    /// Skip (machine mail, a loop: the guard's reason) or reply, within the rate limit.
    fn decision(
        &self,
        a: &Assessment,
        sender: Option<&str>,
        now: SystemTime,
    ) -> Result<Decision, PipelineError> {
        if let Some(reason) = a.guard {
            return Ok(Decision::Skip(reason));
        }
        let c = &a.classification;
        let history = History {
            last_reply: match sender {
                Some(h) => self.ledger.last_reply(h, c.category.name())?,
                None => None,
            },
        };
        Ok(decide(c, &history, self.config.period, now))
    }

    /// Records a skip as done (in a dry run, only says it would skip).
    fn skip(
        &mut self,
        mut record: Record,
        reason: SkipReason,
        category: Category,
        now: SystemTime,
    ) -> Result<Outcome, PipelineError> {
        if self.dry_run {
            return Ok(Outcome::WouldSkip { reason, category });
        }
        record.skip_reason = Some(reason);
        self.ledger.record_done(&record, now)?;
        Ok(Outcome::Skipped { reason, category })
    }

    /// The reply, and the forward when a desk takes the mail, a panic contained.
    fn compose(
        &self,
        raw: &RawMail,
        a: &Assessment,
        desk: Option<&DeskKey>,
        now: SystemTime,
    ) -> Result<(compose::Outgoing, Option<compose::Outgoing>), compose::ComposeError> {
        let (mail, c) = (&a.mail, &a.classification);
        let templates = self.templates.load();
        contained(|| {
            let reply = compose::reply(mail, c, &self.config, &templates, now)?;
            let forward = match desk.and_then(|d| self.config.desks.get(d)) {
                Some(d) => Some(compose::forward(
                    mail,
                    &raw.bytes,
                    raw.truncated,
                    c,
                    d,
                    &self.config,
                    &templates,
                    &self.classifier,
                    now,
                )?),
                None => None,
            };
            Ok((reply, forward))
        })
        .unwrap_or(Err(compose::ComposeError::Internal))
    }

    /// A doubtful mail's reply: the `other` template (the short acknowledgement: a person
    /// will answer), in the sender's language, with the sensitive notice when the mail is
    /// sensitive; never a forward.
    fn compose_acknowledgement(
        &self,
        raw: &RawMail,
        a: &Assessment,
        now: SystemTime,
    ) -> Result<(compose::Outgoing, Option<compose::Outgoing>), compose::ComposeError> {
        let mut ack = a.clone();
        ack.classification.category = Category::Other;
        ack.classification.desk = None;
        ack.classification.secondary = None;
        self.compose(raw, &ack, None, now)
    }

    /// Records the decision and the composed messages in one transaction, before any is
    /// sent; the messages are returned for [`Pipeline::deliver`].
    fn record_reply(
        &mut self,
        mut record: Record,
        (reply, forward): (compose::Outgoing, Option<compose::Outgoing>),
        category: Category,
        desk: Option<DeskKey>,
        now: SystemTime,
    ) -> Result<(Outcome, Vec<ledger::Pending>), PipelineError> {
        let doubtful = record.doubtful;
        let (reply_id, outgoing) = to_send(&mut record, reply, forward);
        self.ledger.record_intent(&record, &outgoing, now)?;
        let outcome = if doubtful {
            // Counted once, when decided (a retry of its delivery does not decide again).
            self.metrics.doubtful(category);
            Outcome::Acknowledged {
                guess: category,
                held: desk,
                reply_id,
            }
        } else {
            Outcome::Replied {
                category,
                desk,
                reply_id,
            }
        };
        Ok((outcome, outgoing))
    }

    /// What `[smtp] max-rate` sends in a second (`None`: no rate): how many mails the
    /// daemon takes on at a time while new mail may be waiting.
    pub fn per_second(&self) -> Option<usize> {
        self.transport.per_second()
    }

    /// The configuration the pipeline runs with.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// Whether messages wait in the ledger for a retry.
    ///
    /// # Errors
    /// Only ledger errors.
    pub fn has_pending(&self) -> Result<bool, PipelineError> {
        Ok(self.ledger.has_pending()?)
    }

    /// Where reading the IMAP folder `mailbox` (`user@host/folder`) stands, now that it
    /// shows `uid_validity`. A folder seen for the first time, or whose UIDs were renumbered
    /// (UIDVALIDITY changed), is read from its first message again: the ledger (by
    /// Message-ID) keeps what was answered from being answered twice.
    ///
    /// # Errors
    /// Only ledger errors.
    pub fn open_mailbox(
        &mut self,
        mailbox: &str,
        uid_validity: u32,
    ) -> Result<Cursor, PipelineError> {
        let (validity_key, last_key) = cursor_keys(mailbox);
        let known = self.ledger.meta(&validity_key)?;
        let first_start =
            known.as_deref().and_then(|v| v.parse::<u32>().ok()) != Some(uid_validity);
        if first_start {
            if known.is_some() {
                warn!(%mailbox, "UIDVALIDITY changed; rescanning (the ledger prevents duplicate replies)");
            }
            self.ledger.set_meta(&last_key, "0")?;
            self.ledger
                .set_meta(&validity_key, &uid_validity.to_string())?;
        }
        let last_uid = self
            .ledger
            .meta(&last_key)?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Ok(Cursor {
            last_uid,
            first_start,
        })
    }

    /// Notes that every message of `mailbox` up to `last_uid` has been handled.
    ///
    /// # Errors
    /// Only ledger errors.
    pub fn advance_mailbox(&mut self, mailbox: &str, last_uid: u32) -> Result<(), PipelineError> {
        let (_, last_key) = cursor_keys(mailbox);
        Ok(self.ledger.set_meta(&last_key, &last_uid.to_string())?)
    }
}

/// Sends one message, recorded as it happens: `begin_send` right before its SMTP
/// transaction, `delivered` (with what the mailbox must show) or `send_failed` right after.
/// A kill leaves in doubt only a message whose transaction it cut. The ledger is borrowed
/// between awaits only, so sends on one task can share it.
///
/// "send begun" is logged before it is recorded and "send ended" after: a log that says
/// less than the ledger never hides a send in doubt (the kill tests count them from it).
async fn send_recorded(
    ledger: &RefCell<&mut Ledger>,
    transport: &Transport,
    metrics: &Metrics,
    o: &ledger::Pending,
    now: SystemTime,
) -> Result<Result<(), DeliverError>, PipelineError> {
    let id = o.message.message_id.as_str();
    // A throttling reply ("too fast") is tried again in a later turn, uncounted (bounded).
    let mut throttled = 0;
    loop {
        // The wait for a connection and the rate comes first: it is not in doubt.
        let turn = match transport.turn().await {
            Ok(turn) => turn,
            Err(e) => return Ok(Err(e)),
        };
        debug!(message_id = id, "send begun");
        ledger.borrow_mut().begin_send(id, now)?;
        let started = std::time::Instant::now();
        let sent = transport
            .send_in_turn(turn, id, &o.message.to, &o.message.bytes)
            .await;
        metrics.stage(Stage::Send, started.elapsed());
        metrics.loop_round(Duration::ZERO); // a send ended: the loop is at work
        match &sent {
            Ok(()) => metrics.sent(o.message.kind),
            Err(e) => metrics.send_failed(e.class()),
        }
        if let Some(at) = transport.token_expiry() {
            metrics.token_expires("smtp", at);
        }
        match &sent {
            Ok(()) => ledger.borrow_mut().delivered(id, now, true)?,
            // The server said no, or never took it: certainly not sent.
            Err(_) => ledger.borrow_mut().send_failed(id)?,
        }
        debug!(message_id = id, ok = sent.is_ok(), "send ended");
        match &sent {
            Err(e) if e.is_throttling() && throttled + 1 < THROTTLE_TRIES => throttled += 1,
            _ => return Ok(sent),
        }
    }
}

/// The ledger's record of a decided mail; the skip reason, desk and message ids are set
/// once known, before it is written. The subject and explanation are kept without CPR
/// numbers or patient details; the sender's addresses only to be masked in what is kept.
fn new_record(
    raw: &RawMail,
    a: &Assessment,
    action: Action,
    sender: Option<String>,
    classifier: &Classifier,
) -> Record {
    let c = &a.classification;
    let m = &a.mail;
    Record {
        key: a.mail.key.as_str().to_string(),
        source: raw.source.clone(),
        action,
        category: Some(c.category),
        desk: None,
        language: Some(a.mail.language),
        sensitive: c.sensitive,
        confidence: Some(c.confidence),
        // Set by the caller once it acknowledges the mail instead of answering it.
        doubtful: false,
        skip_reason: None,
        reply_id: None,
        forward_id: None,
        sender_hash: sender,
        subject: Some(crate::classify::sensitive::redact_details(
            &kept_subject(&m.subject),
            classifier,
        )),
        explain: Some(crate::classify::sensitive::redact(&explain_summary(a))),
        sender_addresses: [&m.from, &m.reply_to]
            .into_iter()
            .flatten()
            .map(|a| a.email.clone())
            .collect(),
    }
}

/// A subject as the ledger keeps it: on one line, without CPR numbers, at most
/// [`ledger::MAX_SUBJECT`] characters (cut before the CPR numbers are looked for, at a
/// character boundary, so a number cut in two is masked too).
pub fn kept_subject(subject: &str) -> String {
    let line: String = subject
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(ledger::MAX_SUBJECT + 32)
        .collect();
    let masked = crate::classify::sensitive::redact(line.trim());
    ledger::cut_chars(&masked, ledger::MAX_SUBJECT)
}

/// Why a mail was classified and decided as it was, the lines `autosvar classify
/// --explain` prints between the language and the text considered: the decision, the
/// category with its confidence, desk and second topic, the sensitive flag, the scores and
/// the rules that scored. No text of the mail's own but the rule patterns that matched.
pub fn explain_summary(a: &Assessment) -> String {
    use std::fmt::Write as _;
    let c = &a.classification;
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = match a.guard {
        Some(r) => writeln!(out, "decision:   skip ({r})"),
        None if c.doubtful => writeln!(
            out,
            "decision:   acknowledge (doubtful: the confidence is below review-below; a person answers{})",
            c.desk
                .as_ref()
                .map(|d| format!(", the forward to {d} is held"))
                .unwrap_or_default()
        ),
        None => writeln!(out, "decision:   reply"),
    };
    let _ = writeln!(
        out,
        "category:   {} (confidence {:.2}, raw score {:.2}){}{}",
        c.category,
        c.confidence,
        c.raw_confidence,
        c.desk
            .as_ref()
            .map(|d| format!(", desk {d}"))
            .unwrap_or_default(),
        c.secondary
            .map(|s| format!(", also about {s}"))
            .unwrap_or_default()
    );
    if c.doubtful {
        let _ = writeln!(
            out,
            "doubtful:   the confidence is below the rules' review-below: the sender gets the \
             short acknowledgement, the mail is flagged for review{}",
            if c.desk.is_some() {
                ", and the desk forward waits for a person"
            } else {
                ""
            }
        );
    }
    let _ = writeln!(out, "sensitive:  {}", c.sensitive);
    let scores: Vec<String> = c
        .scores
        .iter()
        .map(|(k, s)| format!("{k} {s:.1}"))
        .collect();
    let _ = writeln!(out, "scores:     {}", scores.join(", "));
    let _ = writeln!(out, "rules that scored:");
    if c.hits.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for h in &c.hits {
        let field = match h.field {
            crate::classify::Field::Subject => "subject",
            crate::classify::Field::Body => "body",
        };
        let _ = writeln!(
            out,
            "  {:<12} {:>+6.1}  {:<8} {:?}",
            h.target, h.points, field, h.pattern
        );
    }
    out
}

/// The reply (and forward) as messages waiting to be sent for the mail `record` describes,
/// their Message-IDs noted in it; returns the reply's Message-ID too. The composed messages
/// are not needed after this: their bytes move.
fn to_send(
    record: &mut Record,
    reply: compose::Outgoing,
    forward: Option<compose::Outgoing>,
) -> (String, Vec<ledger::Pending>) {
    record.reply_id = Some(reply.message_id.as_str().into());
    record.forward_id = forward.as_ref().map(|f| f.message_id.as_str().into());
    let reply_id = reply.message_id.as_str().to_string();
    let outgoing = std::iter::once(reply)
        .chain(forward)
        .map(|message| ledger::Pending {
            message,
            mail_key: record.key.clone(),
            attempts: 0,
            started: None,
        })
        .collect();
    (reply_id, outgoing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_subject_has_no_cpr_number_no_control_character_and_a_bound() {
        assert_eq!(
            kept_subject("Zoom\r\n virker ikke, cpr 010190-1234\u{7}"),
            "Zoom   virker ikke, cpr [CPR-nummer fjernet]"
        );
        // A number right at the bound is masked, never left cut in half.
        for pad in 180..=205 {
            let s = kept_subject(&format!("{} 0101901234 tak", "x".repeat(pad)));
            assert!(s.chars().count() <= ledger::MAX_SUBJECT, "{pad}");
            assert!(!s.contains("010190") && !s.contains("1234"), "{pad}: {s}");
        }
        let long = kept_subject(&"å".repeat(1000));
        assert_eq!(long.chars().count(), ledger::MAX_SUBJECT);
        assert!(long.ends_with('…'));
    }
}
