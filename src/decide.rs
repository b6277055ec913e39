//! Decide: whether a mail may be answered at all, and how.
//!
//! [`guard`] runs before classification and refuses machine mail and loops (RFC 3834 §2 and
//! what helpdesks and bounce parsers learned the hard way): our own mail; non-delivery
//! reports (null Return-Path, delivery-status parts anywhere in the mail,
//! `X-Failed-Recipients`, mail-system senders and display names); read receipts and abuse
//! reports (disposition-notification and ARF feedback-report parts); auto-replies
//! (`Auto-Submitted`, `Precedence: auto_reply` and vendor headers); mailing lists (List-*,
//! list managers' headers and addresses); bulk and junk (also spam flagged by a filter);
//! senders that asked not to be auto-answered; no-reply senders. Last come the subject
//! forms (an auto-reply, bounce or read-receipt subject) and they count only over a new
//! text that asks nothing: a person who writes "Out of office?" or asks a question under
//! such a subject is answered. The one exception: a bounce phrase in the subject over a
//! text with a bounce report's markers is a bounce, question mark or not. Every rule is general (a header, a MIME type, a sender form,
//! a subject form), never a list of known mails. [`decide`] then applies the per-sender,
//! per-category rate limit, and turns a doubtful classification (below the rules'
//! `review-below`) into the acknowledgement with any desk forward held for a person. Pure:
//! the caller passes in the ledger's [`History`] and the
//! time. A skip always carries its reason. Subjects and texts are matched on lowercased
//! copies with `starts_with`/`contains` only: no byte offset crosses into the original.

// Every byte of a mail is hostile: no slicing or indexing that could panic on it.
#![deny(clippy::string_slice, clippy::indexing_slicing)]

use std::time::{Duration, SystemTime};

use crate::classify::{Category, Classification};
use crate::parse::{AutoHeaders, Mail, ReturnPath};
use crate::types::{Action, DeskKey};

pub use crate::types::SkipReason;

/// What to do with a mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send the category's reply; for technical mail also forward to `desk`.
    Reply {
        desk: Option<DeskKey>,
    },
    /// A doubtful mail (the classifier not sure enough of its specific category): send the
    /// short acknowledgement (the `other` template: a person will answer) and flag it for
    /// review; a technical guess's forward to `held` is held for a person, never sent here.
    Acknowledge {
        held: Option<DeskKey>,
    },
    Skip(SkipReason),
}

impl Decision {
    pub fn action(&self) -> Action {
        match self {
            Decision::Reply { .. } | Decision::Acknowledge { .. } => Action::Reply,
            Decision::Skip(_) => Action::Skip,
        }
    }

