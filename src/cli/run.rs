//! `autosvar run`: wires the configuration to the daemon ([`crate::daemon`]). `--once`
//! handles what is waiting and exits; without it, autosvar keeps watching until SIGTERM or
//! SIGINT.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use futures::future::Either;
use tracing::info;

use crate::clock::now;
use crate::config::{DeliveryConfig, IntakeConfig};
use crate::daemon::{Intake, Mode, Report};
use crate::deliver::Transport;
use crate::intake::maildir::Maildir;
use crate::ledger::Ledger;
use crate::pipeline::Pipeline;

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
        // Every secret once before anything else: a missing variable or a failing token
        // command stops here (exit 78), not at the first reply.
        for (server, key, read) in super::check::read_secrets(&setup.config).await {
            read.with_context(|| format!("{server}.{key}"))?;
        }
        let console_settings = setup.config.console.clone().filter(|_| !args.once);
        let console_rules = match &console_settings {
            Some(_) => Some(super::load_rules(&setup.config)?),
            None => None,
        };
        let (mut pipeline, intake) = wire(setup, args.dry_run)?;
        // The HR console, in this process: a publish swaps the running daemon's templates;
        // a reload (SIGHUP) swaps the console's config and rules with the daemon's.
        let console_stop = tokio_util::sync::CancellationToken::new();
        let console = match (console_settings, console_rules) {
            (Some(settings), Some(rules)) => {
                let followers = crate::pipeline::Followers {
                    config: Arc::new(arc_swap::ArcSwap::new(pipeline.config().clone())),
                    rules: Arc::new(arc_swap::ArcSwap::from_pointee(
                        crate::classify::Classifier::new(rules, None),
                    )),
                };
                pipeline.keep_in_step(followers.clone());
                let console = crate::console::Console::bind(
                    followers.config,
                    settings,
                    pipeline.templates(),
                    followers.rules,
                    pipeline.bell(),
                    pipeline.metrics(),
                )
                .await?;
                Some(tokio::spawn(console.serve(console_stop.clone())))
            }
            _ => None,
        };
        let (mode, shutdown) = if args.once {
            (Mode::Once, Either::Left(std::future::pending()))
        } else {
            (Mode::Watch, Either::Right(crate::shutdown::signal()))
        };
        let mut report = Report::new(args.once);
        let result = crate::daemon::run(&mut pipeline, intake, mode, &mut report, shutdown).await;
        console_stop.cancel();
        if let Some(served) = console {
            let _ = served.await;
        }
        pipeline.close().await;
        result?;
        if args.once {
            eprintln!("{}", crate::log::stderr_line("INFO", &report.summary()));
        }
        info!("stopped");
        Ok(0)
    })
}

/// The pipeline and the intake the config describes: the ledger opened (and pruned, with
/// IMAP), the transport set up. Connects to nothing yet.
///
/// # Errors
/// When the ledger cannot be opened or the transport set up.
pub(crate) fn wire(setup: super::Setup, dry_run: bool) -> anyhow::Result<(Pipeline, Intake)> {
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
    let intake = match &config.intake {
        IntakeConfig::Maildir {
            path,
            poll_interval,
            max_size,
        } => Intake::Maildir {
            maildir: Maildir::new(path).max_size(*max_size),
            poll_interval: *poll_interval,
        },
        IntakeConfig::Imap(imap) => Intake::Imap {
            config: (**imap).clone(),
            retry_after: match &config.delivery {
                DeliveryConfig::Smtp(s) => s.retry_after,
                DeliveryConfig::Outbox { .. } => Duration::from_secs(2),
            },
        },
    };
    let dry_run = dry_run || config.dry_run;
    let pipeline = Pipeline::new(
        config,
        setup.classifier,
        setup.templates,
        ledger,
        transport,
        dry_run,
    );
    Ok((pipeline, intake))
}
