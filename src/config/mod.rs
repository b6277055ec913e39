//! Configuration: `config.toml` parsed, validated, then trusted.
//!
//! [`Config::load`] reads the file, deserialises each section on its own (so one bad section
//! does not hide the problems of the next), checks cross-references, and reports every
//! problem in one pass as `config.toml:LINE:COL: key: what is wrong`. Relative paths are
//! resolved against the config file's folder. Secrets are never read here: a
//! [`PasswordSource`] says where to find one, and [`Auth::fetch`] reads it each time a
//! connection is about to log in.
//!
//! By concern, in the order a file goes through them:
//! - `raw`: the serde mirror of the file. serde rejects unknown keys (per section: `[imap]`
//!   and `[smtp]` are separate structs) and bad enum values (`tls`, `auth`, `sent-copy`,
//!   `default-language`), each at its place.
//! - `checker`: collects every problem as a [`Diagnostic`] with its line and column.
//! - `values`: durations, sizes and paths read from strings.
//! - `secret`: password and token sources, the login, and the refusal of inline passwords.
//! - `server`: `[imap]` and `[smtp]` validated into [`ImapConfig`] and [`SmtpConfig`].
//! - `live`: what a running daemon takes from the file read again (SIGHUP), and what
//!   needs a restart.
//! - this file: [`Config`], the sections read one by one and put together.

mod checker;
mod console;
pub mod live;
pub mod raw;
mod secret;
mod server;
mod values;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::diagnostic::Diagnostic;
use checker::Checker;
pub use console::{ConsoleConfig, TrustedProxy};
pub use raw::LogFormat;
use raw::{
    RawClassify, RawDesk, RawImap, RawLanguage, RawLedger, RawMaildir, RawOutbox, RawReply,
    RawResponses, RawSmtp,
};
pub use raw::{SentCopy, Tls};
pub use secret::{Auth, Login, PasswordSource, SecretError};
use server::{validate_imap, validate_smtp, ServerSection};
pub use server::{ImapConfig, Rate, Server, SmtpConfig, MAX_CONNECTIONS_DEFAULT};
pub use values::MAILDIR_DEFAULT_MAX_SIZE;
use values::MAILDIR_MAX_SIZE;

pub use crate::types::Address;

/// A support desk that technical mail is forwarded to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Desk {
    pub key: String,
    pub name: String,
    pub email: String,
    pub phone: String,
}

/// Where mail comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntakeConfig {
    Maildir {
        path: PathBuf,
        poll_interval: Duration,
        /// Files larger than this (bytes) are read in part: their first 256 KB.
        max_size: u64,
    },
    Imap(Box<ImapConfig>),
}

/// Where outgoing mail goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryConfig {
    /// Each message is written as an `.eml` file into this folder.
    Outbox {
        path: PathBuf,
    },
    Smtp(SmtpConfig),
}

/// The validated configuration. Everything in it has been checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// The responder's own address (From of every reply).
    pub from: Address,
    /// Every address that is ours: `from` plus `own-addresses`, lowercased.
    pub own_addresses: Vec<String>,
    /// At most one reply per sender and category within this period.
    pub period: Duration,
    /// The reply language for mail whose language could not be told.
    pub default_language: crate::types::Language,
    /// The reply language for Swedish and Norwegian mail (Danish unless configured).
    pub nordic_language: crate::types::Language,
    /// The reply language for mail in any language but Danish, English, Swedish and
    /// Norwegian (English unless configured).
    pub other_language: crate::types::Language,
    /// Decide and record, but send nothing (also `run --dry-run`).
    pub dry_run: bool,
    pub intake: IntakeConfig,
    pub delivery: DeliveryConfig,
    pub ledger: PathBuf,
    /// Finished entries older than this are deleted (the sender hash with them).
    pub ledger_keep: Duration,
    pub rules: PathBuf,
    /// Labelled example mails the learned model trains on; `None`: rules only.
    pub training: Option<PathBuf>,
    pub responses: PathBuf,
    pub desks: BTreeMap<crate::types::DeskKey, Desk>,
    /// The HR console; `None`: off.
    pub console: Option<ConsoleConfig>,
    /// `[log] format`: text (default) or JSON lines.
    pub log_format: LogFormat,
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid { problems: Vec<Diagnostic> },
}

impl ConfigError {
    /// Every problem found (a read failure counts as one).
    pub fn problems(&self) -> Vec<String> {
        match self {
            ConfigError::Read { path, source } => {
                vec![format!("{}: cannot read: {source}", path.display())]
            }
            ConfigError::Invalid { problems } => problems.iter().map(|p| p.to_string()).collect(),
        }
    }
}

