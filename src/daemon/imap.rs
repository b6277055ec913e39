//! The IMAP side of the daemon: connect (reconnect with backoff), reconcile what was in
//! flight, list the messages after the folder's last handled UID, fetch them in batches,
//! run each through the pipeline, show the outcome in the mailbox (Sent copies, flags,
//! keywords, category folders), retry undelivered messages, wait (IDLE or polling).
//!
//! The folder's place (UIDVALIDITY, last UID) is the pipeline's; this module only moves it
//! on once a batch is recorded and shown. It never sets `\Seen`, never deletes a message,
//! and never reads a message's content.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::backoff::{reconnecting, Attempt, Backoff, RetryTimer};
use super::Report;
use crate::clock::{now, unix_seconds};
use crate::config::{ImapConfig, SentCopy};
use crate::intake::imap::{
    Imap, ImapError, Listed, Selected, Store, Wake, FORWARDED, REPLIED, REVIEW, SKIPPED,
};
use crate::intake::{RawMail, FULL_FETCH_MAX, PARTIAL_BYTES};
use crate::ledger::Mark;
use crate::metrics::{Metrics, Stage};
use crate::pipeline::{Cursor, Outcome, Pipeline, PipelineError};
use crate::types::{Category, Source};

mod newest;

/// Reconnect waits: the first, and the longest.
const RECONNECT_FIRST: Duration = Duration::from_secs(1);
const RECONNECT_MAX: Duration = Duration::from_secs(60);
/// The longest wait between retries of undelivered messages.
const RETRY_MAX: Duration = Duration::from_secs(30 * 60);

/// Mails fetched in one round trip: at most this many, and this many bytes.
const BATCH_MAILS: usize = 32;
const BATCH_BYTES: u64 = 8 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error(transparent)]
    Imap(#[from] ImapError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
}

pub(super) async fn run(
    pipeline: &mut Pipeline,
    config: &ImapConfig,
    retry_after: Duration,
    once: bool,
    shutdown: &CancellationToken,
    report: &mut Report,
) -> anyhow::Result<()> {
    let mut imap = Imap::new(config)?;
    let label = imap.label();
    let mut backoff = Backoff::new(RECONNECT_FIRST, RECONNECT_MAX);
    let metrics = pipeline.metrics();
    let attempt = async || {
        let selected = match imap.open().await {
            Ok(selected) => selected,
            Err(e) => return ended(&mut imap, e.into(), false, once).await,
        };
        info!(mailbox = %imap.label(), uidvalidity = selected.uid_validity, "connected");
        if let Some(at) = imap.token_expiry() {
            metrics.token_expires("imap", at);
        }
        super::systemd::ready();
        pipeline.note_contact("imap connected"); // for `autosvar status`, and the metrics
        let session = Session {
            pipeline: &mut *pipeline,
            imap: &mut imap,
            config,
            report: &mut *report,
            shutdown,
            once,
            selected,
            mailbox: label.clone(),
            retry: RetryTimer::new(retry_after, RETRY_MAX),
        };
        match session.run().await {
            Ok(()) => {
                imap.logout().await;
                Attempt::Done
            }
            Err(e) => ended(&mut imap, e, true, once).await,
        }
    };
    let lost = |e: &SessionError, wait: Duration| {
        warn!(error = %chain(e), retry_in = ?wait, "IMAP connection lost; reconnecting");
        metrics.imap_lost(&e.to_string());
        metrics.loop_round(wait); // waiting out an outage is the loop at work
        super::systemd::reconnecting("IMAP", wait, &chain(e));
    };
    reconnecting(&mut backoff, shutdown, attempt, lost)
        .await
        .map_err(|e| match e {
            SessionError::Pipeline(e) => e.into(),
            SessionError::Imap(e) => anyhow::Error::new(e).context(format!("IMAP {label}")),
        })
}

