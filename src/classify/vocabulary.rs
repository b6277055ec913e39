//! The vocabulary: the plain word lists the classifier and the sensitive-data check read
//! (number words and units of a meeting, negations, words that are no names, titles,
//! pronouns, abbreviations, the words around a CPR number). They are data in `rules.toml`,
//! not code, so HR and IT can add a word without a release.
//!
//! Each list is matched word by word: an entry matches a word that equals it, or, written
//! with a trailing `*`, a word that begins with it. The lists the classifier reads compare
//! folded words (lower case, æ/ø/å as ae/oe/aa, as the patterns do); the sensitive-data lists
//! compare lower-case words as written (there "løn" is not "loen"). Loading checks that
//! every entry can match a word at all, and says which.
//!
//! A rules file written before a list existed still loads: a list that is not in it is
//! taken from the `rules.toml` built into the binary ([`SHIPPED_RULES`]), and a note says so
//! (`autosvar check` prints it). This module never decides what a word means for a mail;
//! it only holds and matches the lists.

#![deny(clippy::string_slice, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::path::Path;

use toml::Spanned;

use super::text::fold;
use crate::diagnostic::Diagnostic;

/// The `rules.toml` shipped with this version, built into the binary: where a list missing
/// from the configured file comes from, and what the classifier-free CPR functions read.
pub const SHIPPED_RULES: &str = include_str!("../../rules.toml");

/// Words matched whole, or (written `word*`) as a word's beginning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WordList {
    exact: Vec<String>,
    prefixes: Vec<String>,
}

impl WordList {
    /// Whether `word` (already folded or lowercased as the list is) is on the list.
    pub fn matches(&self, word: &str) -> bool {
        self.exact.iter().any(|e| e == word)
            || self.prefixes.iter().any(|p| word.starts_with(p.as_str()))
    }

    /// As [`WordList::matches`], ignoring the case of ASCII letters only.
    pub fn matches_ignore_ascii_case(&self, word: &str) -> bool {
        self.exact.iter().any(|e| e.eq_ignore_ascii_case(word))
            || self.prefixes.iter().any(|p| {
                word.get(..p.len())
                    .is_some_and(|start| start.eq_ignore_ascii_case(p))
            })
    }

    /// How many entries the list has.
    pub fn len(&self) -> usize {
        self.exact.len() + self.prefixes.len()
    }

    /// Whether the list has no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `word` ends with one of the list's whole-word entries of at least `min`
    /// letters, ignoring the case of ASCII letters ("Brystkræft" ends with "kræft").
    pub fn ends_with_entry(&self, word: &str, min: usize) -> bool {
        self.exact.iter().any(|e| {
            e.len() >= min
                && word.len() >= e.len()
                && word
                    .get(word.len() - e.len()..)
                    .is_some_and(|end| end.eq_ignore_ascii_case(e))
                && e.chars().count() >= min
        })
    }

    /// The entries of more than one word ("ligger på sjukhus"), each as its words and
    /// whether the last is a beginning (`word*`). [`WordList::matches`] never matches them:
    /// a word holds no space.
    pub fn phrases(&self) -> impl Iterator<Item = (std::str::Split<'_, char>, bool)> {
        let exact = self.exact.iter().map(|e| (e, false));
        let prefixes = self.prefixes.iter().map(|p| (p, true));
        exact
            .chain(prefixes)
            .filter(|(e, _)| e.contains(' '))
            .map(|(e, prefix)| (e.split(' '), prefix))
    }
}

/// The words that say how large or long a meeting is: "250 deltagere", "to timer".
#[derive(Debug, Clone, Default)]
pub struct MeetingWords {
    /// Number words and their value ("halvanden" = 1.5), folded.
    pub numbers: BTreeMap<String, f64>,
    pub participants: WordList,
    pub minutes: WordList,
    pub hours: WordList,
    /// "om ugen", "a week": a number of hours per period is working time, not a meeting.
    pub per_period: WordList,
}

impl MeetingWords {
    /// A number written as digits or as one of the number words.
    pub fn number(&self, word: &str) -> Option<f64> {
        if let Ok(n) = word.parse::<f64>() {
            return Some(n);
        }
        self.numbers.get(word).copied()
    }
}

/// The words the patient check reads around a name.
#[derive(Debug, Clone, Default)]
pub struct NameWords {
    /// Capitalised words that are no person's name ("Region", "Herlev", "Tuesday").
    pub not_names: WordList,
    /// Words that name a person by the surname after them ("hr. Jensen", "patient Hansen").
    pub titles: WordList,
    /// Words that, opening a sentence, point back at the person just named.
    pub pronouns: WordList,
    /// Words whose dot ends no sentence ("hr.", "afd.", "ca.").
    pub abbreviations: WordList,
}

