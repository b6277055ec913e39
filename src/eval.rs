//! Eval: labelled mails -> quality metrics for the classifier and the guards.
//!
//! Reads the labels format of the shared corpus (`labels.json`: file, category, desk,
//! language, expect_reply, skip, sensitive, …) and compares it with what autosvar decides.
//! Pure arithmetic once the predictions are made: it reads no file and runs no classifier;
//! [`crate::cli::eval`] makes the predictions and prints the result.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::classify::rules::Platt;
use crate::classify::Category;

/// One entry of `labels.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Label {
    pub file: String,
    pub category: String,
    /// "cimt", "kuit" or "none".
    pub desk: String,
    pub language: String,
    pub expect_reply: bool,
    #[serde(default)]
    pub skip: Option<String>,
    #[serde(default)]
    pub sensitive: bool,
    #[serde(default)]
    pub secondary: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

/// What autosvar decided for one file.
#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    pub category: Category,
    pub desk: Option<String>,
    pub language: String,
    pub reply: bool,
    pub skip_reason: Option<String>,
    pub sensitive: bool,
    pub confidence: f64,
    /// The score before calibration.
    pub raw_confidence: f64,
    pub secondary: Option<Category>,
}

/// Precision, recall and F1 of one class.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Prf {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

fn prf(tp: usize, fp: usize, fn_: usize) -> Prf {
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    Prf {
        precision,
        recall,
        f1,
        support: tp + fn_,
    }
}

/// A file whose category, desk, language, action or sensitivity was wrong.
#[derive(Debug, Clone, Serialize)]
pub struct Miss {
    pub file: String,
    pub what: String,
    pub expected: String,
    pub got: String,
    pub confidence: f64,
    pub note: String,
}

/// Every number `autosvar eval` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Metrics {
    pub mails: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub per_category: BTreeMap<String, Prf>,
    /// expected -> predicted -> count
    pub confusion: BTreeMap<String, BTreeMap<String, usize>>,
    /// Among mails labelled technical: the right desk (a mail not classified technical
    /// reaches no desk, which counts as wrong).
    pub desk_accuracy: f64,
    pub technical: usize,
    /// Mails that reached a desk though not labelled technical.
    pub desk_false_routes: usize,
    pub language_accuracy: f64,
    /// Reply/skip decision right.
    pub action_accuracy: f64,
    /// Mails that must not be answered but were.
    pub machine_replies: usize,
    /// Share of mails that should be answered and were.
    pub reply_rate: f64,
    pub sensitive: Prf,
    /// Category accuracy on the mail from people (labelled `expect_reply`).
    pub human_accuracy: f64,
    pub humans: usize,
    /// Confidence against how often the category was right, on the mail from people: one
    /// row per tenth of confidence. Calibrated, a row's share right is near its confidence.
    pub calibration: Vec<Bin>,
    /// The careful answer at the configured `review-below` and a few other thresholds.
    pub answering: Vec<Operating>,
    /// The calibration these mails suggest (fitted on the raw scores).
    pub fitted: Fitted,
    pub misses: Vec<Miss>,
}

/// Platt scaling fitted on the mail from people: for mails given a specific category and
/// for mails given `other`.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Fitted {
    #[serde(serialize_with = "platt_pair")]
    pub specific: Option<Platt>,
    #[serde(serialize_with = "platt_pair")]
    pub other: Option<Platt>,
}

fn platt_pair<S: serde::Serializer>(p: &Option<Platt>, s: S) -> Result<S::Ok, S::Error> {
    p.map(|p| [p.a, p.b]).serialize(s)
}

impl Fitted {
    fn compute(pairs: &[(Label, Prediction)]) -> Fitted {
        let seen = |other: bool| -> Vec<(f64, bool)> {
            pairs
                .iter()
                .filter(|(l, p)| l.expect_reply && (p.category == Category::Other) == other)
                .map(|(l, p)| (p.raw_confidence, p.category.name() == l.category))
                .collect()
        };
        Fitted {
            specific: Platt::fit(&seen(false)),
            other: Platt::fit(&seen(true)),
        }
    }
}

/// One row of the calibration table.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Bin {
    /// Confidence from (inclusive) ... to (exclusive; the last row includes 1.0).
    pub from: f64,
    pub to: f64,
    pub mails: usize,
    /// Of which the category was right.
    pub right: usize,
    /// Their mean confidence.
    pub mean_confidence: f64,
}

