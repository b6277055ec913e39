//! The reply and forward prefixes mail clients put before a subject ("SV:", "VS:", "Fwd:"):
//! one table, each prefix marked reply or forward, for every stage that asks. parse reads a
//! forward's text differently, decide takes a prefixed subject for a person's, classify
//! weighs a reply's subject less (it names the old question), and render writes one "Re:".
//!
//! Pure, and it must never slice a subject anywhere but at a prefix's end: the prefixes are
//! ASCII and compared ASCII-case-insensitively on the subject itself, so no offset ever
//! crosses from a lowercased copy (whose characters may have another byte length, e.g.
//! U+212A KELVIN SIGN) into the original. For these letters that is the same answer
//! Unicode lowercasing gives: no other character lowercases to any of them.

/// What a subject prefix says the mail is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefixKind {
    /// An answer to the mail the rest of the subject names.
    Reply,
    /// The mail the rest of the subject names, passed on.
    Forward,
}

/// Every prefix, lowercase, with what it marks.
pub const SUBJECT_PREFIXES: [(&str, PrefixKind); 10] = [
    ("re:", PrefixKind::Reply),    // Latin "in re", everywhere
    ("sv:", PrefixKind::Reply),    // Danish, Norwegian, Swedish "svar"
    ("aw:", PrefixKind::Reply),    // German "Antwort"
    ("fw:", PrefixKind::Forward),  // English "forward" (Outlook)
    ("fwd:", PrefixKind::Forward), // English "forwarded"
    ("vs:", PrefixKind::Forward),  // Danish "videresendt"
    ("wg:", PrefixKind::Forward),  // German "weitergeleitet"
    ("tr:", PrefixKind::Forward),  // French "transféré"
    ("vb:", PrefixKind::Forward),  // Swedish "vidarebefordrat"
    ("vl:", PrefixKind::Forward),  // Finnish "välitetty"
];

/// The prefix the subject starts with (its table entry) and the subject after it; `None` if
/// it starts with none. Leading whitespace is skipped; the rest is returned as it is.
fn split_prefix(subject: &str) -> Option<((&'static str, PrefixKind), &str)> {
    let s = subject.trim_start();
    SUBJECT_PREFIXES.iter().find_map(|&(p, kind)| {
        s.get(..p.len())
            .filter(|head| head.eq_ignore_ascii_case(p))
            .and_then(|_| s.get(p.len()..))
            .map(|rest| ((p, kind), rest))
    })
}

/// The table entry of the prefix the subject starts with (after any whitespace): the
/// prefix, lowercase, and what it marks.
pub fn leading(subject: &str) -> Option<(&'static str, PrefixKind)> {
    split_prefix(subject).map(|(entry, _)| entry)
}

/// What the subject's first prefix marks, if it starts with one (after any whitespace).
pub fn leading_prefix(subject: &str) -> Option<PrefixKind> {
    leading(subject).map(|(_, kind)| kind)
}

/// Whether the subject starts with a forward prefix ("Fwd:", "VS:", ...).
pub fn is_forward(subject: &str) -> bool {
    leading_prefix(subject) == Some(PrefixKind::Forward)
}

/// "Re: SV: Fwd: Emne" -> "Emne": every leading prefix gone, and the whitespace around.
pub fn strip_prefixes(subject: &str) -> &str {
    let mut s = subject.trim();
    while let Some((_, rest)) = split_prefix(s) {
        s = rest.trim_start();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_prefix_is_one_kind_and_vs_is_a_forward() {
        assert!(is_forward("VS: Zoom"));
        assert_ne!(leading_prefix("VS: Zoom"), Some(PrefixKind::Reply));
        assert_eq!(leading_prefix("  SV: Zoom"), Some(PrefixKind::Reply));
        assert!(is_forward("Fwd: Zoom") && is_forward("FW: Zoom"));
        assert_eq!(leading_prefix("Zoom: sv: nej"), None);
        assert_eq!(leading_prefix("\u{212A}e: x"), None);
        assert_eq!(leading(" Vs: x"), Some(("vs:", PrefixKind::Forward)));
    }

    #[test]
    fn strips_every_leading_prefix_and_nothing_after() {
        assert_eq!(strip_prefixes("SV: Re: Fwd: Zoom"), "Zoom");
        assert_eq!(strip_prefixes("Vb:VL: Zoom "), "Zoom");
        assert_eq!(strip_prefixes("Zoom: sv: nej"), "Zoom: sv: nej");
        assert_eq!(strip_prefixes("Re: ÆØÅ"), "ÆØÅ");
    }
}
