//! Turns text into comparable tokens: lowercased, æ/ø/å folded to ae/oe/aa (people type
//! both), split into words, stemmed in the mail's language. Rules go through the same steps,
//! so "Licensen", "licens" and "licenserne" meet at one stem, and "faa"/"få" at one spelling.
//! Never panics on any text: it walks the text itself and carries no offset between strings.

#![deny(clippy::string_slice, clippy::indexing_slicing)]

use rust_stemmers::{Algorithm, Stemmer};

pub use crate::types::fold;
use crate::types::Language;

/// One word of a text: its folded surface form and its stem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub word: String,
    pub stem: String,
}

/// A tokenised text. `compounds` holds hyphenated words joined ("ku-id" -> "kuid",
/// "enterprise-licens" -> "enterpriselicens") beside their parts in `tokens`, each with the
/// position of its first part.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    pub tokens: Vec<Token>,
    pub compounds: Vec<(usize, Token)>,
    /// Per token: which question it belongs to (0 for the first sentence that ends in '?'),
    /// `None` for sentences that only tell.
    pub question: Vec<Option<u16>>,
}

impl Tokens {
    /// Whether any sentence ends in '?'.
    pub fn asks(&self) -> bool {
        self.question.iter().any(Option::is_some)
    }
}

/// Stemmers for both languages, built once.
pub struct Stemmers {
    da: Stemmer,
    en: Stemmer,
}

impl Default for Stemmers {
    fn default() -> Self {
        Stemmers {
            da: Stemmer::create(Algorithm::Danish),
            en: Stemmer::create(Algorithm::English),
        }
    }
}

/// How many stems each thread remembers before it starts over (a few MB at most).
const STEM_CACHE: usize = 50_000;

thread_local! {
    /// Mail repeats its words: stemming is the dearest step of tokenising, so each thread
    /// keeps the stems it has made.
    static STEMS: std::cell::RefCell<[super::FastMap<String>; 2]> =
        std::cell::RefCell::default();
}

impl Stemmers {
    pub fn stem(&self, lang: Language, word: &str) -> String {
        STEMS.with(|cache| {
            let mut cache = cache.borrow_mut();
            let [da, en] = &mut *cache;
            let (cache, stemmer) = match lang {
                Language::Da => (da, &self.da),
                Language::En => (en, &self.en),
            };
            if let Some(s) = cache.get(word) {
                return s.clone();
            }
            let stem = stemmer.stem(word).into_owned();
            if cache.len() >= STEM_CACHE {
                cache.clear();
            }
            cache.insert(word.to_string(), stem.clone());
            stem
        })
    }
}

/// A line at least this long that ends without punctuation was wrapped, not ended.
const WRAPPED: usize = 50;

/// Whether a line break after `line` (followed by `next`) ends the sentence. A long line that
/// stops mid-sentence was wrapped by the mail program: the sentence goes on. Short lines
/// (greetings, signatures, lists) end where they end.
pub(crate) fn line_ends_sentence(line: &str, next: &str) -> bool {
    let line = line.trim_end();
    line.chars().count() < WRAPPED || line.ends_with(['.', '!', '?', ':']) || next.trim().is_empty()
}

/// A question of at most this many words ("Er det tilladt?", "Is that OK?") asks about the
/// sentence before it, which then counts as part of the question.
const BARE_QUESTION: usize = 6;

pub fn tokenize(text: &str, lang: Language, stemmers: &Stemmers) -> Tokens {
    let folded = fold(text);
    let mut out = Tokens::default();
    let mut sentence = Sentence::default();
    // The text from the start of the current line on.
    let mut line = folded.as_str();
    let mut rest = folded.as_str();
    // Walk "words" separated by whitespace/punctuation; a word may contain hyphens.
    while !rest.is_empty() {
        let (chunk, from_sep) = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '-'))
            .and_then(|end| rest.split_at_checked(end))
            .unwrap_or((rest, ""));
        push_word(&mut out, chunk, lang, stemmers);
        let mut after = from_sep.chars();
        let Some(sep) = after.next() else {
            break;
        };
        // Every '\n' is a separator: the current line runs up to this one.
        let ends_line = sep == '\n'
            && line_ends_sentence(
                line.split('\n').next().unwrap_or(""),
                after.as_str().lines().next().unwrap_or(""),
            );
        if sep == '\n' {
            line = after.as_str();
        }
        if matches!(sep, '.' | '!' | '?') || ends_line {
            sentence.end(&mut out, sep == '?');
        }
        rest = after.as_str();
    }
    out
}

