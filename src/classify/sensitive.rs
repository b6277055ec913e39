//! Finds sensitive personal data: CPR numbers and patient details.
//!
//! A CPR number is DDMMYY-SSSS or DDMMYYSSSS with a real calendar date (the 7th digit fixes
//! the century). The modulus-11 check is not used: numbers issued since 2007 may fail it.
//! Numbers glued to other digits, or introduced as phone, order, invoice, EAN or employee
//! numbers, are not CPR numbers. Patient details are a sentence that names a person (a full
//! name, a title and a surname, a first name given in full before, or "hun"/"she" opening
//! the sentence after the name) together with a diagnosis, treatment, operation, admission
//! or sick leave anywhere in it, or with "patient"/"borger" right beside the name. Sentences
//! end only where a capital follows, wrapped lines are joined, and mail and web addresses,
//! signature lines in title case and capitalised place names are no diagnosis.
//! [`redact`] replaces every CPR number; it is applied wherever text leaves autosvar. This
//! module never changes or forwards text itself: it only answers yes or no, and redacts.

use super::Classifier;
use crate::parse::{language, Language};

/// What a redacted CPR number is replaced with.
pub const CPR_REDACTED: &str = "[CPR-nummer fjernet]";

/// Words that, just before a number, say it is something other than a CPR number.
const NOT_CPR_CONTEXT: &[&str] = &[
    "tlf",
    "telefon",
    "phone",
    "mobil",
    "ordre",
    "order",
    "faktura",
    "invoice",
    "ean",
    "gln",
    "medarbejdernr",
    "medarbejdernummer",
    "employee",
    "løn",
    "sagsnr",
    "sag",
    "case",
    "ref",
    "konto",
    "account",
    "kontonr",
    "reg",
    "cvr",
    "p-nr",
    "bestilling",
    "nr",
];

fn days_in_month(month: u32, year: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        _ => 0,
    }
}

/// Whether ten digits (DDMMYYSSSS) form a CPR number with a valid date.
pub fn valid_cpr_digits(d: &[u32; 10]) -> bool {
    let day = d[0] * 10 + d[1];
    let month = d[2] * 10 + d[3];
    let yy = d[4] * 10 + d[5];
    // Century from the 7th digit (CPR office rules).
    let century = match (d[6], yy) {
        (0..=3, _) => 1900,
        (4 | 9, 0..=36) => 2000,
        (4 | 9, _) => 1900,
        (5..=8, 0..=57) => 2000,
        (5..=8, _) => 1800,
        _ => return false,
    };
    (1..=12).contains(&month) && day >= 1 && day <= days_in_month(month, century + yy)
}

/// Byte ranges of the CPR numbers in `text`.
pub fn find_cpr(text: &str) -> Vec<std::ops::Range<usize>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit()
            || (i > 0
                && (b[i - 1].is_ascii_digit()
                    || b[i - 1] == b'-' && i >= 2 && b[i - 2].is_ascii_digit()))
        {
            i += 1;
            continue;
        }
        // Six digits, an optional '-' or space, four digits, then no digit.
        let mut digits = [0u32; 10];
        let mut n = 0;
        let mut j = i;
        let mut sep = false;
        while j < b.len() && n < 10 {
            if b[j].is_ascii_digit() {
                digits[n] = u32::from(b[j] - b'0');
                n += 1;
                j += 1;
            } else if n == 6 && !sep && (b[j] == b'-' || b[j] == b' ') {
                sep = true;
                j += 1;
            } else {
                break;
            }
        }
        let glued = j < b.len()
            && (b[j].is_ascii_digit()
                || b[j] == b'-' && j + 1 < b.len() && b[j + 1].is_ascii_digit());
        if n == 10
            && !glued
            && valid_cpr_digits(&digits)
            && !(sep && b[i + 6] == b' ' && !cpr_named_before(text, i))
        {
            if !excluded_by_context(text, i) {
                out.push(i..j);
            }
            i = j;
        } else {
            // Skip the rest of this digit run.
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    out
}

