//! `autosvar run`: the daemon. `--once` handles what is waiting and exits; without it,
//! autosvar keeps watching the mailbox (Maildir events, or IMAP IDLE/polling) and reloads
//! `responses/` when HR staff save a file.
//!
//! This is where the order of things lives: reconnect with backoff, reconcile what was in
//! flight, list new mail, run each through the pipeline, show the outcome in the mailbox,
//! wait. The stages themselves know nothing of loops or servers.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use arc_swap::ArcSwap;
use clap::Args;
use notify::Watcher;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::clock::{now, unix_seconds};
use crate::config::{Config, ImapConfig, IntakeConfig, SentCopy};
use crate::deliver::Transport;
use crate::intake::imap::{Imap, ImapError, Wake};
use crate::intake::maildir::{changes, Change, Maildir};
use crate::intake::{RawMail, FULL_FETCH_MAX, PARTIAL_BYTES};
use crate::ledger::Ledger;
use crate::pipeline::{Event, Outcome, Pipeline};
use crate::render::Templates;
use crate::types::MessageKind;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Handle the mail that is waiting, print one line per mail, and exit.
    #[arg(long)]
    pub once: bool,
    /// Decide and print, but record nothing and send nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(path: &Path, args: RunArgs) -> anyhow::Result<i32> {
    let setup = super::Setup::load(path)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let config = Arc::new(setup.config);
        let mut ledger = Ledger::open(&config.ledger)?;
        // Keep only the personal data needed: old outcomes (and sender hashes) go. Only with
        // IMAP, where the last UID keeps old mail from being read again; a Maildir's new/
        // keeps its files, and the ledger is what remembers them.
        let prunable = matches!(config.intake, IntakeConfig::Imap(_));
        if let Some(cutoff) = now().checked_sub(config.ledger_keep).filter(|_| prunable) {
            let pruned = ledger.prune(cutoff)?;
            if pruned > 0 {
                info!(pruned, "deleted ledger entries older than ledger.keep");
            }
        }
        let transport = Transport::from_config(&config.delivery, &config.from.domain())?;
        let dry_run = args.dry_run || config.dry_run;
        let mut pipeline = Pipeline::new(
            config.clone(),
            setup.classifier,
            setup.templates,
            ledger,
            transport,
            dry_run,
        );
        let shutdown = if args.once {
            CancellationToken::new()
        } else {
            let token = crate::shutdown::on_signal();
            watch_templates(&config, pipeline.templates(), token.clone())?;
            token
        };
        let mut report = Report {
            once: args.once,
            counts: BTreeMap::new(),
        };
        let code = match &config.intake {
            IntakeConfig::Maildir {
                path,
                poll_interval,
                max_size,
            } => {
                let maildir = Maildir::new(path).max_size(*max_size);
                run_maildir(
                    &mut pipeline,
                    maildir,
                    *poll_interval,
                    args.once,
                    &shutdown,
                    &mut report,
                )
                .await?
            }
            IntakeConfig::Imap(imap) => {
                let retry_after = match &config.delivery {
                    crate::config::DeliveryConfig::Smtp(s) => s.retry_after,
                    crate::config::DeliveryConfig::Outbox { .. } => Duration::from_secs(2),
                };
                run_imap(
                    &mut pipeline,
                    imap,
                    args.once,
                    &shutdown,
                    &mut report,
                    retry_after,
                )
                .await?
            }
        };
        pipeline.close().await;
        if args.once {
            eprintln!("autosvar: {}", report.summary());
        }
        info!("stopped");
        Ok(code)
    })
}

/// Counts outcomes; `--once` prints a line per mail.
struct Report {
    once: bool,
    counts: BTreeMap<&'static str, usize>,
}

impl Report {
    fn mail(&mut self, raw: &RawMail, outcome: &Outcome) {
        if self.once {
            println!("{}\t{}", raw.source(), outcome.describe());
        }
        *self.counts.entry(outcome.label()).or_default() += 1;
    }

    fn summary(&self) -> String {
        let parts: Vec<String> = self
            .counts
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        format!(
            "{} mail(s){}{}",
            self.counts.values().sum::<usize>(),
            if parts.is_empty() { "" } else { ": " },
            parts.join(", ")
        )
    }
}

