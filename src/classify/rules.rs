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
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

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
    /// A mail whose (calibrated) confidence in a specific category is below this is
    /// doubtful: it gets the short acknowledgement, a review flag, and any desk forward is
    /// held for a person. 0 = never doubtful.
    pub review_below: f64,
    /// Turns the raw score into a probability of being right (Platt scaling, fitted on
    /// cross-validation): for a specific category and for `other`. `None`: the raw score.
    pub calibration: Option<Platt>,
    pub calibration_other: Option<Platt>,
    pub subject_weight: f64,
    pub reply_subject_weight: f64,
    pub off_topic_factor: f64,
    /// When a mail asks a question, sentences that do not ask count this much.
    pub told_weight: f64,
    /// Questions after the first, and side remarks, count this much.
    pub later_question_weight: f64,
    /// A forwarded mail below the sender's own lines counts this much: context.
    pub forward_weight: f64,
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
    #[serde(default)]
    review_below: Option<f64>,
    #[serde(default)]
    calibration: Option<[f64; 2]>,
    #[serde(default)]
    calibration_other: Option<[f64; 2]>,
    subject_weight: f64,
    reply_subject_weight: f64,
    off_topic_factor: f64,
    #[serde(default)]
    told_weight: Option<f64>,
    #[serde(default)]
    later_question_weight: Option<f64>,
    #[serde(default)]
    forward_weight: Option<f64>,
    #[serde(default)]
    model_weight: Option<f64>,
    #[serde(default)]
    model_temperature: Option<f64>,
    default_desk: Spanned<String>,
}

/// Platt scaling: a raw score s becomes 1 / (1 + e^-(a·s + b)), the probability of being
/// right that cross-validation measured for that score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Platt {
    pub a: f64,
    pub b: f64,
}

impl From<[f64; 2]> for Platt {
    fn from([a, b]: [f64; 2]) -> Platt {
        Platt { a, b }
    }
}

impl Platt {
    /// The calibrated probability for a raw score.
    pub fn apply(&self, raw: f64) -> f64 {
        let p = 1.0 / (1.0 + (-(self.a * raw + self.b)).exp());
        if p.is_finite() {
            p.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }

    /// The logistic fit of `right` on the raw score over (raw, right) pairs (Newton's
    /// method on the log-likelihood, with Platt's smoothed targets so a perfectly separated
    /// sample does not run off to infinity). `None` with fewer than two pairs or when it
    /// does not converge.
    pub fn fit(seen: &[(f64, bool)]) -> Option<Platt> {
        if seen.len() < 2 {
            return None;
        }
        let pos = seen.iter().filter(|(_, r)| *r).count() as f64;
        let neg = seen.len() as f64 - pos;
        let (hi, lo) = ((pos + 1.0) / (pos + 2.0), 1.0 / (neg + 2.0));
        let (mut a, mut b) = (0.0_f64, ((pos + 1.0) / (neg + 1.0)).ln());
        for _ in 0..100 {
            let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for &(s, right) in seen {
                let t = if right { hi } else { lo };
                let p = 1.0 / (1.0 + (-(a * s + b)).exp());
                let d = p - t;
                let w = (p * (1.0 - p)).max(1e-12);
                ga += d * s;
                gb += d;
                haa += w * s * s;
                hab += w * s;
                hbb += w;
            }
            let det = haa * hbb - hab * hab;
            if det.abs() < 1e-12 {
                return None;
            }
            let (da, db) = ((hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det);
            a -= da;
            b -= db;
            if !(a.is_finite() && b.is_finite()) {
                return None;
            }
            if da.abs() < 1e-9 && db.abs() < 1e-9 {
                break;
            }
        }
        Some(Platt { a, b })
    }
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
    /// Documents sent rather than questions asked (an invoice, a receipt, a sales offer):
    /// a mail whose subject names one and whose text asks nothing is `other`.
    pub documents: Vec<Pattern>,
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
    #[serde(default)]
    documents: Vec<Spanned<String>>,
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
    first_person: Option<Vec<Spanned<String>>>,
    own_health: Option<Vec<Spanned<String>>>,
    conditions: Option<Vec<Spanned<String>>>,
    condition_verbs: Option<Vec<Spanned<String>>>,
    condition_fillers: Option<Vec<Spanned<String>>>,
}

/// `[categories.*]` or `[desks.*]`: per name, its patterns and their weights.
type RawTables = BTreeMap<Spanned<String>, BTreeMap<String, Spanned<f64>>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRules {
    settings: RawSettings,
    categories: RawTables,
    desks: RawTables,
    topic: RawTopic,
    limits: Option<RawLimits>,
    thanks: Option<RawThanks>,
    aside: Option<RawAside>,
    elsewhere: Option<RawElsewhere>,
    sensitive: RawSensitive,
}

/// Why the rules file cannot be used: each problem with its file, line and column where
/// known, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read rules file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid { problems: Vec<Diagnostic> },
}

impl RulesError {
    /// Every problem, as it prints (`file:line:column: key: message; hint`; a read failure
    /// counts as one).
    pub fn problems(&self) -> Vec<String> {
        self.diagnostics().iter().map(ToString::to_string).collect()
    }

