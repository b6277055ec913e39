//! Decide: whether a mail may be answered at all, and how.
//!
//! [`guard`] runs before classification and refuses machine mail and loops (RFC 3834 §2 and
//! what helpdesks learned the hard way): our own mail, bounces, auto-replies, mailing lists,
//! bulk and junk, senders that asked not to be auto-answered, no-reply senders. [`decide`]
//! then applies the per-sender, per-category rate limit. Pure: the caller passes in the
//! ledger's [`History`] and the time. A skip always carries its reason.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::classify::{Category, Classification};
use crate::parse::{Mail, ReturnPath};

/// Why a mail gets no reply. The names are what the ledger, logs and `classify --json` show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    /// Unparseable, or no address to answer.
    Malformed,
    /// From us, carrying our marker, or X-Loop: answering would loop.
    Loop,
    /// Null Return-Path, a delivery report, MAILER-DAEMON or postmaster.
    Bounce,
    /// Auto-Submitted other than "no", or an X-Autoreply-style header.
    AutoReply,
    /// List-* headers or Precedence: list/bulk.
    List,
    /// Precedence: junk.
    Junk,
    /// X-Auto-Response-Suppress: All, AutoReply or OOF.
    Suppress,
    /// A no-reply sender address.
    Noreply,
    /// This sender already got a reply in this category within the period.
    RateLimited,
    /// Older than the configured maximum age when first seen.
    Old,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Malformed => "malformed",
            SkipReason::Loop => "loop",
            SkipReason::Bounce => "bounce",
            SkipReason::AutoReply => "auto-reply",
            SkipReason::List => "list",
            SkipReason::Junk => "junk",
            SkipReason::Suppress => "suppress",
            SkipReason::Noreply => "noreply",
            SkipReason::RateLimited => "rate-limited",
            SkipReason::Old => "old",
        }
    }
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to do with a mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send the category's reply; for technical mail also forward to `desk`.
    Reply {
        desk: Option<String>,
    },
    Skip(SkipReason),
}

impl Decision {
    pub fn action(&self) -> &'static str {
        match self {
            Decision::Reply { .. } => "reply",
            Decision::Skip(_) => "skip",
        }
    }

    pub fn skip_reason(&self) -> Option<SkipReason> {
        match self {
            Decision::Skip(r) => Some(*r),
            Decision::Reply { .. } => None,
        }
    }
}

/// What the ledger knows about earlier replies to this sender.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// When this sender last got a reply in this mail's category.
    pub last_reply: Option<SystemTime>,
}

fn local_part(addr: &str) -> String {
    addr.rsplit_once('@')
        .map_or(addr, |(l, _)| l)
        .to_ascii_lowercase()
}

/// "no-reply", "noreply", "do_not_reply", "ne-pas-repondre", "ikke-svar"…
fn is_noreply(addr: &str) -> bool {
    let l: String = local_part(addr)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    [
        "noreply",
        "donotreply",
        "dontreply",
        "nereply",
        "nepasrepondre",
        "ikkesvar",
        "ikkebesvar",
        "svarikke",
        "noresponse",
        "notifications",
        "notification",
        "mailerdaemon",
        "bounce",
        "bounces",
    ]
    .iter()
    .any(|p| l == *p || l.starts_with(p) || l.ends_with(p))
}

fn is_bounce_sender(addr: &str) -> bool {
    let l = local_part(addr);
    l == "mailer-daemon" || l == "postmaster" || l == "mailer_daemon"
}

