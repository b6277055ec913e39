//! Configuration: `config.toml` parsed, validated, then trusted.
//!
//! [`Config::load`] reads the file, deserialises each section on its own (so one bad section
//! does not hide the problems of the next), checks cross-references, and reports every
//! problem in one pass as `config.toml:LINE:COL: key: what is wrong`. Relative paths are
//! resolved against the config file's folder. Secrets are never read here: a
//! [`PasswordSource`] says where to find one, and [`PasswordSource::resolve`] reads it when a
//! connection needs it.

pub mod raw;

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde::Serialize;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

pub use crate::types::Address;

use raw::{
    RawClassify, RawDesk, RawLedger, RawMaildir, RawOutbox, RawReply, RawResponses, RawServer,
};

/// A support desk that technical mail is forwarded to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Desk {
    pub key: String,
    pub name: String,
    pub email: String,
    pub phone: String,
}

/// How a connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Implicit,
    /// Plain connect, then STARTTLS before anything secret is sent (IMAP 143, submission 587).
    StartTls,
    /// No TLS at all; only accepted for loopback hosts.
    None,
}

/// Where a password or token comes from. The value itself is read only when needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    Env(String),
    File(PathBuf),
    Command(String),
}

impl PasswordSource {
    /// Reads the secret: an environment variable, the first line of a file, or the first
    /// line a shell command prints.
    ///
    /// # Errors
    /// When the variable is unset, the file unreadable, or the command fails; the message
    /// names the source but never contains the secret.
    pub fn resolve(&self) -> Result<SecretString, SecretError> {
        let value = match self {
            PasswordSource::Env(var) => {
                std::env::var(var).map_err(|_| SecretError::Env(var.clone()))?
            }
            PasswordSource::File(path) => std::fs::read_to_string(path)
                .map_err(|source| SecretError::File {
                    path: path.clone(),
                    source,
                })?
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
            PasswordSource::Command(cmd) => {
                let out = std::process::Command::new("sh")
                    .arg("-c")
                    .arg(cmd)
                    .stdin(std::process::Stdio::null())
                    .output()
                    .map_err(|source| SecretError::Spawn {
                        command: cmd.clone(),
                        source,
                    })?;
                if !out.status.success() {
                    return Err(SecretError::Command {
                        command: cmd.clone(),
                        status: out.status.to_string(),
                    });
                }
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string()
            }
        };
        if value.is_empty() {
            return Err(SecretError::Empty(self.describe()));
        }
        Ok(SecretString::from(value))
    }

    fn describe(&self) -> String {
        match self {
            PasswordSource::Env(v) => format!("environment variable {v}"),
            PasswordSource::File(p) => format!("file {}", p.display()),
            PasswordSource::Command(c) => format!("command `{c}`"),
        }
    }
}

/// Why a secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set")]
    Env(String),
    #[error("cannot read password file {}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot run password command `{command}`")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("password command `{command}` failed ({status})")]
    Command { command: String, status: String },
    #[error("{0} gave an empty secret")]
    Empty(String),
}

/// How to log in to a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// No login (a loopback relay that trusts its network).
    None,
    /// LOGIN / AUTH PLAIN with a password.
    Password {
        user: String,
        password: PasswordSource,
    },
    /// SASL XOAUTH2 with an access token printed by a command (Microsoft 365).
    XOAuth2 { user: String, token: PasswordSource },
}

/// Connection settings shared by IMAP and SMTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    pub auth: Auth,
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
}

/// IMAP intake settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapConfig {
    pub server: Server,
    pub folder: String,
    pub idle: bool,
    pub poll_interval: Duration,
    /// On first start, older mail is recorded as skipped instead of answered.
    pub max_age: Duration,
    /// `None`: find the folder with SPECIAL-USE `\Sent`.
    pub sent_folder: Option<String>,
    pub keywords: bool,
    /// When set, handled mail is moved to `<this>/<category>` (off by default).
    pub category_folders: Option<String>,
    pub sent_copy: SentCopy,
    /// How long the server may take to file its copy of an accepted message in Sent.
    pub sent_copy_grace: Duration,
    pub max_attempts: u32,
}

/// Who puts a copy of every sent message into the Sent folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SentCopy {
    /// autosvar APPENDs each reply and forward after sending it.
    Append,
    /// The server files submitted mail itself (Exchange, or a server-side BCC): autosvar
    /// appends nothing, and a message missing from Sent after a crash was never sent.
    Server,
    /// No copies.
    None,
}

