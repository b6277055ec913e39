//! Finds the new text of a mail: what this sender wrote this time.
//!
//! Works line by line on decoded text. It cuts at the first sign of quoted history
//! (`> ` lines, "On … wrote:", "Den … skrev:", Outlook's "From:/Sent:" and "Fra:/Sendt:"
//! blocks, "-----Original Message-----"), then at a signature (`-- `, a sign-off such as
//! "Med venlig hilsen", "Sent from my iPhone") or a disclaimer. An inline forward with no
//! text of its own yields the forwarded text instead. It never returns less than something:
//! if the cuts leave nothing, it falls back to the uncut text. It never panics, whatever the
//! text: lines are taken with checked splits and slice patterns, never by index, and every
//! lowercased copy is only compared, never cut by an offset into the line it came from.

#![deny(clippy::string_slice, clippy::indexing_slicing)]

/// The new text of `body`, with quoted history, signatures and disclaimers removed.
pub fn new_text(body: &str) -> String {
    new_text_of(body, false)
}

/// As [`new_text`]; for a forward (`Fwd:`, `VS:` …) the forwarded mail is part of the
/// question, so it is kept after the sender's own lines.
pub fn new_text_of(body: &str, forward: bool) -> String {
    parts_of(body, forward).joined()
}

/// A mail's new text in its two parts.
pub struct Parts {
    /// What the sender wrote this time and nothing they forwarded or quoted (above the
    /// history, or below it in a bottom-posted reply; empty for a bare forward).
    pub own: String,
    /// The forwarded mail's own new text, when it is part of the question.
    inner: Option<String>,
}

impl Parts {
    /// Both parts passed through `f` (each read once; the sender's own lines stay the
    /// start of [`Parts::joined`]).
    pub fn map(self, f: impl Fn(&str) -> String) -> Parts {
        Parts {
            own: f(&self.own),
            inner: self.inner.as_deref().map(f),
        }
    }

    /// The new text: the sender's own lines, then the forwarded mail's.
    pub fn joined(self) -> String {
        match self.inner {
            None => self.own,
            Some(inner) if self.own.trim().is_empty() => inner,
            Some(inner) => format!("{}\n\n{inner}", self.own),
        }
    }
}

/// The new text of `body` in its two parts ([`new_text_of`] joins them).
pub fn parts_of(body: &str, forward: bool) -> Parts {
    let lines: Vec<&str> = body.lines().map(|l| l.trim_end()).collect();
    let (end, inner_start) = history_start(&lines);
    let mut own = trim_blank(lines.get(..end).unwrap_or_default());
    own = cut_signature(own);
    let own_text = join(own);
    let take_inner = inner_start.is_some() && (forward || word_count(&own_text) < 4);
    let Some(start) = inner_start.filter(|_| take_inner) else {
        if own_text.trim().is_empty() {
            // Nothing above the history: a bottom-posted or interleaved reply. Its new
            // text is what is left below once the quotes and their attributions are out.
            let below = bottom_posted(lines.get(end..).unwrap_or_default());
            let own = if below.trim().is_empty() {
                join(trim_blank(&lines))
            } else {
                below
            };
            return Parts { own, inner: None };
        }
        return Parts {
            own: own_text,
            inner: None,
        };
    };
    // The forwarded mail: its header lines skipped, its own history and signature cut.
    let rest = skip_header_block(lines.get(start..).unwrap_or_default());
    Parts {
        own: own_text,
        inner: Some(new_text_of(&rest.join("\n"), false)),
    }
}

/// The lines of a reply written below (or between) the quoted history: every `>` line and
/// attribution dropped, up to any further history (a forward or an Outlook header block),
/// signature cut.
fn bottom_posted(lines: &[&str]) -> String {
    let own: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| {
            let t = l.trim();
            !t.starts_with('>') && !is_attribution(t)
        })
        .collect();
    let (end, _) = history_start(&own);
    let own = trim_blank(own.get(..end).unwrap_or_default());
    join(cut_signature(own))
}

fn join(lines: &[&str]) -> String {
    lines.join("\n")
}