/// What one threshold does to the mail from people. A mail gets its category's specific
/// template when the category is not `other` and its confidence is at least the threshold;
/// every other gets the short acknowledgement and a person.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Operating {
    pub threshold: f64,
    /// This is the rules' `review-below`.
    pub configured: bool,
    /// Mails from people labelled with a specific category (not `other`).
    pub specific: usize,
    /// Mails given a specific template (whatever their label).
    pub answered: usize,
    /// ... of which the template was not the labelled category's.
    pub wrong: usize,
    /// Labelled-specific mails that got a specific template / `specific`.
    pub coverage: f64,
    /// `wrong` / `answered`: the answered mail that got the wrong template.
    pub risk: f64,
}

/// The thresholds `autosvar eval` shows besides the configured one.
pub const THRESHOLDS: [f64; 8] = [0.0, 0.7, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99];

/// The calibration table over (confidence, right) pairs.
fn calibration(seen: &[(f64, bool)]) -> Vec<Bin> {
    (0..10)
        .map(|i| {
            let (from, to) = (f64::from(i) / 10.0, f64::from(i + 1) / 10.0);
            let inside: Vec<&(f64, bool)> = seen
                .iter()
                .filter(|(c, _)| *c >= from && (*c < to || (i == 9 && *c <= 1.0)))
                .collect();
            let mails = inside.len();
            Bin {
                from,
                to,
                mails,
                right: inside.iter().filter(|(_, r)| *r).count(),
                mean_confidence: if mails == 0 {
                    0.0
                } else {
                    inside.iter().map(|(c, _)| c).sum::<f64>() / mails as f64
                },
            }
        })
        .collect()
}

/// Coverage and risk at `threshold`, over the mail from people.
fn operating(pairs: &[(Label, Prediction)], threshold: f64, configured: bool) -> Operating {
    let humans = pairs.iter().filter(|(l, _)| l.expect_reply);
    let (mut specific, mut answered, mut wrong, mut covered) = (0, 0, 0, 0);
    for (l, p) in humans {
        let labelled_specific = l.category != Category::Other.name();
        let gets_template = p.category != Category::Other && p.confidence >= threshold;
        specific += usize::from(labelled_specific);
        if gets_template {
            answered += 1;
            wrong += usize::from(p.category.name() != l.category);
            covered += usize::from(labelled_specific);
        }
    }
    Operating {
        threshold,
        configured,
        specific,
        answered,
        wrong,
        coverage: ratio(covered, specific),
        risk: if answered == 0 {
            0.0
        } else {
            wrong as f64 / answered as f64
        },
    }
}

/// The counts behind [`Metrics`], gathered one labelled mail at a time.
#[derive(Debug, Default)]
struct Tally {
    /// expected -> predicted -> count
    confusion: BTreeMap<String, BTreeMap<String, usize>>,
    misses: Vec<Miss>,
    category_right: usize,
    language_right: usize,
    action_right: usize,
    technical: usize,
    desk_right: usize,
    false_routes: usize,
    machine_replies: usize,
    humans: usize,
    humans_replied: usize,
    sensitive: (usize, usize, usize),
}

impl Tally {
    /// Counts one mail: category, desk, language, action and sensitivity, in that order
    /// (the order its misses are listed in).
    fn add(&mut self, l: &Label, p: &Prediction) {
        *self
            .confusion
            .entry(l.category.clone())
            .or_default()
            .entry(p.category.name().to_string())
            .or_default() += 1;
        self.category(l, p);
        self.desk(l, p);
        self.language(l, p);
        self.action(l, p);
        self.replies(l, p);
        self.sensitivity(l, p);
    }

    fn miss(&mut self, l: &Label, p: &Prediction, what: &str, expected: String, got: String) {
        self.misses.push(Miss {
            file: l.file.clone(),
            what: what.into(),
            expected,
            got,
            confidence: p.confidence,
            note: l.note.clone().unwrap_or_default(),
        });
    }

    fn category(&mut self, l: &Label, p: &Prediction) {
        let got = p.category.name();
        if got == l.category {
            self.category_right += 1;
        } else {
            self.miss(l, p, "category", l.category.clone(), got.to_string());
        }
    }

    /// A mail labelled technical must reach its desk (and be classified technical); any
    /// other mail that reaches a desk with a reply is a false route.
    fn desk(&mut self, l: &Label, p: &Prediction) {
        let technical = p.category.name() == "technical";
        if l.category == "technical" {
            self.technical += 1;
            if technical && p.desk.as_deref() == Some(l.desk.as_str()) {
                self.desk_right += 1;
            } else if technical {
                let got = p.desk.clone().unwrap_or_default();
                self.miss(l, p, "desk", l.desk.clone(), got);
            }
        } else if p.desk.is_some() && p.reply {
            self.false_routes += 1;
        }
    }

