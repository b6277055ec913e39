//! `autosvar check`: validates in tiers, like `vector validate`. First the config file's
//! syntax and types, then the rules and every template (cross-references included), then,
//! unless `--offline`, the environment: the mailbox can be read, the ledger written, the
//! outbox or SMTP server reached. Every problem is listed; exit 0 when all is well, 1 if not.

use std::path::Path;

use clap::Args;

use crate::classify::Rules;
use crate::config::{Config, DeliveryConfig, IntakeConfig};
use crate::render::Templates;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Skip the checks that touch the mailbox, the ledger and the servers.
    #[arg(long)]
    pub offline: bool,
}

fn ok(what: &str) {
    println!("ok      {what}");
}

pub fn run(path: &Path, args: CheckArgs) -> anyhow::Result<i32> {
    let mut problems: Vec<String> = Vec::new();
    let config = match Config::load(path) {
        Ok(c) => {
            ok(&format!("config   {}", path.display()));
            c
        }
        Err(e) => {
            for p in e.problems() {
                println!("problem {p}");
            }
            println!("\n{} problem(s): fix the config first", e.problems().len());
            return Ok(1);
        }
    };
    match Rules::load(&config.rules) {
        Ok(r) => ok(&format!(
            "rules    {} ({} patterns)",
            config.rules.display(),
            r.categories.iter().map(|(_, p)| p.len()).sum::<usize>()
                + r.desks.iter().map(|(_, p)| p.len()).sum::<usize>()
        )),
        Err(e) => problems.extend(e.problems()),
    }
    match Templates::load(&config.responses, &config.desks) {
        Ok(_) => ok(&format!(
            "templates {} ({} files, all rendered)",
            config.responses.display(),
            crate::render::required_files().len()
        )),
        Err(e) => problems.extend(e.problems()),
    }
    if !args.offline {
        problems.extend(environment(&config));
    }
    for p in &problems {
        println!("problem {p}");
    }
    if problems.is_empty() {
        println!("\nall checks passed");
        Ok(0)
    } else {
        println!("\n{} problem(s)", problems.len());
        Ok(1)
    }
}

/// The checks that touch the world outside the config folder.
fn environment(config: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    match &config.intake {
        IntakeConfig::Maildir { path, .. } => {
            match crate::intake::maildir::Maildir::new(path).check() {
                Ok(n) => ok(&format!(
                    "maildir  {} ({n} mail(s) in new/)",
                    path.display()
                )),
                Err(e) => problems.push(format!("{e:#}: create it or fix maildir.path")),
            }
        }
        IntakeConfig::Imap(imap) => problems.push(format!(
            "imap: {}:{}: IMAP intake is not built into this version yet",
            imap.server.host, imap.server.port
        )),
    }
    match crate::ledger::Ledger::open(&config.ledger) {
        Ok(_) => ok(&format!("ledger   {}", config.ledger.display())),
        Err(e) => problems.push(format!("{}: {e}", config.ledger.display())),
    }
    match &config.delivery {
        DeliveryConfig::Outbox { path } => match crate::deliver::outbox::Outbox::open(path) {
            Ok(_) => ok(&format!("outbox   {}", path.display())),
            Err(e) => problems.push(e.to_string()),
        },
        DeliveryConfig::Smtp(smtp) => problems.push(format!(
            "smtp: {}:{}: SMTP delivery is not built into this version yet",
            smtp.server.host, smtp.server.port
        )),
    }
    problems
}
