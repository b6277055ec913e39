//! Parse: raw bytes -> [`Mail`], the facts every later stage needs.
//!
//! MIME decoding (any charset, quoted-printable, base64, RFC 2047, HTML-only mail,
//! attachments, forwarded `message/rfc822`) is mail-parser's; this module picks out the
//! sender, threading ids, the headers that mark machine mail, and the new text (see
//! [`strip`]) in the detected language. For the sensitive scan it also gathers, within
//! [`MAX_SCAN_BYTES`], the text of every part and the header text a person wrote
//! ([`Mail::full_text`], [`Mail::header_text`]). Pure: no I/O, no clock. It never fails on garbage:
//! what cannot be parsed becomes a [`Mail`] with `malformed` set, so it is recorded and left
//! for a human rather than crashing anything.

// Every byte of a mail is hostile: no slicing or indexing that could panic on it.
#![deny(clippy::string_slice, clippy::indexing_slicing)]

pub mod language;
pub mod ours;
pub mod repair;
pub mod strip;
pub mod subject;

use mail_parser::{HeaderValue, MessageParser, MimeHeaders, PartType};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub(crate) use crate::types::{hex, hex_prefix};
pub use crate::types::{Address, Language, MailKey, MessageId, Replies, Written};

/// How much of the body goes into a key's digest: enough to tell mails apart, and within
/// what IMAP fetches of even the largest mail, so a mail's key never depends on its size.
const KEY_BODY_BYTES: usize = 64 * 1024;

// `MailKey` is defined in `crate::types`; the key of a mail with a Message-ID is made here,
// where the end of its header is known (`repair::header_end`), so types imports no stage.
impl MailKey {
    /// The key of a mail with a Message-ID: the id plus a digest of the sender and the
    /// start of the body, so two different mails that share an id (a careless script, a
    /// hostile sender) are two mails, while one mail seen twice (a redelivery with other
    /// `Received:` lines, an IMAP copy, CRLF or LF line ends) is still one.
    pub fn of_message(id: &MessageId, from: Option<&Address>, bytes: &[u8]) -> MailKey {
        let mut h = Sha256::new();
        if let Some(a) = from {
            h.update(a.email.trim().to_lowercase().as_bytes());
        }
        h.update([0]);
        let body_start = repair::header_end(bytes).map_or(bytes.len(), |(_, b)| b);
        let body = bytes.get(body_start..).unwrap_or_default();
        let body = body.get(..KEY_BODY_BYTES).unwrap_or(body);
        for chunk in body.split(|&b| b == b'\r') {
            h.update(chunk);
        }
        MailKey::from_stored(format!("{}#{}", id.as_str(), hex_prefix(&h.finalize(), 8)))
    }
}

/// The envelope sender as the receiving server recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ReturnPath {
    /// No Return-Path header (e.g. a mail not yet delivered).
    Missing,
    /// `Return-Path: <>`: a bounce or other machine mail (RFC 3834 §2).
    Null,
    Address(String),
}

/// The headers that tell machine mail from a person's (RFC 3834, RFC 2369, RFC 2919 and
/// what mail systems use in practice). Raw values, lowercased; `decide` judges them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AutoHeaders {
    pub auto_submitted: Option<String>,
    pub precedence: Option<String>,
    /// The name of the first `List-*` header present, if any.
    pub list_header: Option<String>,
    pub x_auto_response_suppress: Option<String>,
    /// `X-Autoreply`, `X-Autorespond`, `X-Auto-Reply` or similar is present.
    pub x_autoreply: bool,
    pub x_loop: Vec<String>,
    /// `X-Autosvar-Category`: this mail came from an autosvar.
    pub autosvar_marker: bool,
    /// The top-level type is multipart/report (a DSN or MDN).
    pub report: bool,
    /// `Sender`, lowercased.
    pub sender: Option<String>,
    /// The `report-type` of a top-level multipart/report (`delivery-status`,
    /// `disposition-notification`, `feedback-report`), lowercased.
    pub report_type: Option<String>,
    /// Every top-level header as (name, value), both lowercased, the value unfolded: the
    /// vendor marks (`X-Mailman-Version`, `X-Failed-Recipients`, `X-Spam-Flag`, ...) that
    /// `decide` judges. At most [`MAX_HEADERS`] headers, each value cut to
    /// [`MAX_HEADER_VALUE`] characters before it is lowercased (a few characters, such as
    /// 'İ', lowercase to two).
    pub headers: Vec<(String, String)>,
    /// The content types (`type/subtype`, lowercased, each once) of this mail's own MIME
    /// parts, not of messages attached to it. At most [`MAX_PART_TYPES`].
    pub part_types: Vec<String>,
    /// The content types of the parts of attached `message/rfc822` mails (three levels).
    pub inner_part_types: Vec<String>,
}