/// What `autosvar ledger rebuild` found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rebuilt {
    /// Mails the folder shows handled that are now recorded as such.
    pub recorded: usize,
    /// Mails the folder shows handled that the ledger knew already.
    pub known: usize,
}

/// Records in the ledger every mail of the folder that the mailbox shows answered or
/// handled by autosvar (after a lost ledger); sends nothing and changes no flag.
pub(super) async fn rebuild(
    pipeline: &mut Pipeline,
    config: &ImapConfig,
) -> anyhow::Result<Rebuilt> {
    let mut imap = Imap::new(config)?;
    let selected = imap.open().await?;
    let mailbox = imap.label();
    let handled: Vec<Listed> = imap
        .list_after(0)
        .await?
        .into_iter()
        .filter(|l| l.handled)
        .collect();
    let mut rebuilt = Rebuilt::default();
    for batch in batches(&handled) {
        for (uid, (bytes, truncated)) in fetch_batch(&mut imap, batch).await? {
            let raw = RawMail {
                source: Source::Imap {
                    mailbox: mailbox.clone(),
                    uid_validity: selected.uid_validity,
                    uid,
                },
                bytes,
                truncated,
                arrived: None,
            };
            match pipeline.record_handled(&raw, now())? {
                Outcome::AlreadyDone => rebuilt.known += 1,
                _ => rebuilt.recorded += 1,
            }
        }
    }
    imap.logout().await;
    Ok(rebuilt)
}

/// An error with its causes, as `{:#}` shows an `anyhow::Error`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// How a failed session ends: a lost connection is dropped and tried again; anything no
/// retry mends (and any failure with `--once`) logs out and stops.
async fn ended(
    imap: &mut Imap,
    e: SessionError,
    progressed: bool,
    once: bool,
) -> Attempt<SessionError> {
    let fatal = match &e {
        SessionError::Pipeline(_) => true,
        SessionError::Imap(e) => e.is_fatal() || once,
    };
    if fatal {
        imap.logout().await;
        return Attempt::Fatal(e);
    }
    imap.drop_connection();
    Attempt::Lost {
        error: e,
        progressed,
    }
}

/// One connection's work: everything the loop needs, borrowed for as long as it lasts.
struct Session<'a> {
    pipeline: &'a mut Pipeline,
    imap: &'a mut Imap,
    config: &'a ImapConfig,
    report: &'a mut Report,
    shutdown: &'a CancellationToken,
    once: bool,
    selected: Selected,
    /// `user@host/folder`, as the pipeline and the ledger name the folder.
    mailbox: String,
    retry: RetryTimer,
}

/// A mail of a batch, decided: old mail has its outcome already; the others get theirs
/// when their messages are delivered.
struct Decided {
    source: Source,
    outcome: Option<Outcome>,
}