    /// Every problem (a read failure counts as one).
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        match self {
            RulesError::Read { path, source } => {
                vec![Diagnostic::new(path, format!("cannot read: {source}"))]
            }
            RulesError::Invalid { problems } => problems.clone(),
        }
    }
}

impl Rules {
    /// Reads and compiles a rules file.
    ///
    /// # Errors
    /// When the file cannot be read, is not valid TOML of the expected shape, or holds a
    /// pattern or word that cannot match anything; every problem is listed.
    pub fn load(path: &Path) -> Result<Rules, RulesError> {
        let text = std::fs::read_to_string(path).map_err(|source| RulesError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Rules::parse(path, &text)
    }

    /// Compiles rules text as if read from `path`: its shape first (a misspelt key or a
    /// wrong type stops here), then every pattern, the categories and desks it must have,
    /// and the vocabulary; every problem found is reported at once.
    ///
    /// # Errors
    /// As [`Rules::load`].
    pub fn parse(path: &Path, text: &str) -> Result<Rules, RulesError> {
        let raw: RawRules = toml::from_str(text).map_err(|e| RulesError::Invalid {
            problems: vec![shape_problem(path, text, &e)],
        })?;
        let mut c = Compiler {
            file: path,
            text,
            stemmers: Stemmers::default(),
            problems: Vec::new(),
        };
        let categories = c.categories(&raw.categories);
        let desks = c.desks(&raw.desks);
        c.default_desk(&raw.settings.default_desk);
        let lists = c.pattern_lists(&raw);
        let vocabulary = vocabulary_of(path, text, &raw);
        let mut problems = c.problems;
        problems.extend(vocabulary.problems);
        if !problems.is_empty() {
            return Err(RulesError::Invalid { problems });
        }
        Ok(Rules {
            categories,
            desks,
            vocabulary: vocabulary.vocabulary,
            notes: vocabulary.notes,
            ..Rules::assemble(&raw, lists)
        })
    }

    /// The settings, the limits and the pattern lists in one [`Rules`] (no categories,
    /// desks or vocabulary yet), each optional setting at its default.
    fn assemble(raw: &RawRules, lists: PatternLists) -> Rules {
        let s = &raw.settings;
        Rules {
            min_score: s.min_score,
            min_confidence: s.min_confidence,
            review_below: s.review_below.unwrap_or(0.0).clamp(0.0, 1.0),
            calibration: s.calibration.map(Platt::from),
            calibration_other: s.calibration_other.map(Platt::from),
            subject_weight: s.subject_weight,
            reply_subject_weight: s.reply_subject_weight,
            off_topic_factor: s.off_topic_factor,
            told_weight: s.told_weight.unwrap_or(1.0),
            later_question_weight: s.later_question_weight.unwrap_or(1.0),
            forward_weight: s.forward_weight.unwrap_or(1.0).clamp(0.0, 1.0),
            model_weight: s.model_weight.unwrap_or(0.5).clamp(0.0, 1.0),
            model_temperature: s.model_temperature.unwrap_or(4.0),
            default_desk: s.default_desk.get_ref().clone(),
            topic_words: lists.topic,
            limits: raw
                .limits
                .as_ref()
                .map_or_else(Limits::default, |l| Limits {
                    participants: l.participants,
                    minutes: l.minutes,
                    weight: l.weight,
                }),
            thanks: lists.thanks,
            aside_words: lists.aside,
            elsewhere: lists.elsewhere,
            categories: Vec::new(),
            desks: Vec::new(),
            patient_words: lists.patient,
            medical_words: lists.medical,
            vocabulary: Vocabulary::default(),
            notes: Vec::new(),
        }
    }
}

/// A TOML syntax error, a misspelt key or a wrong type, placed where toml found it.
fn shape_problem(path: &Path, text: &str, e: &toml::de::Error) -> Diagnostic {
    let message = e.message().trim().replace('\n', " ");
    let d = Diagnostic::new(path, message);
    let d = match e.span() {
        Some(s) => d.placed(text, s.start),
        None => d,
    };
    if e.message().contains("unknown field") {
        d.with_hint("check the spelling against the rules.toml shipped with autosvar")
    } else {
        d
    }
}

/// The vocabulary of `raw`, each list it lacks from the shipped rules file.
fn vocabulary_of(path: &Path, text: &str, raw: &RawRules) -> vocabulary::Built {
    let own_lists = raw.vocabulary_lists();
    // The shipped file is needed only when a list is missing.
    let shipped_raw = own_lists.is_incomplete().then(shipped_raw).flatten();
    let shipped = shipped_raw.map(|r| Source {
        file: Path::new("rules.toml"),
        text: SHIPPED_RULES,
        lists: r.vocabulary_lists(),
    });
    let own = Source {
        file: path,
        text,
        lists: own_lists,
    };
    vocabulary::build(&own, shipped.as_ref())
}

/// The patterns of the plain lists: topic, thanks, aside, elsewhere, sensitive.
struct PatternLists {
    topic: Vec<Pattern>,
    thanks: Thanks,
    aside: Vec<Pattern>,
    elsewhere: Elsewhere,
    patient: Vec<Pattern>,
    medical: Vec<Pattern>,
}

/// Compiles patterns, collecting every problem with its place in the file.
struct Compiler<'a> {
    file: &'a Path,
    text: &'a str,
    stemmers: Stemmers,
    problems: Vec<Diagnostic>,
}