impl Config {
    /// Which language answers mail written in which (`[reply] default-language`,
    /// `nordic-language`, `other-language`).
    pub fn replies(&self) -> crate::types::Replies {
        crate::types::Replies {
            default: self.default_language,
            nordic: self.nordic_language,
            other: self.other_language,
        }
    }

    /// Reads and validates a config file.
    ///
    /// # Errors
    /// [`ConfigError::Read`] when the file cannot be read; [`ConfigError::Invalid`] with every
    /// problem found otherwise.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(path, &text)
    }

    /// Validates config text as if read from `path` (used for relative paths and messages).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] listing every problem.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let mut c = Checker {
            file: path,
            text,
            problems: Vec::new(),
        };
        // An empty base keeps "rules.toml" as typed rather than "./rules.toml".
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();

        let Some(sections) = read_sections(&mut c, text) else {
            return Err(ConfigError::Invalid {
                problems: c.problems,
            });
        };
        let Sections {
            reply,
            maildir,
            outbox,
            ledger,
            classify,
            responses,
            imap,
            smtp,
            desks,
            desks_span,
            console,
            console_span,
            log,
        } = sections;
        let reply = reply_settings(&mut c, reply);
        // Intake: [imap] wins over [maildir] (the contract tools rely on).
        let intake = intake(&mut c, &base, imap, maildir);
        let delivery = delivery(&mut c, &base, smtp, outbox);
        let files = files(&mut c, &base, ledger, classify, responses);
        let desks = desks_of(&mut c, desks, desks_span);
        let console = match console {
            Section::Read(raw) => console::console(&mut c, &base, Some(raw), console_span),
            Section::Absent | Section::Broken => None,
        };

        match (reply.from, intake, delivery, c.problems.is_empty()) {
            (Some(from), Some(intake), Some(delivery), true) => Ok(Config {
                path: path.to_path_buf(),
                from,
                own_addresses: reply.own_addresses,
                period: reply.period,
                default_language: reply.default_language,
                nordic_language: reply.nordic_language,
                other_language: reply.other_language,
                dry_run: reply.dry_run,
                intake,
                delivery,
                ledger: files.ledger,
                ledger_keep: files.ledger_keep,
                rules: files.rules,
                training: files.training,
                responses: files.responses,
                desks,
                console,
                log_format: log.or_default().format.unwrap_or_default(),
            }),
            _ => Err(ConfigError::Invalid {
                problems: c.problems,
            }),
        }
    }
}

/// A section of the file: not there, there but not readable (its problem is already
/// recorded, so nothing else about it is reported), or read.
enum Section<T> {
    Absent,
    Broken,
    Read(T),
}

impl<T> Section<T> {
    fn from_read(read: Option<T>) -> Section<T> {
        read.map_or(Section::Broken, Section::Read)
    }
}

impl<T: Default> Section<T> {
    /// The section as read; absent or broken, its defaults.
    fn or_default(self) -> T {
        match self {
            Section::Read(t) => t,
            Section::Absent | Section::Broken => T::default(),
        }
    }
}

/// Every section of the file, each deserialised on its own.
struct Sections {
    reply: Section<RawReply>,
    maildir: Section<RawMaildir>,
    outbox: Section<RawOutbox>,
    ledger: Section<RawLedger>,
    classify: Section<RawClassify>,
    responses: Section<RawResponses>,
    imap: Section<ServerSection<RawImap>>,
    smtp: Section<ServerSection<RawSmtp>>,
    desks: BTreeMap<String, Spanned<RawDesk>>,
    desks_span: Option<Range<usize>>,
    console: Section<console::RawConsole>,
    console_span: Option<Range<usize>>,
    log: Section<raw::RawLog>,
}

/// Parses the TOML and deserialises each section, recording every problem; `None` on a
/// syntax error (nothing after it can be trusted).
fn read_sections(c: &mut Checker<'_>, text: &str) -> Option<Sections> {
    let (root, syntax) = DeTable::parse_recoverable(text);
    for e in syntax {
        let msg = e.message().trim().replace('\n', " ");
        c.problem(e.span(), "", msg);
    }
    if !c.problems.is_empty() {
        return None;
    }
    let mut s = Sections {
        reply: Section::Absent,
        maildir: Section::Absent,
        outbox: Section::Absent,
        ledger: Section::Absent,
        classify: Section::Absent,
        responses: Section::Absent,
        imap: Section::Absent,
        smtp: Section::Absent,
        desks: BTreeMap::new(),
        desks_span: None,
        console: Section::Absent,
        console_span: None,
        log: Section::Absent,
    };
    for (key, value) in root.into_inner() {
        let name = key.get_ref().to_string();
        let key_span = key.span();
        match name.as_str() {
            "reply" => s.reply = Section::from_read(c.section("reply", value)),
            "maildir" => s.maildir = Section::from_read(c.section("maildir", value)),
            "outbox" => s.outbox = Section::from_read(c.section("outbox", value)),
            "ledger" => s.ledger = Section::from_read(c.section("ledger", value)),
            "classify" => s.classify = Section::from_read(c.section("classify", value)),
            "responses" => s.responses = Section::from_read(c.section("responses", value)),
            "console" => {
                s.console_span = Some(key_span.clone());
                s.console = Section::from_read(c.section("console", value));
            }
            "log" => s.log = Section::from_read(c.section("log", value)),
            "imap" => s.imap = read_server(c, "imap", key_span, value),
            "smtp" => s.smtp = read_server(c, "smtp", key_span, value),
            "desks" => {
                s.desks_span = Some(key_span);
                read_desks(c, value, &mut s.desks);
            }
            other => c.problem_hint(
                Some(key_span),
                other,
                "unknown section",
                "expected one of reply, maildir, outbox, ledger, classify, responses, desks, \
                 imap, smtp, console, log",
            ),
        }
    }
    Some(s)
}

