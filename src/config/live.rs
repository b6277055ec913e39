//! What of a re-read `config.toml` a running daemon takes (SIGHUP), and what needs a restart.
//!
//! [`take_live`] compares the running [`Config`] with one read again and returns the config to
//! run with: the running one with the live keys taken from the new file, and every key that
//! differs as a [`Change`]. Live: `reply.from`, `reply.own-addresses`, `reply.period`,
//! `reply.default-language`, `reply.nordic-language`, `reply.other-language`, `classify.rules`, `classify.training`, `[desks.*]` and
//! `imap.max-attempts` (each read per mail, or the file it names read by the reload itself).
//! Everything else needs a restart (the connections, the ledger, the Maildir, the outbox,
//! `responses.path` (the watcher and the console hold it), `reply.dry-run`, the console):
//! a change there is reported and ignored. A change this module does not know by name
//! (a key added later) is reported as needing a restart, never taken.
//!
//! It never shows the value of a restart-only key (a server's login says where a secret
//! is), only that it changed; a live key's old and new values are shown (addresses of our
//! own, durations, paths, desk names and numbers: no secret is live).

use std::fmt;
use std::time::Duration;

use super::{Config, DeliveryConfig, IntakeConfig, Server};
use crate::types::Language;

/// One key that differs between the running config and the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// As written in the file: `reply.period`, `imap.host`, `desks.cimt.phone`.
    pub key: String,
    /// Old and new value, shown for live keys only.
    pub values: Option<(String, String)>,
    /// Taken now (`true`) or ignored until a restart.
    pub live: bool,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.values, self.live) {
            (Some((old, new)), true) => write!(f, "{} {old} -> {new}", self.key),
            (None, true) => write!(f, "{} changed", self.key),
            (_, false) => write!(
                f,
                "{} changed: needs a restart (ignored until then)",
                self.key
            ),
        }
    }
}

/// The config to run with after reading `read` while `running` runs, and what differs.
pub fn take_live(running: &Config, read: &Config) -> (Config, Vec<Change>) {
    let mut d = Diff::default();
    let mut next = running.clone();
    // Live keys: shown with their values and taken.
    d.live("reply.from", &running.from, &read.from, |a| a.to_string());
    next.from = read.from.clone();
    d.live(
        "reply.own-addresses",
        &running.own_addresses,
        &read.own_addresses,
        |a| format!("[{}]", a.join(", ")),
    );
    next.own_addresses = read.own_addresses.clone();
    d.live("reply.period", &running.period, &read.period, |p| {
        duration(*p)
    });
    next.period = read.period;
    for (key, get) in [
        (
            "reply.default-language",
            (|c| &c.default_language) as fn(&Config) -> &Language,
        ),
        ("reply.nordic-language", |c| &c.nordic_language),
        ("reply.other-language", |c| &c.other_language),
    ] {
        d.live(key, get(running), get(read), |l| l.code().to_string());
    }
    next.default_language = read.default_language;
    next.nordic_language = read.nordic_language;
    next.other_language = read.other_language;
    d.live("classify.rules", &running.rules, &read.rules, |p| {
        p.display().to_string()
    });
    next.rules = read.rules.clone();
    d.live(
        "classify.training",
        &running.training,
        &read.training,
        |p| {
            p.as_ref()
                .map_or_else(|| "(none)".into(), |p| p.display().to_string())
        },
    );
    next.training = read.training.clone();
    for (key, desk) in &read.desks {
        let old = running.desks.get(key);
        let k = format!("desks.{key}");
        d.live(
            &format!("{k}.name"),
            &old.map(|o| &o.name),
            &Some(&desk.name),
            show_opt,
        );
        d.live(
            &format!("{k}.email"),
            &old.map(|o| &o.email),
            &Some(&desk.email),
            show_opt,
        );
        d.live(
            &format!("{k}.phone"),
            &old.map(|o| &o.phone),
            &Some(&desk.phone),
            show_opt,
        );
    }
    for key in running
        .desks
        .keys()
        .filter(|k| !read.desks.contains_key(*k))
    {
        d.changes.push(Change {
            key: format!("desks.{key}"),
            values: Some(("present".into(), "(removed)".into())),
            live: true,
        });
    }
    next.desks = read.desks.clone();
    if let (IntakeConfig::Imap(n), IntakeConfig::Imap(r), IntakeConfig::Imap(o)) =
        (&mut next.intake, &read.intake, &running.intake)
    {
        d.live("imap.max-attempts", &o.max_attempts, &r.max_attempts, |n| {
            n.to_string()
        });
        n.max_attempts = r.max_attempts;
    }

    // Restart-only keys: named, never shown.
    d.restart("reply.dry-run", &running.dry_run, &read.dry_run);
    match (&running.intake, &read.intake) {
        (
            IntakeConfig::Maildir {
                path,
                poll_interval,
                max_size,
            },
            IntakeConfig::Maildir {
                path: p,
                poll_interval: i,
                max_size: m,
            },
        ) => {
            d.restart("maildir.path", path, p);
            d.restart("maildir.poll-interval", poll_interval, i);
            d.restart("maildir.max-size", max_size, m);
        }
        (IntakeConfig::Imap(o), IntakeConfig::Imap(r)) => {
            d.server("imap", &o.server, &r.server);
            d.restart("imap.folder", &o.folder, &r.folder);
            d.restart("imap.idle", &o.idle, &r.idle);
            d.restart("imap.idle-renew", &o.idle_renew, &r.idle_renew);
            d.restart("imap.poll-interval", &o.poll_interval, &r.poll_interval);
            d.restart("imap.max-age", &o.max_age, &r.max_age);
            d.restart("imap.sent-folder", &o.sent_folder, &r.sent_folder);
            d.restart("imap.keywords", &o.keywords, &r.keywords);
            d.restart(
                "imap.category-folders",
                &o.category_folders,
                &r.category_folders,
            );
            d.restart("imap.sent-copy", &o.sent_copy, &r.sent_copy);
            d.restart(
                "imap.sent-copy-grace",
                &o.sent_copy_grace,
                &r.sent_copy_grace,
            );
        }
        _ => d.restart("intake ([maildir] or [imap])", &0, &1),
    }
    match (&running.delivery, &read.delivery) {
        (DeliveryConfig::Outbox { path }, DeliveryConfig::Outbox { path: p }) => {
            d.restart("outbox.path", path, p);
        }
        (DeliveryConfig::Smtp(o), DeliveryConfig::Smtp(r)) => {
            d.server("smtp", &o.server, &r.server);
            d.restart("smtp.envelope-from", &o.envelope_from, &r.envelope_from);
            d.restart("smtp.retry-after", &o.retry_after, &r.retry_after);
        }
        _ => d.restart("delivery ([outbox] or [smtp])", &0, &1),
    }
    d.restart("ledger.path", &running.ledger, &read.ledger);
    d.restart("ledger.keep", &running.ledger_keep, &read.ledger_keep);
    d.restart("responses.path", &running.responses, &read.responses);
    d.restart("console", &running.console, &read.console);
    // A key not named above (added after this module was written): the file with every
    // live key as running must read as the running config, or something else changed.
    if d.changes.iter().all(|c| c.live) {
        let mut rest = read.clone();
        rest.from = running.from.clone();
        rest.own_addresses = running.own_addresses.clone();
        rest.period = running.period;
        rest.default_language = running.default_language;
        rest.nordic_language = running.nordic_language;
        rest.other_language = running.other_language;
        rest.rules = running.rules.clone();
        rest.training = running.training.clone();
        rest.desks = running.desks.clone();
        if let (IntakeConfig::Imap(n), IntakeConfig::Imap(o)) = (&mut rest.intake, &running.intake)
        {
            n.max_attempts = o.max_attempts;
        }
        if format!("{rest:?}") != format!("{running:?}") {
            d.changes.push(Change {
                key: "another key".into(),
                values: None,
                live: false,
            });
        }
    }
    (next, d.changes)
}

