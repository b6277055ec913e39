//! What the fuzz targets share: the shipped setup (config, rules, learned model, templates),
//! loaded once per process, and the invariants every composed message must keep.
//!
//! A target only reads: the shipped files at the repository root, and paths that do not
//! exist. It never writes a file, never starts a process and never resolves a secret (the
//! config loader is pure; `PasswordSource::resolve` is never called here).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

use autosvar::cli::Setup;
use autosvar::config::Config;
use autosvar::render::compose::{ComposeError, Outgoing};

/// The repository root (the parent of this crate).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// A path that does not exist, for loaders that want one for messages and relative paths.
pub fn fake_path(name: &str) -> PathBuf {
    Path::new("/nonexistent/autosvar-fuzz").join(name)
}

/// The shipped `config.toml`, `rules.toml`, `responses/` and the model trained on
/// `training/`: loaded (and trained) once, on first use.
pub fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| match Setup::load(&root().join("config.toml")) {
        Ok(s) => s,
        Err(e) => panic!("the shipped setup does not load: {e:#}"),
    })
}

/// The shipped `config.toml` alone (no model is trained), loaded once.
pub fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| match Config::load(&root().join("config.toml")) {
        Ok(c) => c,
        Err(e) => panic!("the shipped config does not load: {e}"),
    })
}

/// A fixed clock, so one input always gives the same bytes.
pub fn now() -> SystemTime {
    autosvar::clock::from_unix_seconds(1_772_445_600)
}

/// Which message was composed; each has its own set of header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Reply,
    /// A forward carrying the original whole (its lines are the sender's).
    ForwardWhole,
    /// A forward carrying a rebuilt text copy (every line is ours).
    ForwardRebuilt,
}

/// The longest line RFC 5322 §2.1.1 allows, without its CRLF.
pub const MAX_LINE: usize = 998;

const REPLY_FIELDS: &[&str] = &[
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "auto-submitted",
    "x-auto-response-suppress",
    "x-autosvar-category",
    "content-language",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
];

const FORWARD_FIELDS: &[&str] = &[
    "from",
    "to",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "references",
    "auto-submitted",
    "x-autosvar-category",
    "x-autosvar-desk",
    "mime-version",
    "content-type",
];

/// Fields every message has exactly once.
const REQUIRED: &[&str] = &[
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "auto-submitted",
    "x-autosvar-category",
];

/// Errors composing may legitimately return for hostile mail: no address to answer, or an
/// address lettre refuses. Anything else (a template that fails, a message lettre cannot
/// build) means a person's mail would go unanswered: a finding.
pub fn allowed_error(e: &ComposeError) -> bool {
    matches!(e, ComposeError::NoRecipient | ComposeError::Address(_))
}

