//! The domain types every stage shares: [`Address`], [`Language`], [`Category`], the desk
//! keys ([`DeskKey`], [`DESKS`]), [`MessageId`], [`MailKey`], [`MessageKind`], [`Action`],
//! [`SkipReason`], [`Outgoing`], and [`fold`], the one way text is folded for matching.
//!
//! It sits below every stage and imports none of them: a type two stages hand each other
//! lives here, so `parse`, `classify` and `config` need not import each other for it. Pure
//! values only: no I/O, no clock, no parsing of mail (that is [`crate::parse`]'s).

// Addresses and ids come from hostile mail: no slicing or indexing that could panic on them.
#![deny(clippy::string_slice, clippy::indexing_slicing)]

use serde::Serialize;
use sha2::{Digest, Sha256};

/// A parsed e-mail address with an optional display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Address {
    pub name: Option<String>,
    pub email: String,
}

impl Address {
    /// Parses `Name <a@b>` or `a@b`. The name is taken as people write it in a config
    /// file (unquoted, commas and all; lettre quotes it when it writes a header); the
    /// address is checked by lettre, the same reading that later puts it into a message.
    pub fn parse(s: &str) -> Option<Address> {
        let s = s.trim();
        let (name, email) = match s.strip_suffix('>').and_then(|t| t.rsplit_once('<')) {
            Some((name, email)) => (name.trim().trim_matches('"').trim(), email.trim()),
            None => ("", s),
        };
        let email: lettre::Address = email.parse().ok()?;
        Some(Address {
            name: (!name.is_empty()).then(|| name.to_string()),
            email: email.to_string(),
        })
    }

    /// The domain part, lowercased.
    pub fn domain(&self) -> String {
        self.email
            .rsplit_once('@')
            .map(|(_, d)| d.to_ascii_lowercase())
            .unwrap_or_default()
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{n} <{}>", self.email),
            None => f.write_str(&self.email),
        }
    }
}

/// The languages replies are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Da,
    En,
}

impl Language {
    pub const ALL: [Language; 2] = [Language::Da, Language::En];

    pub fn code(self) -> &'static str {
        match self {
            Language::Da => "da",
            Language::En => "en",
        }
    }

    pub fn from_code(code: &str) -> Option<Language> {
        match code {
            "da" => Some(Language::Da),
            "en" => Some(Language::En),
            _ => None,
        }
    }
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// The languages a mail can be read as written in ([`crate::parse::language::detect`]).
/// Replies are only ever in a [`Language`]; [`Replies`] says which one answers which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Written {
    Da,
    En,
    Sv,
    /// Norwegian Bokmål.
    Nb,
    /// Norwegian Nynorsk.
    Nn,
    De,
    Fr,
    Nl,
    Es,
    It,
    Pl,
    Fi,
}

impl Written {
    /// The ISO 639-1 code.
    pub fn code(self) -> &'static str {
        match self {
            Written::Da => "da",
            Written::En => "en",
            Written::Sv => "sv",
            Written::Nb => "nb",
            Written::Nn => "nn",
            Written::De => "de",
            Written::Fr => "fr",
            Written::Nl => "nl",
            Written::Es => "es",
            Written::It => "it",
            Written::Pl => "pl",
            Written::Fi => "fi",
        }
    }

    /// Swedish or Norwegian: read by most Danes, and answered as [`Replies::nordic`] says.
    pub fn is_nordic(self) -> bool {
        matches!(self, Written::Sv | Written::Nb | Written::Nn)
    }
}

impl std::fmt::Display for Written {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// Which language answers a mail written in which: Danish in Danish, English in English,
/// Swedish and Norwegian in `nordic` (Danish unless configured), every other language in
/// `other` (English unless configured), and a mail whose language could not be told in
/// `default` (`[reply] default-language`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replies {
    pub default: Language,
    pub nordic: Language,
    pub other: Language,
}

impl Replies {
    /// The reply language for a mail written in `written` (`None`: not told).
    pub fn for_written(self, written: Option<Written>) -> Language {
        match written {
            None => self.default,
            Some(Written::Da) => Language::Da,
            Some(Written::En) => Language::En,
            Some(w) if w.is_nordic() => self.nordic,
            Some(_) => self.other,
        }
    }
}