/// SMTP delivery settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    pub server: Server,
    /// `None` is RFC 3834's null sender `<>`.
    pub envelope_from: Option<String>,
    /// First wait before a message that could not be delivered is tried again; doubles
    /// up to 30 minutes (so greylisting and short outages pass).
    pub retry_after: Duration,
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
    pub default_language: crate::types::Language,
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
}

/// One problem in the config file, with its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based line and column, when known.
    pub place: Option<(usize, usize)>,
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, col)) = self.place {
            write!(f, ":{line}:{col}")?;
        }
        if self.key.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": {}: {}", self.key, self.message)
        }
    }
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
    Invalid { problems: Vec<Problem> },
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

/// Collects problems while validating, each located in the source text.
struct Checker<'a> {
    file: &'a Path,
    text: &'a str,
    problems: Vec<Problem>,
}

impl<'a> Checker<'a> {
    fn place(&self, span: Option<Range<usize>>) -> Option<(usize, usize)> {
        let start = span?.start.min(self.text.len());
        let before = &self.text[..start];
        let line = before.matches('\n').count() + 1;
        let col = before
            .rfind('\n')
            .map_or(before.chars().count(), |i| before[i + 1..].chars().count())
            + 1;
        Some((line, col))
    }

    fn problem(&mut self, span: Option<Range<usize>>, key: &str, message: impl Into<String>) {
        let place = self.place(span);
        self.problems.push(Problem {
            file: self.file.to_path_buf(),
            place,
            key: key.to_string(),
            message: message.into(),
        });
    }

    /// Deserialises one section, recording its error instead of stopping.
    fn section<T: DeserializeOwned>(
        &mut self,
        key: &str,
        value: Spanned<DeValue<'_>>,
    ) -> Option<T> {
        match T::deserialize(toml::de::ValueDeserializer::from(value)) {
            Ok(v) => Some(v),
            Err(e) => {
                let message = e.message().trim().replace('\n', " ");
                self.problem(e.span(), key, message);
                None
            }
        }
    }

    fn duration(&mut self, key: &str, v: &Option<Spanned<String>>, default: Duration) -> Duration {
        let Some(v) = v else { return default };
        match humantime::parse_duration(v.get_ref()) {
            Ok(d) => d,
            Err(e) => {
                self.problem(
                    Some(v.span()),
                    key,
                    format!(
                        "invalid duration {:?} ({e}); write e.g. \"30s\", \"5m\", \"1d\"",
                        v.get_ref()
                    ),
                );
                default
            }
        }
    }

    /// A size such as "1MB", "256KB" or "2048" (bytes), within `range`. KB and MB are
    /// binary: 1KB = 1024 bytes.
    fn size(
        &mut self,
        key: &str,
        v: &Option<Spanned<String>>,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> u64 {
        let Some(v) = v else { return default };
        let show = |n: u64| match n {
            n if n % (1024 * 1024) == 0 => format!("{}MB", n / (1024 * 1024)),
            n if n % 1024 == 0 => format!("{}KB", n / 1024),
            n => format!("{n} bytes"),
        };
        match parse_size(v.get_ref()) {
            Some(n) if range.contains(&n) => n,
            Some(_) => {
                self.problem(
                    Some(v.span()),
                    key,
                    format!(
                        "{:?} is out of range; use between {} and {}",
                        v.get_ref(),
                        show(*range.start()),
                        show(*range.end())
                    ),
                );
                default
            }
            None => {
                self.problem(
                    Some(v.span()),
                    key,
                    format!(
                        "invalid size {:?}; write e.g. \"1MB\", \"512KB\"",
                        v.get_ref()
                    ),
                );
                default
            }
        }
    }

    fn path(&self, base: &Path, v: &str) -> PathBuf {
        let p = Path::new(v);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    }

    /// A file or folder autosvar reads (rules, templates, examples, the Maildir): relative
    /// to the config's folder; when it is not there, relative to the current folder. A
    /// copy of the shipped config placed elsewhere (as tools do to point it at real
    /// servers) still finds the project's rules and templates.
    fn input_path(&self, base: &Path, v: &str) -> PathBuf {
        let beside_config = self.path(base, v);
        if beside_config.exists() || Path::new(v).is_absolute() {
            return beside_config;
        }
        match std::env::current_dir() {
            Ok(cwd) if cwd.join(v).exists() => Path::new(v).to_path_buf(),
            _ => beside_config,
        }
    }
}

/// What `maildir.max-size` may be: below 64 KB ordinary mail would be cut. Parsing a
/// hostile mail takes up to ~50 times its size in memory (1 MB: 53 MB measured; 5 MB:
/// 208 MB; 30 MB: 1.2 GB), so 5 MB is the most; it is also the largest mail a desk forward
/// carries whole (`render::compose::FORWARD_MAX_BYTES`, which is not imported here: config
/// sits below render).
const MAILDIR_MAX_SIZE: std::ops::RangeInclusive<u64> = 64 * 1024..=5 * 1024 * 1024;

/// `maildir.max-size`'s default: 1 MB, what IMAP fetches whole (`intake::FULL_FETCH_MAX`,
/// which is not imported here: config sits below intake; a test in intake holds the two
/// equal).
pub const MAILDIR_DEFAULT_MAX_SIZE: u64 = 1024 * 1024;

/// "1MB", "512 KB", "2048", "64KiB": bytes, or `None` when it is not a size.
fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(digits);
    let n: u64 = number.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        "g" | "gb" | "gib" => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(factor)
}

