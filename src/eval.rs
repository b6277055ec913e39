//! Eval: labelled mails -> quality metrics for the classifier and the guards.
//!
//! Reads the labels format of the shared corpus (`labels.json`: file, category, desk,
//! language, expect_reply, skip, sensitive, …) and compares it with what autosvar decides.
//! Pure arithmetic once the predictions are made: it reads no file and runs no classifier;
//! [`crate::cli::eval`] makes the predictions and prints the result.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
    pub misses: Vec<Miss>,
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
    /// Compares labels with predictions (same order).
    pub fn compute(pairs: &[(Label, Prediction)]) -> Metrics {
        let mut t = Tally::default();
        for (l, p) in pairs {
            t.add(l, p);
        }
        let n = pairs.len();
        let per_category = per_category(&t.confusion);
        let (s_tp, s_fp, s_fn) = t.sensitive;
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
        let m = Metrics::compute(&pairs);
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
}