/// `[imap]` or `[smtp]`, deserialised without its inline `password` (if any), which is
/// refused when the section is validated, or here when the section cannot be read.
fn read_server<T: DeserializeOwned>(
    c: &mut Checker<'_>,
    name: &str,
    header: Range<usize>,
    mut value: Spanned<DeValue<'_>>,
) -> Section<ServerSection<T>> {
    let inline_password = secret::take_inline_password(&mut value);
    match c.section::<T>(name, value) {
        Some(raw) => Section::Read(ServerSection {
            raw,
            header,
            inline_password,
        }),
        None => {
            if let Some(span) = inline_password {
                secret::refuse_inline_password(c, name, span);
            }
            Section::Broken
        }
    }
}

/// `[desks.KEY]` tables, each deserialised on its own.
fn read_desks(
    c: &mut Checker<'_>,
    value: Spanned<DeValue<'_>>,
    desks: &mut BTreeMap<String, Spanned<RawDesk>>,
) {
    let span = value.span();
    match value.into_inner() {
        DeValue::Table(t) => {
            for (k, v) in t {
                let dk = k.get_ref().to_string();
                let vspan = v.span();
                if let Some(d) = c.section::<RawDesk>(&format!("desks.{dk}"), v) {
                    desks.insert(dk, Spanned::new(vspan, d));
                }
            }
        }
        _ => c.problem(Some(span), "desks", "expected a table of desks"),
    }
}

/// `[reply]`, validated.
struct Reply {
    /// `None` when missing or invalid (and reported).
    from: Option<Address>,
    own_addresses: Vec<String>,
    period: Duration,
    default_language: crate::types::Language,
    nordic_language: crate::types::Language,
    other_language: crate::types::Language,
    dry_run: bool,
}

fn reply_settings(c: &mut Checker<'_>, reply: Section<RawReply>) -> Reply {
    let broken = matches!(reply, Section::Broken);
    let RawReply {
        from,
        own_addresses,
        period,
        default_language,
        nordic_language,
        other_language,
        dry_run,
    } = reply.or_default();
    let from = match &from {
        // A broken [reply] has had its problem reported; "missing" would be a false second.
        None if broken => None,
        None => {
            c.problem_hint(
                None,
                "reply.from",
                "missing",
                "set the responder's own address, e.g. from = \"E-learning <e-learning@example.test>\"",
            );
            None
        }
        Some(f) => Address::parse(f.get_ref()).or_else(|| {
            c.problem(
                Some(f.span()),
                "reply.from",
                format!("{:?} is not an e-mail address", f.get_ref()),
            );
            None
        }),
    };
    let mut own = Vec::new();
    if let Some(a) = &from {
        own.push(a.email.to_ascii_lowercase());
    }
    for a in &own_addresses {
        match Address::parse(a.get_ref()) {
            Some(addr) => own.push(addr.email.to_ascii_lowercase()),
            None => c.problem(
                Some(a.span()),
                "reply.own-addresses",
                format!("{:?} is not an e-mail address", a.get_ref()),
            ),
        }
    }
    Reply {
        from,
        own_addresses: own,
        period: c.duration("reply.period", &period, Duration::from_secs(24 * 3600)),
        default_language: language(default_language, crate::types::Language::Da),
        nordic_language: language(nordic_language, crate::types::Language::Da),
        other_language: language(other_language, crate::types::Language::En),
        dry_run: dry_run.unwrap_or(false),
    }
}

/// A reply language key's value, or `default` when it is not given.
fn language(raw: Option<RawLanguage>, default: crate::types::Language) -> crate::types::Language {
    match raw {
        None => default,
        Some(RawLanguage::Da) => crate::types::Language::Da,
        Some(RawLanguage::En) => crate::types::Language::En,
    }
}