#[derive(Default)]
struct Diff {
    changes: Vec<Change>,
}

impl Diff {
    fn live<T: PartialEq>(&mut self, key: &str, old: &T, new: &T, show: impl Fn(&T) -> String) {
        if old != new {
            self.changes.push(Change {
                key: key.into(),
                values: Some((show(old), show(new))),
                live: true,
            });
        }
    }

    fn restart<T: PartialEq>(&mut self, key: &str, old: &T, new: &T) {
        if old != new {
            self.changes.push(Change {
                key: key.into(),
                values: None,
                live: false,
            });
        }
    }

    /// `[imap]` or `[smtp]`'s connection keys (the login and its secret's source as one).
    fn server(&mut self, section: &str, old: &Server, new: &Server) {
        self.restart(&format!("{section}.host"), &old.host, &new.host);
        self.restart(&format!("{section}.port"), &old.port, &new.port);
        self.restart(&format!("{section}.tls"), &old.tls, &new.tls);
        self.restart(&format!("{section}.auth"), &old.auth, &new.auth);
        self.restart(&format!("{section}.ca-file"), &old.ca_file, &new.ca_file);
        self.restart(&format!("{section}.timeout"), &old.timeout, &new.timeout);
    }
}

fn show_opt(s: &Option<&String>) -> String {
    s.map_or_else(|| "(none)".into(), |s| format!("{s:?}"))
}

