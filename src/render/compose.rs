//! Compose: a decided mail -> the finished reply and desk forward, as RFC 5322 bytes.
//!
//! The reply goes to Reply-To (else From), threads under the original (In-Reply-To,
//! References), says `Re: <subject>` once, and carries `Auto-Submitted: auto-replied`
//! (RFC 3834 §5), `X-Auto-Response-Suppress: All` and `X-Autosvar-Category`. It never quotes
//! the sender's text. The forward carries the original mail as `message/rfc822`, or, when
//! the mail holds sensitive data (or a CPR number anywhere, or is too large to attach), only
//! a rebuilt text copy with CPR numbers and patient details redacted: never the original
//! bytes. Whatever of the sender's reaches a header or a template (display names, subject,
//! Message-IDs) is put on one line, capped, and stripped of CPR numbers first, so no header
//! line exceeds RFC 5322's 998 bytes and no CPR number reaches the reply, its Sent copy or
//! the forward. Message-IDs are derived from the mail's key, so composing the same mail
//! twice gives the same ids.
//!
//! The words of both come from the templates (`responses/`): the reply's body, the
//! forward's cover note (`forward.txt`) and the lines above its text copy
//! (`forward-copy.txt`). This module writes headers and the sender's own redacted text,
//! never a sentence of its own, except the subject that stands in for an empty one in a
//! reply ("Din henvendelse", "Your message").

use std::time::SystemTime;

use lettre::message::header::{
    ContentDisposition, ContentTransferEncoding, ContentType, HeaderName, HeaderValue,
};
use lettre::message::{Body, Mailbox, MessageBuilder, MultiPart, SinglePart};
use lettre::Message;
use sha2::{Digest, Sha256};

use super::{first_name, Context, CopyContext, TemplateError, Templates};
use crate::classify::sensitive::{
    find_cpr, find_cpr_loose, holds_cpr_loosely, redact, redact_details,
};
use crate::classify::{strip_subject_prefixes, Category, Classification, Classifier};
use crate::config::{Address, Config, Desk};
use crate::parse::{hex_prefix, Mail, MessageId};
use crate::types::MessageKind;
pub use crate::types::Outgoing;

/// Why a message could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("no address to reply to")]
    NoRecipient,
    #[error("invalid address {0:?}")]
    Address(String),
    #[error("cannot build message")]
    Build(#[from] lettre::error::Error),
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A bug: composing panicked (see the log for where).
    #[error("internal error while composing")]
    Internal,
}

/// The header that marks our own mail (and lets [`crate::decide::guard`] spot it coming back).
pub const CATEGORY_HEADER: &str = "X-Autosvar-Category";

/// A Message-ID on our own domain, derived from the mail's key and the message kind.
pub fn message_id_for(mail: &Mail, kind: MessageKind, from: &Address) -> MessageId {
    let digest = Sha256::digest(format!("{kind}\0{}", mail.key).as_bytes());
    MessageId::new(&format!(
        "autosvar.{kind}.{}@{}",
        hex_prefix(&digest, 12),
        from.domain()
    ))
}

/// The longest display name that goes into a header, in characters; a longer one is cut
/// (it is the sender's text, echoed: bounded like everything else from outside).
pub const MAX_DISPLAY_NAME: usize = 64;

/// The longest subject echoed after "Re: " or "Fwd: ", in characters; a longer one is cut
/// and ends in "…". With the prefix and the header name a line of it stays far below RFC
/// 5322's 998 bytes even unfolded (lettre folds at spaces and RFC 2047-encodes non-ASCII in
/// short encoded words, but leaves one long ASCII word whole).
pub const MAX_SUBJECT: usize = 200;

/// An e-mail address longer than this is no address (RFC 5321: 64 + 1 + 255, and paths of
/// at most 256).
const MAX_ADDRESS: usize = 254;

/// Text from the sender as it may stand on one line: control characters (CR, LF, NUL,
/// TAB …) become spaces, runs of white space one space.
fn one_line(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// At most `max` characters of `text`, cut at a char boundary; with `ellipsis`, a cut text
/// ends in "…" (and stays within `max`).
fn capped(text: &str, max: usize, ellipsis: bool) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let keep = if ellipsis { max.saturating_sub(1) } else { max };
    let mut out: String = text.chars().take(keep).collect();
    out.truncate(out.trim_end().len());
    if ellipsis {
        out.push('…');
    }
    out
}