/// Where mail comes from: `[imap]` when given (even broken), else `[maildir]`.
fn intake(
    c: &mut Checker<'_>,
    base: &Path,
    imap: Section<ServerSection<RawImap>>,
    maildir: Section<RawMaildir>,
) -> Option<IntakeConfig> {
    match (imap, maildir) {
        (Section::Read(imap), _) => {
            validate_imap(c, base, imap).map(|i| IntakeConfig::Imap(Box::new(i)))
        }
        // Its problem is reported; "no intake configured" would be a false second.
        (Section::Broken, _) | (Section::Absent, Section::Broken) => None,
        (Section::Absent, maildir) => {
            let RawMaildir {
                path,
                poll_interval,
                max_size,
            } = maildir.or_default();
            let poll_interval = c.duration(
                "maildir.poll-interval",
                &poll_interval,
                Duration::from_secs(30),
            );
            let max_size = c.size(
                "maildir.max-size",
                &max_size,
                MAILDIR_DEFAULT_MAX_SIZE,
                MAILDIR_MAX_SIZE,
            );
            let Some(p) = path else {
                c.problem_hint(
                    None,
                    "maildir.path",
                    "no intake configured",
                    "add an [imap] section or [maildir] path = \"...\"",
                );
                return None;
            };
            Some(IntakeConfig::Maildir {
                path: c.input_path(base, p.get_ref()),
                poll_interval,
                max_size,
            })
        }
    }
}

/// Where outgoing mail goes: `[smtp]` when given (even broken), else `[outbox]`.
fn delivery(
    c: &mut Checker<'_>,
    base: &Path,
    smtp: Section<ServerSection<RawSmtp>>,
    outbox: Section<RawOutbox>,
) -> Option<DeliveryConfig> {
    match (smtp, outbox) {
        (Section::Read(smtp), _) => validate_smtp(c, base, smtp).map(DeliveryConfig::Smtp),
        // Its problem is reported; "no delivery configured" would be a false second.
        (Section::Broken, _) | (Section::Absent, Section::Broken) => None,
        (Section::Absent, outbox) => {
            let RawOutbox { path } = outbox.or_default();
            let Some(p) = path else {
                c.problem_hint(
                    None,
                    "outbox.path",
                    "no delivery configured",
                    "add an [smtp] section or [outbox] path = \"...\"",
                );
                return None;
            };
            Some(DeliveryConfig::Outbox {
                path: c.path(base, p.get_ref()),
            })
        }
    }
}

/// The files autosvar reads and writes besides mail: `[ledger]`, `[classify]`, `[responses]`.
struct Files {
    ledger: PathBuf,
    ledger_keep: Duration,
    rules: PathBuf,
    training: Option<PathBuf>,
    responses: PathBuf,
}

fn files(
    c: &mut Checker<'_>,
    base: &Path,
    ledger: Section<RawLedger>,
    classify: Section<RawClassify>,
    responses: Section<RawResponses>,
) -> Files {
    let RawLedger { path, keep } = ledger.or_default();
    let ledger_keep = c.duration("ledger.keep", &keep, Duration::from_secs(365 * 86400));
    let ledger = c.path(
        base,
        path.as_ref().map_or("var/autosvar.sqlite", |p| p.get_ref()),
    );
    let RawClassify { rules, training } = classify.or_default();
    let rules = c.input_path(base, rules.as_ref().map_or("rules.toml", |p| p.get_ref()));
    let training = training
        .as_ref()
        .map(|p| p.get_ref().as_str())
        .filter(|p| !p.is_empty())
        .map(|p| c.input_path(base, p));
    let RawResponses { path: responses } = responses.or_default();
    let responses = c.input_path(
        base,
        responses.as_ref().map_or("responses", |p| p.get_ref()),
    );
    Files {
        ledger,
        ledger_keep,
        rules,
        training,
        responses,
    }
}