fn preceding_words(text: &str, at: usize, n: usize) -> Vec<String> {
    let start = text[..at]
        .char_indices()
        .rev()
        .nth(40)
        .map_or(0, |(i, _)| i);
    text[start..at]
        .split(|c: char| !c.is_alphanumeric() && c != '-')
        .filter(|w| !w.is_empty() && !w.chars().all(|c| c.is_ascii_digit()))
        .map(str::to_lowercase)
        .rev()
        .take(n)
        .collect()
}

fn cpr_named_before(text: &str, at: usize) -> bool {
    preceding_words(text, at, 4)
        .iter()
        .any(|w| w.starts_with("cpr") || w == "personnummer")
}

fn excluded_by_context(text: &str, at: usize) -> bool {
    // "Mit cpr nr er 140391-8012": a CPR word a few words back wins over "nr".
    if cpr_named_before(text, at) {
        return false;
    }
    preceding_words(text, at, 2).iter().any(|w| {
        NOT_CPR_CONTEXT
            .iter()
            .any(|c| w == c || (c.len() > 3 && w.starts_with(c)))
    })
}

/// Replaces every CPR number in `text`.
pub fn redact(text: &str) -> String {
    let found = find_cpr(text);
    if found.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for r in found {
        out.push_str(&text[last..r.start]);
        out.push_str(CPR_REDACTED);
        last = r.end;
    }
    out.push_str(&text[last..]);
    out
}