    fn language(&mut self, l: &Label, p: &Prediction) {
        if p.language == l.language {
            self.language_right += 1;
        } else {
            self.miss(l, p, "language", l.language.clone(), p.language.clone());
        }
    }

    /// Reply or skip, as expected.
    fn action(&mut self, l: &Label, p: &Prediction) {
        if p.reply == l.expect_reply {
            self.action_right += 1;
            return;
        }
        let said = |reply: bool, reason: &Option<String>| {
            if reply {
                "reply".to_string()
            } else {
                format!("skip ({})", reason.clone().unwrap_or_default())
            }
        };
        let (expected, got) = (said(l.expect_reply, &l.skip), said(p.reply, &p.skip_reason));
        self.miss(l, p, "action", expected, got);
    }

    /// People answered, and machine mail answered though it must not be.
    fn replies(&mut self, l: &Label, p: &Prediction) {
        if l.expect_reply {
            self.humans += 1;
            if p.reply {
                self.humans_replied += 1;
            }
        } else if p.reply {
            self.machine_replies += 1;
        }
    }

    fn sensitivity(&mut self, l: &Label, p: &Prediction) {
        let (tp, fp, fn_) = &mut self.sensitive;
        match (l.sensitive, p.sensitive) {
            (true, true) => *tp += 1,
            (false, true) => {
                *fp += 1;
                self.miss(l, p, "sensitive", "false".into(), "true".into());
            }
            (true, false) => {
                *fn_ += 1;
                self.miss(l, p, "sensitive", "true".into(), "false".into());
            }
            (false, false) => {}
        }
    }
}

/// The configured threshold first, then [`THRESHOLDS`] (without a repeat of it).
fn operating_points(pairs: &[(Label, Prediction)], review_below: f64) -> Vec<Operating> {
    std::iter::once(operating(pairs, review_below, true))
        .chain(
            THRESHOLDS
                .iter()
                .filter(|t| (**t - review_below).abs() > 1e-9)
                .map(|t| operating(pairs, *t, false)),
        )
        .collect()
}

/// Precision, recall and F1 of every category, from the confusion matrix.
fn per_category(confusion: &BTreeMap<String, BTreeMap<String, usize>>) -> BTreeMap<String, Prf> {
    let mut per_category = BTreeMap::new();
    for c in Category::ALL {
        let name = c.name();
        let tp = confusion
            .get(name)
            .and_then(|r| r.get(name))
            .copied()
            .unwrap_or(0);
        let fn_: usize = confusion.get(name).map_or(0, |r| {
            r.iter()
                .filter(|(k, _)| k.as_str() != name)
                .map(|(_, v)| v)
                .sum()
        });
        let fp: usize = confusion
            .iter()
            .filter(|(k, _)| k.as_str() != name)
            .map(|(_, r)| r.get(name).copied().unwrap_or(0))
            .sum();
        per_category.insert(name.to_string(), prf(tp, fp, fn_));
    }
    per_category
}

/// The mean F1 of the categories that occur among the labels.
fn macro_f1(per_category: &BTreeMap<String, Prf>) -> f64 {
    let present: Vec<&Prf> = per_category.values().filter(|p| p.support > 0).collect();
    if present.is_empty() {
        0.0
    } else {
        present.iter().map(|p| p.f1).sum::<f64>() / present.len() as f64
    }
}