/// How many top-level headers [`AutoHeaders::headers`] keeps.
pub const MAX_HEADERS: usize = 200;
/// How many characters of a header's value [`AutoHeaders::headers`] keeps.
pub const MAX_HEADER_VALUE: usize = 300;
/// How many content types [`AutoHeaders::part_types`] and `inner_part_types` keep.
pub const MAX_PART_TYPES: usize = 64;

impl AutoHeaders {
    /// The value of the first top-level header with this (lowercase) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether a top-level header with this (lowercase) name is present.
    pub fn has(&self, name: &str) -> bool {
        self.headers.iter().any(|(n, _)| n == name)
    }

    /// Whether this mail's own MIME tree has a part of this (lowercase) type.
    pub fn has_part(&self, content_type: &str) -> bool {
        self.part_types.iter().any(|t| t == content_type)
    }
}

/// Every top-level header, name and unfolded value lowercased, bounded (see
/// [`AutoHeaders::headers`]).
fn header_pairs(msg: &mail_parser::Message<'_>) -> Vec<(String, String)> {
    msg.headers()
        .iter()
        .take(MAX_HEADERS)
        .map(|h| {
            let start = h.offset_start() as usize;
            let end = (h.offset_end() as usize).min(start.saturating_add(MAX_HEADER_VALUE * 4));
            let raw = msg.raw_message.get(start..end).unwrap_or_default();
            let value = String::from_utf8_lossy(raw)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .chars()
                .take(MAX_HEADER_VALUE)
                .collect::<String>()
                .to_lowercase();
            (h.name().to_ascii_lowercase(), value)
        })
        .collect()
}

/// Adds the content types of one message's own parts to `out` (each once, bounded).
fn own_part_types(msg: &mail_parser::Message<'_>, out: &mut Vec<String>) {
    for part in &msg.parts {
        if out.len() >= MAX_PART_TYPES {
            return;
        }
        if let Some(ct) = part.content_type() {
            let t =
                format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or_default()).to_ascii_lowercase();
            if !out.contains(&t) {
                out.push(t);
            }
        }
    }
}

/// Adds the content types of the parts of every attached message, three levels deep.
fn attached_part_types(msg: &mail_parser::Message<'_>, depth: usize, out: &mut Vec<String>) {
    for part in &msg.parts {
        if let PartType::Message(inner) = &part.body {
            own_part_types(inner, out);
            if depth < 3 {
                attached_part_types(inner, depth + 1, out);
            }
        }
    }
}

/// A parsed mail: everything the later stages need, nothing they must not see.
#[derive(Debug, Clone, Serialize)]
pub struct Mail {
    pub key: MailKey,
    pub message_id: Option<MessageId>,
    pub from: Option<Address>,
    pub reply_to: Option<Address>,
    pub return_path: ReturnPath,
    pub subject: String,
    /// Unix seconds from the Date header.
    pub date: Option<i64>,
    /// References then In-Reply-To of this mail (for threading our reply).
    pub references: Vec<MessageId>,
    pub auto: AutoHeaders,
    /// What the sender wrote this time, without quotes, signatures or disclaimers.
    pub new_text: String,
    /// Of [`Mail::new_text`], only what the sender wrote themselves: no forwarded mail, no
    /// attached mail (empty for a bare forward). The sender's language is read here first.
    pub own_text: String,
    /// Every text part, decoded: text/plain, text/html as text, every alternative that says
    /// something the others do not, text attachments, forwarded mails; at most
    /// [`MAX_SCAN_BYTES`]. The sensitive scan reads it, and a desk gets it (redacted) when
    /// the original cannot be attached.
    pub full_text: String,
    /// Header text a person wrote, one item a paragraph: display names (From, Reply-To,
    /// Sender, To, Cc), comments, keywords, attachment file names, and the subjects and names
    /// of forwarded mails. Scanned for CPR numbers; never sent anywhere.
    pub header_text: String,
    /// Every text part and header above was read whole (nothing cut at the bounds).
    pub scan_complete: bool,
    /// The language the sender's own words are written in; `None` when it could not be told.
    pub written: Option<Written>,
    /// The language the reply is written in: from `written` by the [`Replies`] policy.
    pub language: Language,
    pub attachments: usize,
    /// mail-parser could not make sense of it, or it has no sender.
    pub malformed: bool,
}

