//! Ours: the words autosvar itself sends, so that a reply which pastes our earlier answer
//! back (without "> " markers, under no "On … wrote:" line, or copied into the middle of
//! the sender's text) is not read as the sender's own words.
//!
//! The shipped reply texts (`responses/*.txt`, built in) are cut into overlapping runs of
//! [`RUN`] words; a run of the mail's text that is also one of ours is taken out, with its
//! neighbours that overlap it. Template syntax (`{{ first_name }}`, `{% if desk %}`) breaks
//! a run, so a run never spans a value filled in per mail. Only whole runs of [`RUN`] words
//! count: a sender who uses a few of the same words ("hvad koster Zoom") keeps them.
//!
//! HR may reword the texts; mail quoting a reworded text is recognised only where it still
//! shares runs with the shipped one (a limit the README names). Pure and bounded: one pass
//! over the text, no allocation per word beyond the word list; never panics.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::OnceLock;

/// Words in a run: long enough that a sender's own sentence rarely matches ours by chance,
/// short enough that a reflowed or partly edited paste still does.
pub const RUN: usize = 6;

/// The reply texts autosvar ships (the signature and the notices too: people quote them).
const SHIPPED: &[&str] = &[
    include_str!("../../responses/pricing.da.txt"),
    include_str!("../../responses/pricing.en.txt"),
    include_str!("../../responses/terms.da.txt"),
    include_str!("../../responses/terms.en.txt"),
    include_str!("../../responses/eligibility.da.txt"),
    include_str!("../../responses/eligibility.en.txt"),
    include_str!("../../responses/technical.da.txt"),
    include_str!("../../responses/technical.en.txt"),
    include_str!("../../responses/other.da.txt"),
    include_str!("../../responses/other.en.txt"),
    include_str!("../../responses/sensitive.da.txt"),
    include_str!("../../responses/sensitive.en.txt"),
    include_str!("../../responses/signature.da.txt"),
    include_str!("../../responses/signature.en.txt"),
];

/// The runs of our texts, hashed.
pub struct Ours {
    runs: HashSet<u64>,
}

impl Ours {
    /// The shipped texts' runs, built once.
    pub fn shipped() -> &'static Ours {
        static SHIPPED_RUNS: OnceLock<Ours> = OnceLock::new();
        SHIPPED_RUNS.get_or_init(|| Ours::from_texts(SHIPPED.iter().copied()))
    }

    /// The runs of these template texts.
    pub fn from_texts<'a>(texts: impl IntoIterator<Item = &'a str>) -> Ours {
        let mut runs = HashSet::new();
        for text in texts {
            for piece in literal_pieces(text) {
                let words: Vec<u64> = words(piece).map(|(_, _, h)| h).collect();
                for w in words.windows(RUN) {
                    runs.insert(run_hash(w));
                }
            }
        }
        Ours { runs }
    }

    /// `text` without the runs it shares with our texts. Each cut leaves a line break, so
    /// the sender's sentences on either side stay apart. Borrowed when nothing is ours.
    pub fn cut<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let found: Vec<(usize, usize, u64)> = words(text).collect();
        if found.len() < RUN {
            return Cow::Borrowed(text);
        }
        let hashes: Vec<u64> = found.iter().map(|&(_, _, h)| h).collect();
        let mut ours = vec![false; found.len()];
        for (i, w) in hashes.windows(RUN).enumerate() {
            if self.runs.contains(&run_hash(w)) {
                for o in ours.iter_mut().skip(i).take(RUN) {
                    *o = true;
                }
            }
        }
        if !ours.contains(&true) {
            return Cow::Borrowed(text);
        }
        // Byte ranges to drop: from the start of a run of our words to the start of the
        // next word that is theirs (punctuation after our last word goes too).
        let mut out = String::with_capacity(text.len());
        let mut kept_from = 0;
        let mut i = 0;
        while i < found.len() {
            if !ours.get(i).copied().unwrap_or(false) {
                i += 1;
                continue;
            }
            let start = found.get(i).map_or(text.len(), |w| w.0);
            let mut j = i;
            while ours.get(j).copied().unwrap_or(false) {
                j += 1;
            }
            let end = found.get(j).map_or(text.len(), |w| w.0);
            out.push_str(text.get(kept_from..start).unwrap_or_default());
            out.push('\n');
            kept_from = end;
            i = j;
        }
        out.push_str(text.get(kept_from..).unwrap_or_default());
        Cow::Owned(out)
    }
}