impl Compiler<'_> {
    /// A problem at byte `at` of the file (or with no place), about `key`.
    fn problem(&mut self, at: Option<usize>, key: &str, message: String, hint: Option<String>) {
        let d = Diagnostic::new(self.file, message).with_key(key);
        let d = match at {
            Some(at) => d.placed(self.text, at),
            None => d,
        };
        self.problems.push(match hint {
            Some(h) => d.with_hint(h),
            None => d,
        });
    }

    /// One pattern, or a problem at `at` saying why it can never match.
    fn pattern(&mut self, key: &str, pattern: &str, weight: f64, at: usize) -> Option<Pattern> {
        match compile(pattern, weight, &self.stemmers) {
            Ok(p) => Some(p),
            Err(Unusable { why, hint }) => {
                self.problem(Some(at), key, format!("pattern {pattern:?} {why}"), hint);
                None
            }
        }
    }

    /// A table of weighted patterns (`"pris" = 3`); each problem is placed at its weight.
    fn table(&mut self, key: &str, table: &BTreeMap<String, Spanned<f64>>) -> Vec<Pattern> {
        table
            .iter()
            .filter_map(|(p, w)| self.pattern(key, p, *w.get_ref(), w.span().start))
            .collect()
    }

    /// A list of patterns that weigh nothing (topic words, thanks, sensitive words).
    fn list(&mut self, key: &str, words: &[Spanned<String>]) -> Vec<Pattern> {
        words
            .iter()
            .filter_map(|w| self.pattern(key, w.get_ref(), 1.0, w.span().start))
            .collect()
    }

    /// Every `[categories.*]` table: each a known category, every category but `other`
    /// present.
    fn categories(&mut self, raw: &RawTables) -> Vec<(Category, Vec<Pattern>)> {
        let mut out = Vec::new();
        for (name, table) in raw {
            let key = format!("categories.{}", name.get_ref());
            match Category::from_name(name.get_ref()) {
                Some(c) => out.push((c, self.table(&key, table))),
                None => self.problem(
                    Some(name.span().start),
                    &key,
                    "unknown category".into(),
                    Some("use pricing, terms, eligibility, technical or other".into()),
                ),
            }
        }
        for c in Category::ALL {
            if c != Category::Other && !out.iter().any(|(k, _)| *k == c) {
                let hint = format!("add a [categories.{c}] table of patterns");
                self.problem(
                    None,
                    &format!("categories.{c}"),
                    "missing".into(),
                    Some(hint),
                );
            }
        }
        out
    }

    /// Every `[desks.*]` table, in the file's (alphabetical) order; every known desk present.
    fn desks(&mut self, raw: &RawTables) -> Vec<(String, Vec<Pattern>)> {
        let out: Vec<(String, Vec<Pattern>)> = raw
            .iter()
            .map(|(name, table)| {
                let key = format!("desks.{}", name.get_ref());
                (name.get_ref().clone(), self.table(&key, table))
            })
            .collect();
        for d in DESKS {
            if !out.iter().any(|(k, _)| k == d) {
                let hint = format!("add a [desks.{d}] table of patterns");
                self.problem(None, &format!("desks.{d}"), "missing".into(), Some(hint));
            }
        }
        out
    }

    /// `settings.default-desk` names a known desk.
    fn default_desk(&mut self, desk: &Spanned<String>) {
        if !DESKS.contains(&desk.get_ref().as_str()) {
            self.problem(
                Some(desk.span().start),
                "settings.default-desk",
                format!("unknown desk {:?}", desk.get_ref()),
                Some(format!("use one of {}", DESKS.join(", "))),
            );
        }
    }

    /// The plain pattern lists; a missing `[thanks]`, `[aside]` or `[elsewhere]` is empty.
    fn pattern_lists(&mut self, raw: &RawRules) -> PatternLists {
        let thanks = raw.thanks.as_ref();
        let elsewhere = raw.elsewhere.as_ref();
        PatternLists {
            patient: self.list("sensitive.patient", &raw.sensitive.patient),
            medical: self.list("sensitive.medical", &raw.sensitive.medical),
            topic: self.list("topic.words", &raw.topic.words),
            thanks: Thanks {
                words: thanks.map_or_else(Vec::new, |t| self.list("thanks.words", &t.words)),
                max_words: thanks.map_or(0, |t| t.max_words),
                done: thanks.map_or_else(Vec::new, |t| self.list("thanks.done", &t.done)),
            },
            aside: raw
                .aside
                .as_ref()
                .map_or_else(Vec::new, |a| self.list("aside.words", &a.words)),
            elsewhere: Elsewhere {
                product: elsewhere
                    .map_or_else(Vec::new, |e| self.list("elsewhere.product", &e.product)),
                words: elsewhere.map_or_else(Vec::new, |e| self.list("elsewhere.words", &e.words)),
                documents: elsewhere
                    .map_or_else(Vec::new, |e| self.list("elsewhere.documents", &e.documents)),
                invitations: elsewhere.map_or_else(Vec::new, |e| {
                    e.invitations
                        .iter()
                        .map(|p| p.trim().to_lowercase())
                        .collect()
                }),
            },
        }
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
                list(s.first_person.as_ref()),
                list(s.own_health.as_ref()),
                list(s.conditions.as_ref()),
                list(s.condition_verbs.as_ref()),
                list(s.condition_fillers.as_ref()),
            ],
        }
    }
}