/// RFC 3834 §2 and practice: the reason this mail must not be answered, if any.
pub fn guard(mail: &Mail, own_addresses: &[String]) -> Option<SkipReason> {
    let Some(reply_to) = mail.reply_address() else {
        return Some(SkipReason::Malformed);
    };
    if mail.malformed {
        return Some(SkipReason::Malformed);
    }
    let is_own = |a: &str| {
        own_addresses
            .iter()
            .any(|o| o.eq_ignore_ascii_case(a.trim()))
    };
    let from = mail.from.as_ref().map(|a| a.email.as_str());
    let ret = match &mail.return_path {
        ReturnPath::Address(a) => Some(a.as_str()),
        _ => None,
    };
    if mail.auto.autosvar_marker
        || !mail.auto.x_loop.is_empty()
        || from.is_some_and(is_own)
        || is_own(&reply_to.email)
        || ret.is_some_and(is_own)
        || mail.auto.sender.as_deref().is_some_and(is_own)
    {
        return Some(SkipReason::Loop);
    }
    if mail.return_path == ReturnPath::Null
        || mail.auto.report
        || from.is_some_and(is_bounce_sender)
        || ret.is_some_and(is_bounce_sender)
    {
        return Some(SkipReason::Bounce);
    }
    if mail.auto.auto_submitted.as_deref().is_some_and(|v| {
        !v.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .eq_ignore_ascii_case("no")
    }) || mail.auto.x_autoreply
    {
        return Some(SkipReason::AutoReply);
    }
    let precedence = mail.auto.precedence.as_deref().map(str::trim);
    if mail.auto.list_header.is_some() || matches!(precedence, Some("list" | "bulk")) {
        return Some(SkipReason::List);
    }
    if precedence == Some("junk") {
        return Some(SkipReason::Junk);
    }
    if mail
        .auto
        .x_auto_response_suppress
        .as_deref()
        .is_some_and(|v| {
            v.split([',', ' '])
                .any(|t| matches!(t.trim(), "all" | "autoreply" | "oof"))
        })
    {
        return Some(SkipReason::Suppress);
    }
    if is_noreply(&reply_to.email)
        || from.is_some_and(is_noreply)
        || mail.auto.sender.as_deref().is_some_and(is_noreply)
    {
        return Some(SkipReason::Noreply);
    }
    None
}

/// Whether a skipped mail was written by a machine rather than a person on a list or a
/// colleague writing from our own address: its text is then no question at all.
pub fn is_machine_generated(mail: &Mail, reason: Option<SkipReason>) -> bool {
    match reason {
        Some(
            SkipReason::Bounce
            | SkipReason::AutoReply
            | SkipReason::Noreply
            | SkipReason::Junk
            | SkipReason::Suppress,
        ) => true,
        Some(SkipReason::List) => mail.auto.precedence.as_deref() == Some("bulk"),
        Some(SkipReason::Loop) => mail.auto.autosvar_marker || !mail.auto.x_loop.is_empty(),
        _ => false,
    }
}