/// The words just before a number that say what it is.
#[derive(Debug, Clone, Default)]
pub struct CprWords {
    /// "CPR", "personnummer": the number is a CPR number, whatever else is near.
    pub named: WordList,
    /// "tlf", "ordre", "faktura": the number is something else.
    pub not_cpr: WordList,
}

/// The words that make a sentence about the sender's own health.
#[derive(Debug, Clone, Default)]
pub struct OwnHealthWords {
    /// "jeg", "min", "I", "my", "jag", "ich": the sentence is about the writer.
    pub first_person: WordList,
    /// "sygemeldt", "kemo*", "chemotherapy", "gravid", "ligger på sjukhus": the writer's
    /// illness, treatment or condition (also phrases of several words).
    pub health: WordList,
    /// "kræft", "diabetes", "ADHD": an illness someone has, after a [`Self::verbs`] word.
    pub conditions: WordList,
    /// "har", "have", "habe", "lider": what stands before a condition one has.
    pub verbs: WordList,
    /// "fået", "konstateret", "a", "seit": what may stand between the verb and the condition.
    pub fillers: WordList,
}

/// Every vocabulary list.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    pub meeting: MeetingWords,
    /// Words that, right after a phrase that closes the matter ("virker nu"), turn it round
    /// ("virker nu ikke").
    pub negations: WordList,
    pub names: NameWords,
    pub cpr: CprWords,
    pub own_health: OwnHealthWords,
}

/// What a list's words are compared with, and so what an entry may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Folded words of the tokenised text: letters and digits.
    Folded,
    /// Lower-case words of the sensitive check: letters, digits and '-'.
    Lower,
    /// Lower-case runs of letters only (the word before a dot).
    Letters,
    /// As [`Kind::Lower`], or several such words apart by single spaces (a phrase).
    Phrase,
}

/// Every list as the rules file has it (`None`: not in the file).
#[derive(Debug, Default)]
pub(super) struct RawLists<'a> {
    pub numbers: Option<&'a BTreeMap<String, Spanned<f64>>>,
    /// The word lists, in the order of [`LIST_KEYS`].
    pub words: [Option<&'a [Spanned<String>]>; LIST_KEYS.len()],
}

/// Every word list's key in the rules file and what its words are compared with. The
/// order is the order of [`RawLists::words`].
pub(super) const LIST_KEYS: [(&str, Kind); 16] = [
    ("limits.participant-words", Kind::Folded),
    ("limits.minute-words", Kind::Folded),
    ("limits.hour-words", Kind::Folded),
    ("limits.per-period-words", Kind::Folded),
    ("thanks.negations", Kind::Folded),
    ("sensitive.not-names", Kind::Lower),
    ("sensitive.name-titles", Kind::Lower),
    ("sensitive.pronouns", Kind::Lower),
    ("sensitive.abbreviations", Kind::Letters),
    ("sensitive.cpr-words", Kind::Lower),
    ("sensitive.not-cpr-words", Kind::Lower),
    ("sensitive.first-person", Kind::Lower),
    ("sensitive.own-health", Kind::Phrase),
    ("sensitive.conditions", Kind::Lower),
    ("sensitive.condition-verbs", Kind::Lower),
    ("sensitive.condition-fillers", Kind::Lower),
];

impl RawLists<'_> {
    /// Whether some list is not in the file.
    pub(super) fn is_incomplete(&self) -> bool {
        self.numbers.is_none() || self.words.iter().any(Option::is_none)
    }
}

/// The key of the number words' table.
pub(super) const NUMBERS_KEY: &str = "limits.numbers";

/// Where lists are read from: the rules file, or the shipped one for what it lacks.
pub(super) struct Source<'a> {
    pub file: &'a Path,
    pub text: &'a str,
    pub lists: RawLists<'a>,
}

/// What building the vocabulary found: the lists, the problems, and the notes on lists
/// taken from the shipped file.
pub(super) struct Built {
    pub vocabulary: Vocabulary,
    pub problems: Vec<Diagnostic>,
    pub notes: Vec<Diagnostic>,
}