impl Mail {
    /// The code of the language the mail is written in (`"sv"`), or of the reply language
    /// when that could not be told.
    pub fn written_code(&self) -> &'static str {
        self.written.map_or(self.language.code(), Written::code)
    }

    /// Who a reply goes to: Reply-To, else From.
    pub fn reply_address(&self) -> Option<&Address> {
        self.reply_to.as_ref().or(self.from.as_ref())
    }
}

fn first_addr(a: Option<&mail_parser::Address<'_>>) -> Option<Address> {
    let a = a?.first()?;
    let email = a.address()?.trim().to_string();
    if !email.contains('@') {
        return None;
    }
    let name = a
        .name()
        .map(|n| n.trim().trim_matches('"').trim().to_string())
        .filter(|n| !n.is_empty() && !n.eq_ignore_ascii_case(&email));
    Some(Address { name, email })
}

fn header_text(msg: &mail_parser::Message<'_>, name: &str) -> Option<String> {
    let v = match msg.header(name)? {
        HeaderValue::Text(t) => t.to_string(),
        HeaderValue::TextList(l) => l.join(" "),
        HeaderValue::Address(a) => a
            .iter()
            .filter_map(|x| x.address())
            .collect::<Vec<_>>()
            .join(" "),
        _ => msg.header_raw(name)?.trim().to_string(),
    };
    Some(v.trim().to_lowercase())
}

fn ids(v: &HeaderValue<'_>) -> Vec<MessageId> {
    match v {
        HeaderValue::Text(t) => vec![MessageId::new(t)],
        HeaderValue::TextList(l) => l.iter().map(|t| MessageId::new(t)).collect(),
        _ => Vec::new(),
    }
}

/// New text of one message: its text body (HTML converted), then any forwarded
/// `message/rfc822` parts, each as the new text only (see [`strip`]); and, apart, the
/// sender's own words in the body alone ([`Mail::own_text`]: no forwarded or attached
/// mail). The body is read and cut once for both.
fn message_text(msg: &mail_parser::Message<'_>, depth: usize) -> (String, String) {
    let body = msg.body_text(0).map(|b| b.into_owned()).unwrap_or_default();
    let forward = msg.subject().is_some_and(subject::is_forward);
    // Our own earlier answer, pasted back, is not the sender's.
    let ours = ours::Ours::shipped();
    let parts = strip::parts_of(&body, forward).map(|t| ours.cut(t).into_owned());
    let own = parts.own.clone();
    let mut text = parts.joined();
    if depth < 3 {
        for part in msg.attachments() {
            if let PartType::Message(inner) = &part.body {
                let (inner_text, _) = message_text(inner, depth + 1);
                if !inner_text.trim().is_empty() {
                    if let Some(s) = inner.subject() {
                        text.push_str("\n\n");
                        text.push_str(s);
                    }
                    text.push_str("\n\n");
                    text.push_str(&inner_text);
                }
            }
        }
    }
    (text, own)
}

/// At most this many bytes of decoded text are gathered for [`Mail::full_text`], and a
/// quarter of it for [`Mail::header_text`]; the rest of a larger mail is not scanned (and
/// [`Mail::scan_complete`] says so). IMAP hands over only 256 KB of a large mail anyway.
pub const MAX_SCAN_BYTES: usize = 512 * 1024;

/// How deep forwarded mails inside forwarded mails are read.
const MAX_NESTING: usize = 3;

/// File names of attachments that are text whatever their declared type (a `.csv` sent as
/// `application/octet-stream`, a `.txt` as `application/x-download`).
const TEXT_EXTENSIONS: &[&str] = &[
    "txt", "csv", "tsv", "text", "log", "md", "json", "xml", "htm", "html", "ics", "vcf", "rtf",
    "eml",
];

/// Gathers the text the sensitive scan reads, within [`MAX_SCAN_BYTES`].
struct Gathered {
    body: String,
    headers: String,
    /// Normalised texts already taken: a text/html alternative that says what the
    /// text/plain part said is not taken twice.
    seen: std::collections::HashSet<String>,
    complete: bool,
}

impl Gathered {
    /// Everything the sensitive scan reads of `msg` (see [`Gathered::message`]).
    fn from_message(msg: &mail_parser::Message<'_>) -> Gathered {
        let mut gathered = Gathered {
            body: String::new(),
            headers: String::new(),
            seen: std::collections::HashSet::new(),
            complete: true,
        };
        gathered.message(msg, 0);
        gathered
    }