/// The shipped rules file as read, once (`None` should it not read, which a test rules out).
fn shipped_raw() -> Option<&'static RawRules> {
    static SHIPPED: LazyLock<Option<RawRules>> =
        LazyLock::new(|| toml::from_str(SHIPPED_RULES).ok());
    SHIPPED.as_ref()
}

/// The vocabulary of [`SHIPPED_RULES`], read once. (Empty lists should the shipped file not
/// load, which a unit test rules out: then more numbers count as CPR numbers, never fewer.)
pub fn shipped() -> &'static Vocabulary {
    static SHIPPED: LazyLock<Vocabulary> =
        LazyLock::new(|| shipped_vocabulary().unwrap_or_default());
    &SHIPPED
}

/// The vocabulary of the shipped rules file (`None` should it not load).
fn shipped_vocabulary() -> Option<Vocabulary> {
    let raw = shipped_raw()?;
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

/// Why a pattern can never match, and what to write instead.
struct Unusable {
    why: String,
    hint: Option<String>,
}

impl Unusable {
    fn new(why: &str, hint: Option<&str>) -> Unusable {
        Unusable {
            why: why.into(),
            hint: hint.map(Into::into),
        }
    }
}

/// Compiles one pattern, or says why it can never match.
fn compile(pattern: &str, weight: f64, stemmers: &Stemmers) -> Result<Pattern, Unusable> {
    let folded = fold(pattern.trim());
    if folded.is_empty() {
        return Err(Unusable::new("is empty", None));
    }
    if !weight.is_finite() {
        return Err(Unusable::new("has a weight that is not a number", None));
    }
    let words = pattern_words(&folded)
        .into_iter()
        .map(|w| word_match(w, stemmers))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Pattern {
        text: pattern.trim().to_string(),
        words,
        weight,
    })
}

