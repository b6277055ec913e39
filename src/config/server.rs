//! The server sections, `[imap]` and `[smtp]`: their settings, and their validation.
//!
//! serde has already checked each section's keys and the values of `tls`, `auth` and
//! `sent-copy` (see `raw`); this module fills in defaults (the port from the TLS mode, the
//! TLS mode from the port), refuses cleartext to a remote host, and builds the login
//! (`secret::login`). It never connects and never reads a secret.

use std::net::IpAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::checker::Checker;
use super::raw::{RawConnection, RawImap, RawSmtp, SentCopy, Tls};
use super::secret::{login, refuse_inline_password, Auth};
use super::Address;

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
    /// How long one IDLE lasts before it is ended (DONE) and begun again: each renewal
    /// proves the connection alive, within `timeout`.
    pub idle_renew: Duration,
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

/// SMTP delivery settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    pub server: Server,
    /// `None` is RFC 3834's null sender `<>`.
    pub envelope_from: Option<String>,
    /// First wait before a message that could not be delivered is tried again; doubles
    /// up to 30 minutes (so greylisting and short outages pass).
    pub retry_after: Duration,
    /// Connections open to the server at once, idle ones included (Microsoft 365: 3).
    pub max_connections: usize,
    /// Messages submitted at most, evenly spaced (Microsoft 365: 30 a minute); `None`:
    /// as fast as the server takes them.
    pub max_rate: Option<Rate>,
}

/// `smtp.max-rate`: at most `messages` every `per`, e.g. "30/min".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub messages: u32,
    pub per: Duration,
}

impl Rate {
    /// The time between two messages when they are spaced evenly.
    pub fn interval(&self) -> Duration {
        self.per / self.messages.max(1)
    }

    /// How many messages the rate allows in one second, at least one.
    pub fn per_second(&self) -> usize {
        let per_ms = self.per.as_millis().max(1);
        let n = u128::from(self.messages) * 1000 / per_ms;
        usize::try_from(n).unwrap_or(usize::MAX).max(1)
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = match self.per.as_secs() {
            1 => "s",
            60 => "min",
            _ => "h",
        };
        write!(f, "{}/{unit}", self.messages)
    }
}

/// `smtp.max-connections` when unset: what the pipeline sends at once (as before the key
/// existed). Microsoft 365 allows 3 per mailbox: its example sets it.
pub const MAX_CONNECTIONS_DEFAULT: usize = 8;
/// The most `smtp.max-connections` may be.
const MAX_CONNECTIONS_MAX: i64 = 64;

/// `[imap]` or `[smtp]` as read, with the places its validation reports at.
pub(super) struct ServerSection<T> {
    pub(super) raw: T,
    /// The section's header, where a missing host is reported.
    pub(super) header: Range<usize>,
    /// Where an inline `password` was (taken out before serde saw the section).
    pub(super) inline_password: Option<Range<usize>>,
}