fn word_count(s: &str) -> usize {
    s.split_whitespace().count()
}

fn trim_blank<'a, 'b>(mut lines: &'a [&'b str]) -> &'a [&'b str] {
    while let [first, rest @ ..] = lines {
        if !first.trim().is_empty() {
            break;
        }
        lines = rest;
    }
    while let [rest @ .., last] = lines {
        if !last.trim().is_empty() {
            break;
        }
        lines = rest;
    }
    lines
}

fn lower(s: &str) -> String {
    s.trim().to_lowercase()
}

/// Lines that open an inline forward; what follows is a header block and the forwarded mail.
fn is_forward_marker(l: &str) -> bool {
    // Every marker opens with one of these letters (after dashes): most lines are out at once.
    let opening = l
        .trim_start_matches(['-', ' ', '_'])
        .chars()
        .next()
        .map(|c| c.to_ascii_lowercase());
    if !matches!(opening, Some('f' | 'b' | 'v' | 'o')) {
        return false;
    }
    let l = lower(l);
    let l = l.trim_matches(|c: char| c == '-' || c == ' ' || c == '_');
    l.starts_with("forwarded message")
        || l.starts_with("begin forwarded message")
        || l.starts_with("videresendt meddelelse")
        || l.starts_with("videresendt besked")
        || l.starts_with("videresendt mail")
        || l.starts_with("oprindelig meddelelse")
        || l.starts_with("original message")
        || l.starts_with("original meddelelse")
}

fn header_name(l: &str) -> Option<String> {
    let l = l.trim_start_matches('*').trim();
    let (name, _) = l.split_once(':')?;
    let name = name.trim_matches('*');
    if name.len() > 24 {
        return None;
    }
    let name = lower(name);
    if name.is_empty() || name.len() > 12 || name.contains(' ') {
        return None;
    }
    Some(name)
}

fn is_from_header(l: &str) -> bool {
    matches!(
        header_name(l).as_deref(),
        Some("from" | "fra" | "von" | "de")
    )
}

fn is_other_header(l: &str) -> bool {
    matches!(
        header_name(l).as_deref(),
        Some(
            "sent"
                | "sendt"
                | "date"
                | "dato"
                | "to"
                | "til"
                | "subject"
                | "emne"
                | "cc"
                | "gesendet"
                | "an"
                | "betreff"
        )
    )
}

/// "On Mon, 4 Mar 2024, Ann <a@b> wrote:" / "Den 4. mar. 2024 kl. 10.12 skrev Ann:".
fn is_attribution(l: &str) -> bool {
    // All of them end in a colon.
    if !l.trim_end().ends_with(':') {
        return false;
    }
    let l = lower(l);
    let ends = l.ends_with("wrote:")
        || l.ends_with("skrev:")
        || l.ends_with("skrev følgende:")
        || l.ends_with("schrieb:");
    // Danish and German clients put the name after the verb: "Den 4. mar. 2024 skrev Ann
    // <a@b>:", "Am 04.03.2024 um 10:12 schrieb Ann <a@b>:".
    let danish = (l.starts_with("den ") || l.starts_with("d. ") || l.starts_with("on "))
        && (l.contains(" skrev ") || l.contains(" wrote "))
        && l.ends_with(':');
    let german = l.starts_with("am ") && l.contains(" schrieb ") && l.ends_with(':');
    ends || danish || german
}

/// Where quoted history starts: (end of own text, start of an inline forward if that is
/// what starts there).
fn history_start(lines: &[&str]) -> (usize, Option<usize>) {
    for (before, l, after) in in_context(lines) {
        let i = before.len();
        let t = l.trim();
        if t.starts_with('>') {
            // A block quote counts as history; an attribution line above it goes too.
            let start = match before {
                [above @ .., a] if is_attribution_or_blank(a.trim()) => attribution_start(above, a),
                _ => i,
            };
            return (start, None);
        }
        if is_forward_marker(t) {
            return (i, Some(i + 1));
        }
        if is_attribution(t) {
            return (attribution_start(before, l), None);
        }
        // Outlook: "From: …" followed closely by Sent/Date/To/Subject lines.
        if is_from_header(t) {
            let following = after.iter().take(4).filter(|n| is_other_header(n)).count();
            if following >= 2 {
                let start = match before.last().map(|p| p.trim()) {
                    Some(p) if p.chars().all(|c| c == '_' || c == '-') && !p.is_empty() => i - 1,
                    _ => i,
                };
                // In a forward, this header block introduces the forwarded mail.
                return (start, Some(i));
            }
        }
    }
    (lines.len(), None)
}