/// Builds the vocabulary from `own`, each list missing there from `shipped` (with a note).
pub(super) fn build(own: &Source<'_>, shipped: Option<&Source<'_>>) -> Built {
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let mut lists: Vec<WordList> = Vec::new();
    for (i, (key, kind)) in LIST_KEYS.iter().enumerate() {
        let (source, words) = pick(
            own,
            shipped,
            |s| s.lists.words.get(i).copied().flatten(),
            key,
            &mut notes,
        );
        lists.push(word_list(source, key, *kind, words, &mut problems));
    }
    let (source, numbers) = pick(own, shipped, |s| s.lists.numbers, NUMBERS_KEY, &mut notes);
    let numbers = number_words(source, numbers, &mut problems);
    let mut lists = lists.into_iter();
    let mut next = || lists.next().unwrap_or_default();
    let vocabulary = Vocabulary {
        meeting: MeetingWords {
            numbers,
            participants: next(),
            minutes: next(),
            hours: next(),
            per_period: next(),
        },
        negations: next(),
        names: NameWords {
            not_names: next(),
            titles: next(),
            pronouns: next(),
            abbreviations: next(),
        },
        cpr: CprWords {
            named: next(),
            not_cpr: next(),
        },
        own_health: OwnHealthWords {
            first_person: next(),
            health: next(),
            conditions: next(),
            verbs: next(),
            fillers: next(),
        },
    };
    Built {
        vocabulary,
        problems,
        notes,
    }
}

/// A list from the rules file, or, when it is not there, from the shipped one with a note.
fn pick<'s, 'a, T: ?Sized>(
    own: &'s Source<'a>,
    shipped: Option<&'s Source<'a>>,
    get: impl Fn(&Source<'a>) -> Option<&'a T>,
    key: &str,
    notes: &mut Vec<Diagnostic>,
) -> (&'s Source<'a>, Option<&'a T>) {
    if let Some(found) = get(own) {
        return (own, Some(found));
    }
    notes.push(
        Diagnostic::new(
            own.file,
            "not in this file; the list shipped with autosvar is used",
        )
        .with_key(key)
        .with_hint(copy_hint(key)),
    );
    match shipped {
        Some(s) => (s, get(s)),
        None => (own, None),
    }
}

/// What to copy where to change a list the file lacks.
fn copy_hint(key: &str) -> String {
    let from = "from the rules.toml that came with this version";
    match key.split_once('.') {
        _ if key == NUMBERS_KEY => format!("to change it, copy the [{key}] table {from}"),
        Some((section, name)) => format!("to change it, copy `{name}` into [{section}] {from}"),
        None => format!("to change it, copy `{key}` {from}"),
    }
}

/// One word list, each entry checked: it must be able to match a word.
fn word_list(
    source: &Source<'_>,
    key: &str,
    kind: Kind,
    words: Option<&[Spanned<String>]>,
    problems: &mut Vec<Diagnostic>,
) -> WordList {
    let mut list = WordList::default();
    for w in words.unwrap_or_default() {
        match entry(w.get_ref(), kind) {
            Ok((word, true)) => list.prefixes.push(word),
            Ok((word, false)) => list.exact.push(word),
            Err(why) => problems.push(
                Diagnostic::new(source.file, format!("{:?} {why}", w.get_ref()))
                    .placed(source.text, w.span().start)
                    .with_key(key)
                    .with_hint(kind.hint()),
            ),
        }
    }
    list
}

/// The number words, each a word of letters with a value that is a number.
fn number_words(
    source: &Source<'_>,
    numbers: Option<&BTreeMap<String, Spanned<f64>>>,
    problems: &mut Vec<Diagnostic>,
) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for (word, value) in numbers.into_iter().flatten() {
        let problem = match entry(word, Kind::Folded) {
            Ok((_, true)) => Some(format!(
                "{word:?} ends in '*'; a number word is matched whole"
            )),
            Err(why) => Some(format!("{word:?} {why}")),
            Ok((_, false)) if !value.get_ref().is_finite() || *value.get_ref() < 0.0 => Some(
                format!("{word:?} has a value that is not a number of 0 or more"),
            ),
            Ok((folded, false)) => {
                out.insert(folded, *value.get_ref());
                None
            }
        };
        if let Some(message) = problem {
            problems.push(
                Diagnostic::new(source.file, message)
                    .placed(source.text, value.span().start)
                    .with_key(NUMBERS_KEY)
                    .with_hint("write e.g. halvanden = 1.5"),
            );
        }
    }
    out
}

impl Kind {
    fn hint(self) -> &'static str {
        match self {
            Kind::Folded => "write one word of letters and digits, with an optional trailing '*'",
            Kind::Lower => {
                "write one word of letters, digits and '-', with an optional trailing '*'"
            }
            Kind::Letters => "write one word of letters only, with an optional trailing '*'",
            Kind::Phrase => {
                "write words of letters, digits and '-' apart by spaces, with an optional trailing '*'"
            }
        }
    }

    /// Whether a word compared with this list may hold `c`.
    fn allows(self, c: char) -> bool {
        match self {
            Kind::Folded => c.is_alphanumeric(),
            Kind::Lower => c.is_alphanumeric() || c == '-',
            Kind::Letters => c.is_alphabetic(),
            Kind::Phrase => c.is_alphanumeric() || c == '-' || c == ' ',
        }
    }
}