/// Validates the keys `[imap]` and `[smtp]` share.
fn validate_server(
    c: &mut Checker<'_>,
    base: &Path,
    section: &str,
    (raw, header, inline_password): (&RawConnection, Range<usize>, Option<Range<usize>>),
    default_ports: (u16, u16),
) -> Option<Server> {
    let host = match &raw.host {
        Some(h) if !h.get_ref().trim().is_empty() => Some(h.get_ref().trim().to_string()),
        _ => {
            c.problem(Some(header), &format!("{section}.host"), "missing");
            None
        }
    };
    let tls = tls_mode(raw);
    if let (Tls::None, Some(h)) = (tls, &host) {
        if !is_loopback(h) {
            c.problem_hint(
                raw.tls.as_ref().map(|t| t.span()),
                &format!("{section}.tls"),
                format!(
                    "\"none\" sends the password in clear and is only allowed for a loopback host, not {h:?}"
                ),
                "use \"implicit\" or \"starttls\"",
            );
        }
    }
    if let Some(span) = inline_password {
        refuse_inline_password(c, section, span);
    }
    let port = raw.port.as_ref().map_or(
        match tls {
            Tls::Implicit => default_ports.0,
            _ => default_ports.1,
        },
        |p| *p.get_ref(),
    );
    let auth = login(c, base, section, raw);
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

/// `tls` as given; unset, what the port says (the submission and plain IMAP ports use
/// STARTTLS, every other port TLS from the first byte).
fn tls_mode(raw: &RawConnection) -> Tls {
    match (&raw.tls, raw.port.as_ref().map(|p| *p.get_ref())) {
        (Some(t), _) => *t.get_ref(),
        (None, Some(25 | 143 | 587)) => Tls::StartTls,
        (None, _) => Tls::Implicit,
    }
}

/// Validates `[imap]`.
pub(super) fn validate_imap(
    c: &mut Checker<'_>,
    base: &Path,
    section: ServerSection<RawImap>,
) -> Option<ImapConfig> {
    let ServerSection {
        raw,
        header,
        inline_password,
    } = section;
    let RawImap {
        host,
        port,
        tls,
        user,
        password_env,
        password_file,
        password_command,
        auth,
        token_command,
        ca_file,
        timeout,
        folder,
        poll_interval,
        idle,
        idle_renew,
        max_age,
        sent_folder,
        keywords,
        sent_copy,
        sent_copy_grace,
        category_folders,
        max_attempts,
    } = raw;
    let connection = RawConnection {
        host,
        port,
        tls,
        user,
        password_env,
        password_file,
        password_command,
        auth,
        token_command,
        ca_file,
        timeout,
    };
    let keys = (&connection, header, inline_password);
    let server = validate_server(c, base, "imap", keys, (993, 143));
    let poll_interval = c.duration(
        "imap.poll-interval",
        &poll_interval,
        Duration::from_secs(60),
    );
    let idle_renew = idle_renew_period(c, &idle_renew);
    let max_age = c.duration("imap.max-age", &max_age, Duration::from_secs(2 * 24 * 3600));
    let sent_copy_grace = c.duration(
        "imap.sent-copy-grace",
        &sent_copy_grace,
        Duration::from_secs(120),
    );
    Some(ImapConfig {
        server: server?,
        folder: folder.map_or_else(|| "INBOX".to_string(), Spanned::into_inner),
        idle: idle.unwrap_or(true),
        idle_renew,
        poll_interval,
        max_age,
        sent_folder: sent_folder.map(Spanned::into_inner),
        keywords: keywords.unwrap_or(true),
        category_folders: category_folders
            .map(|v| v.get_ref().trim_end_matches('/').to_string())
            .filter(|v| !v.is_empty()),
        sent_copy: sent_copy.unwrap_or(SentCopy::Append),
        sent_copy_grace,
        max_attempts: max_attempts.map_or(5, Spanned::into_inner).max(1),
    })
}

/// `imap.idle-renew`'s default: well under the idle timeouts of NATs and firewalls (Azure's
/// load balancers drop a silent TCP flow after 4 minutes; TCP keepalive, `crate::net`,
/// covers those) and far under RFC 2177's 29 minutes.
const IDLE_RENEW_DEFAULT: Duration = Duration::from_secs(5 * 60);
/// RFC 2177 §3: a client should end IDLE and issue it again at least every 29 minutes,
/// since servers may log out a client that is idle for 30.
const IDLE_RENEW_MAX: Duration = Duration::from_secs(29 * 60);
const IDLE_RENEW_MIN: Duration = Duration::from_secs(1);

/// `imap.idle-renew`: a duration from 1 s to 29 minutes.
fn idle_renew_period(c: &mut Checker<'_>, raw: &Option<Spanned<String>>) -> Duration {
    let renew = c.duration("imap.idle-renew", raw, IDLE_RENEW_DEFAULT);
    match raw {
        Some(v) if !(IDLE_RENEW_MIN..=IDLE_RENEW_MAX).contains(&renew) => {
            c.problem_hint(
                Some(v.span()),
                "imap.idle-renew",
                format!("{:?} is out of range", v.get_ref()),
                "use between \"1s\" and \"29m\" (RFC 2177 §3: renew IDLE at least every 29 minutes)",
            );
            IDLE_RENEW_DEFAULT
        }
        _ => renew,
    }
}

/// Validates `[smtp]`.
pub(super) fn validate_smtp(
    c: &mut Checker<'_>,
    base: &Path,
    section: ServerSection<RawSmtp>,
) -> Option<SmtpConfig> {
    let ServerSection {
        raw,
        header,
        inline_password,
    } = section;
    let RawSmtp {
        host,
        port,
        tls,
        user,
        password_env,
        password_file,
        password_command,
        auth,
        token_command,
        ca_file,
        timeout,
        envelope_from,
        retry_after,
        max_connections,
        max_rate,
    } = raw;
    let connection = RawConnection {
        host,
        port,
        tls,
        user,
        password_env,
        password_file,
        password_command,
        auth,
        token_command,
        ca_file,
        timeout,
    };
    let keys = (&connection, header, inline_password);
    let server = validate_server(c, base, "smtp", keys, (465, 587));
    let envelope_from = match &envelope_from {
        None => None,
        Some(v) if v.get_ref().is_empty() || v.get_ref() == "<>" => None,
        Some(v) => match Address::parse(v.get_ref()) {
            Some(a) => Some(a.email),
            None => {
                c.problem_hint(
                    Some(v.span()),
                    "smtp.envelope-from",
                    format!("{:?} is not an e-mail address", v.get_ref()),
                    "use \"<>\" for the null sender",
                );
                None
            }
        },
    };
    let retry_after = c.duration("smtp.retry-after", &retry_after, Duration::from_secs(30));
    let max_connections = match &max_connections {
        None => MAX_CONNECTIONS_DEFAULT,
        Some(v) => match usize::try_from(*v.get_ref()) {
            Ok(n) if (1..=MAX_CONNECTIONS_MAX).contains(v.get_ref()) => n,
            _ => {
                c.problem_hint(
                    Some(v.span()),
                    "smtp.max-connections",
                    format!("{} is out of range", v.get_ref()),
                    format!("use between 1 and {MAX_CONNECTIONS_MAX} (Microsoft 365 allows 3)"),
                );
                MAX_CONNECTIONS_DEFAULT
            }
        },
    };
    let max_rate = c.rate("smtp.max-rate", &max_rate);
    Some(SmtpConfig {
        server: server?,
        envelope_from,
        retry_after,
        max_connections,
        max_rate,
    })
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