/// A display name as it may go into a header or a text: on one line (see [`one_line`]),
/// every CPR number redacted, at most [`MAX_DISPLAY_NAME`] characters. lettre refuses
/// (and its builder panics on) a name with CR or LF, so nothing from the sender reaches it
/// unsanitised; and a name is echoed in the reply's `To:`, the Sent copy, the forward's
/// `Reply-To:` and its text, so a CPR number in it must go first.
pub fn header_safe_name(name: &str) -> String {
    // Redacted before it is cut: a cut through a number would leave its digits.
    capped(&redact(&one_line(name)), MAX_DISPLAY_NAME, false)
        .trim_end()
        .to_string()
}

/// The sender's subject as it is echoed (after "Re: ", in a template, in a forward): on
/// one line, every CPR number redacted, at most [`MAX_SUBJECT`] characters.
pub fn header_safe_subject(subject: &str) -> String {
    capped(&redact(&one_line(subject)), MAX_SUBJECT, true)
}

/// A Message-ID from the sender's mail as it may be echoed in `In-Reply-To`, `References`
/// and a forward: printable ASCII without spaces or brackets, at most 250 characters, and
/// no CPR number in it (threading is worth less than the number). `None` drops it.
fn echoable_id(id: &MessageId) -> Option<String> {
    let s = id.as_str();
    let ok = !s.is_empty()
        && s.len() <= 250
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>')
        && find_cpr(s).is_empty();
    ok.then(|| id.bracketed())
}

fn mailbox(a: &Address) -> Result<Mailbox, ComposeError> {
    if a.email.len() > MAX_ADDRESS || a.email.chars().any(char::is_control) {
        return Err(ComposeError::Address(capped(&a.email, 80, true)));
    }
    let addr = a
        .email
        .parse()
        .map_err(|_| ComposeError::Address(a.email.clone()))?;
    let name = a
        .name
        .as_deref()
        .map(header_safe_name)
        .filter(|n| !n.is_empty());
    Ok(Mailbox::new(name, addr))
}

/// A text/plain part in 8bit where the text allows it (readable in the outbox and in
/// `preview`), else whatever lettre finds valid.
/// lettre would quoted-printable anything over 76 bytes a line, which makes Danish text
/// unreadable in the outbox; RFC 5322 §2.1.1 allows 998.
fn text_part(text: String) -> SinglePart {
    let fits = text.lines().all(|l| l.len() <= 900) && !text.contains('\0');
    let body = if fits {
        let encoding = if text.is_ascii() {
            ContentTransferEncoding::SevenBit
        } else {
            ContentTransferEncoding::EightBit
        };
        Body::dangerous_pre_encoded(crlf(text.as_bytes()), encoding)
    } else {
        Body::new(text)
    };
    SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .body(body)
}

fn raw(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_string())
}

/// The reply's subject: "Re: <original>" exactly once, with any CPR number removed (the
/// reply is also filed in Sent), on one line and capped (see [`header_safe_subject`]).
pub fn reply_subject(original: &str, lang: crate::parse::Language) -> String {
    let s = header_safe_subject(&strip_subject_prefixes(original));
    if s.is_empty() {
        match lang {
            crate::parse::Language::Da => "Re: Din henvendelse".into(),
            crate::parse::Language::En => "Re: Your message".into(),
        }
    } else {
        format!("Re: {s}")
    }
}

/// The template context for a mail.
pub fn context(mail: &Mail, c: &Classification, config: &Config) -> Context {
    let sender = mail.reply_address();
    // The sender's name and subject as any header would carry them: one line, capped, no
    // CPR number.
    let name = mail
        .from
        .as_ref()
        .and_then(|a| a.name.as_deref())
        .or_else(|| sender.and_then(|a| a.name.as_deref()))
        .map(header_safe_name)
        .unwrap_or_default();
    Context {
        first_name: first_name(&name),
        name,
        email: sender.map(|a| a.email.clone()).unwrap_or_default(),
        subject: header_safe_subject(&mail.subject),
        category: c.category.name().into(),
        language: mail.language.code().into(),
        sensitive: c.sensitive,
        desk: c.desk.as_ref().and_then(|d| config.desks.get(d)).cloned(),
        desks: config.desks.clone(),
        mailbox: config.from.email.clone(),
        secondary: c.secondary.map(|s| s.name().to_string()),
        signature: String::new(),
        sensitive_notice: String::new(),
        attached: false,
    }
}

