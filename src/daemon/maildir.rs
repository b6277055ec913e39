//! The Maildir side of the daemon: scan `new/`, run each mail through the pipeline, wait
//! for the watcher (or the poll interval), scan again. A file still being written is
//! looked at again once it may be complete; `--once` waits a little for such files, then
//! leaves them for the next run.
//!
//! Never moves, renames or deletes a mail file: the ledger is what remembers a file was
//! handled.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::{watch, Report};
use crate::clock::now;
use crate::intake::maildir::{changes, Change, Maildir};
use crate::metrics::Stage;
use crate::pipeline::{Outcome, Pipeline};
use crate::types::Source;

/// `--once` waits this long at most for files still being written in new/.
const ONCE_SETTLE_MAX: Duration = Duration::from_secs(10);

pub(super) async fn run(
    pipeline: &mut Pipeline,
    mut maildir: Maildir,
    poll_interval: Duration,
    once: bool,
    shutdown: &CancellationToken,
    report: &mut Report,
) -> anyhow::Result<()> {
    let mut watch = if once {
        None
    } else {
        let watch = watch_new(&maildir)?;
        info!(maildir = %maildir.label(), "watching for new mail");
        watch
    };
    let mut settle_until: Option<Instant> = None;
    let bell = pipeline.bell();
    let metrics = pipeline.metrics();
    loop {
        super::systemd::watchdog();
        metrics.loop_round(Duration::ZERO);
        scan(pipeline, &mut maildir, once, shutdown, report).await?;
        carry_out_requests(pipeline, &maildir, report).await?;
        // A file being written in place is looked at again once it may be complete.
        let next_look = maildir.next_look();
        if once {
            let until = *settle_until.get_or_insert_with(|| Instant::now() + ONCE_SETTLE_MAX);
            match next_look {
                Some(wait) if Instant::now() < until && !shutdown.is_cancelled() => {
                    tokio::time::sleep(wait).await;
                    continue;
                }
                _ => {
                    for file in maildir.waiting() {
                        warn!(file = %file, "mail file empty or still being written; left for the next run");
                    }
                    return Ok(());
                }
            }
        }
        let wait = next_look.map_or(poll_interval, |d| d.min(poll_interval));
        // systemd: the loop comes round in time to feed the watchdog (super::systemd).
        let wait = wait.min(super::systemd::until_watchdog());
        super::systemd::idle(report);
        metrics.loop_round(wait);
        if !wait_for_change(&mut maildir, &mut watch, wait, shutdown, &bell).await {
            return Ok(());
        }
    }
}

/// The console's requests, each mail read again from `new/`.
async fn carry_out_requests(
    pipeline: &mut Pipeline,
    maildir: &Maildir,
    report: &mut Report,
) -> anyhow::Result<()> {
    let label = maildir.label();
    super::requests::carry_out(pipeline, report, async |source: &Source| {
        let Source::File { mailbox, name } = source else {
            return Ok::<_, anyhow::Error>(Err("the mail came from an IMAP folder".into()));
        };
        if *mailbox != label {
            return Ok(Err(format!("the mail is in another Maildir ({mailbox})")));
        }
        Ok(match maildir.read_again(name) {
            Ok(Some(raw)) => Ok(raw),
            Ok(None) => Err("the mail file is no longer in the Maildir's new/".into()),
            Err(e) => Err(format!("cannot read the mail file: {e}")),
        })
    })
    .await?;
    Ok(())
}

/// Only what says a file arrived or changed wakes the loop: the events a scan's own reads
/// cause (open, close after reading) would make every scan cause the next.
fn watch_new(maildir: &Maildir) -> anyhow::Result<Option<watch::Watch<Change>>> {
    watch::folder(&maildir.new_dir(), "the Maildir", 1024, |res| match res {
        Ok(event) => changes(&event),
        Err(_) => vec![Change::Rescan],
    })
}

/// One look at `new/`: every complete mail through the pipeline. A mail whose handling
/// failed (a transient error) is offered again by the next scan.
async fn scan(
    pipeline: &mut Pipeline,
    maildir: &mut Maildir,
    once: bool,
    shutdown: &CancellationToken,
    report: &mut Report,
) -> anyhow::Result<()> {
    pipeline
        .resume_pending(now(), &HashSet::new(), None)
        .await?;
    let metrics = pipeline.metrics();
    let started = std::time::Instant::now();
    match maildir.scan() {
        Ok(batch) => {
            metrics.stage(Stage::Fetch, started.elapsed());
            super::systemd::ready();
            pipeline.note_contact("maildir scanned"); // for `autosvar status`, and the metrics
            let mut waiting = batch.len();
            metrics.backlog(waiting);
            for raw in batch {
                if shutdown.is_cancelled() {
                    break;
                }
                super::systemd::working(report);
                metrics.loop_round(Duration::ZERO);
                let outcome = pipeline.process(&raw, now()).await?;
                waiting -= 1;
                metrics.backlog(waiting);
                report.mail(&raw.source, &outcome);
                if matches!(outcome, Outcome::Failed { .. }) {
                    if let Some(name) = raw.source.file_name() {
                        maildir.retry_later(name);
                    }
                }
            }
        }
        Err(e) if once => return Err(e.into()),
        Err(e) => {
            error!(error = %e, "cannot scan Maildir; will retry");
            metrics.maildir_unreadable("cannot read its new/ folder");
        }
    }
    Ok(())
}

/// Waits at most `wait` for a change worth a scan; changes that need none (a file still
/// being written) are noted on the way. `false`: shutdown.
async fn wait_for_change(
    maildir: &mut Maildir,
    watch: &mut Option<watch::Watch<Change>>,
    wait: Duration,
    shutdown: &CancellationToken,
    bell: &tokio::sync::Notify,
) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let changes = async {
            match watch {
                Some(w) => w.next().await,
                None => std::future::pending().await,
            }
        };
        let got = tokio::select! {
            _ = shutdown.cancelled() => return false,
            // A request from the console, or a retrained model: carried out at once.
            () = bell.notified() => return true,
            got = changes => got,
            _ = tokio::time::sleep_until(deadline) => return true,
        };
        let (Some(change), Some(w)) = (got, watch.as_mut()) else {
            // The watcher is gone: the poll interval alone wakes the loop from now on.
            *watch = None;
            continue;
        };
        let mut scan = maildir.note(change);
        while let Some(c) = w.try_next() {
            scan |= maildir.note(c);
        }
        if scan {
            return true;
        }
    }
}