/// The shipped policy with `default` for mail whose language could not be told.
impl From<Language> for Replies {
    fn from(default: Language) -> Self {
        Replies {
            default,
            nordic: Language::Da,
            other: Language::En,
        }
    }
}

/// What a mail is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Pricing,
    Terms,
    Eligibility,
    Technical,
    Other,
}

/// The desks technical mail can be routed to.
pub const DESKS: &[&str] = &["cimt", "kuit"];

/// The key of a support desk (`cimt`, `kuit`): what the classifier answers for technical
/// mail, the ledger records, and `[desks.KEY]` in `config.toml` is looked up by. A key, not a
/// checked member of [`DESKS`]: `rules.toml` may score more desks than `config.toml` names,
/// and a desk with no address gets no forward, as before. Serialised, shown and debug-printed
/// as its text (`"cimt"`), as when it was a `String`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct DeskKey(String);

impl DeskKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for DeskKey {
    fn from(key: &str) -> DeskKey {
        DeskKey(key.to_string())
    }
}

impl From<String> for DeskKey {
    fn from(key: String) -> DeskKey {
        DeskKey(key)
    }
}

impl From<DeskKey> for String {
    fn from(key: DeskKey) -> String {
        key.0
    }
}

/// So a map keyed by desk is looked up by text too (`desks["cimt"]`).
impl std::borrow::Borrow<str> for DeskKey {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for DeskKey {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DeskKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl std::fmt::Display for DeskKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Category {
    pub const ALL: [Category; 5] = [
        Category::Pricing,
        Category::Terms,
        Category::Eligibility,
        Category::Technical,
        Category::Other,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Category::Pricing => "pricing",
            Category::Terms => "terms",
            Category::Eligibility => "eligibility",
            Category::Technical => "technical",
            Category::Other => "other",
        }
    }

    pub fn from_name(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.name() == s)
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A Message-ID without angle brackets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct MessageId(String);

impl MessageId {
    /// Wraps an id, stripping surrounding angle brackets and whitespace.
    pub fn new(id: &str) -> MessageId {
        MessageId(
            id.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string(),
        )
    }

    /// An id as the ledger stored it (from [`MessageId::as_str`]), taken as it is.
    pub fn from_stored(id: String) -> MessageId {
        MessageId(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as it goes into a header: `<id>`.
    pub fn bracketed(&self) -> String {
        format!("<{}>", self.0)
    }
}

impl std::fmt::Display for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the ledger knows a mail by: its Message-ID, or a hash of its bytes when it has none.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct MailKey(String);

impl MailKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn from_stored(s: String) -> MailKey {
        MailKey(s)
    }

    /// The key of raw bytes that have no usable Message-ID.
    pub fn of_bytes(bytes: &[u8]) -> MailKey {
        MailKey(format!("sha256:{}", hex(&Sha256::digest(bytes))))
    }

    /// The Message-ID part of a key made by `MailKey::of_message` (in [`crate::parse`]) (what ledgers written
    /// before the digest was added know the mail by).
    pub fn message_id_part(&self) -> Option<&str> {
        self.0.rsplit_once('#').map(|(id, _)| id)
    }
}

impl std::fmt::Display for MailKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The first `n` bytes of a digest in hex.
pub(crate) fn hex_prefix(bytes: &[u8], n: usize) -> String {
    hex(bytes.get(..n).unwrap_or(bytes))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// What autosvar sent for a mail: a reply to the sender, or a forward to a desk. Stored in
/// the ledger as the text `reply` / `forward`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    Reply,
    Forward,
}

impl MessageKind {
    /// The name the ledger stores and logs show: `reply` or `forward`.
    pub fn name(self) -> &'static str {
        match self {
            MessageKind::Reply => "reply",
            MessageKind::Forward => "forward",
        }
    }