/// Panics (a finding) unless `out` is a well-formed message of `kind`:
/// - the header section ends in an empty line, every header line ends in CRLF with no
///   other CR or LF in it, and no line is longer than 998 bytes;
/// - every field is one this kind of message has, none twice, the required ones present:
///   nothing from the sender's data (a display name, a subject, an id) can add a field;
/// - for a reply and a rebuilt forward, every body line is at most 998 bytes too;
/// - mail-parser reads it back with our Message-ID and `to` as its first recipient;
/// - read back by autosvar itself, it is refused by the guard (never answered).
pub fn check(out: &Outgoing, kind: Kind, own_addresses: &[String]) {
    let bytes = &out.bytes;
    let Some(end) = find(bytes, b"\r\n\r\n") else {
        panic!("{kind:?}: no end of header section");
    };
    // The header lines with their CRLF, the last one's CRLF at `end`.
    let head = &bytes[..end + 2];
    let allowed = match kind {
        Kind::Reply => REPLY_FIELDS,
        Kind::ForwardWhole | Kind::ForwardRebuilt => FORWARD_FIELDS,
    };
    let mut seen: Vec<String> = Vec::new();
    for (i, line) in head
        .strip_suffix(b"\n")
        .unwrap_or(head)
        .split(|&b| b == b'\n')
        .enumerate()
    {
        let line = line.strip_suffix(b"\r").unwrap_or_else(|| {
            panic!(
                "{kind:?}: header line {i} ends in a bare LF: {}",
                show(line)
            )
        });
        assert!(
            !line.contains(&b'\r'),
            "{kind:?}: header line {i} holds a bare CR: {}",
            show(line)
        );
        assert!(
            line.len() <= MAX_LINE,
            "{kind:?}: header line {i} is {} bytes: {}",
            line.len(),
            show(&line[..80])
        );
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            assert!(i > 0, "{kind:?}: the header starts with a continuation");
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            panic!("{kind:?}: header line {i} is no field: {}", show(line));
        };
        let name = String::from_utf8_lossy(&line[..colon]).to_ascii_lowercase();
        assert!(
            allowed.contains(&name.as_str()),
            "{kind:?}: unexpected header field {name:?} (injected?): {}",
            show(line)
        );
        assert!(
            !seen.contains(&name),
            "{kind:?}: header field {name:?} twice"
        );
        seen.push(name);
    }
    for r in REQUIRED {
        assert!(seen.iter().any(|s| s == r), "{kind:?}: no {r} field");
    }
    if kind != Kind::ForwardWhole {
        for (i, line) in bytes[end + 4..].split(|&b| b == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            assert!(
                line.len() <= MAX_LINE,
                "{kind:?}: body line {i} is {} bytes",
                line.len()
            );
        }
    }

    let Some(msg) = mail_parser::MessageParser::default().parse(bytes) else {
        panic!("{kind:?}: mail-parser cannot read the message back");
    };
    assert_eq!(
        msg.message_id(),
        Some(out.message_id.as_str()),
        "{kind:?}: Message-ID"
    );
    let to = msg
        .to()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap_or_default();
    assert!(
        to.eq_ignore_ascii_case(&out.to),
        "{kind:?}: To reads back as {to:?}, not {:?}",
        out.to
    );

    let back = autosvar::parse::parse(bytes, autosvar::parse::Language::Da);
    assert!(
        autosvar::decide::guard(&back, own_addresses).is_some(),
        "{kind:?}: our own message would be answered"
    );
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn show(b: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use autosvar::parse::MessageId;

    fn outgoing(head: &str) -> Outgoing {
        Outgoing {
            message_id: MessageId::new("m@example.test"),
            kind: autosvar::types::MessageKind::Reply,
            to: "anne@sender.test".into(),
            bytes: format!(
                "From: e-learning@example.test\r\nTo: anne@sender.test\r\nSubject: Re: x\r\n\
                 Date: Mon, 2 Mar 2026 10:00:00 +0000\r\nMessage-ID: <m@example.test>\r\n\
                 Auto-Submitted: auto-replied\r\nX-Autosvar-Category: other\r\n{head}\r\nHej\r\n"
            )
            .into_bytes(),
        }
    }

    #[test]
    fn a_well_formed_message_passes() {
        check(&outgoing(""), Kind::Reply, &[]);
    }

    #[test]
    #[should_panic(expected = "unexpected header field \"bcc\"")]
    fn an_injected_field_is_caught() {
        check(&outgoing("Bcc: evil@attacker.test\r\n"), Kind::Reply, &[]);
    }

    #[test]
    #[should_panic(expected = "header field \"to\" twice")]
    fn a_second_recipient_field_is_caught() {
        check(&outgoing("To: evil@attacker.test\r\n"), Kind::Reply, &[]);
    }

    #[test]
    #[should_panic(expected = "is 1000 bytes")]
    fn a_long_header_line_is_caught() {
        let long = format!("References: <{}@x>\r\n", "a".repeat(984));
        check(&outgoing(&long), Kind::Reply, &[]);
    }

    #[test]
    #[should_panic(expected = "bare CR")]
    fn a_bare_cr_is_caught() {
        check(
            &outgoing("References: <a@x>\rBcc: e@x\r\n"),
            Kind::Reply,
            &[],
        );
    }

    /// The shipped setup composes a reply to a sender whose name and subject try to add a
    /// Bcc field; the message passes every check.
    #[test]
    fn a_reply_to_a_hostile_name_and_subject_passes() {
        let raw =
            "From: =?utf-8?b?QW5uZQ0KQmNjOiBldmlsQGF0dGFja2VyLnRlc3Q=?= <anne@sender.test>\r\n\
                   Subject: =?utf-8?q?Zoom=0D=0ABcc=3A_evil=40attacker.test?=\r\n\
                   Message-ID: <x@sender.test>\r\n\r\nHvad koster Zoom?\r\n";
        let s = setup();
        let a = autosvar::pipeline::assess(raw.as_bytes(), &s.config, &s.classifier);
        let out = autosvar::render::compose::reply(
            &a.mail,
            &a.classification,
            &s.config,
            &s.templates,
            now(),
        )
        .expect("a reply");
        check(&out, Kind::Reply, &s.config.own_addresses);
        let text = String::from_utf8_lossy(&out.bytes);
        assert!(!text.contains("\nBcc:"), "{text}");
    }
}