fn references(mail: &Mail) -> Option<String> {
    let mut ids: Vec<String> = mail.references.iter().filter_map(echoable_id).collect();
    if let Some(id) = mail.message_id.as_ref().and_then(echoable_id) {
        ids.push(id);
    }
    // Keep the first (thread root) and the most recent ones; long chains bloat headers.
    if ids.len() > 10 {
        let tail = ids.split_off(ids.len() - 9);
        ids.truncate(1);
        ids.extend(tail);
    }
    (!ids.is_empty()).then(|| ids.join(" "))
}

/// Builds the reply to `mail`.
///
/// # Errors
/// When the mail has no usable reply address or a template fails to render.
pub fn reply(
    mail: &Mail,
    c: &Classification,
    config: &Config,
    templates: &Templates,
    now: SystemTime,
) -> Result<Outgoing, ComposeError> {
    let to = mail.reply_address().ok_or(ComposeError::NoRecipient)?;
    let body = templates.render_reply(c.category, context(mail, c, config))?;
    let id = message_id_for(mail, MessageKind::Reply, &config.from);
    let mut b = Message::builder()
        .from(mailbox(&config.from)?)
        .to(mailbox(to)?)
        .subject(reply_subject(&mail.subject, mail.language))
        .date(now)
        .message_id(Some(id.bracketed()))
        .raw_header(raw("Auto-Submitted", "auto-replied"))
        .raw_header(raw("X-Auto-Response-Suppress", "All"))
        .raw_header(raw(CATEGORY_HEADER, c.category.name()))
        .raw_header(raw("Content-Language", mail.language.code()));
    if let Some(orig) = mail.message_id.as_ref().and_then(echoable_id) {
        b = b.in_reply_to(orig);
    }
    if let Some(refs) = references(mail) {
        b = b.references(refs);
    }
    let msg = b.singlepart(text_part(body))?;
    Ok(Outgoing {
        message_id: id,
        kind: MessageKind::Reply,
        to: to.email.clone(),
        bytes: msg.formatted(),
    })
}