/// Proper nouns that are not people, so "Region Hovedstaden" is not a patient's name.
const NOT_NAMES: &[&str] = &[
    "zoom",
    "region",
    "regionh",
    "hovedstaden",
    "microsoft",
    "teams",
    "meetings",
    "ku",
    "københavns",
    "universitet",
    "softwareshoppen",
    "cimt",
    "servicedesk",
    "it",
    "hr",
    "rigshospitalet",
    "herlev",
    "hvidovre",
    "bispebjerg",
    "gentofte",
    "amager",
    "glostrup",
    "hillerød",
    "nordsjællands",
    "hospital",
    "hospitalet",
    "center",
    "centre",
    "afdeling",
    "department",
    "kommune",
    "kommunes",
    "municipality",
    "klinik",
    "clinic",
    "university",
    "outlook",
    "windows",
    "mac",
    "iphone",
    "ipad",
    "android",
    "e-learning",
    "kol",
    "copd",
    // Days and months are capitalised in English ("Every Tuesday we ..."); May is also a
    // first name, so it stays a name.
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "january",
    "february",
    "march",
    "april",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// A capitalised word that can be part of a person's name: "Hansen", "Anne-Marie", "Kjær".
fn is_name_word(w: &str) -> bool {
    w.split('-').all(|part| {
        let mut cs = part.chars();
        cs.next().is_some_and(char::is_uppercase)
            && part.chars().count() >= 2
            && cs.all(char::is_lowercase)
    }) && !NOT_NAMES.contains(&w.to_lowercase().as_str())
}

/// Whether `w` is one of `list` (lower case), whatever its case.
fn one_of(list: &[&str], w: &str) -> bool {
    list.iter().any(|x| x.eq_ignore_ascii_case(w))
}

/// An abbreviation in capitals ("KOL", "AMI", "CRP"): kept, for diagnoses are written so.
fn is_abbreviation(w: &str) -> bool {
    (2..=6).contains(&w.chars().count())
        && w.chars().all(|c| c.is_uppercase() || c.is_ascii_digit())
        && w.chars().any(char::is_alphabetic)
}

/// A sentence's words: letters, digits and hyphens.
fn words(sentence: &str) -> Vec<&str> {
    sentence
        .split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .filter(|w| !w.is_empty())
        .collect()
}

/// Words that name a person by the surname that follows: "hr. Jensen", "Mrs Patel",
/// "patient Hansen".
const NAME_TITLES: &[&str] = &[
    "hr",
    "fru",
    "frk",
    "mr",
    "mrs",
    "ms",
    "dr",
    "pt",
    "patient",
    "patienten",
    "borger",
    "borgeren",
];

/// Where a person is named in full in a sentence: the positions of the name's words. A name
/// is two or three capitalised words in a row (opening the sentence only when the first is
/// no function word: "Kan Jette" is a question), or a title and a surname ("hr. Jensen").
fn name_in(words: &[&str]) -> Option<Vec<usize>> {
    let opens_with_name = |i: usize| i > 0 || !language::is_function_word(&words[0].to_lowercase());
    if let Some(at) = (0..words.len().saturating_sub(1))
        .find(|&i| is_name_word(words[i]) && is_name_word(words[i + 1]) && opens_with_name(i))
    {
        let mut name = vec![at, at + 1];
        if words.get(at + 2).is_some_and(|w| is_name_word(w)) {
            name.push(at + 2);
        }
        return Some(name);
    }
    if let Some(at) = (0..words.len().saturating_sub(1))
        .find(|&i| one_of(NAME_TITLES, words[i]) && is_name_word(words[i + 1]))
    {
        return Some(vec![at, at + 1]);
    }
    None
}

/// The words of a sentence other than the name (its positions), and other than the
/// capitalised words after the first: "Institut for Klinisk Medicin", "Department of
/// Emergency Medicine" and "Region Hovedstadens Psykiatri" name places, and their words are
/// no diagnosis; a diagnosis is written in lower case mid-sentence, or as an abbreviation
/// in capitals ("KOL", "AMI"). A line with no word in lower case at all ("Operations
/// Coordinator, Copenhagen Trial Unit") is a signature or a heading: its first word goes
/// too.
fn rest_of(words: &[&str], name: &[usize]) -> String {
    let titled = !words.iter().any(|w| w.starts_with(char::is_lowercase));
    words
        .iter()
        .enumerate()
        .filter(|(i, w)| {
            !name.contains(i)
                && ((*i == 0 && !titled)
                    || !w.starts_with(char::is_uppercase)
                    || (!titled && is_abbreviation(w)))
        })
        .map(|(_, w)| *w)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The words just around the name: "patient Egon Lyhne", "Egon Lyhne, patient hos os".
fn around(words: &[&str], name: &[usize]) -> String {
    let (first, last) = (name[0], name[name.len() - 1]);
    let from = first.saturating_sub(NEAR);
    let to = (last + 1 + NEAR).min(words.len());
    (from..to)
        .filter(|i| !name.contains(i))
        .map(|i| words[i])
        .collect::<Vec<_>>()
        .join(" ")
}

/// How many words before or after a name a patient word ("patient", "borger") must be to
/// say the person is one. Further away, the sentence is about patients in general.
const NEAR: usize = 3;

/// Titles before a name ("Mr. Peter Aagaard", "hr. Jensen") and abbreviations of clinical
/// and office Danish ("afd. B4", "ca. 40", "evt. NIV"): their dot ends no sentence.
const DOTTED: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "hr", "fr", "frk", "pt", "afd", "ca", "evt", "pga", "mht",
    "vedr", "inkl", "jf", "st", "stk", "nr", "kl", "tlf",
];

/// `text` with the dot after a title or abbreviation replaced by a space, so the title and
/// the name (or the ward and the diagnosis) stay in one sentence.
fn without_abbreviation_dots(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    for c in text.chars() {
        if c == '.' && DOTTED.contains(&word.to_lowercase().as_str()) {
            out.push(' ');
        } else {
            out.push(c);
        }
        if c.is_alphabetic() {
            word.push(c);
        } else {
            word.clear();
        }
    }
    out
}

/// The sentences and lines of `text`. A full stop, "!" or "?" ends a sentence only before a
/// capital letter or the end: clinical notes are full of abbreviations ("fx crus sin., opr.
/// i går", "AMI 3/3, PCI-behandlet. 67-årig").
fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut line_start = 0;
    for (i, c) in text.char_indices() {
        let ends = match c {
            // A wrapped line goes on; a line opening with a label starts afresh.
            '\n' => {
                let line = &text[line_start..i];
                let next = text[i + 1..].lines().next().unwrap_or("");
                line_start = i + 1;
                super::text::line_ends_sentence(line, next) || is_label_line(next.trim())
            }
            '.' | '!' | '?' => {
                let after = text[i + c.len_utf8()..].trim_start_matches([' ', '\t']);
                after.is_empty()
                    || after.starts_with(['\n', '\r'])
                    || after.starts_with(char::is_uppercase)
            }
            _ => false,
        };
        if ends {
            out.push(&text[start..i]);
            start = i + c.len_utf8();
        }
    }
    out.push(&text[start..]);
    out
}

