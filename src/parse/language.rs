//! Tells Danish from English by counting common function words.
//!
//! A mail is short and informal, so n-gram models buy little here; function words and the
//! letters æ, ø and å carry the signal. Ties go to the configured default (Danish: the
//! mailbox is Danish).

use crate::types::Language;

const DANISH: &[&str] = &[
    "og", "jeg", "det", "at", "en", "et", "er", "ikke", "til", "på", "paa", "med", "som", "har",
    "vi", "kan", "du", "den", "af", "de", "om", "men", "hvad", "hvordan", "hvor", "hvornår", "hej",
    "tak", "hvis", "mig", "min", "mit", "mine", "skal", "vil", "være", "der", "eller", "også",
    "når", "mvh", "hilsen", "må", "maa", "vores", "bruge", "møde", "møder", "jer", "os", "nogen",
    "noget", "kun", "få", "faa", "godt", "venlig", "ved", "fra", "fordi", "sådan", "kære",
    "derfor", "bare", "lige", "selv", "hos", "dig", "mere", "meget", "nej", "ja", "igen", "hvem",
    "hvilke", "hvilken", "efter", "over", "under", "blev", "bliver", "gerne",
];

const ENGLISH: &[&str] = &[
    "the", "and", "to", "of", "is", "it", "we", "you", "can", "have", "not", "our", "with", "my",
    "this", "that", "how", "what", "hi", "hello", "thanks", "thank", "please", "would", "could",
    "do", "does", "are", "be", "will", "regards", "dear", "there", "which", "who", "when", "where",
    "your", "from", "for", "on", "in", "if", "any", "but", "about", "get", "use", "using", "an",
    "a", "was", "has", "been", "me", "us", "they", "them", "should", "best", "kind", "i'm", "i",
    "it's", "don't", "doesn't", "isn't", "why", "all",
];

/// Whether a word (lowercased, æ/ø/å folded or not) is a Danish or English function word.
pub fn is_function_word(word: &str) -> bool {
    static FOLDED: std::sync::LazyLock<std::collections::HashSet<String>> =
        std::sync::LazyLock::new(|| {
            DANISH
                .iter()
                .chain(ENGLISH)
                .flat_map(|w| [w.to_string(), crate::types::fold(w)])
                .collect()
        });
    FOLDED.contains(word)
}

/// Counts Danish and English evidence in `text`; `None` when there is none either way.
pub fn detect(text: &str) -> Option<Language> {
    let mut da = 0usize;
    let mut en = 0usize;
    static SETS: std::sync::LazyLock<[std::collections::HashSet<&'static str>; 2]> =
        std::sync::LazyLock::new(|| {
            [
                DANISH.iter().copied().collect(),
                ENGLISH.iter().copied().collect(),
            ]
        });
    let [danish, english] = &*SETS;
    for word in text
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
    {
        let w: std::borrow::Cow<'_, str> = if word.chars().any(char::is_uppercase) {
            word.to_lowercase().into()
        } else {
            word.into()
        };
        if danish.contains(w.as_ref()) {
            da += 2;
        }
        if english.contains(w.as_ref()) {
            en += 2;
        }
        if w.contains(['æ', 'ø', 'å']) {
            da += 1;
        }
    }
    match da.cmp(&en) {
        std::cmp::Ordering::Greater => Some(Language::Da),
        std::cmp::Ordering::Less => Some(Language::En),
        std::cmp::Ordering::Equal => None,
    }
}

#[cfg(test)]
#[allow(clippy::string_slice, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn detects_both_languages() {
        assert_eq!(detect("Hej, hvad koster Zoom? Mvh Bo"), Some(Language::Da));
        assert_eq!(detect("Hi, how much does Zoom cost?"), Some(Language::En));
        assert_eq!(
            detect("Hvordan faar jeg Zoom paa min pc"),
            Some(Language::Da)
        );
        assert_eq!(detect("Zoom 40"), None);
    }
}