impl Session<'_> {
    async fn run(mut self) -> Result<(), SessionError> {
        let mut cursor = self
            .pipeline
            .open_mailbox(&self.mailbox, self.selected.uid_validity)?;
        if cursor.first_start && self.pipeline.ledger_was_new() {
            self.warn_if_ledger_lost().await?;
        }
        // What was in flight when the process stopped.
        self.reconcile().await?;
        let metrics = self.pipeline.metrics();
        loop {
            super::systemd::watchdog();
            metrics.loop_round(Duration::ZERO);
            self.read_new(&mut cursor).await?;
            if self.shutdown.is_cancelled() {
                return Ok(());
            }
            self.retry_undelivered().await?;
            self.carry_out_requests().await?;
            if self.once {
                return Ok(());
            }
            let bell = self.pipeline.bell();
            // systemd: the wait ends in time for the loop to feed the watchdog.
            let at_most = self
                .retry
                .until_next()
                .min(super::systemd::until_watchdog());
            super::systemd::idle(self.report);
            metrics.loop_round(at_most);
            let wake = self.imap.wait(self.shutdown, &bell, at_most).await?;
            if wake == Wake::Stop {
                return Ok(());
            }
            self.pipeline.note_contact("imap wait ended"); // for `autosvar status`
        }
    }

    /// Every message after the cursor, in batches: while one batch's messages go out over
    /// SMTP, the marks of the batch before it are shown and the next batch is fetched, both
    /// over IMAP. A batch's marks are forgotten, and the folder's place moved past it, only
    /// once they are shown; a stop in between leaves them journalled, shown at the next
    /// start. With `[smtp] max-rate` each batch is shown before the next (newer mail is
    /// answered in between, and shows its own marks).
    async fn read_new(&mut self, cursor: &mut Cursor) -> Result<(), SessionError> {
        let listed = self.imap.list_after(cursor.last_uid).await?;
        let metrics = self.pipeline.metrics();
        let mut waiting = listed.len();
        metrics.backlog(waiting);
        let batches = newest::paced(batches(&listed), self.pipeline.per_second());
        let overlap = self.pipeline.per_second().is_none();
        let mut newest = listed.last().map_or(cursor.last_uid, |l| l.uid);
        let mut fetched = match batches.first() {
            Some(batch) => timed_fetch(self.imap, batch, &metrics).await?,
            None => HashMap::new(),
        };
        // The last batch's marks, not shown yet, and its last UID.
        let mut behind: Option<(Marks, u32)> = None;
        for (i, &batch) in batches.iter().enumerate() {
            let bodies = std::mem::take(&mut fetched);
            let (decided, prepared) = self.decide(batch, bodies, cursor).await?;
            let following = batches.get(i + 1).filter(|_| !self.shutdown.is_cancelled());
            let (imap, config, metrics) = (&mut *self.imap, self.config, &metrics);
            let earlier = behind.take();
            let (delivered, (put, next)) =
                tokio::join!(self.pipeline.deliver(prepared, now()), async {
                    let put = match &earlier {
                        Some((marks, _)) => put_marks(imap, config, metrics, marks).await,
                        None => Ok(()),
                    };
                    let next = match (following, &put) {
                        (Some(batch), Ok(())) => timed_fetch(imap, batch, metrics).await,
                        _ => Ok(HashMap::new()),
                    };
                    (put, next)
                });
            self.report_batch(decided, delivered?);
            waiting = waiting.saturating_sub(batch.len());
            metrics.backlog(waiting);
            metrics.loop_round(Duration::ZERO);
            put?;
            if let Some((marks, last_uid)) = earlier {
                self.pipeline.shown(&marks.ids)?;
                self.pipeline.advance_mailbox(&self.mailbox, last_uid)?;
            }
            match self.collect_marks()? {
                Some(marks) if overlap && following.is_some() => {
                    behind = Some((marks, cursor.last_uid));
                }
                marks => {
                    if let Some(marks) = marks {
                        put_marks(self.imap, self.config, metrics, &marks).await?;
                        self.pipeline.shown(&marks.ids)?;
                    }
                    self.pipeline
                        .advance_mailbox(&self.mailbox, cursor.last_uid)?;
                }
            }
            super::systemd::working(self.report);
            if self.shutdown.is_cancelled() {
                if let Some((marks, last_uid)) = behind.take() {
                    put_marks(self.imap, self.config, metrics, &marks).await?;
                    self.pipeline.shown(&marks.ids)?;
                    self.pipeline.advance_mailbox(&self.mailbox, last_uid)?;
                }
                return Ok(());
            }
            // Only now: the batch just delivered is reported and recorded (its marks
            // journalled) before a failed fetch of the next one ends the session.
            fetched = next?;
            if i + 1 < batches.len() {
                self.answer_newer_first(&mut newest).await?;
            }
        }
        Ok(())
    }

    /// Decides and records every mail of a batch; their messages are not sent yet.
    async fn decide(
        &mut self,
        batch: &[Listed],
        mut bodies: HashMap<u32, (Vec<u8>, bool)>,
        cursor: &mut Cursor,
    ) -> Result<(Vec<Decided>, Vec<crate::pipeline::Prepared>), SessionError> {
        let max_age = i64::try_from(self.config.max_age.as_secs()).unwrap_or(i64::MAX);
        let mut raws = Vec::new();
        for l in batch {
            if self.shutdown.is_cancelled() {
                break;
            }
            cursor.last_uid = l.uid;
            // Gone (expunged) since it was listed: nothing to do.
            if let Some((bytes, truncated)) = bodies.remove(&l.uid) {
                raws.push((self.raw(l, bytes, truncated), l));
            }
        }
        let answered = self.answered_in_sent(&raws).await?;
        let mut decided = Vec::new();
        let mut prepared = Vec::new();
        for (raw, l) in raws {
            let t = now();
            // Only mail that was already waiting when autosvar first saw this folder can
            // be "old"; anything arriving later is answered.
            let old = cursor.first_start
                && l.uid < self.selected.uid_next
                && l.arrived.is_some_and(|a| unix_seconds(t) - a > max_age);
            // The mailbox is the second witness: a mail it shows answered or handled is
            // never answered again, whatever the ledger (lost, or new) says.
            let outcome = if l.handled || answered.contains(&l.uid) {
                Some(self.pipeline.record_handled(&raw, t)?)
            } else if old {
                Some(self.pipeline.record_old(&raw, t)?)
            } else {
                prepared.push(self.pipeline.prepare(&raw, t).await?);
                None
            };
            decided.push(Decided {
                source: raw.source,
                outcome,
            });
        }
        Ok((decided, prepared))
    }

    fn raw(&self, l: &Listed, bytes: Vec<u8>, truncated: bool) -> RawMail {
        let arrived = l
            .arrived
            .and_then(|s| u64::try_from(s).ok())
            .map(|s| std::time::UNIX_EPOCH + Duration::from_secs(s));
        RawMail {
            source: Source::Imap {
                mailbox: self.mailbox.clone(),
                uid_validity: self.selected.uid_validity,
                uid: l.uid,
            },
            bytes,
            truncated,
            arrived,
        }
    }

    /// The UIDs of these mails that a reply in the Sent folder answers. Asked only with a
    /// new ledger over a folder that keeps no keywords (Exchange): there a mail's flags may
    /// not say all autosvar did, and the Sent folder is the mailbox's other record.
    async fn answered_in_sent(
        &mut self,
        raws: &[(RawMail, &Listed)],
    ) -> Result<HashSet<u32>, SessionError> {
        if self.selected.keywords || !self.pipeline.ledger_was_new() {
            return Ok(HashSet::new());
        }
        let ids: Vec<(u32, String)> = raws
            .iter()
            .filter(|(_, l)| !l.handled)
            .filter_map(|(raw, l)| Some((l.uid, self.pipeline.message_id_of(raw)?)))
            .collect();
        let asked: Vec<String> = ids.iter().map(|(_, id)| id.clone()).collect();
        let found = self.imap.answered_in_sent(&asked).await?;
        Ok(ids
            .into_iter()
            .filter(|(_, id)| found.contains(id))
            .map(|(uid, _)| uid)
            .collect())
    }

    /// A new ledger over a folder with autosvar's marks: the ledger was lost or deleted. Said
    /// loudly; the marked mails are recorded as handled as they are read, not answered.
    async fn warn_if_ledger_lost(&mut self) -> Result<(), SessionError> {
        let handled = self.imap.count_handled().await?;
        if handled > 0 {
            warn!(
                mailbox = %self.mailbox,
                handled,
                "the ledger is new, but mails in this folder carry autosvar's marks (\\Answered, $Autosvar*): \
                 was the ledger lost or deleted? Those mails are recorded as handled and not answered again; \
                 `autosvar ledger rebuild` records them all at once"
            );
        }
        Ok(())
    }

    /// Reports each mail of a delivered batch and shows the outcomes in the mailbox.
    async fn show(
        &mut self,
        decided: Vec<Decided>,
        delivered: Vec<Outcome>,
    ) -> Result<(), SessionError> {
        self.report_batch(decided, delivered);
        self.show_marks().await
    }

    /// Reports each mail of a delivered batch, with its outcome.
    fn report_batch(&mut self, decided: Vec<Decided>, delivered: Vec<Outcome>) {
        let mut delivered = delivered.into_iter();
        for d in decided {
            if let Some(outcome) = d.outcome.or_else(|| delivered.next()) {
                self.report.mail(&d.source, &outcome);
            }
        }
    }

    /// The console's requests, each mail fetched again by its UID while the folder's
    /// UIDVALIDITY is the one it was recorded under; then what the mailbox must show.
    async fn carry_out_requests(&mut self) -> Result<(), SessionError> {
        let (mailbox, validity) = (self.mailbox.clone(), self.selected.uid_validity);
        let imap = &mut *self.imap;
        let finished = super::requests::carry_out(
            &mut *self.pipeline,
            &mut *self.report,
            async |source: &Source| {
                let Some(uid) = source.uid_in(&mailbox, validity) else {
                    return Ok::<_, SessionError>(Err(
                        "the mail is not in this folder as it was (another folder, or its UIDs were renumbered)".into(),
                    ));
                };
                let Some(mut bytes) = imap.fetch(uid, Some(FULL_FETCH_MAX)).await? else {
                    return Ok(Err("the mail is no longer in the folder".into()));
                };
                let truncated = bytes.len() >= FULL_FETCH_MAX as usize;
                if truncated {
                    bytes.truncate(PARTIAL_BYTES as usize);
                }
                Ok(Ok(RawMail {
                    source: source.clone(),
                    bytes,
                    truncated,
                    arrived: None,
                }))
            },
        )
        .await?;
        if finished > 0 {
            self.show_marks().await?;
        }
        Ok(())
    }

    /// Messages that could not be delivered (SMTP down, a 4xx) are tried again with
    /// backoff, while new mail keeps being answered.
    async fn retry_undelivered(&mut self) -> Result<(), SessionError> {
        if self.pipeline.has_pending()? {
            let due = self.retry.due();
            if due || self.once {
                self.reconcile().await?;
            }
        }
        if !self.pipeline.has_pending()? {
            self.retry.clear();
        }
        Ok(())
    }

    /// Sends what the ledger holds as not yet delivered, after asking the Sent folder
    /// about the messages whose delivery was interrupted.
    async fn reconcile(&mut self) -> Result<(), SessionError> {
        let doubt = self.pipeline.in_doubt()?;
        let in_sent = if doubt.is_empty() {
            HashSet::new()
        } else {
            self.imap.in_sent(&doubt).await?
        };
        let server_copies =
            (self.config.sent_copy == SentCopy::Server).then_some(self.config.sent_copy_grace);
        self.pipeline
            .resume_pending(now(), &in_sent, server_copies)
            .await?;
        self.show_marks().await
    }

    /// Shows in the mailbox what the ledger journalled: Sent copies, `\Answered`,
    /// keywords, `\Flagged` (one UID STORE per kind, all written with the copies in one
    /// round trip), then moves to category folders (one command per category, after the
    /// flags are set: a moved message takes its flags along). Each mark
    /// is forgotten only once shown, so a stop in between means it is shown again at the
    /// next start (flags and moves are idempotent; a Sent copy may then appear twice).
    async fn show_marks(&mut self) -> Result<(), SessionError> {
        let Some(marks) = self.collect_marks()? else {
            return Ok(());
        };
        put_marks(self.imap, self.config, &self.pipeline.metrics(), &marks).await?;
        self.pipeline.shown(&marks.ids)?;
        Ok(())
    }

    /// What the ledger journalled and the mailbox does not show yet, gathered into the
    /// commands that show it (`None`: nothing). Marks for another folder, or for UIDs
    /// renumbered since, are forgotten here: there is nothing to show them on.
    fn collect_marks(&mut self) -> Result<Option<Marks>, SessionError> {
        let unshown = self.pipeline.unshown()?;
        if unshown.is_empty() {
            return Ok(None);
        }
        let validity = self.selected.uid_validity;
        let (mut ids, mut gone) = (Vec::new(), Vec::new());
        let mut sent = Vec::new();
        let mut flags: BTreeMap<Mark, Vec<u32>> = BTreeMap::new();
        let mut moves: BTreeMap<Category, Vec<u32>> = BTreeMap::new();
        for u in unshown {
            let Some(uid) = u.source.uid_in(&self.mailbox, validity) else {
                gone.push(u.id);
                continue;
            };
            ids.push(u.id);
            match u.mark {
                Mark::SentCopy => sent.extend(u.bytes),
                Mark::Move(category) => moves.entry(category).or_default().push(uid),
                mark => flags.entry(mark).or_default().push(uid),
            }
        }
        self.pipeline.shown(&gone)?;
        let stores = flags
            .into_iter()
            .map(|(mark, uids)| Store {
                uids,
                flags: self.flags_for(&mark),
            })
            .collect();
        Ok(Some(Marks {
            ids,
            sent,
            stores,
            moves,
        }))
    }

    /// The flags for a kind of mark: the system flag where there is one, and autosvar's
    /// keyword where the folder keeps keywords.
    fn flags_for(&self, mark: &Mark) -> Vec<&'static str> {
        let (system, keyword) = match mark {
            Mark::Answered => (Some("\\Answered"), REPLIED),
            Mark::Forwarded => (None, FORWARDED),
            Mark::Review => (Some("\\Flagged"), REVIEW),
            // Copies and moves are no flags; they never get here.
            Mark::Skipped | Mark::SentCopy | Mark::Move(_) => (None, SKIPPED),
        };
        system
            .into_iter()
            .chain(self.selected.keywords.then_some(keyword))
            .collect()
    }
}

