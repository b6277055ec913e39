//! Compose: a decided mail -> the finished reply and desk forward, as RFC 5322 bytes.
//!
//! The reply goes to Reply-To (else From), threads under the original (In-Reply-To,
//! References), says `Re: <subject>` once, and carries `Auto-Submitted: auto-replied`
//! (RFC 3834 §5), `X-Auto-Response-Suppress: All` and `X-Autosvar-Category`. It never quotes
//! the sender's text. The forward carries the original mail as `message/rfc822`, or, when
//! the mail holds sensitive data, only a redacted text copy. Message-IDs are derived from
//! the mail's key, so composing the same mail twice gives the same ids.

use std::time::SystemTime;

use lettre::message::header::{
    ContentDisposition, ContentTransferEncoding, ContentType, HeaderName, HeaderValue,
};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::Message;
use sha2::{Digest, Sha256};

use super::{first_name, Context, TemplateError, Templates};
use crate::classify::sensitive::redact;
use crate::classify::{strip_subject_prefixes, Category, Classification};
use crate::config::{Address, Config, Desk};
use crate::parse::{hex, Mail, MessageId};

/// A finished message and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub message_id: MessageId,
    /// "reply" or "forward".
    pub kind: &'static str,
    pub to: String,
    pub bytes: Vec<u8>,
}

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
pub fn message_id_for(mail: &Mail, kind: &str, from: &Address) -> MessageId {
    let digest = Sha256::digest(format!("{kind}\0{}", mail.key).as_bytes());
    MessageId::new(&format!(
        "autosvar.{kind}.{}@{}",
        hex(&digest[..12]),
        from.domain()
    ))
}

/// The longest display name that goes into a header, in characters; a longer one is cut
/// (it is the sender's text, echoed: bounded like everything else from outside).
pub const MAX_DISPLAY_NAME: usize = 64;

/// A display name as it may go into a header: control characters (CR, LF, NUL, TAB …)
/// become spaces, runs of white space one space, and the result is at most
/// [`MAX_DISPLAY_NAME`] characters. lettre refuses (and its builder panics on) a name with
/// CR or LF, so nothing from the sender reaches it unsanitised.
pub fn header_safe_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    cleaned
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(MAX_DISPLAY_NAME)
        .collect::<String>()
        .trim_end()
        .to_string()
}

fn mailbox(a: &Address) -> Result<Mailbox, ComposeError> {
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
/// reply is also filed in Sent).
pub fn reply_subject(original: &str, lang: crate::parse::Language) -> String {
    let s = redact(&strip_subject_prefixes(original));
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
    let name = mail
        .from
        .as_ref()
        .and_then(|a| a.name.clone())
        .or_else(|| sender.and_then(|a| a.name.clone()))
        .unwrap_or_default();
    Context {
        first_name: first_name(&name),
        name,
        email: sender.map(|a| a.email.clone()).unwrap_or_default(),
        subject: redact(&mail.subject),
        category: c.category.name().into(),
        language: mail.language.code().into(),
        sensitive: c.sensitive,
        desk: c.desk.as_ref().and_then(|d| config.desks.get(d)).cloned(),
        desks: config.desks.clone(),
        mailbox: config.from.email.clone(),
        secondary: c.secondary.map(|s| s.name().to_string()),
        signature: String::new(),
        sensitive_notice: String::new(),
    }
}

fn references(mail: &Mail) -> Option<String> {
    let mut ids: Vec<String> = mail.references.iter().map(MessageId::bracketed).collect();
    if let Some(id) = &mail.message_id {
        ids.push(id.bracketed());
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
    let id = message_id_for(mail, "reply", &config.from);
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
    if let Some(orig) = &mail.message_id {
        b = b.in_reply_to(orig.bracketed());
    }
    if let Some(refs) = references(mail) {
        b = b.references(refs);
    }
    let msg = b.singlepart(text_part(body))?;
    Ok(Outgoing {
        message_id: id,
        kind: "reply",
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

/// Originals larger than this are not attached whole: the desk gets their text (and the
/// mail stays in the mailbox), which keeps memory and the desk's inbox in bounds.
pub const FORWARD_MAX_BYTES: usize = 5 * 1024 * 1024;

/// Builds the forward of a technical mail to its desk. `raw_bytes` is the original; when
/// `truncated`, only its start was fetched and a text copy is sent instead.
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
    now: SystemTime,
) -> Result<Outgoing, ComposeError> {
    let sender = mail.reply_address().ok_or(ComposeError::NoRecipient)?;
    let mut ctx = context(mail, c, config);
    ctx.desk = Some(desk.clone());
    let intro = templates.render_forward(&ctx)?;
    let id = message_id_for(mail, "forward", &config.from);
    let subject = format!("Fwd: {}", redact(&strip_subject_prefixes(&mail.subject)));
    let desk_addr = Address {
        name: Some(desk.name.clone()),
        email: desk.email.clone(),
    };
    let mut b = Message::builder()
        .from(mailbox(&config.from)?)
        .to(mailbox(&desk_addr)?)
        .reply_to(mailbox(sender)?)
        .subject(subject)
        .date(now)
        .message_id(Some(id.bracketed()))
        .raw_header(raw("Auto-Submitted", "auto-forwarded"))
        .raw_header(raw(CATEGORY_HEADER, Category::Technical.name()))
        .raw_header(raw("X-Autosvar-Desk", &desk.key));
    if let Some(refs) = references(mail) {
        b = b.references(refs);
    }
    let whole = !c.sensitive && !truncated && raw_bytes.len() <= FORWARD_MAX_BYTES;
    let original = if !whole {
        // Never the raw original of sensitive mail: a redacted text copy, attachments
        // dropped (also for very large mail, which stays in the mailbox).
        let mut text = String::new();
        if let Some(f) = &mail.from {
            text.push_str(&format!("Fra: {f}\n"));
        }
        text.push_str(&format!("Emne: {}\n", redact(&mail.subject)));
        if let Some(id) = &mail.message_id {
            text.push_str(&format!("Message-ID: {}\n", id.bracketed()));
        }
        if mail.attachments > 0 || truncated {
            text.push_str("(Vedhæftede filer er ikke sendt med; den oprindelige mail ligger i e-learning-postkassen.)\n");
        }
        text.push('\n');
        text.push_str(&redact(&mail.full_text));
        text_part(text)
    } else {
        let bytes = crlf(raw_bytes);
        let encoding = if bytes.is_ascii() {
            ContentTransferEncoding::SevenBit
        } else {
            ContentTransferEncoding::EightBit
        };
        SinglePart::builder()
            .header(
                ContentType::parse("message/rfc822")
                    .map_err(|_| ComposeError::Address("message/rfc822".into()))?,
            )
            .header(ContentDisposition::attachment("original.eml"))
            .body(Body::dangerous_pre_encoded(bytes, encoding))
    };
    let msg = b.multipart(
        MultiPart::mixed()
            // Derived, not random: the same mail always gives the same bytes.
            .boundary(format!(
                "autosvar-{}",
                hex(&Sha256::digest(id.as_str().as_bytes())[..12])
            ))
            .singlepart(text_part(intro))
            .singlepart(original),
    )?;
    Ok(Outgoing {
        message_id: id,
        kind: "forward",
        to: desk.email.clone(),
        bytes: msg.formatted(),
    })
}

#[cfg(test)]
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
