//! Repair: what real mail gets wrong at the byte level, mended before MIME parsing.
//!
//! People's mail reaches the mailbox from old clients, scripts and gateways. Each repair
//! here is one such fault, seen on real mail, that would otherwise make a person's mail
//! `malformed` or garble their words:
//!
//! - blank lines before the first header (a file saved by hand, a gateway's stray CRLF);
//! - CR-only line ends (classic Mac, some scripts): no LF anywhere, so no header ends;
//! - undeclared 8-bit text: a raw Latin-1 subject, or a body with no charset. RFC 6532
//!   allows raw UTF-8, so what is valid UTF-8 stays as it is; anything else is read as
//!   Windows-1252 (a superset of Latin-1, and what Outlook meant).
//!
//! Pure and bounded: linear time, at most two copies of the input (one for CR-only line
//! ends, one for 8-bit text), none of mail that needs no repair; only a body that is not
//! UTF-8 costs a lowercased copy of the header, to read its Content-Type. It never removes
//! a byte of content, and never decides anything.

use std::borrow::Cow;

/// `bytes` with the faults above mended; borrowed when there is nothing to mend.
pub fn normalise(bytes: &[u8]) -> Cow<'_, [u8]> {
    let start = bytes
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(bytes.len());
    let bytes = bytes.get(start..).unwrap_or_default();
    let mut out: Cow<'_, [u8]> = Cow::Borrowed(bytes);
    if !bytes.contains(&b'\n') && bytes.contains(&b'\r') {
        let mut v = Vec::with_capacity(bytes.len() + bytes.len() / 40);
        for &b in bytes {
            v.push(b);
            if b == b'\r' {
                v.push(b'\n');
            }
        }
        out = Cow::Owned(v);
    }
    match mend_8bit(&out) {
        Some(v) => Cow::Owned(v),
        None => out,
    }
}

/// Where the header section ends: the index of the blank line's first byte, and where the
/// body starts.
pub(crate) fn header_end(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while let Some(off) = bytes
        .get(i..)
        .and_then(|s| s.iter().position(|&b| b == b'\n'))
    {
        let nl = i + off;
        let next = nl + 1;
        match bytes.get(next..) {
            Some([b'\n', ..]) => return Some((next, next + 1)),
            Some([b'\r', b'\n', ..]) => return Some((next, next + 2)),
            _ => {}
        }
        i = next;
    }
    None
}

/// The headers' and (for a single-part mail with no declared charset) the body's
/// undeclared 8-bit text as UTF-8; `None` when there is nothing to mend.
fn mend_8bit(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.is_ascii() {
        return None;
    }
    let (head_end, body_start) = header_end(bytes).unwrap_or((bytes.len(), bytes.len()));
    let head = bytes.get(..head_end)?;
    let body = bytes.get(body_start..).unwrap_or_default();
    let head_ok = std::str::from_utf8(head).is_ok();
    let mend_body =
        !body.is_ascii() && std::str::from_utf8(body).is_err() && body_has_undeclared_charset(head);
    if head_ok && !mend_body {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 8);
    if head_ok {
        out.extend_from_slice(head);
    } else {
        for line in head.split_inclusive(|&b| b == b'\n') {
            if std::str::from_utf8(line).is_ok() {
                out.extend_from_slice(line);
            } else {
                push_cp1252(&mut out, line);
            }
        }
    }
    out.extend_from_slice(bytes.get(head_end..body_start).unwrap_or_default());
    if mend_body {
        push_cp1252(&mut out, body);
    } else {
        out.extend_from_slice(body);
    }
    Some(out)
}

/// True when the top-level Content-Type is absent, or a text type without a charset
/// parameter, and the body is not base64 or quoted-printable (their 8-bit text comes from
/// decoding, where mail-parser applies the declared charset).
fn body_has_undeclared_charset(head: &[u8]) -> bool {
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    // Unfold, then look at the Content-Type and Content-Transfer-Encoding lines.
    let unfolded = head
        .replace("\r\n", "\n")
        .replace("\n ", " ")
        .replace("\n\t", " ");
    let field = |name: &str| {
        unfolded
            .lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
    };
    if field("content-transfer-encoding:")
        .is_some_and(|v| v.starts_with("base64") || v.starts_with("quoted-printable"))
    {
        return false;
    }
    match field("content-type:") {
        None => true,
        Some(ct) => ct.starts_with("text/") && !ct.contains("charset"),
    }
}

/// Windows-1252's 0x80..=0x9F; the five undefined bytes keep their C1 code point.
const CP1252_HIGH: [char; 32] = [
    '\u{20AC}', '\u{0081}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{008D}', '\u{017D}', '\u{008F}',
    '\u{0090}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}', '\u{0153}', '\u{009D}', '\u{017E}', '\u{0178}',
];

fn push_cp1252(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut buf = [0u8; 4];
    for &b in bytes {
        let c = match b {
            0x80..=0x9F => CP1252_HIGH
                .get(usize::from(b - 0x80))
                .copied()
                .unwrap_or('\u{FFFD}'),
            _ => char::from(b),
        };
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
}

#[cfg(test)]
#[allow(clippy::string_slice, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_mail_is_borrowed_untouched() {
        let m = b"From: a@b.test\r\nSubject: Hej\r\n\r\nTekst\r\n";
        assert!(matches!(normalise(m), Cow::Borrowed(_)));
        let utf8 = "From: a@b.test\r\nSubject: Bøger\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nÆble\r\n";
        assert!(matches!(normalise(utf8.as_bytes()), Cow::Borrowed(_)));
    }

    #[test]
    fn leading_blank_lines_go() {
        assert_eq!(
            &*normalise(b"\r\n\nFrom: a@b\r\n\r\nx"),
            b"From: a@b\r\n\r\nx"
        );
        assert_eq!(&*normalise(b"\r\n\r\n"), b"");
    }

    #[test]
    fn cr_only_line_ends_become_crlf() {
        assert_eq!(
            &*normalise(b"From: a@b\rSubject: x\r\rHej\r"),
            b"From: a@b\r\nSubject: x\r\n\r\nHej\r\n"
        );
    }

    #[test]
    fn raw_latin1_header_and_undeclared_body_become_utf8() {
        let m = b"From: a@b\r\nSubject: K\xf8b af licens \x96 pris\r\n\r\nHvad koster st\xf8rre m\xf8der?\r\n";
        let out = normalise(m);
        let s = std::str::from_utf8(&out).unwrap();
        assert!(s.contains("Subject: Køb af licens – pris"), "{s}");
        assert!(s.contains("større møder"), "{s}");
    }

    #[test]
    fn declared_charsets_and_encoded_bodies_are_left_to_the_mime_parser() {
        let m = b"From: a@b\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nst\xf8rre\r\n";
        assert!(matches!(normalise(m), Cow::Borrowed(_)));
        let m = b"From: a@b\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\xf8\r\n";
        assert!(matches!(normalise(m), Cow::Borrowed(_)));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for len in 0..400 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    [b'\r', b'\n', b'a', b':', 0xf8, 0x96, b' '][(seed % 7) as usize]
                })
                .collect();
            let _ = normalise(&bytes);
        }
    }
}
