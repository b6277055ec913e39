//! The command line: one file per subcommand, each a clap struct and a `run` function.
//!
//! Commands load what they need through [`Setup`], which reports every problem of the
//! config, the rules and the templates at once. `anyhow` lives here and in `main.rs` only.
//! Here too: which errors mean exit 78, and the ceiling over `RUST_LOG` that keeps the mail
//! libraries' wire logs (passwords, tokens, whole messages) out of every log.

pub mod check;
pub mod classify;
pub mod eval;
pub mod history;
pub mod ledger;
pub mod preview;
pub mod release;
pub mod run;
pub mod status;
pub mod user;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::classify::{Classifier, Rules};
use crate::config::{Config, ConfigError};
use crate::render::Templates;

/// autosvar answers the e-learning mailbox: it reads each new mail, decides whether it may
/// answer, sorts it into pricing, terms, eligibility, technical or other, replies from the
/// templates in responses/, and forwards technical problems to the right desk.
#[derive(Debug, Parser)]
#[command(name = "autosvar", version, about, long_about = None)]
pub struct Args {
    /// The configuration file.
    #[arg(
        long,
        short,
        global = true,
        default_value = "config.toml",
        env = "AUTOSVAR_CONFIG"
    )]
    pub config: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Watch the mailbox and answer new mail (Ctrl-C or SIGTERM to stop).
    Run(run::RunArgs),
    /// Show how mail files would be classified and decided; sends and records nothing.
    Classify(classify::ClassifyArgs),
    /// Check the config, the rules and every template (and, unless --offline, the servers).
    Check(check::CheckArgs),
    /// Print exactly the mail that would be sent for a category.
    Preview(preview::PreviewArgs),
    /// Measure classification and decisions on labelled mail (DIR/labels.json).
    Eval(eval::EvalArgs),
    /// List the mails set aside for a person, or release one (release ID) so autosvar
    /// reads it again.
    Release(release::ReleaseArgs),
    /// What happened to the mails, newest first: when, source, key, category, outcome, why.
    History(history::HistoryArgs),
    /// Mails today and this week, pending deliveries, set-aside mails, the last mailbox
    /// contact, the template set in use, the ledger's size.
    Status(status::StatusArgs),
    /// Rebuild the ledger from the IMAP folder's marks (after it was lost).
    Ledger(ledger::LedgerArgs),
    /// Add, remove or list the HR console's users.
    User(user::UserArgs),
}

/// A configuration or trust problem: exit code 78 (EX_CONFIG). systemd does not restart
/// on it (contrib/autosvar.service), since a restart would meet the same problem.
pub const EXIT_CONFIG: i32 = 78;

/// Maps an error to the process exit code: 78 for what only an operator can mend (the
/// config, rules, templates or model; a secret that cannot be read; a refused login or
/// certificate; a missing folder), 2 for anything else.
pub fn exit_code_for(err: &anyhow::Error) -> i32 {
    if err.chain().any(|e| {
        e.is::<ConfigError>()
            || e.is::<crate::classify::rules::RulesError>()
            || e.is::<crate::render::TemplateError>()
            || e.is::<crate::classify::model::ModelError>()
            || e.is::<crate::config::SecretError>()
            || e.downcast_ref::<crate::deliver::DeliverError>()
                .is_some_and(crate::deliver::DeliverError::is_fatal)
            || e.downcast_ref::<crate::intake::imap::ImapError>()
                .is_some_and(crate::intake::imap::ImapError::is_fatal)
    }) {
        EXIT_CONFIG
    } else {
        2
    }
}

/// Crates that log the wire: lettre writes `AUTH PLAIN <base64 of the password>`, XOAUTH2
/// tokens and whole messages at debug; async-imap writes `LOGIN` with the password and
/// every fetched mail at trace. Never shown, whatever `RUST_LOG` says.
const WIRE_LOGGERS: [&str; 3] = ["lettre", "async_imap", "imap_proto"];

/// What may be logged at all, whatever `RUST_LOG` asks for: autosvar's own events (which
/// never carry secrets or body text) at any level, the wire loggers never, every other
/// library up to INFO (their DEBUG and TRACE are protocol detail nobody has vetted).
pub fn log_ceiling() -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::LevelFilter;
    WIRE_LOGGERS.iter().fold(
        tracing_subscriber::filter::Targets::new()
            .with_default(LevelFilter::INFO)
            .with_target("autosvar", LevelFilter::TRACE),
        |t, target| t.with_target(*target, LevelFilter::OFF),
    )
}