    pub fn from_name(s: &str) -> Option<MessageKind> {
        match s {
            "reply" => Some(MessageKind::Reply),
            "forward" => Some(MessageKind::Forward),
            _ => None,
        }
    }
}

impl std::fmt::Display for MessageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a mail gets no reply. The names are what the ledger, logs and `classify --json` show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    /// Unparseable, or no address to answer.
    Malformed,
    /// From us, carrying our marker, or X-Loop: answering would loop.
    Loop,
    /// A non-delivery report: null Return-Path, a delivery-status part, X-Failed-Recipients,
    /// a mail-system sender (MAILER-DAEMON, postmaster, ...) or display name ("Mail Delivery
    /// Subsystem"), a subject that opens with a bounce phrase over a text that asks nothing,
    /// or a bounce phrase in the subject over a text with a bounce report's markers.
    Bounce,
    /// A read receipt or an abuse report: by its part (disposition notification, ARF
    /// feedback report) or by its subject over a text that asks nothing (a read-receipt
    /// subject with a receipt's wording; an abuse subject with the reported mail attached).
    Report,
    /// Auto-Submitted other than "no", a vendor auto-reply header, or an auto-reply subject
    /// over a text that asks nothing.
    AutoReply,
    /// List-* headers, Precedence: list/bulk, a list manager's header or sender.
    List,
    /// Precedence: junk, or spam flagged by the filter.
    Junk,
    /// X-Auto-Response-Suppress: All, AutoReply or OOF.
    Suppress,
    /// A no-reply sender address.
    Noreply,
    /// This sender already got a reply in this category within the period.
    RateLimited,
    /// Older than the configured maximum age when first seen.
    Old,
    /// Unknown to the ledger, but the mailbox shows it answered or handled by autosvar
    /// (`\\Answered`, `$AutosvarReplied`, ...): the ledger was lost or is new.
    AlreadyHandled,
}

impl SkipReason {
    pub const ALL: [SkipReason; 12] = [
        SkipReason::Malformed,
        SkipReason::Loop,
        SkipReason::Bounce,
        SkipReason::Report,
        SkipReason::AutoReply,
        SkipReason::List,
        SkipReason::Junk,
        SkipReason::Suppress,
        SkipReason::Noreply,
        SkipReason::RateLimited,
        SkipReason::Old,
        SkipReason::AlreadyHandled,
    ];