/// "Fejl: Postkassen er fuld", "Til: ...": a line that opens with a one-word label starts
/// afresh.
fn is_label_line(line: &str) -> bool {
    line.split_once(':')
        .is_some_and(|(label, _)| !label.is_empty() && label.chars().all(char::is_alphabetic))
}

/// `text` with mail addresses and web addresses blanked out: "psykiatri-regionh.example"
/// names a domain, not a diagnosis.
fn without_addresses(text: &str) -> String {
    text.split_inclusive(char::is_whitespace)
        .map(|w| {
            if w.contains('@') || w.contains("://") || w.starts_with("www.") {
                " ".repeat(w.len())
            } else {
                w.to_string()
            }
        })
        .collect()
}

/// Pronouns that, opening a sentence, refer to the person named just before.
const PRONOUNS: &[&str] = &["han", "hun", "he", "she"];

/// Whether the mail holds a CPR number or details about a named patient.
pub fn is_sensitive(full_text: &str, subject: &str, classifier: &Classifier) -> bool {
    if !find_cpr(full_text).is_empty() || !find_cpr(subject).is_empty() {
        return true;
    }
    let text = without_abbreviation_dots(&without_addresses(full_text));
    let sentences: Vec<Vec<&str>> = sentences(&text)
        .into_iter()
        .map(words)
        .filter(|w| w.len() >= 3)
        .collect();
    // "... min kollega Jette Berg. Jette er indlagt med lungebetændelse": once named in
    // full, a person is named by the first name alone, even opening a sentence.
    let full_names: Vec<Option<Vec<usize>>> = sentences.iter().map(|w| name_in(w)).collect();
    let first_names: Vec<&str> = sentences
        .iter()
        .zip(&full_names)
        .filter_map(|(w, n)| n.as_ref().filter(|n| n.len() >= 2).map(|n| w[n[0]]))
        .filter(|w| is_name_word(w) && !one_of(NAME_TITLES, w))
        .collect();
    // "... Anne-Sofie Brandt off Thursday's course. She is on the ward with an AMI": a
    // sentence that opens with "she" or "han" goes on about the person just named.
    let names: Vec<Option<Vec<usize>>> = sentences
        .iter()
        .zip(full_names)
        .map(|(w, n)| {
            n.or_else(|| {
                let at = w.iter().position(|x| first_names.contains(x))?;
                Some(vec![at])
            })
        })
        .collect();
    sentences.iter().enumerate().any(|(k, w)| {
        let pronoun =
            k > 0 && names[k - 1].is_some() && w.iter().take(2).any(|x| one_of(PRONOUNS, x));
        let Some(name) = names[k].clone().or_else(|| {
            pronoun.then(|| {
                let at = w.iter().position(|x| one_of(PRONOUNS, x)).unwrap_or(0);
                vec![at]
            })
        }) else {
            return false;
        };
        // A diagnosis, treatment or admission anywhere in the sentence; "patient" only
        // right beside the name.
        let rest = classifier.tokenize(&rest_of(w, &name), Language::Da);
        let near = classifier.tokenize(&around(w, &name), Language::Da);
        classifier
            .medical_index
            .any(&classifier.rules.medical_words, &rest)
            || classifier
                .patient_index
                .any(&classifier.rules.patient_words, &near)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rest of a sentence after taking out a person's name; `None` when it names nobody.
    fn without_a_name(sentence: &str) -> Option<String> {
        let words = words(sentence);
        let name = name_in(&words)?;
        Some(rest_of(&words, &name))
    }

    #[test]
    fn finds_cpr_with_and_without_hyphen() {
        assert_eq!(find_cpr("cpr 180649-2231, har KOL").len(), 1);
        assert_eq!(find_cpr("Mit CPR-nummer er 0907884412, hvis").len(), 1);
        // Valid date, fails modulus 11: still a CPR number.
        assert_eq!(find_cpr("Mit personnummer er 010190-1235 tak").len(), 1);
        assert_eq!(find_cpr("personnummer 120488 1437").len(), 1);
    }

    #[test]
    fn ignores_numbers_that_are_not_cpr() {
        for text in [
            "Ring på 3864 8080 eller +45 12345678",
            "EAN 5798000123456",
            "ordre 4512349876",
            "Mødet er 12.03.2024 kl. 10",
            "Faktura 0101901234 er betalt",
            "telefon 0101901234",
            "320190-1234",
            "311190-12345",
            "12345678901",
            "290223-1234",
        ] {
            assert!(find_cpr(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn cpr_named_a_few_words_back_wins_over_nr() {
        assert_eq!(find_cpr("Mit cpr nr er 140391-8012 hvis").len(), 1);
        assert!(find_cpr("Ordre nr 1403918012").is_empty());
    }

    #[test]
    fn institutions_are_not_patients() {
        assert_eq!(
            without_a_name("Lektor, Institut for Klinisk Medicin").as_deref(),
            Some("for")
        );
        assert_eq!(
            without_a_name("Clinical Teacher, Department of Emergency Medicine").as_deref(),
            Some("of")
        );
        assert_eq!(
            without_a_name("Vi taler med Gladsaxe Kommune om de borgere"),
            None,
            "a municipality is no person"
        );
        assert_eq!(
            without_a_name("journalen for Per Holm, der er i kemobehandling").as_deref(),
            Some("journalen for der er i kemobehandling")
        );
        assert_eq!(without_a_name("Hej alle sammen"), None);
        assert_eq!(
            without_a_name("Every Tuesday we hold a tumour board"),
            None,
            "a weekday is no person"
        );
        assert_eq!(
            without_a_name("Operations Coordinator, Copenhagen Trial Unit").as_deref(),
            Some(""),
            "a signature line names a job and a place, and no diagnosis"
        );
    }

    #[test]
    fn a_dot_ends_a_sentence_only_before_a_capital() {
        assert_eq!(
            sentences("Hanne Juul, fx crus sin., opr. i går. Udskrives fredag!\nMvh"),
            vec![
                "Hanne Juul, fx crus sin., opr. i går",
                " Udskrives fredag",
                "",
                "Mvh"
            ]
        );
        assert_eq!(sentences("AMI 3/3. 67-årig"), vec!["AMI 3/3. 67-årig"]);
        let wrapped = "Kan vi gennemgå Ib Kjeldsen på mødet? Han er 71 år, ligger på stue 4,\nKOL i exacerbation.\nPer\nSygeplejerske";
        assert_eq!(
            sentences(wrapped),
            vec![
                "Kan vi gennemgå Ib Kjeldsen på mødet",
                " Han er 71 år, ligger på stue 4,\nKOL i exacerbation",
                "",
                "Per",
                "Sygeplejerske"
            ]
        );
    }

    #[test]
    fn addresses_and_labels_are_no_sentence_matter() {
        let text = "Modtager: allan.vestergaard@psykiatri-regionh.example sendt videre til os\nFejl: Postkassen er fuld";
        let text = without_addresses(text);
        assert!(!text.contains("psykiatri"), "{text}");
        assert_eq!(sentences(&text).len(), 2, "{:?}", sentences(&text));
    }

    #[test]
    fn a_title_dot_ends_no_sentence() {
        assert_eq!(
            without_abbreviation_dots("Mr. Peter Aagaard and Dr. Li. Done."),
            "Mr  Peter Aagaard and Dr  Li. Done."
        );
        assert_eq!(without_abbreviation_dots("hr. Jensen"), "hr  Jensen");
    }

    #[test]
    fn leap_days() {
        assert_eq!(find_cpr("290200-4234").len(), 1); // 2000 was a leap year
        assert!(find_cpr("290200-1234").is_empty()); // 7th digit 1 -> 1900, not a leap year
    }

    #[test]
    fn redacts_every_cpr() {
        assert_eq!(
            redact("a 180649-2231 b 0907884412."),
            format!("a {CPR_REDACTED} b {CPR_REDACTED}.")
        );
    }
}