/// Marks gathered from the ledger's journal, to be shown in the mailbox; `ids` are
/// forgotten (`Pipeline::shown`) only once all the rest is shown.
struct Marks {
    ids: Vec<i64>,
    sent: Vec<Vec<u8>>,
    stores: Vec<Store>,
    moves: BTreeMap<Category, Vec<u32>>,
}

/// Shows `marks`: the Sent copies and flags in one round trip ([`Imap::show`]), then the
/// moves to category folders (after the flags: a moved message takes its flags along).
async fn put_marks(
    imap: &mut Imap,
    config: &ImapConfig,
    metrics: &Metrics,
    marks: &Marks,
) -> Result<(), ImapError> {
    let started = std::time::Instant::now();
    imap.show(&marks.sent, &marks.stores).await?;
    if let Some(prefix) = &config.category_folders {
        for (category, uids) in &marks.moves {
            let folder = format!("{prefix}/{}", category.name());
            if !imap.move_to(uids, &folder).await? {
                warn!("the server has no MOVE; category-folders is ignored");
                break;
            }
        }
    }
    metrics.stage(Stage::Mark, started.elapsed());
    Ok(())
}

/// `listed` cut into batches of at most [`BATCH_MAILS`] mails and [`BATCH_BYTES`] (a mail
/// over [`FULL_FETCH_MAX`] counts as the [`PARTIAL_BYTES`] fetched of it). A large mail
/// goes with the small ones around it: its messages go out over SMTP alongside theirs,
/// instead of a batch of its own that leaves most SMTP connections idle.
fn batches(listed: &[Listed]) -> Vec<&[Listed]> {
    let mut out = Vec::new();
    let mut rest = listed;
    while !rest.is_empty() {
        let (batch, tail) = rest.split_at(next_batch(rest));
        out.push(batch);
        rest = tail;
    }
    out
}