/// A word of the text (letters, digits, hyphens) as tokens: each part between hyphens, and
/// the parts joined as a compound.
fn push_word(out: &mut Tokens, chunk: &str, lang: Language, stemmers: &Stemmers) {
    let parts: Vec<&str> = chunk.split('-').filter(|p| !p.is_empty()).collect();
    for p in &parts {
        out.tokens.push(Token {
            word: (*p).to_string(),
            stem: stemmers.stem(lang, p),
        });
        out.question.push(None);
    }
    if parts.len() > 1 {
        let joined: String = parts.concat();
        let first = out.tokens.len() - parts.len();
        out.compounds.push((
            first,
            Token {
                stem: stemmers.stem(lang, &joined),
                word: joined,
            },
        ));
    }
}

/// Where the sentences being read start, and how many questions were asked.
#[derive(Debug, Default)]
struct Sentence {
    /// Where the current sentence's tokens start; a '?' makes them a question.
    start: usize,
    /// Where the sentence before the current one starts.
    told_start: usize,
    questions: u16,
}

impl Sentence {
    /// Ends the current sentence at the last token; a question (`asked`) marks its tokens.
    fn end(&mut self, out: &mut Tokens, asked: bool) {
        if asked && self.start < out.tokens.len() {
            // "Er det tilladt?": a bare question asks about what was just told.
            let from = if out.tokens.len() - self.start <= BARE_QUESTION
                && self.start - self.told_start >= 3
                && out
                    .question
                    .get(self.told_start)
                    .is_some_and(Option::is_none)
            {
                self.told_start
            } else {
                self.start
            };
            out.question
                .iter_mut()
                .skip(from)
                .for_each(|q| *q = Some(self.questions));
            self.questions = self.questions.saturating_add(1);
        }
        if self.start < out.tokens.len() {
            self.told_start = self.start;
        }
        self.start = out.tokens.len();
    }
}

#[cfg(test)]
#[allow(clippy::string_slice, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn folds_and_stems() {
        let s = Stemmers::default();
        let t = tokenize("Priserne på Zoom-licensen?", Language::Da, &s);
        let stems: Vec<&str> = t.tokens.iter().map(|t| t.stem.as_str()).collect();
        assert_eq!(stems, ["pris", "paa", "zoom", "licens"]);
        assert_eq!(t.compounds[0].0, 2);
        assert_eq!(t.compounds[0].1.word, "zoomlicensen");
        assert_eq!(fold("Få Æble"), "faa aeble");
        let t = tokenize("Hej. Virker det? Og prisen?? Tak.", Language::Da, &s);
        assert_eq!(t.question, [None, Some(0), Some(0), Some(1), Some(1), None]);
    }

    #[test]
    fn a_bare_question_asks_about_what_was_just_told() {
        let s = Stemmers::default();
        let t = tokenize(
            "Hej. Vi holder et symposium for borgere. Er det tilladt? Og prisen?",
            Language::Da,
            &s,
        );
        // "Vi holder ... borgere" belongs to the first question; "Hej" stays told.
        assert_eq!(t.question[0], None);
        assert!(
            t.question[1..6].iter().all(|q| *q == Some(0)),
            "{:?}",
            t.question
        );
        assert_eq!(t.question.last(), Some(&Some(1)));
        // A long question is its own.
        let t = tokenize(
            "Jeg skal holde et møde. Hvad koster en licens til et møde på to timer?",
            Language::Da,
            &s,
        );
        assert_eq!(t.question[0], None);
    }

    #[test]
    fn a_line_is_measured_in_characters_whatever_they_are() {
        let s = Stemmers::default();
        // 48 KELVIN SIGNs (3 bytes each, 1 once folded to 'k') and " x": 50 characters, so
        // the line was wrapped and the question runs on from it.
        let text = format!("{} x\nnext?", "\u{212A}".repeat(48));
        let t = tokenize(&text, Language::En, &s);
        assert_eq!(t.question, [Some(0), Some(0), Some(0)]);
        // One fewer: a short line, which ends its sentence.
        let text = format!("{} x\nnext?", "\u{212A}".repeat(47));
        let t = tokenize(&text, Language::En, &s);
        assert_eq!(t.question, [None, None, Some(0)]);
        // Separators only, at either end, or around a hyphen.
        for odd in ["", "\n", "-", "?\n?", "a-\n-b", "\u{130}-\u{1E9E}\r\n\r\n?"] {
            let t = tokenize(odd, Language::Da, &s);
            assert_eq!(t.tokens.len(), t.question.len(), "{odd:?}");
        }
    }

    #[test]
    fn a_wrapped_line_does_not_end_the_sentence() {
        let s = Stemmers::default();
        let text =
            "Kan vi holde møder, der varer længere end den gratis version\ntillader?\nMvh\nBo";
        let t = tokenize(text, Language::Da, &s);
        assert_eq!(t.question[0], Some(0), "{:?}", t.question);
        assert_eq!(t.question[t.question.len() - 1], None);
    }
}