    pub fn skip_reason(&self) -> Option<SkipReason> {
        match self {
            Decision::Skip(r) => Some(*r),
            Decision::Reply { .. } | Decision::Acknowledge { .. } => None,
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

/// The local part as a mail system wrote it: a BATV or SRS rewrite (`prvs=tag=ndr`,
/// `SRS0=h=tt=domain=user`) undone, then cut at the first character that is no part of a
/// plain name (`Postmaster\@host@relay` -> `postmaster`, `"System Administrator"@x` ->
/// `system administrator`).
fn plain_local(addr: &str) -> String {
    let l = local_part(addr);
    let l = l.trim_matches('"');
    let l = if ["prvs=", "msprvs1=", "btv1=", "srs0=", "srs1="]
        .iter()
        .any(|p| l.starts_with(p))
    {
        l.rsplit('=').next().unwrap_or(l)
    } else {
        l
    };
    l.chars()
        .take_while(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | ' '))
        .collect()
}

/// Letters and digits only: "Mailer_Daemon" and "mailer-daemon" alike.
fn squashed(s: &str) -> String {
    s.chars().filter(|c| c.is_alphanumeric()).collect()
}

/// A mail system's own account: MAILER-DAEMON, postmaster, an NDR or gateway account.
fn is_bounce_sender(addr: &str) -> bool {
    let plain = plain_local(addr);
    let l = squashed(&plain);
    // Exchange Online's NDR sender: MicrosoftExchange followed by 32 hex digits.
    let exchange = l
        .strip_prefix("microsoftexchange")
        .is_some_and(|rest| rest.len() >= 32 && rest.chars().all(|c| c.is_ascii_hexdigit()));
    exchange
        || matches!(l.as_str(), "postmaster" | "ndr" | "mailer" | "maildelivery")
        || plain.starts_with("postmaster")
        || ["daemon", "smtp", "mailservice", "mailgateway", "mailsystem"]
            .iter()
            .any(|w| l.contains(w))
}

/// The display names mail systems sign their reports with ("Mail Delivery Subsystem").
fn is_bounce_name(name: &str) -> bool {
    let n = name
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    matches!(
        n.as_str(),
        "mail delivery subsystem"
            | "mail delivery system"
            | "mail delivery service"
            | "mail delivery"
            | "internet mail delivery"
            | "mailer daemon"
            | "postmaster"
            | "mail administrator"
            | "mail system"
            | "mail system error"
            | "microsoft outlook"
            | "microsoft exchange"
    )
}

/// A list manager's address: `owner-x@`, `x-owner@`, `x-request@`, `x-bounces@` (also
/// with a VERP tail, `x-bounces+user=host@`).
fn is_list_address(addr: &str) -> bool {
    let l = local_part(addr);
    let l = l.split('+').next().unwrap_or_default();
    l.starts_with("owner-")
        || ["-owner", "-request", "-bounces"]
            .iter()
            .any(|s| l.ends_with(s) && l.len() > s.len())
}

/// Whether a text asks anything: a question mark in any script.
fn asks(text: &str) -> bool {
    text.contains(['?', '？', '¿', '؟'])
}

/// The subject lowercased with its whitespace collapsed.
/// Only its first [`SUBJECT_CHARS`] characters: every form is near the start.
fn plain_subject(subject: &str) -> String {
    subject
        .chars()
        .take(SUBJECT_CHARS)
        .collect::<String>()
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// How much of the subject the subject forms are looked for in.
const SUBJECT_CHARS: usize = 500;
/// How much of the new text the report markers are looked for in (a report says what it is
/// at the top; a copy of a whole huge text is not worth it).
const MARKER_CHARS: usize = 20_000;

/// A reply or forward prefix: the subject is then a person's, whatever follows.
fn has_reply_prefix(subject: &str) -> bool {
    crate::parse::subject::leading_prefix(subject).is_some()
}

/// The subject prefixes mail clients and servers put on automatic replies, in the languages
/// this mailbox receives (Outlook, Exchange, Lotus Notes, Apple Mail, Thunderbird, sieve).
const AUTO_REPLY_PREFIXES: &[&str] = &[
    "automatisk svar:",
    "automatiskt svar:",
    "autosvar:",
    "auto-svar:",
    "automatic reply:",
    "automatic response:",
    "automated reply:",
    "automated response:",
    "auto reply:",
    "auto-reply:",
    "autoreply:",
    "auto response:",
    "auto-response:",
    "autoresponse:",
    "out of office:",
    "out of the office:",
    "out of office reply:",
    "out of office autoreply:",
    "out of office auto reply:",
    "fraværende:",
    "fravær:",
    "fraværsmelding:",
    "ikke på kontoret:",
    "ikke til stede:",
    "ferie:",
    "på ferie:",
    "frånvarande:",
    "frånvaro:",
    "inte på kontoret:",
    "abwesend:",
    "abwesenheitsnotiz:",
    "abwesenheit:",
    "automatische antwort:",
    "autom. antwort:",
    "urlaub:",
    "vacation:",
    "on vacation:",
];

/// Absence words that make a whole subject (alone, or before a date or name: "Ferie uge
/// 30", "Out of office - back 5 August").
const ABSENCE_SUBJECTS: &[&str] = &[
    "out of office",
    "out of the office",
    "ikke på kontoret",
    "ikke til stede",
    "ferie",
    "på ferie",
    "fraværende",
    "fravær",
    "frånvarande",
    "inte på kontoret",
    "abwesend",
    "abwesenheitsnotiz",
    "nicht im büro",
    "urlaub",
    "on vacation",
    "automatisk svar",
    "automatiskt svar",
    "automatic reply",
    "auto reply",
    "autoreply",
];

/// Lotus Notes and friends: "Anne Hansen is out of the office."
const ABSENCE_PHRASES: &[&str] = &[
    "is out of the office",
    "is out of office",
    "ist außer haus",
    "ist nicht im büro",
    "er ikke på kontoret",
    "er ikke til stede",
    "är inte på kontoret",
];

/// Phrases in the subjects of non-delivery reports (Exchange, Postfix, Sendmail, qmail,
/// Exim, Notes, Gmail; Danish, English, Swedish, Norwegian, German).
const BOUNCE_SUBJECTS: &[&str] = &[
    "delivery failure",
    "delivery failed",
    "delivery has failed",
    "failed delivery",
    "delivery status notification",
    "delivery notification",
    "mail delivery warning",
    "mail delivery failed",
    "returned mail",
    "returning message to sender",
    "returned to sender",
    "undeliverable",
    "undelivered mail",
    "non-delivery",
    "nondeliverable",
    "failure notice",
    "could not send message",
    "warning: could not send message",
    "non remis",
    "unzustellbar",
    "nicht zustellbar",
    "übermittlungsstatusbenachrichtigung",
    "kan ikke leveres",
    "leveringsstatusmeddelelse",
    "olevererbart",
    "kunde inte levereras",
];

/// What a mail system writes in the text of a non-delivery report: words about mailboxes,
/// recipients and mail servers, never about a parcel that did not arrive.
const BOUNCE_MARKERS: &[&str] = &[
    "could not be delivered to",
    "couldn't be delivered to",
    "could not deliver message",
    "could not deliver mail",
    "delivery has failed to these recipients",
    "delivery to the following recipient",
    "following recipient",
    "following address",
    "failed recipient",
    "recipient address",
    "delivery attempts will continue",
    "permanent fatal error",
    "mail delivery software",
    "mail delivery system",
    "mail delivery subsystem",
    "this message was created automatically",
    "this is an automatically generated delivery",
    "mailbox unavailable",
    "mailbox is full",
    "mailbox full",
    "user unknown",
    "unknown user",
    "no such user",
    "final-recipient:",
    "diagnostic-code:",
    "reporting-mta:",
    "transcript of session",
    "original message follows",
    "remote host said",
    "smtp error",
    "mailer-daemon",
];

/// Subject prefixes of read receipts.
const READ_PREFIXES: &[&str] = &[
    "read:",
    "læst:",
    "gelesen:",
    "läst:",
    "lest:",
    "read receipt:",
    "return receipt",
    "læsekvittering",
    "lesebestätigung",
    "läskvitto",
];

/// What a read receipt written as plain text says.
const READ_MARKERS: &[&str] = &[
    "was read on",
    "was read at",
    "has been read",
    "has been displayed",
    "was displayed",
    "blev læst",
    "er blevet læst",
    "wurde gelesen",
    "wurde am",
    "lästes",
    "har lästs",
    "ble lest",
];

/// Words of an abuse complaint's subject (the complained-of mail attached).
const ABUSE_SUBJECTS: &[&str] = &[
    "abuse report",
    "spam report",
    "spam complaint",
    "abuse complaint",
    "complaint about message",
    "feedback report",
    "fbl report",
];

fn any_in(text: &str, words: &[&str]) -> bool {
    words.iter().any(|w| text.contains(w))
}

/// Vendor headers that mark an automatic reply.
fn has_vendor_auto_reply(a: &AutoHeaders) -> bool {
    let is_auto_precedence = |v: &str| {
        matches!(
            v.trim(),
            "auto_reply" | "auto-reply" | "autoreply" | "auto_response"
        )
    };
    a.precedence.as_deref().is_some_and(is_auto_precedence)
        || a.header("x-precedence").is_some_and(is_auto_precedence)
        || a.header("x-autogenerated")
            .is_some_and(|v| v.contains("reply"))
        || a.header("x-apple-action")
            .is_some_and(|v| v.contains("vacation"))
        || a.headers.iter().any(|(n, v)| {
            matches!(
                n.as_str(),
                "x-vacation" | "x-autoreply-from" | "x-ms-exchange-inbox-rules-loop"
            ) && v != "no"
        })
        || a.header("x-fc-machinegenerated") == Some("true")
        || a.header("delivered-to") == Some("autoresponder")
        || ["x-mailer", "x-post-messageclass"].iter().any(|h| {
            a.header(h)
                .is_some_and(|v| any_in(v, &["vacation", "autorespond", "autoreply", "auto-reply"]))
        })
}

/// A list manager's headers (Mailman, ezmlm, LISTSERV, Majordomo, SmartList).
fn has_list_manager_header(a: &AutoHeaders) -> bool {
    a.headers.iter().any(|(n, _)| {
        matches!(
            n.as_str(),
            "mailing-list"
                | "x-mailing-list"
                | "x-beenthere"
                | "x-listserver"
                | "x-list-administrivia"
                | "x-ml-name"
                | "x-listprocessor-version"
        ) || ["x-mailman-", "x-ezmlm-", "x-listserv"]
            .iter()
            .any(|p| n.starts_with(p))
    }) || a
        .header("x-precedence")
        .is_some_and(|v| matches!(v.trim(), "list" | "bulk"))
}

/// Spam flagged by a filter on the way in (SpamAssassin, rspamd, ...).
fn is_flagged_spam(a: &AutoHeaders) -> bool {
    ["x-spam-flag", "x-spam-status", "x-spam"]
        .iter()
        .any(|h| a.header(h).is_some_and(|v| v.starts_with("yes")))
        || a.header("x-precedence").is_some_and(|v| v.trim() == "junk")
}

/// A read receipt or an abuse report, by its MIME types.
fn is_report_by_type(mail: &Mail, forward: bool) -> bool {
    let a = &mail.auto;
    matches!(
        a.report_type.as_deref(),
        Some("disposition-notification" | "feedback-report")
    ) || a.has_part("message/disposition-notification")
        || a.has_part("message/global-disposition-notification")
        || a.has_part("message/feedback-report")
        || (!forward
            && a.inner_part_types
                .iter()
                .any(|t| t == "message/feedback-report"))
}

/// A non-delivery report by its MIME types or headers.
fn is_bounce_by_type(a: &AutoHeaders) -> bool {
    a.report
        || a.has("x-failed-recipients")
        || a.has_part("message/delivery-status")
        || a.has_part("message/global-delivery-status")
}

/// The judgements that need the subject and the text: each a subject form together with a
/// text that asks nothing (a person who writes "Out of office?" or asks a real question
/// under such a subject is answered), save a bounce phrase in the subject over a text that
/// carries a bounce report's markers, which is a bounce whatever the text asks.
fn by_subject_and_text(mail: &Mail, subject: &str, forward: bool) -> Option<SkipReason> {
    // The lowercased text is only wanted once a subject form matched: most mails match
    // none, so it is made on first use.
    let lowered = std::cell::OnceCell::new();
    let text = || -> &str {
        lowered.get_or_init(|| {
            mail.new_text
                .chars()
                .take(MARKER_CHARS)
                .collect::<String>()
                .to_lowercase()
        })
    };
    let asks_in_text = asks(&mail.new_text);
    let replied = has_reply_prefix(subject);

    if !asks_in_text
        && READ_PREFIXES.iter().any(|p| subject.starts_with(p))
        && any_in(text(), READ_MARKERS)
    {
        return Some(SkipReason::Report);
    }
    if !forward
        && !asks_in_text
        && any_in(subject, ABUSE_SUBJECTS)
        && mail.auto.has_part("message/rfc822")
    {
        return Some(SkipReason::Report);
    }
    // A report's subject begins with its phrase ("Undeliverable: ...", "Returned mail:
    // ..."); anywhere else the text must also read like a report.
    let bounce_start = BOUNCE_SUBJECTS.iter().any(|p| subject.starts_with(p));
    if (bounce_start && !asks_in_text)
        || (!forward && any_in(subject, BOUNCE_SUBJECTS) && any_in(text(), BOUNCE_MARKERS))
    {
        return Some(SkipReason::Bounce);
    }
    if !replied && !asks_in_text {
        if AUTO_REPLY_PREFIXES.iter().any(|p| subject.starts_with(p)) {
            return Some(SkipReason::AutoReply);
        }
        let whole = subject.trim_end_matches(|c: char| c.is_ascii_punctuation() || c == ' ');
        let absent = ABSENCE_SUBJECTS.iter().any(|w| {
            whole
                .strip_prefix(w)
                .is_some_and(|rest| rest.chars().next().is_none_or(|c| !c.is_alphanumeric()))
        }) || any_in(subject, ABSENCE_PHRASES);
        if absent && !asks(subject) {
            return Some(SkipReason::AutoReply);
        }
    }
    None
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
    let from_name = mail.from.as_ref().and_then(|a| a.name.as_deref());
    let ret = match &mail.return_path {
        ReturnPath::Address(a) => Some(a.as_str()),
        _ => None,
    };
    let sender = mail.auto.sender.as_deref();
    let subject = plain_subject(&mail.subject);
    let forward = crate::parse::subject::is_forward(&subject);
    if mail.auto.autosvar_marker
        || !mail.auto.x_loop.is_empty()
        || from.is_some_and(is_own)
        || is_own(&reply_to.email)
        || ret.is_some_and(is_own)
        || sender.is_some_and(is_own)
    {
        return Some(SkipReason::Loop);
    }
    if is_report_by_type(mail, forward) {
        return Some(SkipReason::Report);
    }
    if mail.return_path == ReturnPath::Null
        || is_bounce_by_type(&mail.auto)
        || from.is_some_and(is_bounce_sender)
        || ret.is_some_and(is_bounce_sender)
        || sender.is_some_and(is_bounce_sender)
        || from_name.is_some_and(is_bounce_name)
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
        || has_vendor_auto_reply(&mail.auto)
    {
        return Some(SkipReason::AutoReply);
    }
    let precedence = mail.auto.precedence.as_deref().map(str::trim);
    if mail.auto.list_header.is_some()
        || matches!(precedence, Some("list" | "bulk"))
        || has_list_manager_header(&mail.auto)
        || sender.is_some_and(is_list_address)
        || ret.is_some_and(is_list_address)
        || from.is_some_and(is_list_address)
    {
        return Some(SkipReason::List);
    }
    if precedence == Some("junk") || is_flagged_spam(&mail.auto) {
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
    if is_noreply(&reply_to.email) || from.is_some_and(is_noreply) || sender.is_some_and(is_noreply)
    {
        return Some(SkipReason::Noreply);
    }
    by_subject_and_text(mail, &subject, forward)
}

/// Whether a skipped mail was written by a machine rather than a person on a list or a
/// colleague writing from our own address: its text is then no question at all.
pub fn is_machine_generated(mail: &Mail, reason: Option<SkipReason>) -> bool {
    match reason {
        Some(
            SkipReason::Bounce
            | SkipReason::Report
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

/// The decision for a mail that passed [`guard`], given its classification: skipped when
/// the sender had a reply in this category within `period`, else a reply, or for a
/// doubtful classification the acknowledgement with any desk forward held.
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
    let desk = if classification.category == Category::Technical {
        classification.desk.clone()
    } else {
        None
    };
    if classification.doubtful {
        return Decision::Acknowledge { held: desk };
    }
    Decision::Reply { desk }
}

#[cfg(test)]
#[allow(clippy::string_slice, clippy::indexing_slicing)]
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

    /// A mail from a person's address with this subject and plain-text body.
    fn guard_of_text(subject: &str, body: &str) -> Option<SkipReason> {
        let raw = format!(
            "From: Bo <bo@regionh.example>\r\nReturn-Path: <bo@regionh.example>\r\nSubject: {subject}\r\nMessage-ID: <s@x>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
        );
        guard(&parse(raw.as_bytes(), Language::Da), &own())
    }

    /// A mail with this From and Return-Path (and the usual question).
    fn guard_of_sender(from: &str, ret: &str) -> Option<SkipReason> {
        let raw = format!(
            "From: {from}\r\nReturn-Path: {ret}\r\nSubject: Zoom\r\nMessage-ID: <s@x>\r\n\r\nHvad koster Zoom?\r\n"
        );
        guard(&parse(raw.as_bytes(), Language::Da), &own())
    }

    /// A multipart/mixed mail (not multipart/report) with one extra part of this type.
    fn guard_of_part(subject: &str, content_type: &str, part: &str) -> Option<SkipReason> {
        let raw = format!(
            "From: Bo <bo@regionh.example>\r\nReturn-Path: <bo@regionh.example>\r\nSubject: {subject}\r\nMessage-ID: <p@x>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n--b\r\nContent-Type: {content_type}\r\n\r\n{part}\r\n--b--\r\n"
        );
        guard(&parse(raw.as_bytes(), Language::Da), &own())
    }

    #[test]
    fn vendor_auto_reply_headers_are_refused() {
        for h in [
            "Precedence: auto_reply\r\n",
            "X-Precedence: auto_reply\r\n",
            "X-Autogenerated: Reply\r\n",
            "X-Apple-Action: VACATION/vacation\r\n",
            "X-Vacation: yes\r\n",
            "X-Autoreply-From: bo@regionh.example\r\n",
            "X-MS-Exchange-Inbox-Rules-Loop: bo@regionh.example\r\n",
            "X-Mailer: vacation 1.2.7\r\n",
            "X-POST-MessageClass: 9; Autoresponder\r\n",
            "X-FC-MachineGenerated: true\r\n",
            "Delivered-To: Autoresponder\r\n",
        ] {
            assert_eq!(guard_of(h), Some(SkipReason::AutoReply), "{h}");
        }
    }

    #[test]
    fn vendor_headers_that_say_no_or_forward_pass() {
        for h in [
            "X-Vacation: no\r\n",
            "X-Autogenerated: Forward\r\n",
            "X-Mailer: Microsoft Outlook 16.0\r\n",
            "X-Spam-Flag: NO\r\n",
            "X-Spam-Status: No, score=-1.0\r\n",
        ] {
            assert_eq!(guard_of(h), None, "{h}");
        }
    }

    #[test]
    fn list_managers_without_list_headers_are_refused() {
        for h in [
            "X-Mailman-Version: 2.1.39\r\n",
            "Mailing-List: contact zoom-help@lists.example; run by ezmlm\r\n",
            "X-Ezmlm-Command: zoom-subscribe\r\n",
            "X-Listserver: LISTSERV 16.5\r\n",
            "X-LISTSERV-Version: 16.5\r\n",
            "X-BeenThere: zoom@lists.example\r\n",
            "X-Mailing-List: <zoom@lists.example>\r\n",
            "Sender: owner-zoom@lists.example\r\n",
            "Sender: zoom-request@lists.example\r\n",
            "Sender: zoom-bounces@lists.example\r\n",
            "Sender: zoom-owner@lists.example\r\n",
        ] {
            assert_eq!(guard_of(h), Some(SkipReason::List), "{h}");
        }
        assert_eq!(
            guard_of_sender(
                "Bo <bo@regionh.example>",
                "<zoom-bounces+bo=x.example@lists.example>"
            ),
            Some(SkipReason::List)
        );
        assert_eq!(
            guard_of_sender("zoom-request@lists.example", "<bo@regionh.example>"),
            Some(SkipReason::List)
        );
    }

    #[test]
    fn spam_flagged_by_the_filter_is_junk() {
        for h in [
            "X-Spam-Flag: YES\r\n",
            "X-Spam-Status: Yes, score=9.1 required=5.0\r\n",
            "X-Spam: Yes\r\n",
        ] {
            assert_eq!(guard_of(h), Some(SkipReason::Junk), "{h}");
        }
    }

    #[test]
    fn failed_recipients_header_is_a_bounce() {
        assert_eq!(
            guard_of("X-Failed-Recipients: anne@x.example\r\n"),
            Some(SkipReason::Bounce)
        );
    }

    #[test]
    fn a_delivery_status_part_anywhere_is_a_bounce() {
        assert_eq!(
            guard_of_part(
                "Zoom",
                "message/delivery-status",
                "Reporting-MTA: dns; mx.x.example\r\n"
            ),
            Some(SkipReason::Bounce)
        );
    }

    #[test]
    fn mail_system_senders_are_bounces() {
        for from in [
            "post_master@x.example",
            "ndr@x.example",
            "prvs=126700a846=ndr@x.example",
            "<Postmaster\\@x.example@relay.example>",
            "Mailer_Daemon@x.example",
            "mailer-daemon.relay@x.example",
            "E500_SMTP_Mail_Service@x.example",
            "Symantec_AntiVirus_for_SMTP_Gateways@x.example",
            "MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@x.example",
            "Mail Delivery Subsystem <root@x.example>",
            "Mail Delivery System <m@x.example>",
            "Microsoft Outlook <outlook@x.example>",
        ] {
            assert_eq!(
                guard_of_sender(from, "<m@x.example>"),
                Some(SkipReason::Bounce),
                "{from}"
            );
        }
        // Names that merely contain such words are people.
        for from in [
            "Anne Postmark <anne.postmark@x.example>",
            "Ndrea Holm <ndrea@x.example>",
        ] {
            assert_eq!(guard_of_sender(from, "<a@x.example>"), None, "{from}");
        }
    }

    #[test]
    fn bounce_subjects_over_a_text_that_asks_nothing_are_bounces() {
        for subject in [
            "Delivery failure",
            "Delivery Status Notification (Failure)",
            "Returned mail: see transcript for details",
            "Undeliverable: Zoom",
            "Undelivered Mail Returned to Sender",
            "Unzustellbar: Zoom",
            "Kan ikke leveres: Zoom",
            "Olevererbart: Zoom",
            "failure notice",
            "Warning: could not send message for past 4 hours",
        ] {
            assert_eq!(
                guard_of_text(subject, "Your message to anne@x.example was returned."),
                Some(SkipReason::Bounce),
                "{subject}"
            );
        }
    }

    #[test]
    fn a_bounce_subject_with_report_markers_is_a_bounce_even_under_re() {
        assert_eq!(
            guard_of_text(
                "RE: Your message awaits approval : non remis (delivery failed)",
                "Your message could not be delivered to anne@x.example\r\nWhy? Remote host said: 550"
            ),
            Some(SkipReason::Bounce)
        );
    }

    #[test]
    fn a_person_writing_about_delivery_is_answered() {
        assert_eq!(
            guard_of_text("Undeliverable: Zoom", "Why do my Zoom invitations bounce?"),
            None
        );
        assert_eq!(
            guard_of_text(
                "Headset ikke leveret",
                "Vi bestilte 6 headsets, men de er ikke kommet endnu."
            ),
            None
        );
        assert_eq!(
            guard_of_text("Re: Undeliverable: Zoom", "Det virker stadig ikke."),
            None
        );
    }

    #[test]
    fn read_receipts_are_reports() {
        assert_eq!(
            guard_of_part(
                "Read: Zoom",
                "message/disposition-notification",
                "Final-Recipient: rfc822; bo@regionh.example\r\nDisposition: manual-action/MDN-sent-manually; displayed\r\n"
            ),
            Some(SkipReason::Report)
        );
        for (subject, body) in [
            ("Read: Zoom", "Your message was read on 3 May 2024 10:12."),
            ("Læst: Zoom", "Din meddelelse blev læst 3. maj 2024 10:12."),
            (
                "Gelesen: Zoom",
                "Ihre Nachricht wurde am 3. Mai 2024 gelesen.",
            ),
            ("Läst: Zoom", "Ditt meddelande lästes 3 maj 2024."),
            ("Lest: Zoom", "Meldingen din ble lest 3. mai 2024."),
        ] {
            assert_eq!(
                guard_of_text(subject, body),
                Some(SkipReason::Report),
                "{subject}"
            );
        }
        assert_eq!(
            guard_of_text("Read: the Zoom guide first", "It explains the licence."),
            None
        );
    }

    #[test]
    fn abuse_reports_are_reports() {
        let arf = "Feedback-Type: abuse\r\nUser-Agent: SomeGenerator/1.0\r\nVersion: 1\r\n";
        assert_eq!(
            guard_of_part("Zoom", "message/feedback-report", arf),
            Some(SkipReason::Report)
        );
        // A complaint wrapping the complained-of mail, which carries the ARF part.
        let wrapped = format!(
            "From: abuse@isp.example\r\nSubject: report\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=c\r\n\r\n--c\r\nContent-Type: message/feedback-report\r\n\r\n{arf}\r\n--c--\r\n"
        );
        assert_eq!(
            guard_of_part("Complaint", "message/rfc822", &wrapped),
            Some(SkipReason::Report)
        );
        assert_eq!(
            guard_of_part(
                "Abuse report",
                "message/rfc822",
                "From: x@y.example\r\nSubject: Cheap\r\n\r\nBuy\r\n"
            ),
            Some(SkipReason::Report)
        );
        // A person forwarding such a report asks about it.
        assert_eq!(
            guard_of_part("Fwd: Complaint", "message/rfc822", &wrapped),
            None
        );
    }

    #[test]
    fn auto_reply_subjects_over_a_text_that_asks_nothing_are_auto_replies() {
        let body = "Jeg er ikke på kontoret og er tilbage mandag. Henvendelser til Anne.";
        for subject in [
            "Automatisk svar: Zoom-licens",
            "Autosvar: Zoom-licens",
            "Automatic reply: Zoom licence",
            "Auto reply: Zoom licence",
            "Autoreply: Zoom licence",
            "Out of Office: Zoom licence",
            "Fraværende: Zoom-licens",
            "Frånvarande: Zoom-licens",
            "Automatiskt svar: Zoom-licens",
            "Abwesend: Zoom-Lizenz",
            "Abwesenheitsnotiz: Zoom-Lizenz",
            "Automatische Antwort: Zoom-Lizenz?",
            "Ikke på kontoret",
            "Ferie",
            "Ferie uge 30",
            "Out of office - back 5 August",
            "Anne Hansen is out of the office.",
        ] {
            assert_eq!(
                guard_of_text(subject, body),
                Some(SkipReason::AutoReply),
                "{subject}"
            );
        }
    }

    #[test]
    fn a_person_under_an_auto_reply_subject_who_asks_is_answered() {
        assert_eq!(
            guard_of_text("Automatic reply: Zoom", "Can I get a Zoom licence?"),
            None
        );
        assert_eq!(
            guard_of_text("Out of office?", "I am away next week."),
            None
        );
        assert_eq!(
            guard_of_text("Out of office next week - can I still get Zoom?", "Thanks."),
            None
        );
        assert_eq!(
            guard_of_text("Ferieplan for Zoom-kurser", "Vi holder lukket i uge 30."),
            None
        );
        assert_eq!(
            guard_of_text("SV: Automatisk svar: Zoom", "Tak for svaret."),
            None
        );
    }

    #[test]
    fn rate_limit_applies_within_the_period() {
        let c = Classification {
            category: Category::Technical,
            doubtful: false,
            desk: Some("cimt".into()),
            confidence: 0.9,
            raw_confidence: 0.9,
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

    #[test]
    fn a_doubtful_mail_is_acknowledged_with_its_forward_held() {
        let sure = Classification {
            category: Category::Technical,
            doubtful: false,
            desk: Some("kuit".into()),
            confidence: 0.4,
            raw_confidence: 0.4,
            secondary: None,
            sensitive: true,
            scores: vec![],
            hits: vec![],
        };
        let doubtful = Classification {
            doubtful: true,
            ..sure.clone()
        };
        let now = crate::clock::from_unix_seconds(1_000_000);
        let day = Duration::from_secs(86400);
        let none = History::default();
        assert_eq!(
            decide(&sure, &none, day, now),
            Decision::Reply {
                desk: Some("kuit".into())
            }
        );
        let acked = decide(&doubtful, &none, day, now);
        assert_eq!(
            acked,
            Decision::Acknowledge {
                held: Some("kuit".into())
            }
        );
        assert_eq!(acked.action(), Action::Reply);
        // Only a technical guess holds a forward.
        let pricing = Classification {
            category: Category::Pricing,
            ..doubtful.clone()
        };
        assert_eq!(
            decide(&pricing, &none, day, now),
            Decision::Acknowledge { held: None }
        );
        // The rate limit comes first, as for any reply.
        let recent = History {
            last_reply: Some(crate::clock::from_unix_seconds(1_000_000 - 60)),
        };
        assert_eq!(
            decide(&doubtful, &recent, day, now),
            Decision::Skip(SkipReason::RateLimited)
        );
    }
}