/// The bytes fetched of a listed mail.
fn fetched_size(l: &Listed) -> u64 {
    u64::from(if l.size > FULL_FETCH_MAX {
        PARTIAL_BYTES
    } else {
        l.size
    })
}

/// How many of `listed` the next batch takes: at most [`BATCH_MAILS`] and [`BATCH_BYTES`]
/// (at least one).
fn next_batch(listed: &[Listed]) -> usize {
    let mut bytes = 0u64;
    let mut n = 0;
    for l in listed.iter().take(BATCH_MAILS) {
        let size = fetched_size(l);
        if n > 0 && bytes + size > BATCH_BYTES {
            break;
        }
        bytes += size;
        n += 1;
    }
    n
}

/// [`fetch_batch`], its time noted as the fetch stage's, and the server's answer as
/// contact.
async fn timed_fetch(
    imap: &mut Imap,
    batch: &[Listed],
    metrics: &Metrics,
) -> Result<HashMap<u32, (Vec<u8>, bool)>, ImapError> {
    let started = std::time::Instant::now();
    let fetched = fetch_batch(imap, batch).await?;
    metrics.stage(Stage::Fetch, started.elapsed());
    metrics.intake_up(now());
    Ok(fetched)
}

/// A batch's mails by UID, with whether each was cut at [`PARTIAL_BYTES`]: the small ones
/// whole in one UID FETCH, the large ones' beginnings in another.
async fn fetch_batch(
    imap: &mut Imap,
    batch: &[Listed],
) -> Result<HashMap<u32, (Vec<u8>, bool)>, ImapError> {
    let (large, small): (Vec<&Listed>, Vec<&Listed>) =
        batch.iter().partition(|l| l.size > FULL_FETCH_MAX);
    let uids = |ls: &[&Listed]| ls.iter().map(|l| l.uid).collect::<Vec<u32>>();
    let mut out: HashMap<u32, (Vec<u8>, bool)> = imap
        .fetch_many(&uids(&small), None)
        .await?
        .into_iter()
        .map(|(u, b)| (u, (b, false)))
        .collect();
    let cut = imap.fetch_many(&uids(&large), Some(PARTIAL_BYTES)).await?;
    out.extend(cut.into_iter().map(|(u, b)| (u, (b, true))));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(sizes: &[u32]) -> Vec<Listed> {
        sizes
            .iter()
            .zip(1..)
            .map(|(&size, uid)| Listed {
                uid,
                size,
                arrived: None,
                handled: false,
            })
            .collect()
    }

    #[test]
    fn mails_go_together_a_large_one_counted_as_its_beginning() {
        let big = FULL_FETCH_MAX + 1;
        let l = listed(&[10, 20, big, 30]);
        let sizes: Vec<usize> = batches(&l).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [4], "a large mail goes with the small ones");
        let larges = listed(&[big; 40]);
        let per = (BATCH_BYTES / u64::from(PARTIAL_BYTES)) as usize;
        let sizes: Vec<usize> = batches(&larges).iter().map(|b| b.len()).collect();
        assert_eq!(
            sizes[0],
            per.min(BATCH_MAILS),
            "bounded by what is fetched of them"
        );
        let many = listed(&[100; 70]);
        let sizes: Vec<usize> = batches(&many).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [BATCH_MAILS, BATCH_MAILS, 70 - 2 * BATCH_MAILS]);
        let heavy = listed(&[FULL_FETCH_MAX; 20]);
        let per = (BATCH_BYTES / u64::from(FULL_FETCH_MAX)) as usize;
        assert_eq!(batches(&heavy)[0].len(), per, "bounded by bytes too");
        assert!(batches(&[]).is_empty());
    }
}
