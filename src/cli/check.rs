//! `autosvar check`: validates in tiers, like `vector validate`. First the config file's
//! syntax and types, then the rules and every template (cross-references included), then
//! the secrets (each password or token is read as a login would read it: the variable is
//! set, the file readable, the command succeeds), then, unless `--offline`, the
//! environment: the mailbox can be read (login, TLS trust, folder), the ledger written, the
//! outbox or SMTP server reached (TLS trust, login). Every problem is listed; exit 0 when
//! all is well or there are only warnings (a stray file in `responses/`, a long line), 1 if
//! not. A secret is never printed, only where it comes from.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use clap::Args;

use crate::classify::Rules;
use crate::config::{Auth, Config, DeliveryConfig, IntakeConfig, SecretError};
use crate::render::{check_dir, Severity};

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
    let mut warnings = Vec::new();
    match check_dir(&config.responses, &config.desks) {
        Ok(checked) => {
            for p in &checked.problems {
                let line = p.diagnostic(&config.responses).to_string();
                match p.severity() {
                    Severity::Error => problems.push(line),
                    Severity::Warning => warnings.push(line),
                }
            }
            if checked.templates.is_some() {
                ok(&format!(
                    "templates {} ({} files, all rendered)",
                    config.responses.display(),
                    crate::render::required_files().len()
                ));
            }
        }
        Err(e) => problems.extend(e.problems()),
    }
    let rt = runtime()?;
    let failed = secrets(&rt, &config, &mut problems);
    if !args.offline {
        problems.extend(environment(&rt, &config, &failed));
    }
    for w in &warnings {
        println!("warning {w}");
    }
    for p in &problems {
        println!("problem {p}");
    }
    if problems.is_empty() && warnings.is_empty() {
        println!("\nall checks passed");
        Ok(0)
    } else if problems.is_empty() {
        println!("\nall checks passed, {} warning(s)", warnings.len());
        Ok(0)
    } else {
        println!("\n{} problem(s)", problems.len());
        Ok(1)
    }
}

/// The secrets tier (`--offline` too: `run` would stop on these before anything else).
/// Returns the servers whose secret could not be read.
fn secrets(
    rt: &tokio::runtime::Runtime,
    config: &Config,
    problems: &mut Vec<String>,
) -> HashSet<&'static str> {
    rt.block_on(read_secrets(config))
        .into_iter()
        .filter_map(|(server, key, result)| match result {
            Ok(kind) => {
                ok(&format!("{server}.{key}: {kind} read"));
                None
            }
            Err(e) => {
                problems.push(format!("{server}.{key}: {e:#}"));
                Some(server)
            }
        })
        .collect()
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// The logins the config has: the server (`imap`, `smtp`), its auth, its timeout.
fn logins(config: &Config) -> Vec<(&'static str, &Auth, Duration)> {
    let mut out = Vec::new();
    if let IntakeConfig::Imap(imap) = &config.intake {
        out.push(("imap", &imap.server.auth, imap.server.timeout));
    }
    if let DeliveryConfig::Smtp(smtp) = &config.delivery {
        out.push(("smtp", &smtp.server.auth, smtp.server.timeout));
    }
    out
}

/// Reads every configured password and token once, as a login would (a token command runs):
/// per login, the server, the config key naming the source, and what was read (or why it
/// could not be). The secrets themselves are dropped at once.
pub(crate) async fn read_secrets(
    config: &Config,
) -> Vec<(
    &'static str,
    &'static str,
    Result<&'static str, SecretError>,
)> {
    let mut out = Vec::new();
    for (server, auth, timeout) in logins(config) {
        let (Some(key), Some(kind)) = (auth.key(), auth.kind()) else {
            continue;
        };
        out.push((server, key, auth.fetch(timeout).await.map(|_| kind)));
    }
    out
}

/// The checks that touch the world outside the config folder. A server whose secret could
/// not be read (`failed`) is not tried: that problem is listed already.
fn environment(
    rt: &tokio::runtime::Runtime,
    config: &Config,
    failed: &HashSet<&'static str>,
) -> Vec<String> {
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
        IntakeConfig::Imap(_) if failed.contains("imap") => {}
        IntakeConfig::Imap(imap) => {
            let where_ = format!("imap {}:{}", imap.server.host, imap.server.port);
            let result = rt.block_on(async {
                let mut client = crate::intake::imap::Imap::new(imap)?;
                let selected = client.open().await?;
                let sent = client.sent_folder().map(str::to_string);
                client.logout().await;
                Ok::<_, crate::intake::imap::ImapError>((selected, sent))
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
                Err(e) => problems.push(format!("{where_}: {:#}", anyhow::Error::new(e))),
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
        DeliveryConfig::Smtp(_) if failed.contains("smtp") => {}
        DeliveryConfig::Smtp(smtp) => {
            let where_ = format!("smtp {}:{}", smtp.server.host, smtp.server.port);
            let result = rt.block_on(async {
                let t = crate::deliver::smtp::Smtp::new(smtp, &config.from.domain())?;
                t.test_connection().await
            });
            match result {
                Ok(()) => ok(&format!(
                    "{where_}: connected, {}EHLO and NOOP answered",
                    if smtp.server.auth == Auth::None {
                        ""
                    } else {
                        "logged in, "
                    }
                )),
                Err(e) => problems.push(format!("{where_}: {:#}", anyhow::Error::new(e))),
            }
        }
    }
    problems
}