/// The decision for a mail that passed [`guard`], given its classification.
pub fn decide(
    classification: &Classification,
    history: &History,
    period: Duration,
    now: SystemTime,
) -> Decision {
    if let Some(last) = history.last_reply {
        if now.duration_since(last).map_or(true, |d| d < period) {
            return Decision::Skip(SkipReason::RateLimited);
        }
    }
    Decision::Reply {
        desk: if classification.category == Category::Technical {
            classification.desk.clone()
        } else {
            None
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{parse, Language};

    const OWN: &[&str] = &["e-learning@example.test"];

    fn own() -> Vec<String> {
        OWN.iter().map(|s| s.to_string()).collect()
    }

    fn mail(headers: &str) -> Mail {
        let raw = format!(
            "From: Bo <bo@regionh.example>\r\nReturn-Path: <bo@regionh.example>\r\nSubject: Zoom\r\nMessage-ID: <m@x>\r\n{headers}Content-Type: text/plain\r\n\r\nHvad koster Zoom?\r\n"
        );
        parse(raw.as_bytes(), Language::Da)
    }

    fn guard_of(headers: &str) -> Option<SkipReason> {
        guard(&mail(headers), &own())
    }

    #[test]
    fn a_person_passes() {
        assert_eq!(guard_of(""), None);
        assert_eq!(guard_of("Auto-Submitted: no\r\n"), None);
        assert_eq!(guard_of("X-Auto-Response-Suppress: DR, RN\r\n"), None);
        assert_eq!(guard_of("Precedence: normal\r\n"), None);
    }

    #[test]
    fn machine_headers_are_refused() {
        let cases = [
            ("Auto-Submitted: auto-replied\r\n", SkipReason::AutoReply),
            ("Auto-Submitted: auto-generated\r\n", SkipReason::AutoReply),
            ("Auto-Submitted: auto-notified\r\n", SkipReason::AutoReply),
            ("X-Autoreply: yes\r\n", SkipReason::AutoReply),
            ("List-Id: <x.lists.example>\r\n", SkipReason::List),
            ("List-Unsubscribe: <mailto:u@x>\r\n", SkipReason::List),
            ("Precedence: bulk\r\n", SkipReason::List),
            ("Precedence: list\r\n", SkipReason::List),
            ("Precedence: junk\r\n", SkipReason::Junk),
            ("X-Auto-Response-Suppress: All\r\n", SkipReason::Suppress),
            ("X-Auto-Response-Suppress: OOF\r\n", SkipReason::Suppress),
            (
                "X-Auto-Response-Suppress: DR, AutoReply\r\n",
                SkipReason::Suppress,
            ),
            ("X-Loop: e-learning@example.test\r\n", SkipReason::Loop),
            ("X-Autosvar-Category: pricing\r\n", SkipReason::Loop),
        ];
        for (h, want) in cases {
            assert_eq!(guard_of(h), Some(want), "{h}");
        }
    }

    #[test]
    fn senders_are_refused() {
        let with_from = |from: &str, ret: &str| {
            let raw = format!(
                "From: {from}\r\nReturn-Path: {ret}\r\nSubject: x\r\nMessage-ID: <m@x>\r\n\r\nHej\r\n"
            );
            guard(&parse(raw.as_bytes(), Language::Da), &own())
        };
        assert_eq!(with_from("bo@x.example", "<>"), Some(SkipReason::Bounce));
        assert_eq!(
            with_from("MAILER-DAEMON@x.example", "<m@x>"),
            Some(SkipReason::Bounce)
        );
        assert_eq!(
            with_from("postmaster@x.example", "<p@x>"),
            Some(SkipReason::Bounce)
        );
        assert_eq!(
            with_from("noreply@x.example", "<n@x>"),
            Some(SkipReason::Noreply)
        );
        assert_eq!(
            with_from("do-not-reply@x.example", "<n@x>"),
            Some(SkipReason::Noreply)
        );
        assert_eq!(
            with_from("no_reply@x.example", "<n@x>"),
            Some(SkipReason::Noreply)
        );
        assert_eq!(
            with_from("E-learning@Example.test", "<e@x>"),
            Some(SkipReason::Loop)
        );
        assert_eq!(with_from("bo@x.example", "<bo@x.example>"), None);
    }

    #[test]
    fn out_of_office_subject_alone_is_a_person() {
        let raw = "From: bo@x.example\r\nSubject: Out of office next week\r\n\r\nCan I still get Zoom?\r\n";
        assert_eq!(guard(&parse(raw.as_bytes(), Language::En), &own()), None);
    }

    #[test]
    fn rate_limit_applies_within_the_period() {
        let c = Classification {
            category: Category::Technical,
            desk: Some("cimt".into()),
            confidence: 0.9,
            secondary: None,
            sensitive: false,
            scores: vec![],
            hits: vec![],
        };
        let now = crate::clock::from_unix_seconds(1_000_000);
        let day = Duration::from_secs(86400);
        let recent = History {
            last_reply: Some(crate::clock::from_unix_seconds(1_000_000 - 3600)),
        };
        let old = History {
            last_reply: Some(crate::clock::from_unix_seconds(1_000_000 - 90000)),
        };
        assert_eq!(
            decide(&c, &recent, day, now),
            Decision::Skip(SkipReason::RateLimited)
        );
        assert_eq!(
            decide(&c, &old, day, now),
            Decision::Reply {
                desk: Some("cimt".into())
            }
        );
    }
}