impl Config {
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

        let (root, syntax) = DeTable::parse_recoverable(text);
        for e in syntax {
            let msg = e.message().trim().replace('\n', " ");
            c.problem(e.span(), "", msg);
        }
        if !c.problems.is_empty() {
            return Err(ConfigError::Invalid {
                problems: c.problems,
            });
        }

        let mut reply = None;
        let mut maildir = None;
        let mut outbox = None;
        let mut ledger = None;
        let mut classify = None;
        let mut responses = None;
        let mut imap = None;
        let mut smtp = None;
        let mut desks: BTreeMap<String, Spanned<RawDesk>> = BTreeMap::new();
        let mut desks_span = None;

        for (key, value) in root.into_inner() {
            let name = key.get_ref().to_string();
            let key_span = key.span();
            match name.as_str() {
                "reply" => reply = c.section::<RawReply>("reply", value),
                "maildir" => maildir = c.section::<RawMaildir>("maildir", value),
                "outbox" => outbox = c.section::<RawOutbox>("outbox", value),
                "ledger" => ledger = c.section::<RawLedger>("ledger", value),
                "classify" => classify = c.section::<RawClassify>("classify", value),
                "responses" => responses = c.section::<RawResponses>("responses", value),
                "imap" => imap = c.section::<RawServer>("imap", value).map(|s| (s, key_span)),
                "smtp" => smtp = c.section::<RawServer>("smtp", value).map(|s| (s, key_span)),
                "desks" => {
                    desks_span = Some(key_span);
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
                other => c.problem(
                    Some(key_span),
                    other,
                    "unknown section; expected one of reply, maildir, outbox, ledger, classify, \
                     responses, desks, imap, smtp",
                ),
            }
        }

        let reply = reply.unwrap_or_default();
        let RawReply {
            from,
            own_addresses,
            period,
            default_language,
            dry_run,
        } = reply;
        let from_addr = match &from {
            None => {
                c.problem(
                    None,
                    "reply.from",
                    "missing; set the responder's own address, e.g. from = \"E-learning <e-learning@example.test>\"",
                );
                None
            }
            Some(f) => match Address::parse(f.get_ref()) {
                Some(a) => Some(a),
                None => {
                    c.problem(
                        Some(f.span()),
                        "reply.from",
                        format!("{:?} is not an e-mail address", f.get_ref()),
                    );
                    None
                }
            },
        };
        let mut own = Vec::new();
        if let Some(a) = &from_addr {
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
        let period = c.duration("reply.period", &period, Duration::from_secs(24 * 3600));
        let default_language = match &default_language {
            None => crate::types::Language::Da,
            Some(l) => match l.get_ref().as_str() {
                "da" => crate::types::Language::Da,
                "en" => crate::types::Language::En,
                other => {
                    c.problem(
                        Some(l.span()),
                        "reply.default-language",
                        format!("unknown language {other:?}; use \"da\" or \"en\""),
                    );
                    crate::types::Language::Da
                }
            },
        };

        // Intake: [imap] wins over [maildir] (the contract tools rely on).
        let intake = if let Some((raw, span)) = imap {
            validate_imap(&mut c, &base, raw, span).map(|i| IntakeConfig::Imap(Box::new(i)))
        } else {
            let RawMaildir {
                path,
                poll_interval,
                max_size,
            } = maildir.unwrap_or_default();
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
            match path {
                Some(p) => Some(IntakeConfig::Maildir {
                    path: c.input_path(&base, p.get_ref()),
                    poll_interval,
                    max_size,
                }),
                None => {
                    c.problem(
                        None,
                        "maildir.path",
                        "no intake configured; add an [imap] section or [maildir] path = \"...\"",
                    );
                    None
                }
            }
        };

        let delivery = if let Some((raw, span)) = smtp {
            validate_smtp(&mut c, &base, raw, span).map(DeliveryConfig::Smtp)
        } else {
            let RawOutbox { path } = outbox.unwrap_or_default();
            match path {
                Some(p) => Some(DeliveryConfig::Outbox {
                    path: c.path(&base, p.get_ref()),
                }),
                None => {
                    c.problem(
                        None,
                        "outbox.path",
                        "no delivery configured; add an [smtp] section or [outbox] path = \"...\"",
                    );
                    None
                }
            }
        };

        let RawLedger {
            path: ledger_path,
            keep: ledger_keep,
        } = ledger.unwrap_or_default();
        let ledger_keep = c.duration(
            "ledger.keep",
            &ledger_keep,
            Duration::from_secs(365 * 86400),
        );
        let ledger = c.path(
            &base,
            ledger_path
                .as_ref()
                .map_or("var/autosvar.sqlite", |p| p.get_ref()),
        );
        let RawClassify { rules, training } = classify.unwrap_or_default();
        let rules = c.input_path(&base, rules.as_ref().map_or("rules.toml", |p| p.get_ref()));
        let training = training
            .as_ref()
            .map(|p| p.get_ref().as_str())
            .filter(|p| !p.is_empty())
            .map(|p| c.input_path(&base, p));
        let RawResponses { path: responses } = responses.unwrap_or_default();
        let responses = c.input_path(
            &base,
            responses.as_ref().map_or("responses", |p| p.get_ref()),
        );

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
                c.problem(Some(span.clone()), &format!("desks.{key}.name"), "is empty");
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
                c.problem(
                    desks_span.clone(),
                    &format!("desks.{needed}"),
                    format!(
                        "missing; technical mail is routed to desk {needed:?}, add [desks.{needed}] with name, email and phone"
                    ),
                );
            }
        }