    fn push(into: &mut String, text: &str, limit: usize, complete: &mut bool) {
        let room = limit.saturating_sub(into.len());
        if text.len() > room {
            *complete = false;
        }
        let mut end = room.min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        if let Some(t) = text.get(..end) {
            if !t.trim().is_empty() {
                if !into.is_empty() {
                    into.push_str("\n\n");
                }
                into.push_str(t);
            }
        }
    }

    fn body_text(&mut self, text: &str) {
        let key: String = text
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        if key.is_empty() || !self.seen.insert(key) {
            return;
        }
        Gathered::push(&mut self.body, text, MAX_SCAN_BYTES, &mut self.complete);
    }

    fn header(&mut self, text: &str) {
        Gathered::push(
            &mut self.headers,
            text.trim(),
            MAX_SCAN_BYTES / 4,
            &mut self.complete,
        );
    }

    fn addresses(&mut self, a: Option<&mail_parser::Address<'_>>) {
        for addr in a.into_iter().flat_map(|a| a.iter()) {
            if let Some(n) = addr.name() {
                self.header(n);
            }
        }
    }

    /// Every text part of `msg` in order (text/plain, text/html as text, every alternative,
    /// text attachments, forwarded mails to [`MAX_NESTING`]), and the header text a person
    /// wrote: subject (of forwarded mails; the mail's own is [`Mail::subject`]), display
    /// names, comments, keywords and attachment file names.
    fn message(&mut self, msg: &mail_parser::Message<'_>, depth: usize) {
        self.message_headers(msg, depth);
        for part in &msg.parts {
            if self.body.len() >= MAX_SCAN_BYTES {
                self.complete = false;
                break;
            }
            self.part(part, depth);
        }
    }

    /// The header text a person wrote in one message (see [`Gathered::message`]).
    fn message_headers(&mut self, msg: &mail_parser::Message<'_>, depth: usize) {
        if depth > 0 {
            if let Some(s) = msg.subject() {
                self.header(s);
            }
        }
        for a in [msg.from(), msg.reply_to(), msg.sender(), msg.to(), msg.cc()] {
            self.addresses(a);
        }
        for v in [msg.comments(), msg.keywords()] {
            match v {
                HeaderValue::Text(t) => self.header(t),
                HeaderValue::TextList(l) => l.iter().for_each(|t| self.header(t)),
                _ => {}
            }
        }
    }

    /// One MIME part of a message at `depth`: its file name, and its text if it has any.
    fn part(&mut self, part: &mail_parser::MessagePart<'_>, depth: usize) {
        let name = part.attachment_name();
        if let Some(n) = name {
            self.header(n);
        }
        // Never more than a few times what still fits is converted or decoded.
        let room = MAX_SCAN_BYTES
            .saturating_sub(self.body.len())
            .saturating_mul(4);
        match &part.body {
            PartType::Text(t) => self.body_text(t),
            PartType::Html(h) => {
                let h = prefix(h, room, &mut self.complete);
                self.body_text(&mail_parser::decoders::html::html_to_text(h));
            }
            PartType::Binary(b) | PartType::InlineBinary(b) => {
                if is_text_part(part, name) {
                    let end = b.len().min(room);
                    if end < b.len() {
                        self.complete = false;
                    }
                    let bytes = b.get(..end).unwrap_or_default();
                    self.body_text(&String::from_utf8_lossy(bytes));
                }
            }
            PartType::Message(inner) => {
                if depth < MAX_NESTING {
                    self.message(inner, depth + 1);
                } else {
                    self.complete = false;
                }
            }
            PartType::Multipart(_) => {}
        }
    }
}

/// Whether a part mail-parser left as bytes is text: a `text/*` or `message/*` type, or a
/// file name ending in one of [`TEXT_EXTENSIONS`].
fn is_text_part(part: &mail_parser::MessagePart<'_>, name: Option<&str>) -> bool {
    part.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("text") || ct.ctype().eq_ignore_ascii_case("message")
    }) || name.is_some_and(|n| {
        n.rsplit_once('.')
            .is_some_and(|(_, ext)| TEXT_EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(ext)))
    })
}

/// The first `max` bytes of `s` at most, cut at a char boundary.
fn prefix<'a>(s: &'a str, max: usize, complete: &mut bool) -> &'a str {
    if s.len() <= max {
        return s;
    }
    *complete = false;
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