/// Each line with the lines above it and the lines below it.
fn in_context<'a, 'b>(
    lines: &'a [&'b str],
) -> impl Iterator<Item = (&'a [&'b str], &'b str, &'a [&'b str])> {
    (0..lines.len()).filter_map(move |i| match lines.split_at_checked(i)? {
        (above, [l, below @ ..]) => Some((above, *l, below)),
        (_, []) => None,
    })
}

fn is_attribution_or_blank(t: &str) -> bool {
    is_attribution(t) || t.is_empty()
}

/// Where the attribution on `line` starts, `before` being the lines above it: on `line`
/// (at `before.len()`), or on the line above, as Gmail wraps long attributions over two
/// lines: "On Mon, …, Ann" / "<a@b> wrote:".
fn attribution_start(before: &[&str], line: &str) -> usize {
    if let Some(prev) = before.last() {
        let prev = lower(prev);
        if (prev.starts_with("on ")
            || prev.starts_with("den ")
            || prev.starts_with("d. ")
            || prev.starts_with("am "))
            && !lower(line).starts_with("on ")
            && !lower(line).starts_with("den ")
        {
            return before.len() - 1;
        }
    }
    before.len()
}

/// Skips the "From:/Date:/Subject:/To:" lines of a forwarded block.
fn skip_header_block<'a, 'b>(lines: &'a [&'b str]) -> &'a [&'b str] {
    let mut rest = lines;
    while let [l, after @ ..] = rest {
        let t = l.trim();
        // A blank first line, then header lines.
        let first = rest.len() == lines.len();
        if !(t.is_empty() && first || is_from_header(t) || is_other_header(t)) {
            break;
        }
        rest = after;
    }
    rest
}

const SIGN_OFFS: &[&str] = &[
    "med venlig hilsen",
    "med venlige hilsner",
    "venlig hilsen",
    "venlige hilsner",
    "mange hilsner",
    "de bedste hilsner",
    "bedste hilsner",
    "bedste hilsen",
    "god dag",
    "hilsen",
    "hilsner",
    "mvh",
    "vh",
    "kh",
    "kærlig hilsen",
    "på forhånd tak",
    "paa forhaand tak",
    "best regards",
    "kind regards",
    "warm regards",
    "with best regards",
    "with kind regards",
    "many thanks",
    "regards",
    "best",
    "cheers",
    "sincerely",
    "yours sincerely",
    "thanks in advance",
    "br",
];

const DEVICE_LINES: &[&str] = &[
    "sent from my",
    "sendt fra min",
    "sendt fra mit",
    "get outlook for",
    "hent outlook til",
    "få outlook til",
];

const DISCLAIMERS: &[&str] = &[
    "denne e-mail kan indeholde",
    "denne mail kan indeholde",
    "denne e-mail er fortrolig",
    "denne meddelelse kan indeholde",
    "e-mailen kan indeholde fortrolig",
    "fortrolighedsmeddelelse",
    "this e-mail may contain",
    "this email may contain",
    "this e-mail and any",
    "this email and any",
    "this message may contain",
    "the information contained in this",
    "confidentiality notice",
    "disclaimer:",
];