/// Reloads `responses/` when a file in it changes. A broken set is refused and logged
/// with each problem; the previous set stays in use.
fn watch_templates(
    config: &Config,
    live: Arc<ArcSwap<Templates>>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let (tx, mut rx) = mpsc::channel::<()>(16);
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if res.is_ok_and(|e| !e.kind.is_access()) {
            let _ = tx.try_send(());
        }
    })
    .context("cannot start the templates watcher")?;
    // Editors save by rename, so watch the folder, not the files.
    if let Err(e) = watcher.watch(&config.responses, notify::RecursiveMode::NonRecursive) {
        warn!(error = %e, "cannot watch responses/; template changes need a restart");
        return Ok(());
    }
    let dir = config.responses.clone();
    let desks = config.desks.clone();
    tokio::spawn(async move {
        let _watcher = watcher;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                got = rx.recv() => if got.is_none() { break },
            }
            // Let the editor finish writing, then take all events of this save at once.
            tokio::time::sleep(Duration::from_millis(200)).await;
            while rx.try_recv().is_ok() {}
            match Templates::load(&dir, &desks) {
                Ok(t) => {
                    live.store(Arc::new(t));
                    info!("templates reloaded");
                }
                Err(e) => {
                    for p in e.problems() {
                        error!(problem = %p, "template change refused; keeping the previous templates");
                    }
                }
            }
        }
    });
    Ok(())
}

/// `--once` waits this long at most for files still being written in new/.
const ONCE_SETTLE_MAX: Duration = Duration::from_secs(10);

async fn run_maildir(
    pipeline: &mut Pipeline,
    mut maildir: Maildir,
    poll_interval: Duration,
    once: bool,
    shutdown: &CancellationToken,
    report: &mut Report,
) -> anyhow::Result<i32> {
    // Only what says a file arrived or changed wakes the loop: the events a scan's own
    // reads cause (open, close after reading) would make every scan cause the next.
    let (tx, mut rx) = mpsc::channel::<Change>(1024);
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let changes = match res {
            Ok(event) => changes(&event),
            Err(_) => vec![Change::Rescan],
        };
        for c in changes {
            // A full queue loses what it says about a file: that file waits out its
            // quiet time instead, found by the periodic rescan.
            let _ = tx.try_send(c);
        }
    })
    .context("cannot start the Maildir watcher")?;
    let mut watching = false;
    if !once {
        match watcher.watch(&maildir.new_dir(), notify::RecursiveMode::NonRecursive) {
            Ok(()) => watching = true,
            Err(e) => {
                warn!(error = %e, folder = %maildir.new_dir().display(), "cannot watch Maildir; polling only")
            }
        }
        info!(maildir = %maildir.label(), "watching for new mail");
    }
    let mut settle_until: Option<Instant> = None;
    let nothing = HashSet::new();
    loop {
        pipeline.resume_pending(now(), &nothing, None).await?;
        let _ = pipeline.drain_events();
        match maildir.scan() {
            Ok(batch) => {
                for raw in batch {
                    if shutdown.is_cancelled() {
                        break;
                    }
                    let outcome = pipeline.process(&raw, now()).await?;
                    report.mail(&raw, &outcome);
                    if matches!(outcome, Outcome::Failed { .. }) {
                        maildir.retry_later(&raw.id);
                    }
                }
            }
            Err(e) if once => return Err(e.into()),
            Err(e) => error!(error = %e, "cannot scan Maildir; will retry"),
        }
        let _ = pipeline.drain_events();
        // A file being written in place is looked at again once it may be complete.
        let next_look = maildir.next_look();
        if once {
            match next_look {
                Some(wait)
                    if Instant::now()
                        < *settle_until.get_or_insert_with(|| Instant::now() + ONCE_SETTLE_MAX)
                        && !shutdown.is_cancelled() =>
                {
                    tokio::time::sleep(wait).await;
                    continue;
                }
                _ => {
                    for file in maildir.waiting() {
                        warn!(file = %file, "mail file empty or still being written; left for the next run");
                    }
                    return Ok(0);
                }
            }
        }
        let wait = next_look.map_or(poll_interval, |d| d.min(poll_interval));
        let deadline = tokio::time::Instant::now() + wait;
        // Changes that need no scan (a file still being written) are noted while waiting.
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(0),
                got = rx.recv(), if watching => match got {
                    Some(c) => {
                        let mut scan = maildir.note(c);
                        while let Ok(c) = rx.try_recv() {
                            scan |= maildir.note(c);
                        }
                        if scan {
                            break;
                        }
                    }
                    None => watching = false,
                },
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
    }
}

