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
        Ok(r) => {
            ok(&format!(
                "rules    {} ({} patterns)",
                config.rules.display(),
                r.categories.iter().map(|(_, p)| p.len()).sum::<usize>()
                    + r.desks.iter().map(|(_, p)| p.len()).sum::<usize>()
            ));
            // A list missing from an older rules file: it works, with the shipped list.
            for note in &r.notes {
                println!("note    {note}");
            }
        }
        Err(e) => problems.extend(e.problems()),
    }
    if let Some(dir) = &config.training {
        let stemmers = crate::classify::text::Stemmers::default();
        match crate::classify::model::Model::load(dir, &stemmers, config.default_language) {
            Ok(m) => ok(&format!(
                "training {} ({} example mails)",
                dir.display(),
                m.categories.examples()
            )),
            Err(e) => problems.push(format!("{e:#}")),
        }
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

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
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
        IntakeConfig::Imap(imap) => {
            let where_ = format!("imap {}:{}", imap.server.host, imap.server.port);
            let result = runtime().and_then(|rt| {
                rt.block_on(async {
                    let mut client = crate::intake::imap::Imap::new(imap)?;
                    let selected = client.open().await?;
                    let sent = client.sent_folder().map(str::to_string);
                    client.logout().await;
                    Ok::<_, crate::intake::imap::ImapError>((selected, sent))
                })
                .map_err(anyhow::Error::new)
            });
            match result {
                Ok((s, sent)) => ok(&format!(
                    "{where_}: logged in, folder {} selected (keywords {}, Sent folder {})",
                    imap.folder,
                    if s.keywords {
                        "allowed"
                    } else {
                        "not allowed: \\Answered and \\Flagged only"
                    },
                    sent.as_deref().unwrap_or("none found")
                )),
                Err(e) => problems.push(format!("{where_}: {e:#}")),
            }
        }
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
        DeliveryConfig::Smtp(smtp) => {
            let where_ = format!("smtp {}:{}", smtp.server.host, smtp.server.port);
            let result = runtime().and_then(|rt| {
                rt.block_on(async {
                    let t = crate::deliver::smtp::Smtp::new(smtp, &config.from.domain())?;
                    t.test_connection().await
                })
                .map_err(anyhow::Error::new)
            });
            match result {
                Ok(()) => ok(&format!("{where_}: connected, EHLO and NOOP answered")),
                Err(e) => problems.push(format!("{where_}: {e:#}")),
            }
        }
    }
    problems
}
