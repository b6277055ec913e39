//! Every outgoing message, decoded: no CPR number wherever the sender hid one, and every
//! header line within RFC 5322's limits whatever the sender's subject and name.
//!
//! Each mail below hides one CPR number in one place. Its reply and its desk forward (the
//! Sent copy is the reply's bytes) are searched twice: the raw bytes, and everything
//! mail-parser decodes from them (every header, RFC 2047 words, RFC 2231 file names,
//! base64 and quoted-printable parts, nested messages).

use autosvar::classify::sensitive::find_cpr;
use autosvar::classify::Category;
use autosvar::pipeline::assess;
use autosvar::render::compose;
use mail_parser::{HeaderValue, Message, MessageParser, MimeHeaders, PartType};

use crate::common::{forward_of, reply_to, setup};

/// The number hidden: 1 January 1990, written in the forms people use.
const DIGITS: &str = "0101901234";

const HEAD: &str = "Return-Path: <anne@sender.test>\r\nTo: e-learning@example.test\r\nMessage-ID: <leak-{n}@sender.test>\r\nDate: Mon, 2 Mar 2026 09:00:00 +0100\r\nMIME-Version: 1.0\r\n";

const ASK: &str = "Hej\r\n\r\nNår jeg starter Zoom på min pc, kommer der en fejl, og jeg kan ikke komme ind i mødet. Kan I hjælpe?\r\n\r\nMvh Anne\r\n";