/// One entry, normalised as its list compares (folded or lower case), and whether it is a
/// prefix (`word*`); or why it can never match a word.
fn entry(raw: &str, kind: Kind) -> Result<(String, bool), String> {
    let trimmed = raw.trim();
    let (core, prefix) = match trimmed.strip_suffix('*') {
        Some(core) => (core, true),
        None => (trimmed, false),
    };
    let word = match kind {
        Kind::Folded => fold(core),
        Kind::Lower | Kind::Letters => core.to_lowercase(),
        Kind::Phrase => core
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase(),
    };
    if word.is_empty() {
        return Err("is empty".into());
    }
    if let Some(bad) = word.chars().find(|c| !kind.allows(*c)) {
        return Err(format!(
            "can never match: the words it is compared with hold no {bad:?}"
        ));
    }
    Ok((word, prefix))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_words_or_beginnings() {
        assert_eq!(
            entry("Måneden", Kind::Folded),
            Ok(("maaneden".into(), false))
        );
        assert_eq!(entry("minut*", Kind::Folded), Ok(("minut".into(), true)));
        assert_eq!(entry("Løn*", Kind::Lower), Ok(("løn".into(), true)));
        assert_eq!(entry("p-nr", Kind::Lower), Ok(("p-nr".into(), false)));
        assert!(
            entry("p-nr", Kind::Folded).is_err(),
            "mail words are split at '-'"
        );
        assert!(entry("hr.", Kind::Letters).is_err());
        assert!(entry("*", Kind::Lower).is_err());
        assert!(entry("two words", Kind::Lower).is_err());
        assert_eq!(
            entry(" Ligger  på sjukhus ", Kind::Phrase),
            Ok(("ligger på sjukhus".into(), false))
        );
        assert!(entry("in, hospital", Kind::Phrase).is_err());
        let list = WordList {
            exact: vec!["kræft".into(), "ligger på sjukhus".into(), "ms".into()],
            prefixes: vec!["i behandling f".into()],
        };
        let phrases: Vec<(Vec<&str>, bool)> =
            list.phrases().map(|(p, x)| (p.collect(), x)).collect();
        assert_eq!(
            phrases,
            vec![
                (vec!["ligger", "på", "sjukhus"], false),
                (vec!["i", "behandling", "f"], true)
            ]
        );
        assert!(list.ends_with_entry("Brystkræft", 5));
        assert!(!list.ends_with_entry("Kræftpatienter", 5));
        assert!(
            !list.ends_with_entry("items", 3),
            "an entry shorter than the least"
        );
    }

    #[test]
    fn a_list_matches_whole_words_and_beginnings() {
        let list = WordList {
            exact: vec!["min".into()],
            prefixes: vec!["minut".into()],
        };
        assert!(list.matches("min") && list.matches("minutter") && list.matches("minut"));
        assert!(!list.matches("mine") && !list.matches("mi"));
        let titles = WordList {
            exact: vec!["hr".into()],
            prefixes: vec!["dok".into()],
        };
        assert!(
            titles.matches_ignore_ascii_case("Hr") && titles.matches_ignore_ascii_case("DOKTOR")
        );
        assert!(!titles.matches_ignore_ascii_case("hrs") && !titles.matches_ignore_ascii_case("d"));
    }

    #[test]
    fn the_shipped_vocabulary_loads_whole() {
        let v = super::super::rules::shipped();
        assert_eq!(v.meeting.number("halvanden"), Some(1.5));
        assert_eq!(v.meeting.number("90"), Some(90.0));
        assert!(v.meeting.minutes.matches("minutter") && v.meeting.hours.matches("t"));
        assert!(v.negations.matches("ikke"));
        assert!(v.names.not_names.matches("hillerød"));
        assert!(v.names.titles.matches_ignore_ascii_case("Fru"));
        assert!(v.names.pronouns.matches_ignore_ascii_case("She"));
        assert!(v.names.abbreviations.matches("afd"));
        assert!(v.cpr.named.matches("cpr-nummer") && v.cpr.not_cpr.matches("lønnummer"));
        assert!(!v.cpr.not_cpr.matches("tlfx"), "tlf is matched whole");
    }
}