impl Metrics {
    /// Compares labels with predictions (same order); `review_below` is the rules'
    /// threshold for a specific answer.
    pub fn compute(pairs: &[(Label, Prediction)], review_below: f64) -> Metrics {
        let mut t = Tally::default();
        for (l, p) in pairs {
            t.add(l, p);
        }
        let n = pairs.len();
        let per_category = per_category(&t.confusion);
        let (s_tp, s_fp, s_fn) = t.sensitive;
        let human: Vec<(f64, bool)> = pairs
            .iter()
            .filter(|(l, _)| l.expect_reply)
            .map(|(l, p)| (p.confidence, p.category.name() == l.category))
            .collect();
        Metrics {
            mails: n,
            accuracy: ratio(t.category_right, n),
            macro_f1: macro_f1(&per_category),
            per_category,
            confusion: t.confusion,
            desk_accuracy: ratio(t.desk_right, t.technical),
            technical: t.technical,
            desk_false_routes: t.false_routes,
            language_accuracy: ratio(t.language_right, n),
            action_accuracy: ratio(t.action_right, n),
            machine_replies: t.machine_replies,
            reply_rate: ratio(t.humans_replied, t.humans),
            sensitive: prf(s_tp, s_fp, s_fn),
            human_accuracy: ratio(
                human.iter().filter(|(_, right)| *right).count(),
                human.len(),
            ),
            humans: human.len(),
            calibration: calibration(&human),
            answering: operating_points(pairs, review_below),
            fitted: Fitted::compute(pairs),
            misses: t.misses,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(cat: &str, desk: &str, reply: bool, sensitive: bool) -> Label {
        Label {
            file: format!("{cat}.eml"),
            category: cat.into(),
            desk: desk.into(),
            language: "da".into(),
            expect_reply: reply,
            skip: None,
            sensitive,
            secondary: None,
            note: None,
        }
    }

    fn pred(cat: Category, desk: Option<&str>, reply: bool, sensitive: bool) -> Prediction {
        Prediction {
            category: cat,
            desk: desk.map(str::to_string),
            language: "da".into(),
            reply,
            skip_reason: None,
            sensitive,
            confidence: 0.5,
            raw_confidence: 0.5,
            secondary: None,
        }
    }

    #[test]
    fn counts_add_up() {
        let pairs = vec![
            (
                label("pricing", "none", true, false),
                pred(Category::Pricing, None, true, false),
            ),
            (
                label("pricing", "none", true, true),
                pred(Category::Terms, None, true, true),
            ),
            (
                label("technical", "kuit", true, false),
                pred(Category::Technical, Some("cimt"), true, false),
            ),
            (
                label("other", "none", false, false),
                pred(Category::Other, None, true, true),
            ),
        ];
        let m = Metrics::compute(&pairs, 0.0);
        assert_eq!(m.accuracy, 0.75);
        assert_eq!(m.per_category["pricing"].recall, 0.5);
        assert_eq!(m.per_category["pricing"].precision, 1.0);
        assert_eq!(m.per_category["terms"].precision, 0.0);
        assert_eq!(m.desk_accuracy, 0.0);
        assert_eq!(m.machine_replies, 1);
        assert_eq!(m.reply_rate, 1.0);
        assert_eq!(m.sensitive.recall, 1.0);
        assert_eq!(m.sensitive.precision, 0.5);
        assert_eq!(m.confusion["pricing"]["terms"], 1);
        assert!(m.misses.iter().any(|x| x.what == "desk"));
    }

    #[test]
    fn coverage_risk_and_calibration() {
        let at = |cat: Category, conf: f64| Prediction {
            confidence: conf,
            ..pred(cat, None, true, false)
        };
        let pairs = vec![
            (
                label("pricing", "none", true, false),
                at(Category::Pricing, 0.95),
            ),
            (
                label("terms", "none", true, false),
                at(Category::Pricing, 0.6),
            ),
            (
                label("terms", "none", true, false),
                at(Category::Terms, 0.85),
            ),
            (
                label("other", "none", true, false),
                at(Category::Eligibility, 0.9),
            ),
            (
                label("other", "none", true, false),
                at(Category::Other, 0.9),
            ),
            // A machine mail counts nowhere here.
            (
                label("pricing", "none", false, false),
                at(Category::Terms, 0.99),
            ),
        ];
        let m = Metrics::compute(&pairs, 0.8);
        assert_eq!(m.humans, 5);
        assert_eq!(m.human_accuracy, 3.0 / 5.0);
        let rules = &m.answering[0];
        assert!(rules.configured);
        assert_eq!((rules.specific, rules.answered, rules.wrong), (3, 3, 1));
        assert_eq!(rules.coverage, 2.0 / 3.0);
        assert_eq!(rules.risk, 1.0 / 3.0);
        let none = m.answering.iter().find(|o| o.threshold == 0.0).unwrap();
        assert_eq!((none.answered, none.wrong), (4, 2));
        assert_eq!(none.coverage, 1.0);
        assert_eq!(m.answering.iter().filter(|o| o.configured).count(), 1);
        let bin = |c: f64| {
            m.calibration
                .iter()
                .find(|b| b.from <= c && c < b.to)
                .unwrap()
        };
        assert_eq!((bin(0.85).mails, bin(0.85).right), (1, 1));
        assert_eq!((bin(0.9).mails, bin(0.9).right), (3, 2));
        assert_eq!((bin(0.6).mails, bin(0.6).right), (1, 0));
        assert_eq!(m.calibration.iter().map(|b| b.mails).sum::<usize>(), 5);
    }
}
