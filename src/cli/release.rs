//! `autosvar release`: the mails set aside for a person (a poisoned mail, a refused reply,
//! an interrupted delivery), and a way to let autosvar read one again, e.g. after an upgrade
//! that fixes what stopped it. Touches only the ledger: it never sends, and it never
//! releases a mail that was answered.

use std::path::Path;

use clap::Args;

use crate::config::{Config, IntakeConfig};
use crate::ledger::Ledger;

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// The mails to release, by the source `run` logs ("INBOX/42", "demo/Maildir/<file>")
    /// or by ledger key. Without any, lists the mails set aside.
    pub mails: Vec<String>,
}

pub fn run(path: &Path, args: ReleaseArgs) -> anyhow::Result<i32> {
    let config = Config::load(path)?;
    let mut ledger = Ledger::open(&config.ledger)?;
    if args.mails.is_empty() {
        let mails = ledger.set_aside_mails()?;
        if mails.is_empty() {
            println!("no mail is set aside");
        }
        for m in mails {
            println!(
                "{}\t{}\t{}\t{}",
                humantime::format_rfc3339_seconds(m.when),
                m.source,
                m.key,
                m.why
            );
        }
        return Ok(0);
    }
    let mut missing = 0;
    for selector in &args.mails {
        let released = ledger.release(selector)?;
        if released.is_empty() {
            println!("not set aside: {selector}");
            missing += 1;
        }
        for m in released {
            println!("released {}\t{}", m.source, m.key);
        }
    }
    match config.intake {
        IntakeConfig::Maildir { .. } => println!(
            "autosvar reads released mail again at its next start (or `run --once`)."
        ),
        IntakeConfig::Imap(_) => println!(
            "autosvar reads mail it has not seen: copy a released mail back into the folder it watches \
             (in a mail client, move it to another folder and back) and it is read as new."
        ),
    }
    Ok(if missing == 0 { 0 } else { 1 })
}