/// Logs go to stderr; `RUST_LOG` filters (default: info for `run`, warnings otherwise),
/// under [`log_ceiling`]. Text, or one JSON object per line ([`crate::log::format_for`]:
/// `AUTOSVAR_LOG_FORMAT`, else the config's `[log] format`, read before the config is
/// validated so that its problems are logged in the chosen format too).
pub fn init_tracing(args: &Args) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let default = match &args.command {
        // `--once` prints a line per mail on stdout; the log adds nothing unless asked for.
        Command::Run(r) if !r.once => "autosvar=info",
        _ => "autosvar=warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let json = crate::log::format_for(&args.config) == crate::config::LogFormat::Json;
    crate::log::set_json(json);
    let _ = tracing_subscriber::registry()
        .with(log_ceiling())
        .with(filter)
        .with(json.then(|| {
            // The event's fields at the top level, the mail's span (source, message_id,
            // category, outcome) under "span"; no colour codes.
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .with_writer(std::io::stderr)
        }))
        .with((!json).then(|| {
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                // Colours for a person at a terminal (unless NO_COLOR is set, no-color.org);
                // none in a log file or the journal.
                .with_ansi(
                    std::io::IsTerminal::is_terminal(&std::io::stderr())
                        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
                )
                .with_target(false)
        }))
        .try_init();
}

/// Runs the chosen command; returns the exit code.
///
/// # Errors
/// Whatever stopped the command; `main` prints it once with its causes.
pub fn run(args: Args) -> anyhow::Result<i32> {
    match args.command {
        Command::Run(a) => run::run(&args.config, a),
        Command::Classify(a) => classify::run(&args.config, a),
        Command::Check(a) => check::run(&args.config, a),
        Command::Preview(a) => preview::run(&args.config, a),
        Command::Eval(a) => eval::run(&args.config, a),
        Command::Release(a) => release::run(&args.config, a),
        Command::History(a) => history::run(&args.config, a),
        Command::Status(a) => status::run(&args.config, a),
        Command::Ledger(a) => ledger::run(&args.config, a),
        Command::User(a) => user::run(&args.config, a),
    }
}

/// Config, classifier and templates, loaded and checked together.
pub struct Setup {
    pub config: Config,
    pub classifier: Classifier,
    pub templates: Templates,
}

impl Setup {
    /// Loads everything a command needs.
    ///
    /// # Errors
    /// The config's, the rules' or the templates' problems, each with file and line.
    pub fn load(path: &Path) -> anyhow::Result<Setup> {
        let config = Config::load(path)?;
        let rules = load_rules(&config)?;
        let templates = Templates::load(&config.responses, &config.desks).with_context(|| {
            format!("templates in {} are not usable", config.responses.display())
        })?;
        for w in templates.warnings() {
            tracing::warn!(problem = %w.diagnostic(&config.responses), "template warning");
        }
        let model = load_model(&config)?;
        Ok(Setup {
            config,
            classifier: Classifier::new(rules, model),
            templates,
        })
    }

    /// Config and classifier only (for `classify`, which renders nothing).
    ///
    /// # Errors
    /// As [`Setup::load`].
    pub fn load_classifier(path: &Path) -> anyhow::Result<(Config, Classifier)> {
        let config = Config::load(path)?;
        let rules = load_rules(&config)?;
        let model = load_model(&config)?;
        Ok((config, Classifier::new(rules, model)))
    }
}

/// Reads the configured rules file; its notes (lists taken from the shipped file) are
/// logged.
///
/// # Errors
/// Its problems, each with file and line.
pub(crate) fn load_rules(config: &Config) -> anyhow::Result<Rules> {
    let rules = Rules::load(&config.rules)
        .with_context(|| format!("rules file {} is not usable", config.rules.display()))?;
    for note in &rules.notes {
        tracing::info!(%note, "rules file");
    }
    Ok(rules)
}

/// Trains the learned model on the configured examples folder, if any.
fn load_model(config: &Config) -> anyhow::Result<Option<crate::classify::model::Model>> {
    let Some(dir) = &config.training else {
        return Ok(None);
    };
    let stemmers = crate::classify::text::Stemmers::default();
    let model = crate::classify::model::Model::load(dir, &stemmers, config.default_language)
        .with_context(|| format!("training examples in {} are not usable", dir.display()))?;
    Ok(Some(model))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::filter::LevelFilter;

    /// The wire loggers stay off and other libraries stop at INFO, whatever RUST_LOG says
    /// (issue 11: `RUST_LOG=debug` printed `AUTH PLAIN <base64 password>`).
    #[test]
    fn the_log_ceiling_keeps_wire_logs_out() {
        let ceiling = log_ceiling();
        for target in [
            "lettre::transport::smtp",
            "async_imap::imap_stream",
            "imap_proto",
        ] {
            for level in [tracing::Level::ERROR, tracing::Level::TRACE] {
                assert!(!ceiling.would_enable(target, &level), "{target} at {level}");
            }
        }
        assert!(ceiling.would_enable("autosvar::pipeline", &tracing::Level::TRACE));
        assert!(ceiling.would_enable("rustls::client", &tracing::Level::INFO));
        assert!(!ceiling.would_enable("rustls::client", &tracing::Level::DEBUG));
        assert_eq!(ceiling.default_level(), Some(LevelFilter::INFO));
    }
}