/// The words of a folded pattern. Apostrophes split words in mail text ("doesn't" ->
/// "doesn", "t"); so they do here. In a phrase, hyphens split too, as they do in text.
fn pattern_words(folded: &str) -> Vec<String> {
    let spaced = folded.replace(['\'', '\u{2019}'], " ");
    let raw_words: Vec<&str> = spaced.split_whitespace().collect();
    if raw_words.len() > 1 {
        raw_words
            .iter()
            .flat_map(|w| w.split('-'))
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect()
    } else {
        raw_words.into_iter().map(str::to_string).collect()
    }
}

/// How one word of a pattern matches a token: `*` at either end a prefix, suffix or
/// substring of the word; otherwise its stems.
fn word_match(w: String, stemmers: &Stemmers) -> Result<WordMatch, Unusable> {
    let starts = w.starts_with('*');
    let ends = w.ends_with('*');
    let core = w.trim_matches('*');
    if core.is_empty() {
        return Err(Unusable::new("has a word that is only '*'", None));
    }
    if let Some(bad) = core.chars().find(|c| !(c.is_alphanumeric() || *c == '-')) {
        return Err(Unusable::new(
            &format!("contains {bad:?}"),
            Some("use letters, digits, '-' and a leading or trailing '*'"),
        ));
    }
    // Hyphens separate words in mail text, so "ku-id" also matches "KU ID"; the joined
    // form ("kuid") is matched via compounds.
    let core_joined = core.replace('-', "");
    Ok(match (starts, ends) {
        (true, true) => WordMatch::Contains(core_joined),
        (false, true) => WordMatch::Prefix(core_joined),
        (true, false) => WordMatch::Suffix(core_joined),
        (false, false) if core.split('-').filter(|p| !p.is_empty()).count() > 1 => {
            WordMatch::Stem(compound_stems(core_joined, stemmers))
        }
        (false, false) => WordMatch::Stem(word_stems(core, stemmers)),
    })
}

/// "ku-id" is a compound: matched as its joined form ("kuid") and that form's stems.
fn compound_stems(joined: String, stemmers: &Stemmers) -> Vec<String> {
    let mut v: Vec<String> = Language::ALL
        .iter()
        .map(|l| stemmers.stem(*l, &joined))
        .collect();
    v.push(joined);
    v.sort();
    v.dedup();
    v
}

