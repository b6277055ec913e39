//! The daemon: the order of things around the pipeline. Read what is waiting, run each mail
//! through the [`Pipeline`], show the outcome in the mailbox, wait for more, and do it again
//! until the shutdown future resolves; reconnect with backoff when the server goes away,
//! retry undelivered messages, reload `responses/` when HR staff save a file, and on SIGHUP
//! reload the config's live keys, the rules, the training examples and the templates
//! (`reload.rs`).
//!
//! [`run`] takes its shutdown as a future (as mini-redis's server does), so a test can stop
//! it without a signal and run it with paused time. The daemon knows loops, servers and
//! timing; it never reads a mail's content, decides an answer or writes the ledger itself
//! (the pipeline does, and owns each folder's place). The CLI only wires config to it.

mod backoff;
mod imap;
mod maildir;
#[cfg(unix)]
mod reload;
mod requests;
mod systemd;
mod watch;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

pub use backoff::{reconnecting, Attempt, Backoff, RetryTimer};
pub use imap::Rebuilt;

use crate::config::{Desk, ImapConfig};
use crate::intake::maildir::Maildir;
use crate::metrics::{Metrics, Part};
use crate::pipeline::{Outcome, Pipeline};
use crate::render::{Severity, Templates};
use crate::types::{DeskKey, Source};

/// Where mail comes from, with how to wait for it.
pub enum Intake {
    /// A Maildir's `new/`, watched, and looked at every `poll_interval` besides.
    Maildir {
        maildir: Maildir,
        poll_interval: Duration,
    },
    /// An IMAP folder. Undelivered messages are retried `retry_after` after they fail,
    /// then further apart.
    Imap {
        config: ImapConfig,
        retry_after: Duration,
    },
}

/// How long the daemon runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Handle what is waiting, then return.
    Once,
    /// Keep watching until shutdown; reload templates when they change.
    Watch,
}

/// Counts outcomes; with `print_each`, prints a line per mail (`--once`).
#[derive(Debug, Default)]
pub struct Report {
    print_each: bool,
    counts: BTreeMap<&'static str, usize>,
}

impl Report {
    pub fn new(print_each: bool) -> Report {
        Report {
            print_each,
            counts: BTreeMap::new(),
        }
    }

    fn mail(&mut self, source: &Source, outcome: &Outcome) {
        if self.print_each {
            println!("{source}\t{}", outcome.describe());
        }
        *self.counts.entry(outcome.label()).or_default() += 1;
    }

    /// How many mails had each outcome.
    pub fn counts(&self) -> &BTreeMap<&'static str, usize> {
        &self.counts
    }

    /// "3 mail(s): 2 replied, 1 skipped".
    pub fn summary(&self) -> String {
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

/// Runs the daemon until `intake` is done (`Mode::Once`) or `shutdown` resolves. The mail
/// in hand when shutdown comes finishes (its ledger entry is written) before this returns.
///
/// # Errors
/// What no retry can mend: the ledger is gone, the login is refused, the folder is missing
/// (and, with `Mode::Once`, any failure to read the mailbox).
pub async fn run(
    pipeline: &mut Pipeline,
    intake: Intake,
    mode: Mode,
    report: &mut Report,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    let work = async {
        if mode == Mode::Watch {
            let config = pipeline.config().clone();
            watch_templates(
                config.responses.clone(),
                config.desks.clone(),
                pipeline.templates(),
                pipeline.bell(),
                pipeline.metrics(),
                stop.clone(),
            )?;
            #[cfg(unix)]
            reload::on_sighup(pipeline, stop.clone()).await?;
        }
        let once = mode == Mode::Once;
        match intake {
            Intake::Maildir {
                maildir,
                poll_interval,
            } => maildir::run(pipeline, maildir, poll_interval, once, &stop, report).await,
            Intake::Imap {
                config,
                retry_after,
            } => imap::run(pipeline, &config, retry_after, once, &stop, report).await,
        }
    };
    tokio::pin!(work);
    tokio::pin!(shutdown);
    let mut asked = false;
    loop {
        tokio::select! {
            result = &mut work => {
                stop.cancel();
                return result;
            }
            () = &mut shutdown, if !asked => {
                info!("shutdown requested");
                systemd::stopping();
                asked = true;
                stop.cancel();
            }
        }
    }
}

/// Records in the ledger every mail the IMAP folder shows answered or handled by autosvar
/// (`autosvar ledger rebuild`, after a lost ledger). Sends nothing, changes no flag.
///
/// # Errors
/// When the folder cannot be read, or the intake is no IMAP folder.
pub async fn rebuild_ledger(pipeline: &mut Pipeline, intake: &Intake) -> anyhow::Result<Rebuilt> {
    match intake {
        Intake::Imap { config, .. } => imap::rebuild(pipeline, config).await,
        Intake::Maildir { .. } => anyhow::bail!(
            "a Maildir keeps no marks to rebuild from; the ledger is what remembers its mail"
        ),
    }
}

/// Reloads `responses/` when a file in it changes. A broken set is refused and logged
/// with each problem; the previous set stays in use. A new set rings `bell`: the daemon's
/// wait ends and it notes the set in use in the ledger (for `autosvar status`).
fn watch_templates(
    dir: PathBuf,
    desks: BTreeMap<DeskKey, Desk>,
    live: Arc<ArcSwap<Templates>>,
    bell: crate::pipeline::Bell,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let translate = |res: notify::Result<notify::Event>| match res {
        Ok(e) if !e.kind.is_access() => vec![()],
        _ => Vec::new(),
    };
    let Some(mut watch) = watch::folder(&dir, "responses/", 16, translate)? else {
        return Ok(());
    };
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                got = watch.next() => if got.is_none() { break },
            }
            // Let the editor finish writing, then take all events of this save at once.
            tokio::time::sleep(Duration::from_millis(200)).await;
            while watch.try_next().is_some() {}
            if reload_templates(&dir, &desks, &live, &metrics) {
                bell.notify_one(); // the set in use is noted for `autosvar status`
            }
        }
    });
    Ok(())
}

/// Reads and checks `responses/` and, when the set has no error, puts it to work (`true`);
/// a broken set is refused and logged with each problem (and counted), and the previous set
/// stays in use.
fn reload_templates(
    dir: &Path,
    desks: &BTreeMap<DeskKey, Desk>,
    live: &ArcSwap<Templates>,
    metrics: &Metrics,
) -> bool {
    match crate::render::check_dir(dir, desks) {
        Ok(checked) => {
            for w in checked.warnings() {
                warn!(problem = %w.diagnostic(dir), "template warning");
            }
            match checked.templates {
                Some(t) => {
                    live.store(Arc::new(t));
                    info!("templates reloaded");
                    true
                }
                None => {
                    for p in checked
                        .problems
                        .iter()
                        .filter(|p| p.severity() == Severity::Error)
                    {
                        error!(problem = %p.diagnostic(dir), "template change refused; keeping the previous templates");
                    }
                    metrics.reload_refused(Part::Templates);
                    false
                }
            }
        }
        Err(e) => {
            for p in e.problems() {
                error!(problem = %p, "template change refused; keeping the previous templates");
            }
            metrics.reload_refused(Part::Templates);
            false
        }
    }
}