    pub fn from_name(s: &str) -> Option<SkipReason> {
        SkipReason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Malformed => "malformed",
            SkipReason::Loop => "loop",
            SkipReason::Bounce => "bounce",
            SkipReason::Report => "report",
            SkipReason::AutoReply => "auto-reply",
            SkipReason::List => "list",
            SkipReason::Junk => "junk",
            SkipReason::Suppress => "suppress",
            SkipReason::Noreply => "noreply",
            SkipReason::RateLimited => "rate-limited",
            SkipReason::Old => "old",
            SkipReason::AlreadyHandled => "already-handled",
        }
    }
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What was done with a mail, as the ledger records it: answered (and, for technical mail,
/// forwarded), or skipped with a [`SkipReason`]. Stored as the text `reply` / `skip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Reply,
    Skip,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Reply => "reply",
            Action::Skip => "skip",
        }
    }

    pub fn from_name(s: &str) -> Option<Action> {
        match s {
            "reply" => Some(Action::Reply),
            "skip" => Some(Action::Skip),
            _ => None,
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A finished message and where it goes: what [`crate::render::compose`] builds, the ledger
/// keeps until it is delivered, and [`crate::deliver`] sends.
/// Where a mail came from: its place in the mailbox autosvar read it from. Logs, the ledger
/// and `autosvar release` show it as text, `mailbox/id`; the daemon uses the typed value to
/// find the mail again (an IMAP UID is a number here, never parsed out of a log line).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// A message in an IMAP folder (`mailbox` is `user@host/folder`). A UID means something
    /// only with its folder's UIDVALIDITY.
    Imap {
        mailbox: String,
        uid_validity: u32,
        uid: u32,
    },
    /// A file in a Maildir's `new/` (`mailbox` is the Maildir's path).
    File { mailbox: String, name: String },
}

impl Source {
    /// The value of the text [`Source`]'s `Display` writes (and ledgers hold):
    /// `user@host/folder;uidvalidity=V/UID` or `maildir/name`. Text that is neither (a
    /// ledger row written by hand) is kept as a file name, so it still shows as it was.
    pub fn from_stored(text: &str) -> Source {
        let imap = text.rsplit_once('/').and_then(|(head, uid)| {
            let (mailbox, validity) = head.rsplit_once(";uidvalidity=")?;
            Some(Source::Imap {
                mailbox: mailbox.to_string(),
                uid_validity: validity.parse().ok()?,
                uid: uid.parse().ok()?,
            })
        });
        imap.unwrap_or_else(|| match text.rsplit_once('/') {
            Some((mailbox, name)) => Source::File {
                mailbox: mailbox.to_string(),
                name: name.to_string(),
            },
            None => Source::File {
                mailbox: String::new(),
                name: text.to_string(),
            },
        })
    }

    /// The UID, when this is a message of `mailbox` (`user@host/folder`) as it is numbered
    /// under `uid_validity`.
    pub fn uid_in(&self, mailbox: &str, uid_validity: u32) -> Option<u32> {
        match self {
            Source::Imap {
                mailbox: m,
                uid_validity: v,
                uid,
            } if m == mailbox && *v == uid_validity => Some(*uid),
            _ => None,
        }
    }

    /// The file name, for a Maildir mail.
    pub fn file_name(&self) -> Option<&str> {
        match self {
            Source::File { name, .. } => Some(name),
            Source::Imap { .. } => None,
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Imap {
                mailbox,
                uid_validity,
                uid,
            } => write!(f, "{mailbox};uidvalidity={uid_validity}/{uid}"),
            Source::File { mailbox, name } if mailbox.is_empty() => f.write_str(name),
            Source::File { mailbox, name } => write!(f, "{mailbox}/{name}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub message_id: MessageId,
    pub kind: MessageKind,
    /// The envelope recipient.
    pub to: String,
    pub bytes: Vec<u8>,
}

/// Lowercases and folds letters that are spelt two ways.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        match c {
            'æ' | 'ä' => out.push_str("ae"),
            'ø' | 'ö' => out.push_str("oe"),
            'å' => out.push_str("aa"),
            'é' | 'è' | 'ê' => out.push('e'),
            'ü' => out.push('u'),
            'á' | 'à' => out.push('a'),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_parsing() {
        let a = Address::parse("\"E-learning, HR\" <e@x.test>").unwrap();
        assert_eq!(a.name.as_deref(), Some("E-learning, HR"));
        assert_eq!(a.email, "e@x.test");
        assert!(Address::parse("not an address").is_none());
        assert!(Address::parse("a@b@c").is_none());
        let a = Address::parse("E-learning, Center for HR <e@x.test>").unwrap();
        assert_eq!(a.name.as_deref(), Some("E-learning, Center for HR"));
        assert!(Address::parse("Name <not an address>").is_none());
        assert!(Address::parse("<e@x.test> trailing").is_none());
    }

    #[test]
    fn skip_reason_and_action_names_round_trip() {
        for r in SkipReason::ALL {
            assert_eq!(SkipReason::from_name(r.as_str()), Some(r));
        }
        for a in [Action::Reply, Action::Skip] {
            assert_eq!(Action::from_name(a.name()), Some(a));
        }
        assert_eq!(SkipReason::from_name("reply"), None);
    }

    #[test]
    fn message_kind_names_round_trip() {
        for k in [MessageKind::Reply, MessageKind::Forward] {
            assert_eq!(MessageKind::from_name(k.name()), Some(k));
        }
        assert_eq!(MessageKind::from_name("other"), None);
    }

    #[test]
    fn a_source_reads_back_as_it_was_written() {
        let imap = Source::Imap {
            mailbox: "hr@example.org/INBOX/Sub".into(),
            uid_validity: 7,
            uid: 42,
        };
        let text = imap.to_string();
        assert_eq!(text, "hr@example.org/INBOX/Sub;uidvalidity=7/42");
        assert_eq!(Source::from_stored(&text), imap);
        assert_eq!(imap.uid_in("hr@example.org/INBOX/Sub", 7), Some(42));
        assert_eq!(imap.uid_in("hr@example.org/INBOX/Sub", 8), None);
        assert_eq!(imap.uid_in("hr@example.org/INBOX", 7), None);
        let file = Source::File {
            mailbox: "/var/mail/hr".into(),
            name: "1700000000.M1P2.host:2,".into(),
        };
        assert_eq!(Source::from_stored(&file.to_string()), file);
        assert_eq!(file.file_name(), Some("1700000000.M1P2.host:2,"));
        // Neither shape: kept whole, shown as it was.
        for odd in ["new/1", "x;uidvalidity=z/1", "loose", ""] {
            assert_eq!(Source::from_stored(odd).to_string(), odd);
        }
    }
}