fn is_sign_off(l: &str) -> bool {
    let t = lower(l);
    let t = t.trim_end_matches([',', '.', '!', '/']);
    if SIGN_OFFS.contains(&t) {
        return true;
    }
    // "Mvh Laila Qvist", "Hilsen Maria", "Best regards, Tom": a sign-off then a short name.
    SIGN_OFFS.iter().any(|s| {
        t.strip_prefix(s).is_some_and(|rest| {
            (rest.starts_with(' ') || rest.starts_with(','))
                && rest.split_whitespace().count() <= 4
                && !rest.contains('?')
                && s.len() > 2
        })
    }) || matches!(t.split_whitespace().next(), Some("mvh" | "vh"))
        && t.split_whitespace().count() <= 4
}

fn cut_signature<'a, 'b>(lines: &'a [&'b str]) -> &'a [&'b str] {
    for (before, l, _) in in_context(lines) {
        let t = l.trim_end();
        let low = lower(t);
        if t == "--" || l.starts_with("-- ") && l.trim() == "--" {
            return trim_blank(before);
        }
        if DEVICE_LINES.iter().any(|d| low.starts_with(d))
            || DISCLAIMERS.iter().any(|d| low.starts_with(d))
        {
            return trim_blank(before);
        }
        if !before.is_empty() && is_sign_off(t) {
            let before = trim_blank(before);
            if !before.is_empty() {
                return before;
            }
        }
    }
    lines
}

