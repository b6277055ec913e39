//! `autosvar user add NAME | remove NAME | list`: the HR console's users. The password is
//! asked at the terminal (twice, not echoed) or, when stdin is not a terminal, read as one
//! line from stdin; only its argon2id hash is kept, in the ledger's database. Nothing here
//! prints or logs a password.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use clap::{Args, Subcommand};

use crate::config::Config;
use crate::ledger::Ledger;

#[derive(Debug, Args)]
pub struct UserArgs {
    #[command(subcommand)]
    pub action: UserAction,
}

#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Add an HR user, or set a new password for one (asks for the password).
    Add { name: String },
    /// Remove an HR user.
    Remove { name: String },
    /// List the HR users.
    List,
}

/// Passwords shorter than this are refused.
const MIN_PASSWORD: usize = 10;

pub fn run(path: &Path, args: UserArgs) -> anyhow::Result<i32> {
    let config = Config::load(path)?;
    let mut ledger = Ledger::open(&config.ledger)?;
    match args.action {
        UserAction::Add { name } => {
            let Some(name) = crate::console::clean_user_name(&name) else {
                anyhow::bail!("a user name is 1 to 200 printable characters");
            };
            let password = read_password()?;
            anyhow::ensure!(
                password.chars().count() >= MIN_PASSWORD,
                "the password is too short: use at least {MIN_PASSWORD} characters"
            );
            let hash = crate::console::hash_password(&password)?;
            let new = ledger.set_user(&name, &hash, crate::clock::now())?;
            ledger.audit(
                crate::clock::now(),
                "autosvar user",
                if new { "user added" } else { "password set" },
                &name,
            )?;
            println!(
                "{} {name}",
                if new {
                    "added user"
                } else {
                    "new password for"
                }
            );
        }
        UserAction::Remove { name } => {
            if ledger.remove_user(&name)? {
                ledger.audit(crate::clock::now(), "autosvar user", "user removed", &name)?;
                println!("removed user {name}");
            } else {
                anyhow::bail!("there is no user {name:?}");
            }
        }
        UserAction::List => {
            for n in ledger.users()? {
                println!("{n}");
            }
        }
    }
    Ok(0)
}

/// The password: asked twice at a terminal (without echo), else one line from stdin.
fn read_password() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    let first = ask("Password: ")?;
    let second = ask("Again: ")?;
    anyhow::ensure!(first == second, "the two passwords differ");
    Ok(first)
}

/// Reads a line from the terminal with echo off (`stty -echo`), restoring it after.
fn ask(prompt: &str) -> anyhow::Result<String> {
    let mut err = std::io::stderr();
    write!(err, "{prompt}")?;
    err.flush()?;
    let stty = |arg: &str| {
        std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status()
    };
    let _ = stty("-echo");
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    let _ = stty("echo");
    writeln!(err)?;
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