/// `[desks.*]`, validated; every desk the classifier routes to must be there.
fn desks_of(
    c: &mut Checker<'_>,
    desks: BTreeMap<String, Spanned<RawDesk>>,
    desks_span: Option<Range<usize>>,
) -> BTreeMap<crate::types::DeskKey, Desk> {
    let mut desk_map = BTreeMap::new();
    for (key, d) in desks {
        let span = d.span();
        let RawDesk { name, email, phone } = d.into_inner();
        if Address::parse(email.get_ref()).is_none() {
            c.problem(
                Some(email.span()),
                &format!("desks.{key}.email"),
                format!("{:?} is not an e-mail address", email.get_ref()),
            );
        }
        if name.get_ref().trim().is_empty() {
            c.problem(Some(span), &format!("desks.{key}.name"), "is empty");
        }
        desk_map.insert(
            crate::types::DeskKey::from(key.as_str()),
            Desk {
                key,
                name: name.into_inner(),
                email: email.into_inner(),
                phone: phone.into_inner(),
            },
        );
    }
    for needed in crate::types::DESKS {
        if !desk_map.contains_key(*needed) {
            c.problem_hint(
                desks_span.clone(),
                &format!("desks.{needed}"),
                "missing",
                format!(
                    "technical mail is routed to desk {needed:?}, add [desks.{needed}] with name, email and phone"
                ),
            );
        }
    }
    desk_map
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Language;

    const MINIMAL: &str = r#"
[reply]
from = "E-learning <e-learning@example.test>"
[maildir]
path = "inbox/Maildir"
[outbox]
path = "var/outbox"
[desks.cimt]
name = "CIMT Servicedesk"
email = "cimt@example.test"
phone = "3864 8080"
[desks.kuit]
name = "KU-IT"
email = "kuit@example.test"
phone = "3532 3232"
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("dir/config.toml"), text)
    }

    fn problems(text: &str) -> Vec<String> {
        match parse(text) {
            Ok(_) => panic!("expected problems"),
            Err(e) => e.problems(),
        }
    }

    #[test]
    fn the_console_is_off_by_default_and_on_loopback_as_written() {
        assert!(parse(MINIMAL).unwrap().console.is_none());
        let c = parse(&format!(
            "{MINIMAL}\n[console]\nlisten = \"127.0.0.1:8025\"\n"
        ))
        .unwrap();
        let console = c.console.unwrap();
        assert_eq!(console.listen.port(), 8025);
        assert_eq!(console.idle_timeout, Duration::from_secs(1800));
        assert!(console.proxy.is_none() && console.tls.is_none());
    }

    #[test]
    fn a_console_on_the_network_needs_tls_or_a_trusted_proxy() {
        let p = problems(&format!(
            "{MINIMAL}\n[console]\nlisten = \"0.0.0.0:8025\"\n"
        ));
        assert!(
            p.iter().any(|p| p.contains("console.listen")
                && p.contains("in clear")
                && p.contains(":18:")),
            "{p:?}"
        );
        let c = parse(&format!(
            "{MINIMAL}\n[console]\nlisten = \"0.0.0.0:8025\"\ntrusted-header = \"X-Forwarded-Email\"\ntrusted-proxy = \"10.0.0.5\"\n"
        ))
        .unwrap();
        let proxy = c.console.unwrap().proxy.unwrap();
        assert_eq!(proxy.header, "x-forwarded-email");
        assert_eq!(proxy.from, "10.0.0.5".parse::<std::net::IpAddr>().unwrap());
        let p = problems(&format!(
            "{MINIMAL}\n[console]\nlisten = \"127.0.0.1:8025\"\ntrusted-header = \"X-Forwarded-Email\"\n"
        ));
        assert!(p.iter().any(|p| p.contains("go together")), "{p:?}");
        let c = parse(&format!(
            "{MINIMAL}\n[console]\nlisten = \"0.0.0.0:8443\"\ntls-cert = \"tls/cert.pem\"\ntls-key = \"tls/key.pem\"\n"
        ))
        .unwrap();
        let (cert, key) = c.console.unwrap().tls.unwrap();
        assert_eq!(
            (cert.as_path(), key.as_path()),
            (Path::new("dir/tls/cert.pem"), Path::new("dir/tls/key.pem"))
        );
        let p = problems(&format!("{MINIMAL}\n[console]\nlisten = \"localhost\"\n"));
        assert!(
            p.iter().any(|p| p.contains("not an address and port")),
            "{p:?}"
        );
    }

    #[test]
    fn minimal_config_resolves_paths_against_its_folder() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.from.email, "e-learning@example.test");
        assert_eq!(
            c.intake,
            IntakeConfig::Maildir {
                path: PathBuf::from("dir/inbox/Maildir"),
                poll_interval: Duration::from_secs(30),
                max_size: 1024 * 1024,
            }
        );
        assert_eq!(c.ledger, PathBuf::from("dir/var/autosvar.sqlite"));
        assert_eq!(c.period, Duration::from_secs(86400));
        assert_eq!(c.desks["kuit"].phone, "3532 3232");
    }

    #[test]
    fn imap_and_smtp_sections_win_over_maildir_and_outbox() {
        let text = format!(
            "{MINIMAL}\n[imap]\nhost = \"127.0.0.1\"\nport = 10143\ntls = \"starttls\"\nuser = \"hr\"\npassword-env = \"PW\"\n\
             [smtp]\nhost = \"localhost\"\nport = 10025\ntls = \"none\"\n"
        );
        let c = parse(&text).unwrap();
        let IntakeConfig::Imap(imap) = c.intake else {
            panic!("imap expected")
        };
        assert_eq!(imap.server.port, 10143);
        assert_eq!(imap.server.tls, Tls::StartTls);
        assert_eq!(imap.folder, "INBOX");
        assert_eq!(
            imap.server.auth,
            Auth::Password {
                user: "hr".into(),
                password: PasswordSource::Env("PW".into())
            }
        );
        let DeliveryConfig::Smtp(smtp) = c.delivery else {
            panic!("smtp expected")
        };
        assert_eq!(smtp.server.tls, Tls::None);
        assert_eq!(smtp.envelope_from, None);
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let text = format!(
            "{MINIMAL}\n[imap]\nhost = \"mail.example.test\"\nport = \"993s\"\n\n[smtp]\nhost = \"mail.example.test\"\ntls = \"none\"\npasword-env = \"X\"\n"
        );
        let p = problems(&text);
        assert!(
            p.iter()
                .any(|l| l.starts_with("dir/config.toml:19:8: imap:") && l.contains("993s")),
            "{p:#?}"
        );
        assert!(
            p.iter()
                .any(|l| l.contains("smtp") && l.contains("pasword-env")),
            "{p:#?}"
        );
    }

    #[test]
    fn tls_defaults_follow_the_port() {
        let text = format!("{MINIMAL}\n[smtp]\nhost = \"h\"\nport = 587\n[imap]\nhost = \"h\"\n");
        let c = parse(&text).unwrap();
        let DeliveryConfig::Smtp(smtp) = c.delivery else {
            panic!()
        };
        assert_eq!(smtp.server.tls, Tls::StartTls);
        let IntakeConfig::Imap(imap) = c.intake else {
            panic!()
        };
        assert_eq!((imap.server.tls, imap.server.port), (Tls::Implicit, 993));
    }

    #[test]
    fn smtp_limits_default_parse_and_bad_ones_are_placed() {
        let smtp = |extra: &str| {
            let c = parse(&format!("{MINIMAL}\n[smtp]\nhost = \"h\"\n{extra}")).unwrap();
            match c.delivery {
                DeliveryConfig::Smtp(s) => s,
                DeliveryConfig::Outbox { .. } => panic!("smtp expected"),
            }
        };
        let s = smtp("");
        assert_eq!(
            (s.max_connections, s.max_rate),
            (MAX_CONNECTIONS_DEFAULT, None)
        );
        let s = smtp("max-connections = 3\nmax-rate = \"30/min\"\n");
        assert_eq!(s.max_connections, 3);
        assert_eq!(
            s.max_rate,
            Some(Rate {
                messages: 30,
                per: Duration::from_secs(60)
            })
        );
        let p = problems(&format!(
            "{MINIMAL}\n[smtp]\nhost = \"h\"\nmax-connections = 0\nmax-rate = \"30 per minute\"\n"
        ));
        assert_eq!(p.len(), 2, "{p:#?}");
        assert!(
            p[0].starts_with("dir/config.toml:19:19: smtp.max-connections: 0 is out of range"),
            "{p:#?}"
        );
        assert!(
            p[1].starts_with("dir/config.toml:20:12: smtp.max-rate: invalid rate")
                && p[1].contains("30/min"),
            "{p:#?}"
        );
    }

    #[test]
    fn tls_none_is_refused_for_a_remote_host() {
        let text = format!("{MINIMAL}\n[smtp]\nhost = \"mail.example.test\"\ntls = \"none\"\n");
        let p = problems(&text);
        assert!(
            p.iter()
                .any(|l| l.contains("smtp.tls") && l.contains("loopback")),
            "{p:#?}"
        );
    }

    #[test]
    fn inline_passwords_are_refused() {
        let text =
            format!("{MINIMAL}\n[imap]\nhost = \"h\"\nuser = \"u\"\npassword = \"hunter2\"\n");
        let p = problems(&text);
        assert!(p.iter().any(|l| l.contains("imap.password:")), "{p:#?}");
        assert!(!p.iter().any(|l| l.contains("hunter2")), "{p:#?}");
    }

    #[test]
    fn unknown_keys_and_sections_are_errors() {
        let text = MINIMAL.replace("[outbox]", "[outbx]");
        let p = problems(&text);
        assert!(
            p.iter()
                .any(|l| l.contains("outbx") && l.contains("unknown section")),
            "{p:#?}"
        );
        let p = problems(&MINIMAL.replace("path = \"inbox", "pth = \"inbox"));
        assert!(
            p.iter().any(|l| l.contains("maildir") && l.contains("pth")),
            "{p:#?}"
        );
    }

    #[test]
    fn the_log_format_is_text_unless_the_log_section_says_json() {
        assert_eq!(parse(MINIMAL).unwrap().log_format, LogFormat::Text);
        let json = parse(&format!("{MINIMAL}\n[log]\nformat = \"json\"\n")).unwrap();
        assert_eq!(json.log_format, LogFormat::Json);
        let p = problems(&format!("{MINIMAL}\n[log]\nformat = \"xml\"\n"));
        assert!(
            p.iter().any(|l| l.contains("log") && l.contains("xml")),
            "{p:#?}"
        );
        let p = problems(&format!("{MINIMAL}\n[log]\nlevel = \"debug\"\n"));
        assert!(p.iter().any(|l| l.contains("level")), "{p:#?}");
    }

    /// Regression (issue 10): `[imap]` and `[smtp]` shared one raw struct, so a misspelt key in
    /// `[imap]` listed `password` and the SMTP keys as valid there.
    #[test]
    fn a_misspelt_imap_key_lists_only_imap_keys() {
        let p = problems(&format!(
            "{MINIMAL}\n[imap]\nhost = \"h\"\nfoldr = \"INBOX\"\n"
        ));
        let line = p
            .iter()
            .find(|l| l.contains("foldr"))
            .unwrap_or_else(|| panic!("{p:#?}"));
        assert!(
            line.contains("`folder`") && line.contains("`password-env`"),
            "{line}"
        );
        for other in ["`password`", "`envelope-from`", "`retry-after`"] {
            assert!(!line.contains(other), "{other} listed: {line}");
        }
        let p = problems(&format!(
            "{MINIMAL}\n[smtp]\nhost = \"h\"\nretry-afterr = \"1m\"\n"
        ));
        let line = p
            .iter()
            .find(|l| l.contains("retry-afterr"))
            .unwrap_or_else(|| panic!("{p:#?}"));
        assert!(line.contains("`retry-after`"), "{line}");
        for other in ["`password`", "`folder`", "`sent-copy`", "`max-attempts`"] {
            assert!(!line.contains(other), "{other} listed: {line}");
        }
    }

    /// Regression (issue 10): an error inside `[imap]` (or `[smtp]`) added a false second
    /// problem saying there was no intake (delivery) at all.
    #[test]
    fn an_error_inside_a_server_section_is_the_only_problem() {
        let without_maildir = MINIMAL.replace("[maildir]\npath = \"inbox/Maildir\"\n", "");
        let p = problems(&format!(
            "{without_maildir}\n[imap]\nhost = \"h\"\nport = \"x\"\n"
        ));
        assert_eq!(p.len(), 1, "{p:#?}");
        assert!(p[0].contains("imap"), "{p:#?}");
        let without_outbox = MINIMAL.replace("[outbox]\npath = \"var/outbox\"\n", "");
        let p = problems(&format!(
            "{without_outbox}\n[smtp]\nhost = \"h\"\nport = \"x\"\n"
        ));
        assert_eq!(p.len(), 1, "{p:#?}");
        assert!(p[0].contains("smtp"), "{p:#?}");
    }

    /// `tls`, `auth`, `sent-copy` and `default-language` are serde enums: a bad value is
    /// refused where it stands, with the values allowed, and nothing false follows it.
    #[test]
    fn a_bad_enum_value_is_refused_at_its_place() {
        let cases = [
            (
                "[imap]\nhost = \"h\"\ntls = \"startls\"\n",
                "19:7: imap:",
                "`starttls`",
            ),
            (
                "[imap]\nhost = \"h\"\nauth = \"plain\"\n",
                "19:8: imap:",
                "`xoauth2`",
            ),
            (
                "[imap]\nhost = \"h\"\nsent-copy = \"bcc\"\n",
                "19:13: imap:",
                "`server`",
            ),
            (
                "[smtp]\nhost = \"h\"\ntls = \"ssl\"\n",
                "19:7: smtp:",
                "`implicit`",
            ),
        ];
        for (section, place, allowed) in cases {
            let p = problems(&format!("{MINIMAL}\n{section}"));
            assert_eq!(p.len(), 1, "{p:#?}");
            assert!(
                p[0].starts_with(&format!("dir/config.toml:{place} unknown variant"))
                    && p[0].contains(allowed),
                "{p:#?}"
            );
        }
        let p = problems(&MINIMAL.replace("[maildir]", "default-language = \"de\"\n[maildir]"));
        assert_eq!(p.len(), 1, "{p:#?}");
        assert!(
            p[0].starts_with(
                "dir/config.toml:4:20: reply: unknown variant `de`, expected `da` or `en`"
            ),
            "{p:#?}"
        );
    }

    #[test]
    fn reply_languages_for_nordic_and_other_mail() {
        let c = parse(MINIMAL).unwrap();
        let r = c.replies();
        assert_eq!(
            (r.default, r.nordic, r.other),
            (Language::Da, Language::Da, Language::En)
        );
        let c = parse(&MINIMAL.replace(
            "[maildir]",
            "nordic-language = \"en\"\nother-language = \"da\"\n[maildir]",
        ))
        .unwrap();
        let r = c.replies();
        assert_eq!((r.nordic, r.other), (Language::En, Language::Da));
        let p = problems(&MINIMAL.replace("[maildir]", "other-language = \"sv\"\n[maildir]"));
        assert_eq!(p.len(), 1, "{p:#?}");
        assert!(
            p[0].contains("unknown variant `sv`, expected `da` or `en`"),
            "{p:#?}"
        );
    }

    #[test]
    fn missing_desk_is_a_problem() {
        let text = MINIMAL.replace("[desks.kuit]", "[desks.other]");
        let p = problems(&text);
        assert!(p.iter().any(|l| l.contains("desks.kuit")), "{p:#?}");
    }

    #[test]
    fn bad_duration_names_the_fix() {
        let text = MINIMAL.replace("[maildir]", "[maildir]\npoll-interval = \"soon\"");
        let p = problems(&text);
        assert!(
            p.iter()
                .any(|l| l.contains("maildir.poll-interval") && l.contains("\"30s\"")),
            "{p:#?}"
        );
    }

    /// `imap.idle-renew`: 5 minutes unless set; at most RFC 2177's 29 minutes.
    #[test]
    fn idle_renew_is_a_bounded_duration() {
        let with = |v: Option<&str>| {
            let key = v.map_or(String::new(), |v| format!("idle-renew = {v:?}\n"));
            format!("{MINIMAL}\n[imap]\nhost = \"h\"\n{key}")
        };
        let renew = |v: Option<&str>| match parse(&with(v)).unwrap().intake {
            IntakeConfig::Imap(imap) => imap.idle_renew,
            IntakeConfig::Maildir { .. } => panic!("imap expected"),
        };
        assert_eq!(renew(None), Duration::from_secs(300));
        assert_eq!(renew(Some("90s")), Duration::from_secs(90));
        assert_eq!(renew(Some("29m")), Duration::from_secs(29 * 60));
        for (v, says) in [
            ("30m", "out of range"),
            ("0s", "out of range"),
            ("500ms", "out of range"),
            ("often", "invalid duration"),
        ] {
            let p = problems(&with(Some(v)));
            assert_eq!(p.len(), 1, "{v}: {p:#?}");
            assert!(
                p[0].starts_with("dir/config.toml:19:14: imap.idle-renew: ") && p[0].contains(says),
                "{v}: {p:#?}"
            );
        }
    }

    #[test]
    fn maildir_max_size_is_a_bounded_size() {
        let with = |v: &str| MINIMAL.replace("[maildir]", &format!("[maildir]\nmax-size = {v:?}"));
        let size = |v: &str| match parse(&with(v)).unwrap().intake {
            IntakeConfig::Maildir { max_size, .. } => max_size,
            IntakeConfig::Imap(_) => panic!("maildir expected"),
        };
        assert_eq!(size("1MB"), 1024 * 1024);
        assert_eq!(size("512 KB"), 512 * 1024);
        assert_eq!(size("65536"), 65536);
        assert_eq!(size("4MiB"), 4 * 1024 * 1024);
        let p = problems(&with("lots"));
        assert!(
            p.iter()
                .any(|l| l.contains("maildir.max-size") && l.contains("\"1MB\"")),
            "{p:#?}"
        );
        assert_eq!(size("5MB"), 5 * 1024 * 1024);
        for v in [
            "1KB",
            "6MB",
            "1GB",
            "0",
            "99999999999999999999MB",
            "-1MB",
            "1.5MB",
        ] {
            let p = problems(&with(v));
            assert!(
                p.iter().any(|l| l.contains("maildir.max-size")),
                "{v}: {p:#?}"
            );
        }
    }

    /// The shipped config parses, and so does its commented real-server part once
    /// uncommented (the sample must not rot).
    #[test]
    fn shipped_sample_parses_with_and_without_real_servers() {
        let text = include_str!("../../config.toml");
        Config::parse(Path::new("config.toml"), text).unwrap();
        let start = text.find("# [imap]").unwrap();
        let mut uncommented = text[..start].to_string();
        for line in text[start..].lines() {
            // "# key = value" and "# [section]" lines; "# # ..." stay comments.
            match line.strip_prefix("# ") {
                Some(rest) if !rest.starts_with('#') => uncommented.push_str(rest),
                _ => uncommented.push_str(line),
            }
            uncommented.push('\n');
        }
        let c = Config::parse(Path::new("config.toml"), &uncommented).unwrap();
        let IntakeConfig::Imap(imap) = c.intake else {
            panic!("imap expected")
        };
        assert_eq!(imap.max_age, Duration::from_secs(2 * 86400));
        assert_eq!(imap.sent_copy, SentCopy::Append);
        assert_eq!(imap.idle_renew, Duration::from_secs(300));
        let DeliveryConfig::Smtp(smtp) = c.delivery else {
            panic!("smtp expected")
        };
        assert_eq!(smtp.retry_after, Duration::from_secs(30));
    }
}