/// Parses raw mail bytes. Never fails: unparseable input comes back `malformed`.
///
/// The steps: repair the bytes mail-parser would misread ([`repair`]), parse the MIME
/// tree, then pick out who sent it and how to thread a reply, the headers that mark
/// machine mail, the new text, the text the sensitive scan reads, and the language.
pub fn parse(bytes: &[u8], replies: impl Into<Replies>) -> Mail {
    let replies: Replies = replies.into();
    let repaired = repair::normalise(bytes);
    let bytes: &[u8] = &repaired;
    let Some(msg) = MessageParser::default().parse(bytes) else {
        return malformed(bytes, replies.default);
    };
    let message_id = message_id_of(&msg);
    let from = first_addr(msg.from());
    let reply_to = first_addr(msg.reply_to());
    let subject = msg.subject().unwrap_or_default().trim().to_string();
    let (new_text, own_text) = message_text(&msg, 0);
    let scanned = Gathered::from_message(&msg);
    let written = written_in(&subject, &own_text, &new_text, &scanned.body);
    Mail {
        key: key_of(message_id.as_ref(), from.as_ref(), bytes),
        message_id,
        malformed: from.is_none() && reply_to.is_none(),
        from,
        reply_to,
        return_path: return_path_of(&msg),
        date: msg.date().map(|d| d.to_timestamp()),
        references: references_of(&msg),
        auto: auto_headers(&msg),
        written,
        language: replies.for_written(written),
        subject,
        new_text,
        own_text,
        full_text: scanned.body,
        header_text: scanned.headers,
        scan_complete: scanned.complete,
        attachments: msg.attachment_count(),
    }
}

/// The Message-ID, if there is one that is not empty.
fn message_id_of(msg: &mail_parser::Message<'_>) -> Option<MessageId> {
    msg.message_id()
        .map(MessageId::new)
        .filter(|id| !id.as_str().is_empty())
}

/// The ledger's key: the Message-ID with a digest of sender and body start, or, without
/// an id, a digest of the (repaired) bytes.
fn key_of(message_id: Option<&MessageId>, from: Option<&Address>, bytes: &[u8]) -> MailKey {
    match message_id {
        Some(id) => MailKey::of_message(id, from, bytes),
        None => MailKey::of_bytes(bytes),
    }
}

/// The envelope sender the receiving server recorded: missing, null (`<>`) or an address.
fn return_path_of(msg: &mail_parser::Message<'_>) -> ReturnPath {
    let Some(raw) = msg.header_raw("Return-Path") else {
        return ReturnPath::Missing;
    };
    let inner = raw
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    if inner.is_empty() {
        ReturnPath::Null
    } else {
        ReturnPath::Address(inner.to_lowercase())
    }
}

/// References, then the In-Reply-To ids not already among them.
fn references_of(msg: &mail_parser::Message<'_>) -> Vec<MessageId> {
    let mut references = ids(msg.references());
    for id in ids(msg.in_reply_to()) {
        if !references.contains(&id) {
            references.push(id);
        }
    }
    references
}

/// The headers and MIME shape that tell machine mail from a person's (see [`AutoHeaders`]).
fn auto_headers(msg: &mail_parser::Message<'_>) -> AutoHeaders {
    let report = report_content_type(msg);
    let mut part_types = Vec::new();
    own_part_types(msg, &mut part_types);
    let mut inner_part_types = Vec::new();
    attached_part_types(msg, 1, &mut inner_part_types);
    AutoHeaders {
        auto_submitted: header_text(msg, "Auto-Submitted"),
        precedence: header_text(msg, "Precedence"),
        list_header: first_list_header(msg),
        x_auto_response_suppress: header_text(msg, "X-Auto-Response-Suppress"),
        x_autoreply: has_autoreply_header(msg),
        x_loop: x_loops(msg),
        autosvar_marker: msg.header_raw("X-Autosvar-Category").is_some(),
        report: report.is_some(),
        sender: first_addr(msg.sender()).map(|a| a.email.to_lowercase()),
        report_type: report
            .and_then(|ct| ct.attribute("report-type"))
            .map(|t| t.trim().to_ascii_lowercase()),
        headers: header_pairs(msg),
        part_types,
        inner_part_types,
    }
}

/// The name of the first `List-*` header, if any.
fn first_list_header(msg: &mail_parser::Message<'_>) -> Option<String> {
    msg.headers()
        .iter()
        .map(|h| h.name())
        .find(|n| n.len() > 5 && n.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("list-")))
        .map(str::to_string)
}

/// The headers auto-responders mark their mail with (`X-Autoreply: no` does not count).
const AUTOREPLY_HEADERS: &[&str] = &[
    "x-autoreply",
    "x-autorespond",
    "x-auto-reply",
    "x-autoresponder",
    "x-mail-autoreply",
];

