//! `autosvar release`: the mails set aside for a person (a poisoned mail, a refused reply,
//! an interrupted delivery), and a way to let autosvar read one again, e.g. after an upgrade
//! that fixes what stopped it. Touches only the ledger: it never sends, and it never
//! releases a mail that was answered. Text for people, `--json` for scripts.
//!
//! `release ID... --forward DESK` is the review list's "send forward" for a doubtful mail:
//! it writes the same request to the ledger (refused there, as in the console, when the
//! mail holds no forward or its forward was written or asked for already), audited under
//! `cli:$USER`; the daemon sends the forward at its next round (or `run --once` does).

use std::path::Path;
use std::time::SystemTime;

use clap::Args;

use crate::config::{Config, IntakeConfig};
use crate::ledger::{Asked, Ledger, Refusal, SetAsideMail};

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// The mails to release (or, with `--forward`, whose held forward to send), each by ID:
    /// the source `run` and `history` show ("INBOX/42", "demo/Maildir/<file>") or the
    /// ledger key. Without any, lists the mails set aside.
    #[arg(value_name = "ID")]
    pub mails: Vec<String>,
    /// One JSON object per line. Listing: at, source, key, why. Releasing: id, released
    /// (true/false), and each mail released as source, key.
    #[arg(long)]
    pub json: bool,
    /// Instead of releasing: ask for each doubtful mail's held desk forward to be sent to
    /// this desk (a key of `[desks]`), as the console's review list does.
    #[arg(long, value_name = "DESK")]
    pub forward: Option<String>,
}

fn time(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

fn listed(m: &SetAsideMail) -> serde_json::Value {
    serde_json::json!({
        "at": time(m.when),
        "source": m.source.to_string(),
        "key": m.key,
        "why": crate::log::reason(&m.why),
    })
}

pub fn run(path: &Path, args: ReleaseArgs) -> anyhow::Result<i32> {
    let config = Config::load(path)?;
    let mut ledger = Ledger::open(&config.ledger)?;
    if args.mails.is_empty() {
        let mails = ledger.set_aside_mails()?;
        if mails.is_empty() && !args.json {
            println!("no mail is set aside");
        }
        for m in mails {
            if args.json {
                println!("{}", listed(&m));
            } else {
                println!(
                    "{}\t{}\t{}\t{}",
                    time(m.when),
                    m.source,
                    m.key,
                    crate::log::reason(&m.why)
                );
            }
        }
        return Ok(0);
    }
    if let Some(desk) = &args.forward {
        return forward(&config, &mut ledger, &args.mails, desk, args.json);
    }
    let mut missing = 0;
    for selector in &args.mails {
        let released = ledger.release(selector)?;
        if released.is_empty() {
            missing += 1;
        }
        if args.json {
            let mails: Vec<serde_json::Value> = released
                .iter()
                .map(|m| serde_json::json!({ "source": m.source.to_string(), "key": m.key }))
                .collect();
            println!(
                "{}",
                serde_json::json!({
                    "id": selector,
                    "released": !released.is_empty(),
                    "mails": mails,
                })
            );
            continue;
        }
        if released.is_empty() {
            println!("not set aside: {selector}");
        }
        for m in released {
            println!("released {}\t{}", m.source, m.key);
        }
    }
    let advice = match config.intake {
        IntakeConfig::Maildir { .. } => {
            "autosvar reads released mail again at its next start (or `run --once`)."
        }
        IntakeConfig::Imap(_) => {
            "autosvar reads mail it has not seen: copy a released mail back into the folder it watches \
             (in a mail client, move it to another folder and back) and it is read as new."
        }
    };
    // With --json, stdout is the objects only.
    if args.json {
        eprintln!("{advice}");
    } else {
        println!("{advice}");
    }
    Ok(if missing == 0 { 0 } else { 1 })
}

/// Asks for each mail's held forward to go to `desk`; exit 1 when any was refused.
fn forward(
    config: &Config,
    ledger: &mut Ledger,
    mails: &[String],
    desk: &str,
    json: bool,
) -> anyhow::Result<i32> {
    let desk = crate::types::DeskKey::from(desk);
    anyhow::ensure!(
        config.desks.contains_key(&desk),
        "no desk {desk} in the config's [desks]"
    );
    let user = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    );
    let mut refused = 0;
    for selector in mails {
        let now = crate::clock::now();
        let key = ledger.key_of(selector)?;
        let asked = match &key {
            Some(key) => ledger.ask_forward(key, &desk, &user, now)?,
            None => Asked::Refused(Refusal::UnknownMail),
        };
        let key = key.unwrap_or_else(|| selector.clone());
        let (what, detail) = match asked {
            Asked::Queued(id) => (
                "forward requested",
                format!("mail {key}: forward to {desk} (request {id})"),
            ),
            Asked::Refused(why) => {
                refused += 1;
                (
                    "forward refused",
                    format!("mail {key}: forward to {desk}: {why}"),
                )
            }
        };
        ledger.audit(now, &user, what, &detail)?;
        if json {
            println!(
                "{}",
                serde_json::json!({
                    "id": selector,
                    "key": key,
                    "forward": desk.as_str(),
                    "requested": matches!(asked, Asked::Queued(_)),
                    "refused": match asked {
                        Asked::Refused(why) => Some(why.to_string()),
                        Asked::Queued(_) => None,
                    },
                })
            );
        } else {
            println!("{what}\t{key}\t{desk}");
            if let Asked::Refused(why) = asked {
                println!("  {why}");
            }
        }
    }
    let advice =
        "the running daemon sends a requested forward at its next round (or `run --once` does).";
    // Only when something was asked for: a refusal has nothing to send.
    if refused < mails.len() {
        if json {
            eprintln!("{advice}");
        } else {
            println!("{advice}");
        }
    }
    Ok(if refused == 0 { 0 } else { 1 })
}