/// The template's text between its `{{ … }}` and `{% … %}` tags.
fn literal_pieces(template: &str) -> impl Iterator<Item = &str> {
    let mut rest = template;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let tag = [rest.find("{{"), rest.find("{%"), rest.find("{#")]
            .into_iter()
            .flatten()
            .min();
        match tag {
            None => Some(std::mem::take(&mut rest)),
            Some(at) => {
                let piece = rest.get(..at).unwrap_or_default();
                let after = rest.get(at..).unwrap_or_default();
                let close = ["}}", "%}", "#}"]
                    .into_iter()
                    .filter_map(|c| after.find(c).map(|p| p + c.len()))
                    .min()
                    .unwrap_or(after.len());
                rest = after.get(close..).unwrap_or_default();
                Some(piece)
            }
        }
    })
}

/// Each word of `text` (letters and digits) with its byte range and a hash of its lower
/// case.
fn words(text: &str) -> impl Iterator<Item = (usize, usize, u64)> + '_ {
    let mut chars = text.char_indices().peekable();
    std::iter::from_fn(move || {
        while chars.peek().is_some_and(|(_, c)| !c.is_alphanumeric()) {
            chars.next();
        }
        let &(start, _) = chars.peek()?;
        let mut h = FNV_OFFSET;
        let mut end = start;
        while let Some(&(at, c)) = chars.peek() {
            if !c.is_alphanumeric() {
                break;
            }
            if c.is_ascii() {
                h = fnv(h, u64::from(c.to_ascii_lowercase()));
            } else {
                for l in c.to_lowercase() {
                    h = fnv(h, u64::from(l));
                }
            }
            end = at + c.len_utf8();
            chars.next();
        }
        Some((start, end, h))
    })
}

fn run_hash(words: &[u64]) -> u64 {
    words.iter().fold(FNV_OFFSET, |h, w| fnv(h, *w))
}

/// FNV-1a over whole values (a char, a word's hash): cheap, and good enough to tell a few
/// thousand runs apart (a false match needs a 64-bit collision).
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv(h: u64, v: u64) -> u64 {
    (h ^ v).wrapping_mul(0x0000_0100_0000_01b3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_pasted_answer_is_cut_and_their_words_stay() {
        let ours = Ours::from_texts([
            "Hej {{ first_name }},\n\nTak for din mail om, hvad Zoom Meetings koster.\n\n\
             Du finder Zoom Meetings i Softwareshoppen, og den er gratis.\n",
        ]);
        let mail = "Må vi optage møderne?\n\nTak for din mail om, hvad Zoom\nMeetings koster. Du \
                    finder Zoom Meetings i Softwareshoppen, og den er gratis.\nHilsen Bo";
        let cut = ours.cut(mail);
        assert!(cut.contains("Må vi optage møderne?"), "{cut}");
        assert!(cut.contains("Hilsen Bo"), "{cut}");
        assert!(!cut.contains("Softwareshoppen"), "{cut}");
        assert!(!cut.contains("koster"), "{cut}");
        // A few of the same words are the sender's own.
        let own = "Hvad koster Zoom Meetings egentlig for os?";
        assert!(matches!(ours.cut(own), Cow::Borrowed(_)));
        // A run never spans a value filled in per mail.
        assert!(matches!(
            ours.cut("Hej Bo, tak for din mail om"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn the_shipped_texts_are_recognised() {
        let ours = Ours::shipped();
        assert!(ours.runs.len() > 100, "{}", ours.runs.len());
        for text in SHIPPED {
            for piece in literal_pieces(text) {
                if words(piece).count() >= RUN {
                    let cut = ours.cut(piece);
                    assert!(
                        words(&cut).count() < RUN,
                        "not recognised: {piece:?} -> {cut:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn hostile_text_never_panics() {
        let ours = Ours::shipped();
        for text in [
            "",
            "{{",
            "{% if",
            "æøå æøå æøå æøå æøå æøå æøå",
            "\u{130}\u{130}\u{130} a b c d e f g",
            "ÅÅÅ\u{0}\u{200b}x y z w v u t s",
        ] {
            let _ = ours.cut(text);
            let _ = Ours::from_texts([text]);
        }
    }
}