/// Whether one of [`AUTOREPLY_HEADERS`] is present and not `no`.
fn has_autoreply_header(msg: &mail_parser::Message<'_>) -> bool {
    msg.headers().iter().any(|h| {
        AUTOREPLY_HEADERS
            .iter()
            .any(|n| h.name().eq_ignore_ascii_case(n))
            && !msg
                .header_raw(h.name())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("no"))
    })
}

/// Every `X-Loop` value, trimmed and lowercased.
fn x_loops(msg: &mail_parser::Message<'_>) -> Vec<String> {
    msg.headers()
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case("x-loop"))
        .filter_map(|h| match h.value() {
            HeaderValue::Text(t) => Some(t.trim().to_lowercase()),
            _ => None,
        })
        .collect()
}

/// The top-level content type when it is multipart/report (a DSN, MDN or feedback report).
fn report_content_type<'m>(
    msg: &'m mail_parser::Message<'_>,
) -> Option<&'m mail_parser::ContentType<'m>> {
    msg.content_type().filter(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
    })
}

/// The language of the sender's own words when they tell it surely ([`language::SURE`]: a
/// forward's subject and the forwarded mail are someone else's words), else of the subject
/// and new text together, else of all the text.
fn written_in(subject: &str, own_text: &str, new_text: &str, full_text: &str) -> Option<Written> {
    match language::detect_scored(own_text) {
        Some((lang, score)) if score >= language::SURE => Some(lang),
        _ => language::detect(&format!("{subject}\n{new_text}"))
            .or_else(|| language::detect(full_text)),
    }
}

fn malformed(bytes: &[u8], language: Language) -> Mail {
    Mail {
        key: MailKey::of_bytes(bytes),
        message_id: None,
        from: None,
        reply_to: None,
        return_path: ReturnPath::Missing,
        subject: String::new(),
        date: None,
        references: Vec::new(),
        auto: AutoHeaders::default(),
        new_text: String::new(),
        own_text: String::new(),
        full_text: String::new(),
        header_text: String::new(),
        // Nothing was read: nothing may go out whole.
        scan_complete: false,
        written: None,
        language,
        attachments: 0,
        malformed: true,
    }
}