#[cfg(test)]
#[allow(clippy::string_slice, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn cuts_danish_attribution_and_quotes() {
        let body = "Hej\n\nDet virker stadig ikke.\n\nDen 4. mar. 2024 kl. 10.12 skrev E-learning <e@x>:\n> Prøv at genstarte.\n> Hilsen";
        assert_eq!(new_text(body), "Hej\n\nDet virker stadig ikke.");
    }

    #[test]
    fn a_bottom_posted_reply_keeps_its_new_text_and_drops_the_quote() {
        let de = "Am 04.03.2024 um 10:12 schrieb E-learning <e@x>:\n> Zoom ist kostenlos.\n> Gruß\n\nWas kostet eine Lizenz für 200 Teilnehmer?\n\nViele Grüße\n-- \nAnna";
        let t = new_text(de);
        assert!(
            t.starts_with("Was kostet eine Lizenz für 200 Teilnehmer?"),
            "{t}"
        );
        assert!(!t.contains("kostenlos") && !t.contains("Anna"), "{t}");
        let da = "Den 4. mar. 2024 kl. 10.12 skrev E-learning <e@x>:\n> Zoom er gratis.\n\nHvad koster en licens så?";
        assert_eq!(new_text(da), "Hvad koster en licens så?");
        let en = "On Mon, 4 Mar 2024, E-learning <e@x> wrote:\n> It is free.\n> Regards\n\nAnd for 200 people?\n\nKind regards\nTom";
        assert_eq!(new_text(en), "And for 200 people?");
    }

    #[test]
    fn an_interleaved_reply_keeps_only_its_own_lines() {
        let body =
            "> Hvilken version bruger du?\nDen nyeste.\n> Virker lyden?\nNej, der er ingen lyd.";
        let t = new_text(body);
        assert_eq!(t, "Den nyeste.\nNej, der er ingen lyd.");
    }

    #[test]
    fn history_on_the_first_or_the_last_line_is_found() {
        // No line above the quote, the header block or the forward marker.
        assert_eq!(
            new_text("> Hvad koster det?\nTak, det ved jeg nu."),
            "Tak, det ved jeg nu."
        );
        let outlook =
            "________\nFrom: Ann <a@b>\nSent: Mon\nTo: Bo\nSubject: Zoom\n\nMå gæster bruge Zoom?";
        assert_eq!(new_text(outlook), "Må gæster bruge Zoom?");
        let fwd = "---------- Forwarded message ---------\n\nFrom: Ann\nDate: Mon\n\nKan I hjælpe?";
        assert_eq!(new_text(fwd), "Kan I hjælpe?");
        // A name whose lowercase has another length (KELVIN SIGN) in the attribution.
        let kelvin = "Den 4. mar. 2024 skrev \u{212A}elvin <k@x>:\n\n> Gratis.\nOg prisen?";
        assert_eq!(new_text(kelvin), "Og prisen?");
        // Nothing, or nothing but history, is no problem.
        assert_eq!(new_text(""), "");
        assert_eq!(new_text("\n\n  \n"), "");
        assert_eq!(new_text(">"), ">");
        assert_eq!(new_text("From: Ann <a@b>\nSent: Mon\nTo: Bo\n"), "");
        assert!(
            new_text_of("Se her\n---------- Forwarded message ---------", true)
                .starts_with("Se her")
        );
    }

    #[test]
    fn a_german_attribution_ends_the_new_text() {
        let body = "Danke, aber wie lange darf ein Meeting dauern?\n\nAm 04.03.2024 um 10:12 schrieb E-learning <e@x>:\n> Zoom ist kostenlos.";
        assert_eq!(
            new_text(body),
            "Danke, aber wie lange darf ein Meeting dauern?"
        );
    }

    #[test]
    fn cuts_wrapped_english_attribution() {
        let body = "Thanks, but what does it cost?\n\nOn Mon, 4 Mar 2024 at 10:12, E-learning\n<e@x> wrote:\n> It is free.";
        assert_eq!(new_text(body), "Thanks, but what does it cost?");
    }

    #[test]
    fn cuts_outlook_block() {
        let body = "Hej igen\n\nInstallationen fejler.\n\nHilsen Maria\n\nFra: E-learning <e@x>\nSendt: 7. marts 2021 13:26\nTil: Maria\nEmne: Zoom\n\nZoom ligger i Softwareshoppen.";
        assert_eq!(new_text(body), "Hej igen\n\nInstallationen fejler.");
    }

    #[test]
    fn cuts_signatures_and_disclaimers() {
        let body = "Hvad koster en licens?\n\nMed venlig hilsen\nJens Hansen\nTlf. 3864 1234\n\nDenne e-mail kan indeholde fortrolige oplysninger.";
        assert_eq!(new_text(body), "Hvad koster en licens?");
        assert_eq!(new_text("Can I use it?\n-- \nTom\nIT"), "Can I use it?");
        assert_eq!(
            new_text("Virker ikke\n\nSendt fra min iPhone"),
            "Virker ikke"
        );
    }

    #[test]
    fn a_forward_without_own_text_yields_the_forwarded_text() {
        let body = "Se nedenfor\n\n---------- Forwarded message ---------\nFrom: Ann <a@b>\nDate: Mon\nSubject: Zoom\nTo: Bo\n\nMå vores gæster bruge Zoom?\n\nHilsen Ann";
        let t = new_text(body);
        assert!(t.contains("Må vores gæster bruge Zoom?"), "{t}");
        assert!(!t.contains("Hilsen Ann"), "{t}");
    }

    #[test]
    fn an_outlook_forward_keeps_the_forwarded_mail_but_a_reply_does_not() {
        let body = "Kan I svare hende?\n\nFra: Ida Holm <i@ku.example>\nSendt: 3. marts 2026 10:12\nTil: Bo\nEmne: KU-konto\n\nMin KU-konto er spærret, og jeg kan ikke logge ind i Zoom.\n\nHilsen Ida";
        let fwd = new_text_of(body, true);
        assert!(fwd.starts_with("Kan I svare hende?"), "{fwd}");
        assert!(fwd.contains("Min KU-konto er spærret"), "{fwd}");
        assert!(
            !fwd.contains("Sendt:") && !fwd.contains("Hilsen Ida"),
            "{fwd}"
        );
        assert_eq!(new_text_of(body, false), "Kan I svare hende?");
    }

    #[test]
    fn never_returns_nothing_for_a_sign_off_only_mail() {
        assert_eq!(new_text("Tak for hjælpen!"), "Tak for hjælpen!");
        assert_eq!(new_text("\n\nMvh\nJens"), "Mvh\nJens");
    }

    #[test]
    fn sentence_starting_like_a_sign_off_is_kept() {
        let body = "Hej\nHilsen fra afdelingen, vi vil gerne vide hvad Zoom koster for 200 deltagere?\nMvh Bo";
        assert!(new_text(body).contains("200 deltagere"));
    }
}