/// How the IMAP session ended.
enum Ended {
    Done,
}

async fn run_imap(
    pipeline: &mut Pipeline,
    config: &ImapConfig,
    once: bool,
    shutdown: &CancellationToken,
    report: &mut Report,
    retry_after: Duration,
) -> anyhow::Result<i32> {
    let mut imap = Imap::new(config)?;
    let mut backoff = Duration::from_secs(1);
    loop {
        if shutdown.is_cancelled() {
            return Ok(0);
        }
        let result = match imap.open().await {
            Ok(selected) => {
                backoff = Duration::from_secs(1);
                info!(mailbox = %imap.label(), uidvalidity = selected.uid_validity, "connected");
                session(
                    pipeline,
                    &mut imap,
                    config,
                    selected,
                    once,
                    shutdown,
                    report,
                    retry_after,
                )
                .await
            }
            Err(e) => Err(SessionError::Imap(e)),
        };
        match result {
            Ok(Ended::Done) => {
                imap.logout().await;
                return Ok(0);
            }
            Err(SessionError::Pipeline(e)) => {
                imap.logout().await;
                return Err(e.into());
            }
            Err(SessionError::Imap(e)) if e.is_fatal() || once => {
                imap.logout().await;
                return Err(anyhow::Error::new(e).context(format!("IMAP {}", imap.label())));
            }
            Err(SessionError::Imap(e)) => {
                imap.drop_connection();
                warn!(error = %format!("{:#}", anyhow::Error::new(e)), retry_in = ?backoff, "IMAP connection lost; reconnecting");
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(0),
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(60));
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error(transparent)]
    Imap(#[from] ImapError),
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::PipelineError),
}

impl From<crate::ledger::LedgerError> for SessionError {
    fn from(e: crate::ledger::LedgerError) -> Self {
        SessionError::Pipeline(e.into())
    }
}

fn uid_of(source: &str, mailbox: &str) -> Option<u32> {
    source
        .strip_prefix(mailbox)?
        .strip_prefix('/')?
        .parse()
        .ok()
}

/// Where a session shows outcomes: the folder (as the ledger names it), whether keywords
/// stick there, and skipped mail waiting for its keyword.
struct Marks {
    mailbox: String,
    keywords: bool,
    skipped: Vec<u32>,
}

/// Shows in the mailbox what happened: Sent copies, `\Answered`, keywords, `\Flagged`;
/// one command per kind for everything since the last call.
async fn show_events(
    pipeline: &mut Pipeline,
    imap: &mut Imap,
    config: &ImapConfig,
    marks: &mut Marks,
) -> Result<(), SessionError> {
    let Marks {
        mailbox,
        keywords,
        skipped,
    } = marks;
    let keywords = *keywords;
    let mut sent = Vec::new();
    let (mut answered, mut forwarded, mut review) = (Vec::new(), Vec::new(), Vec::new());
    for event in pipeline.drain_events() {
        match event {
            Event::Delivered {
                source,
                kind,
                bytes,
            } => {
                if config.sent_copy == SentCopy::Append {
                    sent.push(bytes);
                }
                if let Some(uid) = uid_of(&source, mailbox) {
                    if kind == MessageKind::Reply {
                        answered.push(uid);
                    } else {
                        forwarded.push(uid);
                    }
                }
            }
            Event::SetAside { source } => review.extend(uid_of(&source, mailbox)),
        }
    }
    imap.append_sent(&sent).await?;
    let kw = |k: &'static str| if keywords { Some(k) } else { None };
    let answered_flags: Vec<&str> = ["\\Answered"]
        .into_iter()
        .chain(kw("$AutosvarReplied"))
        .collect();
    imap.add_flags(&answered, &answered_flags).await?;
    let forwarded_flags: Vec<&str> = kw("$AutosvarForwarded").into_iter().collect();
    imap.add_flags(&forwarded, &forwarded_flags).await?;
    let review_flags: Vec<&str> = ["\\Flagged"]
        .into_iter()
        .chain(kw("$AutosvarReview"))
        .collect();
    imap.add_flags(&review, &review_flags).await?;
    let skipped_flags: Vec<&str> = kw("$AutosvarSkipped").into_iter().collect();
    imap.add_flags(skipped, &skipped_flags).await?;
    skipped.clear();
    Ok(())
}

/// Sends what the ledger holds as not yet delivered, after asking the Sent folder about the
/// messages whose delivery was interrupted.
async fn reconcile(
    pipeline: &mut Pipeline,
    imap: &mut Imap,
    config: &ImapConfig,
    marks: &mut Marks,
) -> Result<(), SessionError> {
    let doubt = pipeline.in_doubt()?;
    let in_sent = if doubt.is_empty() {
        HashSet::new()
    } else {
        imap.in_sent(&doubt).await?
    };
    let server_copies = (config.sent_copy == SentCopy::Server).then_some(config.sent_copy_grace);
    pipeline
        .resume_pending(now(), &in_sent, server_copies)
        .await?;
    show_events(pipeline, imap, config, marks).await
}

/// A batch's mails by UID, with whether each was cut at `PARTIAL_BYTES`.
async fn fetch_batch(
    imap: &mut Imap,
    batch: &[crate::intake::imap::Listed],
) -> Result<HashMap<u32, (Vec<u8>, bool)>, ImapError> {
    if let [one] = batch {
        if one.size > FULL_FETCH_MAX {
            let body = imap.fetch(one.uid, Some(PARTIAL_BYTES)).await?;
            return Ok(body.map(|b| (one.uid, (b, true))).into_iter().collect());
        }
    }
    let uids: Vec<u32> = batch.iter().map(|l| l.uid).collect();
    Ok(imap
        .fetch_many(&uids)
        .await?
        .into_iter()
        .map(|(u, b)| (u, (b, false)))
        .collect())
}

/// Mails fetched in one round trip: at most this many, and this many bytes.
const BATCH_MAILS: usize = 32;
const BATCH_BYTES: u64 = 8 * 1024 * 1024;

/// The next batch: small mails together, a large one alone.
fn next_batch(listed: &[crate::intake::imap::Listed]) -> usize {
    let Some(first) = listed.first() else {
        return 0;
    };
    if first.size > FULL_FETCH_MAX {
        return 1;
    }
    let mut bytes = 0u64;
    let mut n = 0;
    for l in listed.iter().take(BATCH_MAILS) {
        if l.size > FULL_FETCH_MAX || (n > 0 && bytes + u64::from(l.size) > BATCH_BYTES) {
            break;
        }
        bytes += u64::from(l.size);
        n += 1;
    }
    n
}

// The loop's whole state is passed in; bundling it in a struct would only rename it.
#[allow(clippy::too_many_arguments)]
async fn session(
    pipeline: &mut Pipeline,
    imap: &mut Imap,
    config: &ImapConfig,
    selected: crate::intake::imap::Selected,
    once: bool,
    shutdown: &CancellationToken,
    report: &mut Report,
    retry_after: Duration,
) -> Result<Ended, SessionError> {
    let mailbox = format!("{};uidvalidity={}", imap.label(), selected.uid_validity);
    let state_key = format!("imap:{}", imap.label());
    let known_validity = pipeline
        .ledger()
        .meta(&format!("{state_key}:uidvalidity"))?;
    let first_start = known_validity.as_deref() != Some(selected.uid_validity.to_string().as_str());
    if first_start {
        // New mailbox, or its UIDs were renumbered: look at everything again; the ledger
        // (by Message-ID) keeps what was answered from being answered twice.
        if known_validity.is_some() {
            warn!(mailbox = %imap.label(), "UIDVALIDITY changed; rescanning (the ledger prevents duplicate replies)");
        }
        pipeline
            .ledger()
            .set_meta(&format!("{state_key}:last-uid"), "0")?;
        pipeline.ledger().set_meta(
            &format!("{state_key}:uidvalidity"),
            &selected.uid_validity.to_string(),
        )?;
    }
    let mut last: u32 = pipeline
        .ledger()
        .meta(&format!("{state_key}:last-uid"))?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);

    // Reconcile what was in flight when the process stopped.
    let mut marks = Marks {
        mailbox: mailbox.clone(),
        keywords: selected.keywords,
        skipped: Vec::new(),
    };
    reconcile(pipeline, imap, config, &mut marks).await?;

    let max_age = i64::try_from(config.max_age.as_secs()).unwrap_or(i64::MAX);
    let mut retry = retry_after;
    let mut next_retry: Option<Instant> = None;
    loop {
        let listed = imap.list_after(last).await?;
        let mut batches = Vec::new();
        let mut rest = listed.as_slice();
        while !rest.is_empty() {
            let (batch, tail) = rest.split_at(next_batch(rest));
            batches.push(batch);
            rest = tail;
        }
        // While one batch's messages go out over SMTP, the next batch is fetched over IMAP.
        let mut fetched = match batches.first() {
            Some(batch) => fetch_batch(imap, batch).await?,
            None => HashMap::new(),
        };
        for (i, &batch) in batches.iter().enumerate() {
            let mut bodies = std::mem::take(&mut fetched);
            // Decide and record every mail of the batch, then send all their messages at once.
            let mut decided: Vec<(RawMail, u32, Option<Outcome>)> = Vec::new();
            let mut prepared = Vec::new();
            for l in batch {
                if shutdown.is_cancelled() {
                    break;
                }
                last = l.uid;
                // Gone (expunged) since it was listed: nothing to do.
                let Some((bytes, truncated)) = bodies.remove(&l.uid) else {
                    continue;
                };
                let raw = RawMail {
                    mailbox: mailbox.clone(),
                    id: l.uid.to_string(),
                    bytes,
                    truncated,
                };
                let t = now();
                // Only mail that was already waiting when autosvar first saw this mailbox
                // can be "old"; anything arriving later is answered.
                let old = first_start
                    && l.uid < selected.uid_next
                    && l.arrived.is_some_and(|a| unix_seconds(t) - a > max_age);
                if old {
                    let outcome = pipeline.record_old(&raw, t)?;
                    decided.push((raw, l.uid, Some(outcome)));
                } else {
                    prepared.push(pipeline.prepare(&raw, t).await?);
                    decided.push((raw, l.uid, None));
                }
            }
            let following = batches.get(i + 1).filter(|_| !shutdown.is_cancelled());
            let (delivered, next) = tokio::join!(pipeline.deliver(prepared, now()), async {
                match following {
                    Some(batch) => fetch_batch(imap, batch).await,
                    None => Ok(HashMap::new()),
                }
            });
            let mut delivered = delivered?.into_iter();
            let mut to_move: BTreeMap<&'static str, Vec<u32>> = BTreeMap::new();
            for (raw, uid, outcome) in decided {
                let Some(outcome) = outcome.or_else(|| delivered.next()) else {
                    continue;
                };
                report.mail(&raw, &outcome);
                match &outcome {
                    Outcome::Skipped { category, .. } => {
                        marks.skipped.push(uid);
                        to_move.entry(category.name()).or_default().push(uid);
                    }
                    Outcome::Replied { category, .. } => {
                        to_move.entry(category.name()).or_default().push(uid);
                    }
                    // Mail that waits for a retry or a person stays in the INBOX.
                    _ => {}
                }
            }
            show_events(pipeline, imap, config, &mut marks).await?;
            if let Some(prefix) = &config.category_folders {
                for (category, uids) in &to_move {
                    if !imap.move_to(uids, &format!("{prefix}/{category}")).await? {
                        warn!("the server has no MOVE; category-folders is ignored");
                        break;
                    }
                }
            }
            pipeline
                .ledger()
                .set_meta(&format!("{state_key}:last-uid"), &last.to_string())?;
            if shutdown.is_cancelled() {
                return Ok(Ended::Done);
            }
            // Only now: the batch just delivered is marked and recorded before a failed
            // fetch of the next one ends the session.
            fetched = next?;
        }
        // Messages that could not be delivered (SMTP down, a 4xx) are tried again with
        // backoff, while new mail keeps being answered.
        let pending = !pipeline.ledger().pending()?.is_empty();
        if pending {
            let due = next_retry.is_some_and(|t| Instant::now() >= t);
            if due || once {
                reconcile(pipeline, imap, config, &mut marks).await?;
                retry = (retry * 2).min(Duration::from_secs(30 * 60));
            }
            if due || next_retry.is_none() {
                next_retry = Some(Instant::now() + retry);
            }
        }
        if once {
            return Ok(Ended::Done);
        }
        if pipeline.ledger().pending()?.is_empty() {
            next_retry = None;
            retry = retry_after;
        }
        let at_most = next_retry.map_or(Duration::MAX, |t| {
            t.saturating_duration_since(Instant::now())
        });
        let wake = imap.wait(shutdown, at_most).await?;
        if wake == Wake::Stop {
            return Ok(Ended::Done);
        }
    }
}