#[cfg(test)]
#[allow(clippy::string_slice, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const SIMPLE: &[u8] = b"Return-Path: <bo@regionh.example>\r\nFrom: =?utf-8?Q?S=C3=B8ren_B=C3=B8gh?= <soren@regionh.example>\r\nTo: e-learning@example.test\r\nSubject: =?iso-8859-1?Q?Hvad_koster_en_licens=3F?=\r\nMessage-ID: <abc@regionh.example>\r\nIn-Reply-To: <x@example.test>\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nHej, hvad koster en licens til st=F8rre m=F8der?\r\n\r\nMvh S=F8ren\r\n";

    #[test]
    fn parses_headers_and_text() {
        let m = parse(SIMPLE, Language::En);
        assert!(
            m.key.as_str().starts_with("abc@regionh.example#"),
            "{}",
            m.key
        );
        assert_eq!(m.key.message_id_part(), Some("abc@regionh.example"));
        assert_eq!(m.from.as_ref().unwrap().name.as_deref(), Some("Søren Bøgh"));
        assert_eq!(m.subject, "Hvad koster en licens?");
        assert_eq!(
            m.return_path,
            ReturnPath::Address("bo@regionh.example".into())
        );
        assert_eq!(m.references, vec![MessageId::new("<x@example.test>")]);
        assert_eq!(m.new_text, "Hej, hvad koster en licens til større møder?");
        assert_eq!(m.language, Language::Da);
        assert!(!m.malformed);
    }

    fn mail(body: &str) -> String {
        format!("From: a@x.test\r\nSubject: Zoom\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n")
    }

    #[test]
    fn swedish_and_norwegian_are_answered_in_danish_and_other_languages_in_english() {
        let sv = parse(
            mail("Hej! Får vi använda Zoom till möten med studenter? Tack och hälsningar")
                .as_bytes(),
            Language::Da,
        );
        assert_eq!((sv.written, sv.language), (Some(Written::Sv), Language::Da));
        let nb = parse(
            mail("Hei, hva koster det? Vi lurer også på om dere kan hjelpe oss. Takk").as_bytes(),
            Language::Da,
        );
        assert_eq!((nb.written, nb.language), (Some(Written::Nb), Language::Da));
        let de = parse(mail("Hallo, dürfen wir Zoom für unsere Besprechungen nutzen? Vielen Dank und beste Grüße").as_bytes(), Language::Da);
        assert_eq!((de.written, de.language), (Some(Written::De), Language::En));
        assert_eq!(de.written_code(), "de");
        // Configured otherwise: Swedish in English, German in Danish.
        let replies = Replies {
            default: Language::Da,
            nordic: Language::En,
            other: Language::Da,
        };
        let sv = parse(
            mail("Hej! Får vi använda Zoom till möten med studenter? Tack och hälsningar")
                .as_bytes(),
            replies,
        );
        assert_eq!(sv.language, Language::En);
        let de = parse(
            mail("Hallo, dürfen wir Zoom für unsere Besprechungen nutzen? Vielen Dank").as_bytes(),
            replies,
        );
        assert_eq!(de.language, Language::Da);
        // Nothing to tell by: the default, and the code reported is the reply's.
        let none = parse(mail("Zoom 40?").as_bytes(), Language::En);
        assert_eq!(
            (none.written, none.language, none.written_code()),
            (None, Language::En, "en")
        );
    }

    #[test]
    fn a_danish_line_above_a_forwarded_english_mail_is_answered_in_danish() {
        let body = "Kan I svare på det her? Vi har fået den fra en kollega.\r\n\r\n---------- Forwarded message ---------\r\nFrom: Someone <s@y.test>\r\nSubject: Zoom licence\r\n\r\nHi, could you tell me what a Zoom licence costs and how we get one for our team? I would be happy to hear from you about the price. Kind regards";
        let m = parse(
            mail(body)
                .replace(
                    "Subject: Zoom",
                    "Subject: Fwd: Question about the price of a Zoom licence",
                )
                .as_bytes(),
            Language::En,
        );
        assert_eq!(
            (m.written, m.language),
            (Some(Written::Da), Language::Da),
            "{:?}",
            m.new_text
        );
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for bytes in [&b""[..], b"\x00\xff\xfe garbage", b"no headers at all"] {
            let m = parse(bytes, Language::Da);
            assert!(m.malformed);
            assert!(m.key.as_str().starts_with("sha256:"));
        }
    }

    #[test]
    fn every_text_part_is_gathered_once_and_headers_apart() {
        let raw = "From: \"Anne 1\" <a@x.test>\r\nReply-To: \"Anne 2\" <a@x.test>\r\nSubject: Zoom\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n--i\r\nContent-Type: text/plain\r\n\r\nZoom fryser.\r\n--i\r\nContent-Type: text/html\r\n\r\n<p>Zoom <b>fryser</b>.</p>\r\n--i--\r\n--o\r\nContent-Type: text/plain\r\nContent-Disposition: inline\r\n\r\nAnden del.\r\n--o\r\nContent-Type: application/octet-stream; name=liste.csv\r\nContent-Transfer-Encoding: base64\r\n\r\nbmF2bjtub3Rl\r\n--o\r\nContent-Type: message/rfc822\r\n\r\nFrom: Bo <b@x.test>\r\nSubject: Indre emne\r\n\r\nIndre tekst.\r\n--o\r\nContent-Type: image/png; name=\"skærm billede.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--o--\r\n";
        let m = parse(raw.as_bytes(), Language::Da);
        assert!(m.new_text.starts_with("Zoom fryser."), "{:?}", m.new_text);
        for part in ["Zoom fryser.", "Anden del.", "navn;note", "Indre tekst."] {
            assert!(m.full_text.contains(part), "{part}: {:?}", m.full_text);
        }
        assert_eq!(
            m.full_text.matches("fryser").count(),
            1,
            "{:?}",
            m.full_text
        );
        assert!(!m.full_text.contains("PNG"), "{:?}", m.full_text);
        for h in [
            "Anne 1",
            "Anne 2",
            "liste.csv",
            "skærm billede.png",
            "Indre emne",
            "Bo",
        ] {
            assert!(m.header_text.contains(h), "{h}: {:?}", m.header_text);
        }
        assert!(m.scan_complete);
    }

    #[test]
    fn the_gathered_text_is_bounded() {
        let body = "ord ".repeat(MAX_SCAN_BYTES / 3);
        let raw = format!("From: a@x.test\r\nContent-Type: text/plain\r\n\r\n{body}\r\n");
        let m = parse(raw.as_bytes(), Language::Da);
        assert!(m.full_text.len() <= MAX_SCAN_BYTES);
        assert!(!m.scan_complete);
    }

    #[test]
    fn part_types_tell_own_parts_from_an_attached_mails() {
        let raw = b"From: a@x.test\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: text/plain\r\n\r\nhi\r\n--o\r\nContent-Type: message/rfc822\r\n\r\nFrom: b@y.test\r\nSubject: inner\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=i\r\n\r\n--i\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\n--i--\r\n--o--\r\n";
        let m = parse(raw, Language::Da);
        assert!(m.auto.has_part("message/rfc822"));
        assert!(!m.auto.has_part("message/feedback-report"));
        assert!(m
            .auto
            .inner_part_types
            .iter()
            .any(|t| t == "message/feedback-report"));
        assert_eq!(m.auto.report_type, None);
    }

    #[test]
    fn report_type_and_headers_are_seen() {
        let raw = b"From: a@x.test\r\nX-Failed-Recipients: B@Y.test\r\nX-Spam-Status: Yes,\r\n score=9\r\nContent-Type: multipart/report; report-type=Disposition-Notification; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n";
        let m = parse(raw, Language::Da);
        assert_eq!(
            m.auto.report_type.as_deref(),
            Some("disposition-notification")
        );
        assert_eq!(m.auto.header("x-failed-recipients"), Some("b@y.test"));
        assert_eq!(m.auto.header("x-spam-status"), Some("yes, score=9"));
    }

    #[test]
    fn kept_headers_are_bounded() {
        let mut raw = String::from("From: a@x.test\r\n");
        raw.push_str(&format!("X-Long: {}\r\n", "é".repeat(100_000)));
        for i in 0..5_000 {
            raw.push_str(&format!("X-H{i}: v\r\n"));
        }
        raw.push_str("\r\nbody\r\n");
        let m = parse(raw.as_bytes(), Language::Da);
        assert_eq!(m.auto.headers.len(), MAX_HEADERS);
        assert!(m
            .auto
            .headers
            .iter()
            .all(|(_, v)| v.chars().count() <= MAX_HEADER_VALUE));
    }

    #[test]
    fn one_id_from_two_senders_is_two_keys_but_a_redelivery_is_one() {
        let a = parse(SIMPLE, Language::Da);
        let other_sender = String::from_utf8_lossy(SIMPLE).replace("soren@", "eve@");
        let b = parse(other_sender.as_bytes(), Language::Da);
        assert_ne!(a.key, b.key);
        let other_body = String::from_utf8_lossy(SIMPLE).replace("st=F8rre", "sm=E5");
        assert_ne!(a.key, parse(other_body.as_bytes(), Language::Da).key);
        let mut again =
            b"Received: from x by y; Mon, 1 Jan 2024 10:00:00 +0000\r\nDelivered-To: e@x\r\n"
                .to_vec();
        again.extend_from_slice(SIMPLE);
        assert_eq!(a.key, parse(&again, Language::Da).key);
        let lf = String::from_utf8_lossy(SIMPLE).replace("\r\n", "\n");
        assert_eq!(a.key, parse(lf.as_bytes(), Language::Da).key);
    }

    #[test]
    fn cr_only_and_leading_blank_mail_is_parsed() {
        let cr = String::from_utf8_lossy(SIMPLE).replace("\r\n", "\r");
        let m = parse(cr.as_bytes(), Language::En);
        assert!(!m.malformed);
        assert_eq!(m.subject, "Hvad koster en licens?");
        let mut blank = b"\r\n\r\n".to_vec();
        blank.extend_from_slice(SIMPLE);
        let m = parse(&blank, Language::En);
        assert!(!m.malformed);
        assert_eq!(m.from.unwrap().email, "soren@regionh.example");
    }

    #[test]
    fn raw_8bit_headers_are_utf8_or_windows_1252() {
        let latin1 = b"From: S\xf8ren <s@x.example>\r\nSubject: K\xf8b \x96 pris\r\n\r\nHej\r\n";
        let m = parse(latin1, Language::Da);
        assert_eq!(m.subject, "Køb – pris");
        assert_eq!(m.from.unwrap().name.as_deref(), Some("Søren"));
        let utf8 = "From: s@x.example\r\nSubject: Køb\r\n\r\nHej\r\n";
        assert_eq!(parse(utf8.as_bytes(), Language::Da).subject, "Køb");
    }

    #[test]
    fn null_return_path_and_report_are_seen() {
        let raw = b"Return-Path: <>\r\nFrom: MAILER-DAEMON@x.test\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b--\r\n";
        let m = parse(raw, Language::Da);
        assert_eq!(m.return_path, ReturnPath::Null);
        assert!(m.auto.report);
    }
}
