//! `autosvar run`: the daemon. `--once` handles what is waiting and exits; without it,
//! autosvar keeps watching the mailbox and reloads `responses/` when HR staff save a file.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use notify::Watcher;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::{Config, IntakeConfig};
use crate::deliver::Transport;
use crate::intake::maildir::Maildir;
use crate::ledger::Ledger;
use crate::pipeline::{Outcome, Pipeline};
use crate::render::Templates;

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
        let ledger = Ledger::open(&config.ledger)?;
        let transport = Transport::from_config(&config.delivery)?;
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
            crate::shutdown::on_signal()
        };
        match &config.intake {
            IntakeConfig::Maildir {
                path,
                poll_interval,
            } => {
                let maildir = Maildir::new(path);
                if args.once {
                    once(&mut pipeline, maildir).await
                } else {
                    watch(&mut pipeline, maildir, &config, *poll_interval, shutdown).await
                }
            }
            IntakeConfig::Imap(_) => {
                anyhow::bail!("IMAP intake is not built into this version yet; use [maildir]")
            }
        }
    })
}

/// Handles one batch; prints a line per mail.
async fn once(pipeline: &mut Pipeline, mut maildir: Maildir) -> anyhow::Result<i32> {
    let now = crate::clock::now();
    pipeline.resume_pending(now).await?;
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for raw in maildir.scan()? {
        let outcome = pipeline.process(&raw, crate::clock::now()).await?;
        println!("{}\t{}", raw.source(), outcome.describe());
        *counts.entry(outcome.label()).or_default() += 1;
    }
    let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    eprintln!(
        "autosvar: {} mail(s){}{}",
        counts.values().sum::<usize>(),
        if summary.is_empty() { "" } else { ": " },
        summary.join(", ")
    );
    Ok(0)
}

/// Events from the file watchers.
enum Event {
    Mail,
    Templates,
}

async fn watch(
    pipeline: &mut Pipeline,
    mut maildir: Maildir,
    config: &Config,
    poll_interval: Duration,
    shutdown: CancellationToken,
) -> anyhow::Result<i32> {
    let (tx, mut rx) = mpsc::channel::<Event>(64);
    // Editors save by rename, so watch folders, not files.
    let mail_tx = tx.clone();
    let mut mail_watcher =
        notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if res.is_ok() {
                let _ = mail_tx.try_send(Event::Mail);
            }
        })
        .context("cannot start the Maildir watcher")?;
    if let Err(e) = mail_watcher.watch(&maildir.new_dir(), notify::RecursiveMode::NonRecursive) {
        warn!(error = %e, folder = %maildir.new_dir().display(), "cannot watch Maildir; polling only");
    }
    let tpl_tx = tx.clone();
    let mut tpl_watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if res.is_ok_and(|e| !e.kind.is_access()) {
            let _ = tpl_tx.try_send(Event::Templates);
        }
    })
    .context("cannot start the templates watcher")?;
    if let Err(e) = tpl_watcher.watch(&config.responses, notify::RecursiveMode::NonRecursive) {
        warn!(error = %e, "cannot watch responses/; template changes need a restart");
    }
    info!(maildir = %maildir.label(), "watching for new mail");
    loop {
        pipeline.resume_pending(crate::clock::now()).await?;
        match maildir.scan() {
            Ok(batch) => {
                for raw in batch {
                    if shutdown.is_cancelled() {
                        break;
                    }
                    let outcome = pipeline.process(&raw, crate::clock::now()).await?;
                    if matches!(outcome, Outcome::Failed { .. }) {
                        maildir.retry_later(&raw.id);
                    }
                }
            }
            Err(e) => error!(error = %e, "cannot scan Maildir; will retry"),
        }
        let event = tokio::select! {
            _ = shutdown.cancelled() => break,
            e = rx.recv() => e,
            _ = tokio::time::sleep(poll_interval) => Some(Event::Mail),
        };
        if let Some(Event::Templates) = event {
            // Let the editor finish writing before reading.
            tokio::time::sleep(Duration::from_millis(200)).await;
            while rx.try_recv().is_ok() {}
            match Templates::load(&config.responses, &config.desks) {
                Ok(t) => {
                    pipeline.set_templates(t);
                    info!("templates reloaded");
                }
                Err(e) => {
                    for p in e.problems() {
                        error!(problem = %p, "template change refused; keeping the previous templates");
                    }
                }
            }
        }
    }
    info!("stopped");
    Ok(0)
}
