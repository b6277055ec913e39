//! The classification rules: a TOML file IT staff edit (`rules.toml`), compiled once.
//!
//! A rule is a pattern and a weight. Patterns are words or phrases, written the way people
//! write them, in Danish or English; each goes through the same folding and stemming as
//! mail text. `word*` matches words that begin with `word`, `*word` words that end with it
//! (Danish compounds: "zoomlicens"), `*word*` words that contain it. Loading checks every
//! pattern and reports each bad one with its line. The plain word lists beside the
//! patterns (number words, units, negations, the sensitive check's words) are read by
//! [`super::vocabulary`]; a list missing from the file is the shipped one, with a note.

#![deny(clippy::string_slice, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::text::{fold, Stemmers};
use super::vocabulary::{self, RawLists, Source, Vocabulary, SHIPPED_RULES};
use crate::diagnostic::Diagnostic;
use crate::types::{Category, Language, DESKS};

/// How one word of a pattern matches a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WordMatch {
    /// Same stem (in either language's stemming of the pattern word).
    Stem(Vec<String>),
    Prefix(String),
    Suffix(String),
    Contains(String),
}

/// A compiled pattern: one or more words that must appear in a row.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// As written in the rules file (for `--explain`).
    pub text: String,
    pub words: Vec<WordMatch>,
    pub weight: f64,
}

/// Every compiled rule.
#[derive(Debug, Clone)]
pub struct Rules {
    pub min_score: f64,
    pub min_confidence: f64,
    pub subject_weight: f64,
    pub reply_subject_weight: f64,
    pub off_topic_factor: f64,
    /// When a mail asks a question, sentences that do not ask count this much.
    pub told_weight: f64,
    /// Questions after the first, and side remarks, count this much.
    pub later_question_weight: f64,
    /// Share of the learned model in the final scores (0 = rules only).
    pub model_weight: f64,
    /// Softens the model's probabilities (naive Bayes is overconfident).
    pub model_temperature: f64,
    pub default_desk: String,
    /// Words that show a mail is about what the mailbox answers.
    pub topic_words: Vec<Pattern>,
    pub categories: Vec<(Category, Vec<Pattern>)>,
    pub desks: Vec<(String, Vec<Pattern>)>,
    /// The free tier's limits: beyond them a meeting needs a paid licence (pricing).
    pub limits: Limits,
    /// A short mail that only says thank you asks nothing: `other`.
    pub thanks: Thanks,
    /// Words that open a side remark ("P.S.", "og mens jeg har jer"): what follows them
    /// weighs `later-question-weight`.
    pub aside_words: Vec<Pattern>,
    /// Other products: a mail about one of them that never names ours is `other`.
    pub elsewhere: Elsewhere,
    /// Words that make a sentence about a person a patient context.
    pub patient_words: Vec<Pattern>,
    /// Diagnoses, treatments, admissions.
    pub medical_words: Vec<Pattern>,
    /// The plain word lists (number words, units, negations, names, CPR context).
    pub vocabulary: Vocabulary,
    /// What is worth knowing but no problem: the lists not in the file, taken from the
    /// shipped one.
    pub notes: Vec<Diagnostic>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawSettings {
    min_score: f64,
    min_confidence: f64,
    subject_weight: f64,
    reply_subject_weight: f64,
    off_topic_factor: f64,
    #[serde(default)]
    told_weight: Option<f64>,
    #[serde(default)]
    later_question_weight: Option<f64>,
    #[serde(default)]
    model_weight: Option<f64>,
    #[serde(default)]
    model_temperature: Option<f64>,
    default_desk: Spanned<String>,
}

/// The free tier: meetings up to this long and this large cost nothing.
#[derive(Debug, Clone)]
pub struct Limits {
    pub participants: f64,
    pub minutes: f64,
    /// Points for pricing when a mail names a meeting beyond them.
    pub weight: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            participants: 100.0,
            minutes: 40.0,
            weight: 4.0,
        }
    }
}

/// "Lyden forsvinder i Teams": a mail about another product is not for this mailbox.
#[derive(Debug, Clone, Default)]
pub struct Elsewhere {
    /// Our product ("zoom*"): a mail that names it is never sent elsewhere.
    pub product: Vec<Pattern>,
    /// Other products and systems.
    pub words: Vec<Pattern>,
    /// Subject openings of calendar mail ("invitation:", "accepteret:"), lower case.
    pub invitations: Vec<String>,
}