        match (from_addr, intake, delivery, c.problems.is_empty()) {
            (Some(from), Some(intake), Some(delivery), true) => Ok(Config {
                path: path.to_path_buf(),
                from,
                own_addresses: own,
                period,
                default_language,
                dry_run: dry_run.unwrap_or(false),
                intake,
                delivery,
                ledger,
                ledger_keep,
                rules,
                training,
                responses,
                desks: desk_map,
            }),
            _ => Err(ConfigError::Invalid {
                problems: c.problems,
            }),
        }
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Validates the keys `[imap]` and `[smtp]` share.
fn validate_server(
    c: &mut Checker<'_>,
    base: &Path,
    section: &str,
    raw: &RawServer,
    span: Range<usize>,
    default_ports: (u16, u16),
) -> Option<Server> {
    let host = match &raw.host {
        Some(h) if !h.get_ref().trim().is_empty() => Some(h.get_ref().trim().to_string()),
        _ => {
            c.problem(Some(span.clone()), &format!("{section}.host"), "missing");
            None
        }
    };
    let tls = match &raw.tls {
        // Unset: what the port says (the submission and plain IMAP ports use STARTTLS).
        None => match raw.port.as_ref().map(|p| *p.get_ref()) {
            Some(25 | 143 | 587) => Tls::StartTls,
            _ => Tls::Implicit,
        },
        Some(t) => match t.get_ref().as_str() {
            "implicit" => Tls::Implicit,
            "starttls" => Tls::StartTls,
            "none" => Tls::None,
            other => {
                c.problem(
                    Some(t.span()),
                    &format!("{section}.tls"),
                    format!("unknown value {other:?}; use \"implicit\", \"starttls\" or \"none\""),
                );
                Tls::Implicit
            }
        },
    };
    if let (Tls::None, Some(h)) = (tls, &host) {
        if !is_loopback(h) {
            let tspan = raw.tls.as_ref().map(|t| t.span());
            c.problem(
                tspan,
                &format!("{section}.tls"),
                format!(
                    "\"none\" sends the password in clear and is only allowed for a loopback host, not {h:?}; use \"implicit\" or \"starttls\""
                ),
            );
        }
    }
    if let Some(p) = &raw.password {
        c.problem(
            Some(p.span()),
            &format!("{section}.password"),
            "passwords are not allowed in the config file; use password-env, password-file or password-command",
        );
    }
    let port = raw.port.as_ref().map_or(
        match tls {
            Tls::Implicit => default_ports.0,
            _ => default_ports.1,
        },
        |p| *p.get_ref(),
    );
    let sources: Vec<(PasswordSource, Range<usize>)> = [
        raw.password_env
            .as_ref()
            .map(|v| (PasswordSource::Env(v.get_ref().clone()), v.span())),
        raw.password_file
            .as_ref()
            .map(|v| (PasswordSource::File(c.path(base, v.get_ref())), v.span())),
        raw.password_command
            .as_ref()
            .map(|v| (PasswordSource::Command(v.get_ref().clone()), v.span())),
    ]
    .into_iter()
    .flatten()
    .collect();
    if sources.len() > 1 {
        c.problem(
            Some(sources[1].1.clone()),
            &format!("{section}.password-*"),
            "give only one of password-env, password-file, password-command",
        );
    }
    let user = raw.user.as_ref().map(|u| u.get_ref().clone());
    let mechanism = raw.auth.as_ref().map(|a| (a.get_ref().as_str(), a.span()));
    let auth = match mechanism {
        Some(("xoauth2", aspan)) => match (&user, &raw.token_command) {
            (Some(user), Some(cmd)) => Auth::XOAuth2 {
                user: user.clone(),
                token: PasswordSource::Command(cmd.get_ref().clone()),
            },
            _ => {
                c.problem(
                    Some(aspan),
                    &format!("{section}.auth"),
                    "xoauth2 needs user and token-command (a command that prints an access token)",
                );
                Auth::None
            }
        },
        Some(("password", _)) | None => match (&user, sources.into_iter().next()) {
            (Some(user), Some((source, _))) => Auth::Password {
                user: user.clone(),
                password: source,
            },
            (None, None) => Auth::None,
            (Some(_), None) => {
                c.problem(
                    raw.user.as_ref().map(|u| u.span()),
                    &format!("{section}.user"),
                    "a user needs a password: set password-env, password-file or password-command",
                );
                Auth::None
            }
            (None, Some((_, s))) => {
                c.problem(
                    Some(s),
                    &format!("{section}.user"),
                    "a password is set but no user",
                );
                Auth::None
            }
        },
        Some((other, aspan)) => {
            c.problem(
                Some(aspan),
                &format!("{section}.auth"),
                format!("unknown value {other:?}; use \"password\" or \"xoauth2\""),
            );
            Auth::None
        }
    };
    let ca_file = raw.ca_file.as_ref().map(|f| c.path(base, f.get_ref()));
    let timeout = c.duration(
        &format!("{section}.timeout"),
        &raw.timeout,
        Duration::from_secs(30),
    );
    Some(Server {
        host: host?,
        port,
        tls,
        auth,
        ca_file,
        timeout,
    })
}

fn reject_keys(c: &mut Checker<'_>, section: &str, keys: &[(&str, Option<Range<usize>>)]) {
    for (key, span) in keys {
        if let Some(span) = span {
            c.problem(
                Some(span.clone()),
                &format!("{section}.{key}"),
                format!("not a key of [{section}]"),
            );
        }
    }
}

fn validate_imap(
    c: &mut Checker<'_>,
    base: &Path,
    raw: RawServer,
    span: Range<usize>,
) -> Option<ImapConfig> {
    reject_keys(
        c,
        "imap",
        &[
            (
                "envelope-from",
                raw.envelope_from.as_ref().map(|v| v.span()),
            ),
            ("retry-after", raw.retry_after.as_ref().map(|v| v.span())),
        ],
    );
    let server = validate_server(c, base, "imap", &raw, span, (993, 143));
    let poll_interval = c.duration(
        "imap.poll-interval",
        &raw.poll_interval,
        Duration::from_secs(60),
    );
    let max_age = c.duration(
        "imap.max-age",
        &raw.max_age,
        Duration::from_secs(2 * 24 * 3600),
    );
    let max_attempts = raw.max_attempts.as_ref().map_or(5, |v| *v.get_ref());
    let sent_copy_grace = c.duration(
        "imap.sent-copy-grace",
        &raw.sent_copy_grace,
        Duration::from_secs(120),
    );
    let sent_copy = match raw
        .sent_copy
        .as_ref()
        .map(|v| (v.get_ref().as_str(), v.span()))
    {
        None | Some(("append", _)) => SentCopy::Append,
        Some(("server", _)) => SentCopy::Server,
        Some(("none", _)) => SentCopy::None,
        Some((other, span)) => {
            c.problem(
                Some(span),
                "imap.sent-copy",
                format!("unknown value {other:?}; use \"append\", \"server\" or \"none\""),
            );
            SentCopy::Append
        }
    };
    Some(ImapConfig {
        server: server?,
        folder: raw
            .folder
            .as_ref()
            .map_or_else(|| "INBOX".to_string(), |f| f.get_ref().clone()),
        idle: raw.idle.unwrap_or(true),
        poll_interval,
        max_age,
        sent_folder: raw.sent_folder.as_ref().map(|f| f.get_ref().clone()),
        keywords: raw.keywords.unwrap_or(true),
        category_folders: raw
            .category_folders
            .as_ref()
            .map(|v| v.get_ref().trim_end_matches('/').to_string())
            .filter(|v| !v.is_empty()),
        sent_copy,
        sent_copy_grace,
        max_attempts: max_attempts.max(1),
    })
}

fn validate_smtp(
    c: &mut Checker<'_>,
    base: &Path,
    raw: RawServer,
    span: Range<usize>,
) -> Option<SmtpConfig> {
    reject_keys(
        c,
        "smtp",
        &[
            ("folder", raw.folder.as_ref().map(|v| v.span())),
            (
                "poll-interval",
                raw.poll_interval.as_ref().map(|v| v.span()),
            ),
            ("max-age", raw.max_age.as_ref().map(|v| v.span())),
            ("sent-folder", raw.sent_folder.as_ref().map(|v| v.span())),
            ("max-attempts", raw.max_attempts.as_ref().map(|v| v.span())),
            ("sent-copy", raw.sent_copy.as_ref().map(|v| v.span())),
            (
                "sent-copy-grace",
                raw.sent_copy_grace.as_ref().map(|v| v.span()),
            ),
            (
                "category-folders",
                raw.category_folders.as_ref().map(|v| v.span()),
            ),
        ],
    );
    let server = validate_server(c, base, "smtp", &raw, span, (465, 587));
    let envelope_from = match &raw.envelope_from {
        None => None,
        Some(v) if v.get_ref().is_empty() || v.get_ref() == "<>" => None,
        Some(v) => match Address::parse(v.get_ref()) {
            Some(a) => Some(a.email),
            None => {
                c.problem(
                    Some(v.span()),
                    "smtp.envelope-from",
                    format!(
                        "{:?} is not an e-mail address; use \"<>\" for the null sender",
                        v.get_ref()
                    ),
                );
                None
            }
        },
    };
    let retry_after = c.duration(
        "smtp.retry-after",
        &raw.retry_after,
        Duration::from_secs(30),
    );
    Some(SmtpConfig {
        server: server?,
        envelope_from,
        retry_after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn secrets_resolve_from_env_file_and_command() {
        use secrecy::ExposeSecret;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "s3cret\nignored\n").unwrap();
        assert_eq!(
            PasswordSource::File(f).resolve().unwrap().expose_secret(),
            "s3cret"
        );
        assert_eq!(
            PasswordSource::Command("echo tok".into())
                .resolve()
                .unwrap()
                .expose_secret(),
            "tok"
        );
        let e = PasswordSource::Env("AUTOSVAR_SURELY_UNSET_VAR".into())
            .resolve()
            .unwrap_err();
        assert!(e.to_string().contains("AUTOSVAR_SURELY_UNSET_VAR"));
        assert!(PasswordSource::Command("false".into()).resolve().is_err());
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
        let DeliveryConfig::Smtp(smtp) = c.delivery else {
            panic!("smtp expected")
        };
        assert_eq!(smtp.retry_after, Duration::from_secs(30));
    }
}