/// A word and its stems in either language. "demens" stems to "dem" in Danish, which
/// would match "dem" (them) everywhere: a stem of three letters or fewer from a longer
/// word, or one that is a function word, is left out.
fn word_stems(core: &str, stemmers: &Stemmers) -> Vec<String> {
    let mut v: Vec<String> = Language::ALL
        .iter()
        .map(|l| stemmers.stem(*l, core))
        .collect();
    v.retain(|s| s.chars().count() > 3 && !crate::parse::language::is_function_word(s));
    v.push(core.to_string());
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
#[allow(clippy::string_slice, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn platt_fit_recovers_a_known_curve() {
        // Scores 0.00..0.99, right with probability sigmoid(8s - 4), laid out evenly (a
        // mail counted right for each share of its score's probability, out of 20).
        let truth = Platt { a: 8.0, b: -4.0 };
        let mut seen = Vec::new();
        for i in 0..100 {
            let s = f64::from(i) / 100.0;
            let right = (truth.apply(s) * 20.0).round() as usize;
            for k in 0..20 {
                seen.push((s, k < right));
            }
        }
        let fit = Platt::fit(&seen).expect("a fit");
        assert!((fit.a - 8.0).abs() < 0.5, "{fit:?}");
        assert!((fit.b + 4.0).abs() < 0.3, "{fit:?}");
        // Perfectly separated: still finite, and rising.
        let separated = [(0.1, false), (0.2, false), (0.8, true), (0.9, true)];
        let fit = Platt::fit(&separated).expect("a fit");
        assert!(
            fit.a.is_finite() && fit.a > 0.0 && fit.b.is_finite(),
            "{fit:?}"
        );
        assert!(Platt::fit(&[(0.5, true)]).is_none());
        // Never outside 0..1, even for absurd scores.
        for s in [
            f64::NEG_INFINITY,
            -1e300,
            0.0,
            1e300,
            f64::INFINITY,
            f64::NAN,
        ] {
            let p = truth.apply(s);
            assert!((0.0..=1.0).contains(&p), "{s} -> {p}");
        }
    }

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
        assert_eq!(format!("{:?}", r.vocabulary), format!("{:?}", shipped()));
        let keys: Vec<&str> = r.notes.iter().map(|n| n.key.as_str()).collect();
        assert!(keys.contains(&"thanks.negations"), "{keys:?}");
        assert!(keys.contains(&"limits.numbers"), "{keys:?}");
        assert!(keys.contains(&"sensitive.not-cpr-words"), "{keys:?}");
        assert_eq!(keys.len(), 17, "{keys:?}");
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

    /// The problems of `text` read as `rules.toml`.
    fn diagnostics(text: &str) -> Vec<Diagnostic> {
        Rules::parse(Path::new("rules.toml"), text)
            .unwrap_err()
            .diagnostics()
    }

    #[test]
    fn a_misspelt_key_names_its_line_and_the_keys_there_are() {
        let d = diagnostics(&GOOD.replace("min-confidence = 0.3", "min-confidense = 0.3"));
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(
            (d[0].file.as_path(), d[0].line),
            (Path::new("rules.toml"), Some(4))
        );
        assert!(d[0].message.contains("min-confidense"), "{}", d[0]);
        assert!(d[0].message.contains("min-confidence"), "{}", d[0]);
        assert!(d[0].hint.is_some(), "{}", d[0]);
    }

    #[test]
    fn a_bad_wildcard_names_its_line_and_the_fix() {
        let d = diagnostics(&GOOD.replace("\"*licens\" = 2", "\"li*ens\" = 2"));
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].line, Some(13), "{}", d[0]);
        assert_eq!(d[0].key, "categories.pricing");
        assert!(
            d[0].message.contains("li*ens") && d[0].message.contains("'*'"),
            "{}",
            d[0]
        );
        assert!(
            d[0].hint.as_deref().unwrap_or("").contains("trailing '*'"),
            "{}",
            d[0]
        );
    }

    #[test]
    fn a_bad_list_entry_names_its_line_and_column() {
        let d = diagnostics(&format!("{GOOD}not-cpr-words = [\"tlf\", \"tlf.\"]\n"));
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!((d[0].line, d[0].column), (Some(27), Some(25)), "{}", d[0]);
        assert_eq!(d[0].key, "sensitive.not-cpr-words");
        assert!(
            d[0].message.contains("\"tlf.\"") && d[0].hint.is_some(),
            "{}",
            d[0]
        );
        let limits = "[limits]\nparticipants = 100\nminutes = 40\nweight = 4\n";
        let d = diagnostics(&format!("{GOOD}{limits}[limits.numbers]\nto = nan\n"));
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!((d[0].line, d[0].key.as_str()), (Some(32), "limits.numbers"));
    }

    #[test]
    fn an_unknown_category_names_its_line() {
        let d = diagnostics(&GOOD.replace("[categories.terms]", "[categories.termz]"));
        let termz = d.iter().find(|d| d.key == "categories.termz").unwrap();
        assert_eq!(termz.line, Some(14), "{termz}");
        assert!(
            termz.hint.as_deref().unwrap_or("").contains("pricing"),
            "{termz}"
        );
        // ...and the category it should have been is missing, with what to add.
        let terms = d.iter().find(|d| d.key == "categories.terms").unwrap();
        assert_eq!(
            terms.to_string(),
            "rules.toml: categories.terms: missing; add a [categories.terms] table of patterns"
        );
    }
}