/// The original with CRLF line ends (an .eml from disk may have bare LF).
fn crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 40);
    let mut prev = 0u8;
    for &b in bytes {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// RFC 5322's limit on a line, without its CRLF. An original with a longer line is not
/// attached whole: servers may refuse the forward.
const MAX_LINE: usize = 998;

/// Originals larger than this are not attached whole: the desk gets their text (and the
/// mail stays in the mailbox), which keeps memory and the desk's inbox in bounds.
pub const FORWARD_MAX_BYTES: usize = 5 * 1024 * 1024;

/// Builds the forward of a technical mail to its desk. `raw_bytes` is the original; when
/// `truncated`, only its start was fetched and a text copy is sent instead.
///
/// The original goes whole only when [`sends_whole`] says so. Otherwise the desk gets a
/// rebuild ([`text_copy`]): the lines of `forward-copy.txt` (sender, subject, Message-ID)
/// and the text of every part, with CPR numbers, and patients' names and the diagnoses
/// beside them, redacted by `classifier` ([`redact_details`]); attachments stay in the
/// mailbox. Above either goes the cover note of `forward.txt`.
///
/// # Errors
/// As [`reply`].
#[allow(clippy::too_many_arguments)]
pub fn forward(
    mail: &Mail,
    raw_bytes: &[u8],
    truncated: bool,
    c: &Classification,
    desk: &Desk,
    config: &Config,
    templates: &Templates,
    classifier: &Classifier,
    now: SystemTime,
) -> Result<Outgoing, ComposeError> {
    let sender = mail.reply_address().ok_or(ComposeError::NoRecipient)?;
    let whole = sends_whole(mail, raw_bytes, truncated, c);
    let subject = forward_subject(mail, classifier);
    let mut ctx = context(mail, c, config);
    ctx.desk = Some(desk.clone());
    ctx.subject.clone_from(&subject);
    ctx.attached = whole;
    let intro = templates.render_forward(&ctx)?;
    let id = message_id_for(mail, MessageKind::Forward, &config.from);
    let headers = forward_headers(mail, sender, desk, &subject, &id, config, now)?;
    let original = if whole {
        attached_original(raw_bytes)?
    } else {
        // Never the raw original of sensitive mail: a redacted text copy, attachments
        // dropped (also for very large mail, which stays in the mailbox).
        text_copy(mail, truncated, ctx, templates, classifier)?
    };
    let msg = headers.multipart(
        MultiPart::mixed()
            .boundary(boundary_for(&id))
            .singlepart(text_part(intro))
            .singlepart(original),
    )?;
    Ok(Outgoing {
        message_id: id,
        kind: MessageKind::Forward,
        to: desk.email.clone(),
        bytes: msg.formatted(),
    })
}

/// Whether the original may go to the desk whole: nothing in it is sensitive (the
/// classifier did not flag it, no CPR number, not even one written "120488 1437", is in
/// any part the scan read nor in the raw bytes, and the scan read all of it), it was
/// fetched whole, and it is small enough with no line over 998 bytes.
fn sends_whole(mail: &Mail, raw_bytes: &[u8], truncated: bool, c: &Classification) -> bool {
    !c.sensitive
        && !truncated
        && mail.scan_complete
        && raw_bytes.len() <= FORWARD_MAX_BYTES
        && raw_bytes
            .split(|&b| b == b'\n')
            .all(|l| l.len() <= MAX_LINE)
        && !holds_cpr_loosely(mail)
        && find_cpr_loose(&String::from_utf8_lossy(raw_bytes)).is_empty()
}

/// The subject as the desk sees it: no reply prefixes, header-safe, and a patient named
/// in it redacted too.
fn forward_subject(mail: &Mail, classifier: &Classifier) -> String {
    redact_details(
        &header_safe_subject(&strip_subject_prefixes(&mail.subject)),
        classifier,
    )
}

/// The forward's headers: to the desk, Reply-To the sender, `Fwd: <subject>`, marked as
/// autosvar's own (auto-forwarded, category and desk) and threaded with the original.
fn forward_headers(
    mail: &Mail,
    sender: &Address,
    desk: &Desk,
    subject: &str,
    id: &MessageId,
    config: &Config,
    now: SystemTime,
) -> Result<MessageBuilder, ComposeError> {
    let desk_addr = Address {
        name: Some(desk.name.clone()),
        email: desk.email.clone(),
    };
    let mut b = Message::builder()
        .from(mailbox(&config.from)?)
        .to(mailbox(&desk_addr)?)
        .reply_to(mailbox(sender)?)
        .subject(format!("Fwd: {subject}"))
        .date(now)
        .message_id(Some(id.bracketed()))
        .raw_header(raw("Auto-Submitted", "auto-forwarded"))
        .raw_header(raw(CATEGORY_HEADER, Category::Technical.name()))
        .raw_header(raw("X-Autosvar-Desk", &desk.key));
    if let Some(refs) = references(mail) {
        b = b.references(refs);
    }
    Ok(b)
}

/// The redacted text copy a desk gets instead of the original: the lines of
/// `forward-copy.txt`, an empty line, and the text of every part with CPR numbers and
/// patient details redacted.
fn text_copy(
    mail: &Mail,
    truncated: bool,
    cover: Context,
    templates: &Templates,
    classifier: &Classifier,
) -> Result<SinglePart, ComposeError> {
    let from = mail.from.as_ref();
    let from_name = from
        .and_then(|f| f.name.as_deref())
        .map(header_safe_name)
        .unwrap_or_default();
    let ctx = CopyContext {
        from_name: redact_details(&from_name, classifier),
        from_email: from.map(|f| f.email.clone()).unwrap_or_default(),
        message_id: mail
            .message_id
            .as_ref()
            .and_then(echoable_id)
            .unwrap_or_default(),
        left_out: mail.attachments > 0 || truncated || !mail.scan_complete,
        cover,
    };
    let mut text = templates.render_forward_copy(&ctx)?;
    text.push('\n');
    text.push_str(&redact_details(&mail.full_text, classifier));
    Ok(text_part(text))
}

/// The original, whole, as a `message/rfc822` attachment with CRLF line ends.
fn attached_original(raw_bytes: &[u8]) -> Result<SinglePart, ComposeError> {
    let bytes = crlf(raw_bytes);
    let encoding = if bytes.is_ascii() {
        ContentTransferEncoding::SevenBit
    } else {
        ContentTransferEncoding::EightBit
    };
    Ok(SinglePart::builder()
        .header(
            ContentType::parse("message/rfc822")
                .map_err(|_| ComposeError::Address("message/rfc822".into()))?,
        )
        .header(ContentDisposition::attachment("original.eml"))
        .body(Body::dangerous_pre_encoded(bytes, encoding)))
}

/// The MIME boundary of a forward: derived, not random, so the same mail always gives the
/// same bytes.
fn boundary_for(id: &MessageId) -> String {
    format!(
        "autosvar-{}",
        hex_prefix(&Sha256::digest(id.as_str().as_bytes()), 12)
    )
}

#[cfg(test)]
#[allow(clippy::string_slice, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::parse::Language;

    #[test]
    fn reply_subjects_say_re_once_and_carry_no_cpr() {
        assert_eq!(reply_subject("SV: Re: Zoom", Language::Da), "Re: Zoom");
        assert_eq!(reply_subject("", Language::En), "Re: Your message");
        let s = reply_subject("Adgang, cpr 120488-1436", Language::Da);
        assert!(!s.contains("120488"), "{s}");
    }

    #[test]
    fn echoed_names_subjects_and_ids_carry_no_cpr_number() {
        assert_eq!(
            header_safe_name("Anne Hansen 010190-1234"),
            "Anne Hansen [CPR-nummer fjernet]"
        );
        // Split over two lines, or cut by the cap: still gone, never half of it left.
        assert!(!header_safe_name("Anne\r\n010190\n1234").contains("0101"));
        let long = format!("{} 0101901234", "x".repeat(58));
        assert!(
            !header_safe_name(&long).contains("0101"),
            "{}",
            header_safe_name(&long)
        );
        assert!(!reply_subject("Zoom 010190-1234", Language::Da).contains("0101"));
        assert_eq!(echoable_id(&MessageId::new("<0101901234@x.test>")), None);
        assert_eq!(echoable_id(&MessageId::new(&"i".repeat(300))), None);
        assert_eq!(echoable_id(&MessageId::new("<a b@x>")), None);
        assert_eq!(
            echoable_id(&MessageId::new("<abc@x.test>")).as_deref(),
            Some("<abc@x.test>")
        );
    }

    #[test]
    fn long_subjects_are_cut_at_a_char_boundary_and_say_so() {
        let s = reply_subject(&"ø".repeat(50_000), Language::Da);
        assert_eq!(s.chars().count(), 4 + MAX_SUBJECT);
        assert!(s.ends_with("ø…"), "{s}");
        assert_eq!(
            reply_subject("Zoom\r\nBcc: x@y", Language::Da),
            "Re: Zoom Bcc: x@y"
        );
        assert_eq!(capped("abc", 3, true), "abc");
        assert_eq!(capped("abcd", 3, true), "ab…");
    }

    #[test]
    fn display_names_lose_line_breaks_and_length() {
        assert_eq!(header_safe_name("Anne\nHansen"), "Anne Hansen");
        assert_eq!(header_safe_name("Anne\r\n Hansen\0"), "Anne Hansen");
        assert_eq!(
            header_safe_name(&"x".repeat(2000)).chars().count(),
            MAX_DISPLAY_NAME
        );
        let a = Address {
            name: Some("Anne\rHansen\n".into()),
            email: "anne@sender.test".into(),
        };
        let m = mailbox(&a).unwrap();
        let _ = Message::builder()
            .from(m.clone())
            .to(m)
            .subject("x")
            .body(String::from("x"))
            .unwrap();
    }
}