/// "Tusind tak, nu virker det!": thanks without a question.
#[derive(Debug, Clone)]
pub struct Thanks {
    pub words: Vec<Pattern>,
    /// Longer mails are judged on their content as usual.
    pub max_words: usize,
    /// Phrases that close the matter ("det virker nu", "please ignore"): a thank-you with
    /// one of them asks nothing, whatever topic words it repeats.
    pub done: Vec<Pattern>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawLimits {
    participants: f64,
    minutes: f64,
    weight: f64,
    numbers: Option<BTreeMap<String, Spanned<f64>>>,
    participant_words: Option<Vec<Spanned<String>>>,
    minute_words: Option<Vec<Spanned<String>>>,
    hour_words: Option<Vec<Spanned<String>>>,
    per_period_words: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawThanks {
    words: Vec<Spanned<String>>,
    max_words: usize,
    #[serde(default)]
    done: Vec<Spanned<String>>,
    negations: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawAside {
    words: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawElsewhere {
    product: Vec<Spanned<String>>,
    words: Vec<Spanned<String>>,
    #[serde(default)]
    invitations: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawTopic {
    words: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawSensitive {
    patient: Vec<Spanned<String>>,
    medical: Vec<Spanned<String>>,
    not_names: Option<Vec<Spanned<String>>>,
    name_titles: Option<Vec<Spanned<String>>>,
    pronouns: Option<Vec<Spanned<String>>>,
    abbreviations: Option<Vec<Spanned<String>>>,
    cpr_words: Option<Vec<Spanned<String>>>,
    not_cpr_words: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRules {
    settings: RawSettings,
    categories: BTreeMap<String, BTreeMap<String, Spanned<f64>>>,
    desks: BTreeMap<String, BTreeMap<String, Spanned<f64>>>,
    topic: RawTopic,
    limits: Option<RawLimits>,
    thanks: Option<RawThanks>,
    aside: Option<RawAside>,
    elsewhere: Option<RawElsewhere>,
    sensitive: RawSensitive,
}

/// Why the rules file cannot be used. Each line of `problems` is `file:line:col: message`.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read rules file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", problems.join("\n"))]
    Invalid { problems: Vec<String> },
}

impl RulesError {
    pub fn problems(&self) -> Vec<String> {
        match self {
            RulesError::Read { path, source } => {
                vec![format!("{}: cannot read: {source}", path.display())]
            }
            RulesError::Invalid { problems } => problems.clone(),
        }
    }
}

/// "line:column" of where `span` starts in `text`; the column counts characters, as the
/// config's does (the one place-finder, [`crate::diagnostic::place`]).
fn place(text: &str, span: Range<usize>) -> String {
    let (line, col) = crate::diagnostic::place(text, span.start);
    format!("{line}:{col}")
}

impl Rules {
    /// Reads and compiles a rules file.
    ///
    /// # Errors
    /// When the file cannot be read, is not valid TOML of the expected shape, or holds a
    /// pattern that cannot match anything; every problem is listed.
    pub fn load(path: &Path) -> Result<Rules, RulesError> {
        let text = std::fs::read_to_string(path).map_err(|source| RulesError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Rules::parse(path, &text)
    }

    /// Compiles rules text as if read from `path`.
    ///
    /// # Errors
    /// As [`Rules::load`].
    pub fn parse(path: &Path, text: &str) -> Result<Rules, RulesError> {
        let file = path.display().to_string();
        let raw: RawRules = toml::from_str(text).map_err(|e| RulesError::Invalid {
            problems: vec![match e.span() {
                Some(s) => format!("{file}:{}: {}", place(text, s), e.message().trim()),
                None => format!("{file}: {}", e.message().trim()),
            }],
        })?;
        let stemmers = Stemmers::default();
        let mut problems = Vec::new();
        let compile_table = |section: &str,
                             table: &BTreeMap<String, Spanned<f64>>,
                             problems: &mut Vec<String>|
         -> Vec<Pattern> {
            let mut out = Vec::new();
            for (pat, weight) in table {
                match compile(pat, *weight.get_ref(), &stemmers) {
                    Ok(p) => out.push(p),
                    Err(why) => problems.push(format!(
                        "{file}:{}: {section}: pattern {pat:?} {why}",
                        place(text, weight.span())
                    )),
                }
            }
            out
        };

        let mut categories = Vec::new();
        for (name, table) in &raw.categories {
            match Category::from_name(name) {
                Some(c) => categories.push((c, compile_table(&format!("categories.{name}"), table, &mut problems))),
                None => problems.push(format!(
                    "{file}: categories.{name}: unknown category; use pricing, terms, eligibility, technical or other"
                )),
            }
        }
        for c in Category::ALL {
            if !categories.iter().any(|(k, _)| *k == c) && c != Category::Other {
                problems.push(format!("{file}: categories.{c}: missing"));
            }
        }
        let mut desks = Vec::new();
        for (name, table) in &raw.desks {
            desks.push((
                name.clone(),
                compile_table(&format!("desks.{name}"), table, &mut problems),
            ));
        }
        for d in DESKS {
            if !raw.desks.contains_key(*d) {
                problems.push(format!("{file}: desks.{d}: missing"));
            }
        }
        if !DESKS.contains(&raw.settings.default_desk.get_ref().as_str()) {
            problems.push(format!(
                "{file}:{}: settings.default-desk: unknown desk {:?}; use one of {}",
                place(text, raw.settings.default_desk.span()),
                raw.settings.default_desk.get_ref(),
                DESKS.join(", ")
            ));
        }
        let list = |section: &str, words: &[Spanned<String>], problems: &mut Vec<String>| {
            words
                .iter()
                .filter_map(|w| match compile(w.get_ref(), 1.0, &stemmers) {
                    Ok(p) => Some(p),
                    Err(why) => {
                        problems.push(format!(
                            "{file}:{}: {section}: pattern {:?} {why}",
                            place(text, w.span()),
                            w.get_ref()
                        ));
                        None
                    }
                })
                .collect::<Vec<_>>()
        };
        let patient_words = list("sensitive.patient", &raw.sensitive.patient, &mut problems);
        let medical_words = list("sensitive.medical", &raw.sensitive.medical, &mut problems);
        let topic_words = list("topic.words", &raw.topic.words, &mut problems);
        let thanks = Thanks {
            words: raw
                .thanks
                .as_ref()
                .map(|t| list("thanks.words", &t.words, &mut problems))
                .unwrap_or_default(),
            max_words: raw.thanks.as_ref().map_or(0, |t| t.max_words),
            done: raw
                .thanks
                .as_ref()
                .map(|t| list("thanks.done", &t.done, &mut problems))
                .unwrap_or_default(),
        };
        let aside_words = raw
            .aside
            .as_ref()
            .map(|a| list("aside.words", &a.words, &mut problems))
            .unwrap_or_default();
        let elsewhere = Elsewhere {
            product: raw
                .elsewhere
                .as_ref()
                .map(|e| list("elsewhere.product", &e.product, &mut problems))
                .unwrap_or_default(),
            words: raw
                .elsewhere
                .as_ref()
                .map(|e| list("elsewhere.words", &e.words, &mut problems))
                .unwrap_or_default(),
            invitations: raw
                .elsewhere
                .as_ref()
                .map(|e| {
                    e.invitations
                        .iter()
                        .map(|p| p.trim().to_lowercase())
                        .collect()
                })
                .unwrap_or_default(),
        };
        let shipped_raw = raw
            .vocabulary_lists()
            .is_incomplete()
            .then(|| toml::from_str::<RawRules>(SHIPPED_RULES).ok())
            .flatten();
        let shipped = shipped_raw.as_ref().map(|r| Source {
            file: Path::new("rules.toml"),
            text: SHIPPED_RULES,
            lists: r.vocabulary_lists(),
        });
        let own = Source {
            file: path,
            text,
            lists: raw.vocabulary_lists(),
        };
        let built = vocabulary::build(&own, shipped.as_ref());
        problems.extend(built.problems.iter().map(ToString::to_string));
        if !problems.is_empty() {
            return Err(RulesError::Invalid { problems });
        }
        Ok(Rules {
            min_score: raw.settings.min_score,
            min_confidence: raw.settings.min_confidence,
            subject_weight: raw.settings.subject_weight,
            reply_subject_weight: raw.settings.reply_subject_weight,
            off_topic_factor: raw.settings.off_topic_factor,
            told_weight: raw.settings.told_weight.unwrap_or(1.0),
            later_question_weight: raw.settings.later_question_weight.unwrap_or(1.0),
            model_weight: raw.settings.model_weight.unwrap_or(0.5).clamp(0.0, 1.0),
            model_temperature: raw.settings.model_temperature.unwrap_or(4.0),
            default_desk: raw.settings.default_desk.into_inner(),
            topic_words,
            limits: raw
                .limits
                .as_ref()
                .map_or_else(Limits::default, |l| Limits {
                    participants: l.participants,
                    minutes: l.minutes,
                    weight: l.weight,
                }),
            thanks,
            aside_words,
            elsewhere,
            categories,
            desks,
            patient_words,
            medical_words,
            vocabulary: built.vocabulary,
            notes: built.notes,
        })
    }
}

/// A list as a slice.
fn list(l: Option<&Vec<Spanned<String>>>) -> Option<&[Spanned<String>]> {
    l.map(Vec::as_slice)
}

impl RawRules {
    /// The vocabulary lists as this file has them.
    fn vocabulary_lists(&self) -> RawLists<'_> {
        let limits = self.limits.as_ref();
        let thanks = self.thanks.as_ref();
        let s = &self.sensitive;
        RawLists {
            numbers: limits.and_then(|l| l.numbers.as_ref()),
            words: [
                list(limits.and_then(|l| l.participant_words.as_ref())),
                list(limits.and_then(|l| l.minute_words.as_ref())),
                list(limits.and_then(|l| l.hour_words.as_ref())),
                list(limits.and_then(|l| l.per_period_words.as_ref())),
                list(thanks.and_then(|t| t.negations.as_ref())),
                list(s.not_names.as_ref()),
                list(s.name_titles.as_ref()),
                list(s.pronouns.as_ref()),
                list(s.abbreviations.as_ref()),
                list(s.cpr_words.as_ref()),
                list(s.not_cpr_words.as_ref()),
            ],
        }
    }
}

/// The vocabulary of the shipped rules file (`None` should it not load).
pub(super) fn shipped_vocabulary() -> Option<Vocabulary> {
    let raw: RawRules = toml::from_str(SHIPPED_RULES).ok()?;
    let source = Source {
        file: Path::new("rules.toml"),
        text: SHIPPED_RULES,
        lists: raw.vocabulary_lists(),
    };
    let built = vocabulary::build(&source, None);
    built.problems.is_empty().then_some(built.vocabulary)
}

impl Rules {
    /// A category's patterns (none when the file has no table for it: `other` may go
    /// without).
    pub fn category(&self, c: Category) -> &[Pattern] {
        self.categories
            .iter()
            .find(|(k, _)| *k == c)
            .map_or(&[][..], |(_, p)| p.as_slice())
    }
}

/// Compiles one pattern, or says why it can never match.
fn compile(pattern: &str, weight: f64, stemmers: &Stemmers) -> Result<Pattern, String> {
    let folded = fold(pattern.trim());
    if folded.is_empty() {
        return Err("is empty".into());
    }
    if !weight.is_finite() {
        return Err("has a weight that is not a number".into());
    }
    // Apostrophes split words in mail text ("doesn't" -> "doesn", "t"); so they do here. In a
    // phrase, hyphens split too, as they do in text.
    let spaced = folded.replace(['\'', '\u{2019}'], " ");
    let raw_words: Vec<&str> = spaced.split_whitespace().collect();
    let split: Vec<&str> = if raw_words.len() > 1 {
        raw_words
            .iter()
            .flat_map(|w| w.split('-'))
            .filter(|w| !w.is_empty())
            .collect()
    } else {
        raw_words
    };
    let mut words = Vec::new();
    for w in split {
        let starts = w.starts_with('*');
        let ends = w.ends_with('*');
        let core = w.trim_matches('*');
        if core.is_empty() {
            return Err("has a word that is only '*'".into());
        }
        if let Some(bad) = core.chars().find(|c| !(c.is_alphanumeric() || *c == '-')) {
            return Err(format!(
                "contains {bad:?}; use letters, digits, '-' and a leading or trailing '*'"
            ));
        }
        // Hyphens separate words in mail text, so "ku-id" also matches "KU ID"; the joined
        // form ("kuid") is matched via compounds.
        let core_joined = core.replace('-', "");
        words.push(match (starts, ends) {
            (true, true) => WordMatch::Contains(core_joined),
            (false, true) => WordMatch::Prefix(core_joined),
            (true, false) => WordMatch::Suffix(core_joined),
            (false, false) => {
                let parts: Vec<&str> = core.split('-').filter(|p| !p.is_empty()).collect();
                if parts.len() > 1 {
                    // "ku-id" is a compound: matched as its joined form.
                    let mut v = vec![core_joined.clone()];
                    for l in Language::ALL {
                        v.push(stemmers.stem(l, &core_joined));
                    }
                    v.sort();
                    v.dedup();
                    WordMatch::Stem(v)
                } else {
                    let mut v: Vec<String> = Language::ALL
                        .iter()
                        .map(|l| stemmers.stem(*l, core))
                        .collect();
                    // "demens" stems to "dem" in Danish, which would match "dem" (them)
                    // everywhere: a stem of three letters or fewer from a longer word, or
                    // one that is a function word, is left out.
                    v.retain(|s| {
                        s.chars().count() > 3 && !crate::parse::language::is_function_word(s)
                    });
                    v.push(core.to_string());
                    v.sort();
                    v.dedup();
                    WordMatch::Stem(v)
                }
            }
        });
    }
    Ok(Pattern {
        text: pattern.trim().to_string(),
        words,
        weight,
    })
}

#[cfg(test)]
#[allow(clippy::string_slice, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[settings]
min-score = 2.0
min-confidence = 0.3
subject-weight = 1.5
reply-subject-weight = 0.5
off-topic-factor = 0.5
default-desk = "cimt"
[topic]
words = ["zoom"]
[categories.pricing]
"pris" = 3
"*licens" = 2
[categories.terms]
"patient*" = 3
[categories.eligibility]
"hvem må" = 3
[categories.technical]
"virker ikke" = 4
[desks.cimt]
"kamera" = 3
[desks.kuit]
"ku-id" = 5
[sensitive]
patient = ["patient"]
medical = ["diagnose"]
"#;

    #[test]
    fn compiles_patterns() {
        let r = Rules::parse(Path::new("rules.toml"), GOOD).unwrap();
        assert_eq!(r.categories.len(), 4);
        let (_, pricing) = r
            .categories
            .iter()
            .find(|(c, _)| *c == Category::Pricing)
            .unwrap();
        assert!(pricing
            .iter()
            .any(|p| p.words == [WordMatch::Suffix("licens".into())]));
    }

    #[test]
    fn bad_pattern_names_its_line() {
        let text = GOOD.replace("\"pris\" = 3", "\"pris?\" = 3");
        let e = Rules::parse(Path::new("rules.toml"), &text).unwrap_err();
        let p = e.problems();
        assert!(p[0].starts_with("rules.toml:12:"), "{p:?}");
        assert!(p[0].contains("pris?"), "{p:?}");
    }

    #[test]
    fn unknown_category_and_desk_are_errors() {
        let text = GOOD
            .replace("[categories.terms]", "[categories.termz]")
            .replace("default-desk = \"cimt\"", "default-desk = \"x\"");
        let p = Rules::parse(Path::new("rules.toml"), &text)
            .unwrap_err()
            .problems();
        assert!(p.iter().any(|l| l.contains("termz")), "{p:?}");
        assert!(p.iter().any(|l| l.contains("default-desk")), "{p:?}");
    }

    #[test]
    fn a_rules_file_without_the_word_lists_loads_with_the_shipped_ones() {
        let r = Rules::parse(Path::new("old.toml"), GOOD).unwrap();
        assert_eq!(
            format!("{:?}", r.vocabulary),
            format!("{:?}", super::super::vocabulary::shipped())
        );
        let keys: Vec<&str> = r.notes.iter().map(|n| n.key.as_str()).collect();
        assert!(keys.contains(&"thanks.negations"), "{keys:?}");
        assert!(keys.contains(&"limits.numbers"), "{keys:?}");
        assert!(keys.contains(&"sensitive.not-cpr-words"), "{keys:?}");
        assert_eq!(keys.len(), 12, "{keys:?}");
        let note = r.notes[0].to_string();
        assert!(note.starts_with("old.toml: "), "{note}");
        assert!(note.contains("shipped"), "{note}");
        // The shipped file has every list: no note.
        let shipped = Rules::parse(Path::new("rules.toml"), SHIPPED_RULES).unwrap();
        assert!(shipped.notes.is_empty(), "{:?}", shipped.notes);
    }

    #[test]
    fn a_list_in_the_file_replaces_the_shipped_one() {
        let text = format!("{GOOD}pronouns = [\"hen\"]\n");
        let r = Rules::parse(Path::new("rules.toml"), &text).unwrap();
        let pronouns = &r.vocabulary.names.pronouns;
        assert!(pronouns.matches("hen") && !pronouns.matches("hun"));
        assert!(!r.notes.iter().any(|n| n.key == "sensitive.pronouns"));
    }
}
