//! `autosvar ledger rebuild`: after the ledger was lost or deleted, records every mail the
//! IMAP folder shows answered or handled by autosvar (`\Answered`, `$Autosvar*`), so none is
//! answered again. Sends nothing and changes no flag. (`run` does the same for each mail as
//! it reads it; this does it for all at once, and says how many.)

use std::path::Path;

use anyhow::Context as _;
use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct LedgerArgs {
    #[command(subcommand)]
    pub action: LedgerAction,
}

#[derive(Debug, Subcommand)]
pub enum LedgerAction {
    /// Record every mail the IMAP folder shows answered or handled, from its flags.
    Rebuild,
}

pub fn run(path: &Path, args: LedgerArgs) -> anyhow::Result<i32> {
    let LedgerAction::Rebuild = args.action;
    let setup = super::Setup::load(path)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let (mut pipeline, intake) = super::run::wire(setup, false)?;
        let rebuilt = crate::daemon::rebuild_ledger(&mut pipeline, &intake).await;
        pipeline.close().await;
        let rebuilt = rebuilt?;
        println!(
            "{} mail(s) recorded as handled; {} were in the ledger already",
            rebuilt.recorded, rebuilt.known
        );
        Ok(0)
    })
}
