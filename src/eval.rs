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

impl Metrics {
    /// Compares labels with predictions (same order).
    pub fn compute(pairs: &[(Label, Prediction)]) -> Metrics {
        let n = pairs.len();
        let mut confusion: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        let mut misses = Vec::new();
        let (mut right, mut lang_right, mut action_right) = (0, 0, 0);
        let (mut technical, mut desk_right, mut false_routes) = (0, 0, 0);
        let (mut machine_replies, mut humans, mut humans_replied) = (0, 0, 0);
        let (mut s_tp, mut s_fp, mut s_fn) = (0, 0, 0);
        for (l, p) in pairs {
            let got = p.category.name().to_string();
            *confusion
                .entry(l.category.clone())
                .or_default()
                .entry(got.clone())
                .or_default() += 1;
            let note = l.note.clone().unwrap_or_default();
            let mut miss = |what: &str, expected: String, got: String| {
                misses.push(Miss {
                    file: l.file.clone(),
                    what: what.into(),
                    expected,
                    got,
                    confidence: p.confidence,
                    note: note.clone(),
                });
            };
            if got == l.category {
                right += 1;
            } else {
                miss("category", l.category.clone(), got.clone());
            }
            if l.category == "technical" {
                technical += 1;
                let desk_ok = p.desk.as_deref() == Some(l.desk.as_str()) && got == "technical";
                if desk_ok {
                    desk_right += 1;
                } else if got == "technical" {
                    miss("desk", l.desk.clone(), p.desk.clone().unwrap_or_default());
                }
            } else if p.desk.is_some() && p.reply {
                false_routes += 1;
            }
            if p.language == l.language {
                lang_right += 1;
            } else {
                miss("language", l.language.clone(), p.language.clone());
            }
            if p.reply == l.expect_reply {
                action_right += 1;
            } else {
                miss(
                    "action",
                    if l.expect_reply {
                        "reply".into()
                    } else {
                        format!("skip ({})", l.skip.clone().unwrap_or_default())
                    },
                    if p.reply {
                        "reply".into()
                    } else {
                        format!("skip ({})", p.skip_reason.clone().unwrap_or_default())
                    },
                );
            }
            if l.expect_reply {
                humans += 1;
                if p.reply {
                    humans_replied += 1;
                }
            } else if p.reply {
                machine_replies += 1;
            }
            match (l.sensitive, p.sensitive) {
                (true, true) => s_tp += 1,
                (false, true) => {
                    s_fp += 1;
                    miss("sensitive", "false".into(), "true".into());
                }
                (true, false) => {
                    s_fn += 1;
                    miss("sensitive", "true".into(), "false".into());
                }
                (false, false) => {}
            }
        }
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
        let present: Vec<&Prf> = per_category.values().filter(|p| p.support > 0).collect();
        let macro_f1 = if present.is_empty() {
            0.0
        } else {
            present.iter().map(|p| p.f1).sum::<f64>() / present.len() as f64
        };
        Metrics {
            mails: n,
            accuracy: ratio(right, n),
            macro_f1,
            per_category,
            confusion,
            desk_accuracy: ratio(desk_right, technical),
            technical,
            desk_false_routes: false_routes,
            language_accuracy: ratio(lang_right, n),
            action_accuracy: ratio(action_right, n),
            machine_replies,
            reply_rate: ratio(humans_replied, humans),
            sensitive: prf(s_tp, s_fp, s_fn),
            misses,
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