/// (hiding place, raw mail). `{n}` is replaced by a number per mail.
fn hiding_places() -> Vec<(&'static str, String)> {
    let b64 = |s: &str| {
        use std::fmt::Write;
        const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let b = s.as_bytes();
        let mut out = String::new();
        for (i, c) in b.chunks(3).enumerate() {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for k in 0..4 {
                if k <= c.len() {
                    out.push(T[(n >> (18 - 6 * k) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
            if i % 19 == 18 {
                let _ = write!(out, "\r\n");
            }
        }
        out
    };
    let plain = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n";
    let from = "From: Anne Hansen <anne@sender.test>\r\n";
    vec![
        (
            // Six and four digits apart with no "CPR" before them: too weak to flag the
            // mail, but never echoed, and the original does not go whole.
            "subject, written apart",
            format!("{HEAD}{from}Subject: Zoom virker ikke (010190 1234)\r\n{plain}\r\n{ASK}"),
        ),
        (
            "From display name",
            format!("{HEAD}From: \"Anne Hansen 010190-1234\" <anne@sender.test>\r\nSubject: Zoom virker ikke\r\n{plain}\r\n{ASK}"),
        ),
        (
            "Reply-To display name (RFC 2047)",
            format!("{HEAD}{from}Reply-To: =?utf-8?q?Anne_H=C3=A6nsen_0101901234?= <anne@sender.test>\r\nSubject: Zoom virker ikke\r\n{plain}\r\n{ASK}"),
        ),
        (
            "second inline text part",
            format!("{HEAD}{from}Subject: Zoom virker ikke\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\n{plain}\r\n{ASK}\r\n--b1\r\n{plain}Content-Disposition: inline\r\n\r\nMit CPR-nummer er 010190-1234, hvis I skal bruge det.\r\n--b1--\r\n"),
        ),
        (
            "HTML alternative only",
            format!("{HEAD}{from}Subject: Zoom virker ikke\r\nContent-Type: multipart/alternative; boundary=b1\r\n\r\n--b1\r\n{plain}\r\n{ASK}\r\n--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>{}</p><p>CPR: 010190-1234</p></body></html>\r\n--b1--\r\n", ASK.replace("\r\n", " ")),
        ),
        (
            "text attachment (base64)",
            format!("{HEAD}{from}Subject: Zoom virker ikke\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\n{plain}\r\n{ASK}\r\n--b1\r\nContent-Type: application/octet-stream; name=deltagere.csv\r\nContent-Disposition: attachment; filename=deltagere.csv\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b1--\r\n", b64("navn;cpr\nAnne Hansen;0101901234\n")),
        ),
        (
            "attachment file name (RFC 2231)",
            format!("{HEAD}{from}Subject: Zoom virker ikke\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\n{plain}\r\n{ASK}\r\n--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment;\r\n filename*=utf-8''Henvisning%20Anne%20010190-1234.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b1--\r\n", b64("%PDF-1.4 not really")),
        ),
        (
            "nested message/rfc822 (its HTML alternative)",
            format!("{HEAD}{from}Subject: Fwd: Zoom virker ikke\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\n{plain}\r\n{ASK}\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\nFrom: Bo <bo@sender.test>\r\nSubject: Til Zoom-mødet\r\nContent-Type: multipart/alternative; boundary=b2\r\n\r\n--b2\r\n{plain}\r\nSe vedhæftede.\r\n--b2\r\nContent-Type: text/html\r\n\r\n<p>Husk: CPR 010190-1234.</p>\r\n--b2--\r\n--b1--\r\n"),
        ),
        (
            "nested message/rfc822 (its sender's name)",
            format!("{HEAD}{from}Subject: Fwd: Zoom virker ikke\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\n{plain}\r\n{ASK}\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\nFrom: \"Bo 010190-1234\" <bo@sender.test>\r\nSubject: Til Zoom-mødet\r\n{plain}\r\nSe nedenfor.\r\n--b1--\r\n"),
        ),
        (
            "quoted-printable attachment, soft line break inside the number",
            format!("{HEAD}{from}Subject: Zoom virker ikke\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\n{plain}\r\n{ASK}\r\n--b1\r\nContent-Type: text/plain; charset=utf-8; name=noter.txt\r\nContent-Disposition: attachment; filename=noter.txt\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nDeltager: Anne Hansen, CPR 01019=\r\n0-1234, afd. B4 p=C3=A5 Herlev.\r\n--b1--\r\n"),
        ),
    ]
    .into_iter()
    .enumerate()
    .map(|(n, (what, raw))| (what, raw.replace("{n}", &n.to_string())))
    .collect()
}

fn header_text(v: &HeaderValue<'_>, out: &mut Vec<String>) {
    match v {
        HeaderValue::Text(t) => out.push(t.to_string()),
        HeaderValue::TextList(l) => out.extend(l.iter().map(ToString::to_string)),
        HeaderValue::Address(a) => {
            for x in a.iter() {
                out.extend(x.name().map(str::to_string));
                out.extend(x.address().map(str::to_string));
            }
        }
        HeaderValue::ContentType(ct) => {
            out.push(format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")));
            for a in ct.attributes().into_iter().flatten() {
                out.push(format!("{}={}", a.name, a.value));
            }
        }
        _ => {}
    }
}

/// Every decoded header value and body of `msg`, nested messages included.
fn decoded(msg: &Message<'_>, out: &mut Vec<String>) {
    for part in &msg.parts {
        for h in &part.headers {
            header_text(&h.value, out);
        }
        out.extend(part.attachment_name().map(str::to_string));
        match &part.body {
            PartType::Text(t) | PartType::Html(t) => out.push(t.to_string()),
            PartType::Binary(b) | PartType::InlineBinary(b) => {
                out.push(String::from_utf8_lossy(b).into_owned());
            }
            PartType::Message(inner) => decoded(inner, out),
            PartType::Multipart(_) => {}
        }
    }
}

/// Where a CPR number shows in a composed message, if anywhere.
fn cpr_in(bytes: &[u8]) -> Vec<String> {
    let mut texts = vec![String::from_utf8_lossy(bytes).into_owned()];
    let msg = MessageParser::default()
        .parse(bytes)
        .expect("a composed message parses");
    decoded(&msg, &mut texts);
    let mut found = Vec::new();
    for t in &texts {
        let digits: String = t.chars().filter(char::is_ascii_digit).collect();
        if !find_cpr(t).is_empty() || digits.contains(DIGITS) || t.contains("010190") {
            found.push(t.chars().take(300).collect());
        }
    }
    found
}

#[test]
fn no_outgoing_message_carries_a_cpr_number_wherever_it_hid() {
    let s = setup();
    let mut failures = Vec::new();
    for (what, raw) in hiding_places() {
        let mut a = assess(raw.as_bytes(), &s.config, &s.classifier);
        assert!(!a.mail.malformed, "{what}: test mail must parse");
        if !a.classification.sensitive && !what.contains("written apart") {
            failures.push(format!("{what}: not flagged sensitive"));
        }
        // Whatever the classifier says, a forward must carry no CPR number.
        a.classification.category = Category::Technical;
        a.classification.desk = Some("cimt".into());
        let reply = reply_to(&a);
        let forward = forward_of(&a, raw.as_bytes(), "cimt");
        for (kind, bytes) in [("reply", &reply), ("forward", &forward)] {
            for t in cpr_in(bytes) {
                failures.push(format!("{what}: {kind} carries a CPR number in {t:?}"));
            }
        }
        let fwd = String::from_utf8_lossy(&forward);
        if fwd.contains("message/rfc822") {
            failures.push(format!("{what}: the original went to the desk whole"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The same check holds even when the classifier is overruled: a mail not flagged
/// sensitive whose attachment holds a CPR number is not forwarded whole.
#[test]
fn a_forward_never_attaches_an_original_holding_a_cpr_number() {
    let s = setup();
    for (what, raw) in hiding_places() {
        let mut a = assess(raw.as_bytes(), &s.config, &s.classifier);
        a.classification.sensitive = false;
        a.classification.category = Category::Technical;
        a.classification.desk = Some("cimt".into());
        let forward = forward_of(&a, raw.as_bytes(), "cimt");
        assert!(
            cpr_in(&forward).is_empty(),
            "{what}: {:?}",
            cpr_in(&forward)
        );
    }
}

fn assert_lines_within_limits(what: &str, bytes: &[u8]) {
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        assert!(
            line.len() <= 998,
            "{what}: line {} is {} bytes: {:?}",
            i + 1,
            line.len(),
            String::from_utf8_lossy(&line[..120.min(line.len())])
        );
    }
    let head = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(bytes, |end| &bytes[..end]);
    assert!(
        head.len() < 8 * 1024,
        "{what}: {} bytes of headers",
        head.len()
    );
}

#[test]
fn echoed_subjects_names_and_ids_stay_within_line_limits() {
    let s = setup();
    let long_word = "x".repeat(50_000);
    let long_words = "Zoom virker ikke ".repeat(3_000);
    let long_danish = "Æblegrød på Zoom ".repeat(3_000);
    let long_name = "Anne ".repeat(400);
    let long_id = format!("<{}@sender.test>", "i".repeat(5_000));
    for subject in [&long_word, &long_words, &long_danish] {
        for name in ["Anne Hansen", long_name.as_str(), &"Æ".repeat(2_000)] {
            let raw = format!(
                "From: \"{name}\" <anne@sender.test>\r\nReply-To: \"{name}\" <anne@sender.test>\r\nTo: e-learning@example.test\r\nSubject: {subject}\r\nMessage-ID: {long_id}\r\nReferences: {long_id} {long_id}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{ASK}"
            );
            let mut a = assess(raw.as_bytes(), &s.config, &s.classifier);
            a.classification.category = Category::Technical;
            a.classification.desk = Some("cimt".into());
            let reply = reply_to(&a);
            assert_lines_within_limits("reply", &reply);
            let forward = forward_of(&a, raw.as_bytes(), "cimt");
            assert_lines_within_limits("forward", &forward);
            let parsed = MessageParser::default().parse(&reply).unwrap();
            let echoed = parsed.subject().unwrap_or_default();
            assert!(
                echoed.chars().count() <= 4 + compose::MAX_SUBJECT,
                "{} characters of subject echoed",
                echoed.chars().count()
            );
            assert!(echoed.ends_with('…'), "a cut subject says so: {echoed:?}");
        }
    }
}