/// A duration as the config file writes it: "1d", "36h", "90s".
fn duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "0s".into(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const BASE: &str = r#"
[reply]
from = "E-learning <e-learning@example.test>"
period = "1d"
[maildir]
path = "demo/Maildir"
[outbox]
path = "var/outbox"
[ledger]
path = "var/autosvar.sqlite"
[classify]
rules = "rules.toml"
training = "training"
[responses]
path = "responses"
[desks.cimt]
name = "CIMT Servicedesk"
email = "cimt@example.test"
phone = "3864 8080"
[desks.kuit]
name = "KU-IT"
email = "ku-it@example.test"
phone = "3532 3232"
"#;

    const IMAP: &str = r#"
[imap]
host = "imap.example.test"
user = "e-learning@example.test"
password-env = "AUTOSVAR_IMAP_PASSWORD"
max-attempts = 5
"#;

    fn config(text: &str) -> Config {
        Config::parse(Path::new("/etc/autosvar/config.toml"), text).unwrap()
    }

    fn shown(changes: &[Change]) -> Vec<String> {
        changes.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_same_file_changes_nothing() {
        let (next, changes) = take_live(&config(BASE), &config(BASE));
        assert!(changes.is_empty(), "{changes:?}");
        assert_eq!(format!("{next:?}"), format!("{:?}", config(BASE)));
    }

    #[test]
    fn a_live_key_is_taken_and_shown_with_both_values() {
        let read = BASE
            .replace(
                "period = \"1d\"",
                "period = \"2d\"\nown-addresses = [\"old@example.test\"]",
            )
            .replace("3864 8080", "3864 8081");
        let (next, changes) = take_live(&config(BASE), &config(&read));
        assert_eq!(
            shown(&changes),
            [
                "reply.own-addresses [e-learning@example.test] -> [e-learning@example.test, old@example.test]",
                "reply.period 1d -> 2d",
                "desks.cimt.phone \"3864 8080\" -> \"3864 8081\"",
            ]
        );
        assert!(changes.iter().all(|c| c.live));
        assert_eq!(next.period, Duration::from_secs(2 * 86_400));
        assert!(next.own_addresses.contains(&"old@example.test".to_string()));
        assert_eq!(
            next.desks[&crate::types::DeskKey::from("cimt")].phone,
            "3864 8081"
        );
    }

    #[test]
    fn the_reply_languages_are_live() {
        let read = BASE.replace(
            "period = \"1d\"",
            "period = \"1d\"\nnordic-language = \"en\"\nother-language = \"da\"",
        );
        let (next, changes) = take_live(&config(BASE), &config(&read));
        assert_eq!(
            shown(&changes),
            [
                "reply.nordic-language da -> en",
                "reply.other-language en -> da"
            ]
        );
        assert!(changes.iter().all(|c| c.live));
        let r = next.replies();
        assert_eq!((r.nordic, r.other), (Language::En, Language::Da));
    }

    #[test]
    fn a_restart_only_key_is_reported_ignored_and_never_shown() {
        let read = BASE
            .replace("var/autosvar.sqlite", "var/other.sqlite")
            .replace("period = \"1d\"", "period = \"36h\"");
        let running = config(BASE);
        let (next, changes) = take_live(&running, &config(&read));
        assert_eq!(
            shown(&changes),
            [
                "reply.period 1d -> 36h",
                "ledger.path changed: needs a restart (ignored until then)",
            ]
        );
        assert_eq!(next.ledger, running.ledger, "the running ledger stays");
        assert_eq!(
            next.period,
            Duration::from_secs(36 * 3600),
            "the live key is taken"
        );
        assert!(!shown(&changes).iter().any(|c| c.contains("other.sqlite")));
    }

    #[test]
    fn imap_max_attempts_is_live_and_the_login_is_not() {
        let base = format!("{BASE}{IMAP}");
        let read = base
            .replace("max-attempts = 5", "max-attempts = 7")
            .replace("AUTOSVAR_IMAP_PASSWORD", "SECRET_PLACE")
            .replace("imap.example.test", "imap2.example.test");
        let running = config(&base);
        let (next, changes) = take_live(&running, &config(&read));
        assert_eq!(
            shown(&changes),
            [
                "imap.max-attempts 5 -> 7",
                "imap.host changed: needs a restart (ignored until then)",
                "imap.auth changed: needs a restart (ignored until then)",
            ]
        );
        let IntakeConfig::Imap(i) = &next.intake else {
            panic!("imap")
        };
        assert_eq!(i.max_attempts, 7);
        assert_eq!(i.server.host, "imap.example.test");
        assert!(!format!("{changes:?}").contains("SECRET_PLACE"));
    }

    #[test]
    fn switching_intake_or_turning_the_console_on_needs_a_restart() {
        let read = format!("{BASE}{IMAP}\n[console]\nlisten = \"127.0.0.1:8025\"\n");
        let running = config(BASE);
        let (next, changes) = take_live(&running, &config(&read));
        assert_eq!(
            shown(&changes),
            [
                "intake ([maildir] or [imap]) changed: needs a restart (ignored until then)",
                "console changed: needs a restart (ignored until then)",
            ]
        );
        assert!(matches!(next.intake, IntakeConfig::Maildir { .. }));
        assert!(next.console.is_none());
    }

    #[test]
    fn durations_read_as_written() {
        assert_eq!(duration(Duration::from_secs(86_400)), "1d");
        assert_eq!(duration(Duration::from_secs(90)), "90s");
        assert_eq!(duration(Duration::from_secs(300)), "5m");
        assert_eq!(duration(Duration::ZERO), "0s");
    }
}
