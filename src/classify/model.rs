//! The learned half of the classifier: naive Bayes over stemmed words, trained at start-up
//! from labelled example mails in a folder HR staff can grow (`training/<category>/…`,
//! technical mail in `training/technical/<desk>/…`).
//!
//! Multinomial over binary counts (a word counts once per mail), Laplace smoothing, equal priors (the
//! folder sizes say nothing about what arrives). Deterministic: the same examples always
//! give the same model. Its posterior is blended with the rule scores in `classify`; the
//! words that pushed hardest are reported by `--explain`.

#![deny(clippy::string_slice, clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasherDefault;
use std::path::{Path, PathBuf};

use super::text::{Stemmers, Tokens};
use super::Fnv;
use crate::parse::language;

/// Why the training folder cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read training folder {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("training folder {}: {what}", path.display())]
    Layout { path: PathBuf, what: String },
}

/// How many of the strongest words `posterior` reports.
const EVIDENCE: usize = 8;

/// A naive Bayes model over string labels.
#[derive(Debug, Clone)]
pub struct NaiveBayes {
    labels: Vec<String>,
    /// Per word and label: log P(word | label), what the word adds to the label's score.
    delta: HashMap<String, Vec<f64>, BuildHasherDefault<Fnv>>,
    examples: usize,
}

/// Function words carry no topic: left out of the features.
fn is_stop_word(w: &str) -> bool {
    language::is_function_word(w) || w.len() < 2 || w.chars().all(|c| c.is_ascii_digit())
}

/// The distinct feature words of a tokenised mail (stems; compounds joined).
pub fn features(toks: &Tokens) -> BTreeSet<String> {
    toks.tokens
        .iter()
        .filter(|t| !is_stop_word(&t.word))
        .map(|t| t.stem.clone())
        .chain(toks.compounds.iter().map(|(_, t)| t.stem.clone()))
        .collect()
}

/// As [`features`], with a weight per word, added to `out`: the highest weight of the places
/// it occurs (in these tokens or in those already in `out`), `weight_of(position)` giving
/// each token's.
pub fn add_weighted_features(
    out: &mut BTreeMap<String, f64>,
    toks: &Tokens,
    weight_of: impl Fn(usize) -> f64,
) {
    let mut put = |stem: &str, w: f64| {
        let slot = out.entry(stem.to_string()).or_insert(w);
        if w > *slot {
            *slot = w;
        }
    };
    for (i, t) in toks.tokens.iter().enumerate() {
        if !is_stop_word(&t.word) {
            put(&t.stem, weight_of(i));
        }
    }
    for (i, t) in &toks.compounds {
        put(&t.stem, weight_of(*i));
    }
}

impl NaiveBayes {
    /// Trains on (label, features) examples; labels keep first-seen order.
    pub fn train(examples: &[(String, BTreeSet<String>)]) -> NaiveBayes {
        let mut labels: Vec<String> = Vec::new();
        for (l, _) in examples {
            if !labels.contains(l) {
                labels.push(l.clone());
            }
        }
        let k = labels.len();
        let mut counts: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (l, feats) in examples {
            let i = labels.iter().position(|x| x == l).unwrap_or(0);
            for f in feats {
                if let Some(n) = counts
                    .entry(f.as_str())
                    .or_insert_with(|| vec![0; k])
                    .get_mut(i)
                {
                    *n += 1;
                }
            }
        }
        // Multinomial naive Bayes over binary counts: only the words a mail has count
        // (the Bernoulli form lets the thousands of absent words drown a short mail).
        let vocabulary = counts.len() as f64;
        let mut totals = vec![0.0; k];
        for c in counts.values() {
            for (total, &n) in totals.iter_mut().zip(c) {
                *total += n as f64;
            }
        }
        let mut delta =
            HashMap::with_capacity_and_hasher(counts.len(), BuildHasherDefault::default());
        for (word, c) in counts {
            let d: Vec<f64> = c
                .iter()
                .zip(&totals)
                .map(|(&n, total)| ((n as f64 + 1.0) / (total + vocabulary)).ln())
                .collect();
            delta.insert(word.to_string(), d);
        }
        NaiveBayes {
            labels,
            delta,
            examples: examples.len(),
        }
    }

    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    pub fn examples(&self) -> usize {
        self.examples
    }

    /// Posterior probabilities per label (same order as `labels`), softened by
    /// `temperature` (naive Bayes is overconfident), and the words that favoured each
    /// label most, strongest first.
    pub fn posterior(
        &self,
        feats: &BTreeSet<String>,
        temperature: f64,
    ) -> (Vec<f64>, Vec<(String, String, f64)>) {
        let weighted: BTreeMap<String, f64> = feats.iter().map(|f| (f.clone(), 1.0)).collect();
        self.posterior_weighted(&weighted, temperature)
    }

    /// As [`NaiveBayes::posterior`], each word's evidence scaled by its weight.
    pub fn posterior_weighted(
        &self,
        feats: &BTreeMap<String, f64>,
        temperature: f64,
    ) -> (Vec<f64>, Vec<(String, String, f64)>) {
        let k = self.labels.len();
        let mut score = vec![0.0; k];
        // (label, word, strength); strings are made only for what is reported.
        let mut evidence: Vec<(&str, &str, f64)> = Vec::new();
        for (f, &w) in feats {
            let Some(d) = self.delta.get(f) else {
                continue;
            };
            let (mut best, mut top, mut sum) = (None, f64::NEG_INFINITY, 0.0);
            for ((label, s), &di) in self.labels.iter().zip(&mut score).zip(d) {
                let delta = di * w;
                *s += delta;
                sum += delta;
                if delta > top {
                    (best, top) = (Some(label.as_str()), delta);
                }
            }
            // The word's pull towards its best label, relative to the mean of the others.
            let rest = (sum - top) / (k.max(2) - 1) as f64;
            if let Some(best) = best.filter(|_| top - rest > 0.5) {
                evidence.push((best, f.as_str(), top - rest));
            }
        }
        let t = temperature.max(1e-6);
        let max = score.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let exp: Vec<f64> = score.iter().map(|s| ((s - max) / t).exp()).collect();
        let sum: f64 = exp.iter().sum();
        evidence.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.1.cmp(b.1)));
        let evidence = evidence
            .into_iter()
            .take(EVIDENCE)
            .map(|(label, w, x)| (label.to_string(), w.to_string(), x))
            .collect();
        (exp.iter().map(|e| e / sum).collect(), evidence)
    }
}

/// The category model and the desk model, trained from one folder.
#[derive(Debug, Clone)]
pub struct Model {
    pub categories: NaiveBayes,
    pub desks: Option<NaiveBayes>,
}

fn mail_files(dir: &Path) -> Result<Vec<PathBuf>, ModelError> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|source| ModelError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(mail_files(&p)?);
        } else if p.extension().is_some_and(|x| x == "eml") {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// One labelled example from the training folder.
#[derive(Debug, Clone)]
pub struct Example {
    pub path: PathBuf,
    pub category: String,
    /// Under `technical/<desk>/`: the desk.
    pub desk: Option<String>,
    pub features: BTreeSet<String>,
}

impl Model {
    /// Reads and trains on every `.eml` below `dir`. The first folder level is the category;
    /// under `technical/` the second is the desk.
    ///
    /// # Errors
    /// When the folder cannot be read, a folder is not a category, or a category has no
    /// examples.
    pub fn load(
        dir: &Path,
        stemmers: &Stemmers,
        default_language: crate::parse::Language,
    ) -> Result<Model, ModelError> {
        Model::train(dir, &Model::read_examples(dir, stemmers, default_language)?)
    }

    /// Every `.eml` below `dir` as an example, in file-name order.
    ///
    /// # Errors
    /// When the folder cannot be read or a folder is not a category.
    pub fn read_examples(
        dir: &Path,
        stemmers: &Stemmers,
        default_language: crate::parse::Language,
    ) -> Result<Vec<Example>, ModelError> {
        let mut out = Vec::new();
        for file in mail_files(dir)? {
            let rel = file.strip_prefix(dir).unwrap_or(&file);
            let parts: Vec<String> = rel
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            // `<category>/…/file.eml`; `technical/<desk>/…/file.eml`.
            let (cat, desk) = match parts.as_slice() {
                [cat, desk, _, ..] if cat == "technical" => (cat, Some(desk.clone())),
                [cat, _, ..] => (cat, None),
                _ => {
                    return Err(ModelError::Layout {
                        path: dir.to_path_buf(),
                        what: format!("{} is not in a category folder", rel.display()),
                    })
                }
            };
            if super::Category::from_name(cat).is_none() {
                return Err(ModelError::Layout {
                    path: dir.to_path_buf(),
                    what: format!(
                        "folder {cat:?} is not a category; use pricing, terms, eligibility, technical or other"
                    ),
                });
            }
            let bytes = std::fs::read(&file).map_err(|source| ModelError::Read {
                path: file.clone(),
                source,
            })?;
            let mail = crate::parse::parse(&bytes, default_language);
            let subject = super::strip_subject_prefixes(&mail.subject);
            let toks = super::text::tokenize(
                &format!("{subject}\n{}", mail.new_text),
                mail.language,
                stemmers,
            );
            out.push(Example {
                desk,
                category: cat.clone(),
                features: features(&toks),
                path: file,
            });
        }
        Ok(out)
    }

    /// Trains on `examples` (read from `dir`, named in errors).
    ///
    /// # Errors
    /// When a category has no examples.
    pub fn train(dir: &Path, examples: &[Example]) -> Result<Model, ModelError> {
        for c in super::Category::ALL {
            if !examples.iter().any(|e| e.category == c.name()) {
                return Err(ModelError::Layout {
                    path: dir.to_path_buf(),
                    what: format!("no examples for {c}; add some .eml files to {c}/"),
                });
            }
        }
        let cats: Vec<(String, BTreeSet<String>)> = examples
            .iter()
            .map(|e| (e.category.clone(), e.features.clone()))
            .collect();
        let desks: Vec<(String, BTreeSet<String>)> = examples
            .iter()
            .filter_map(|e| Some((e.desk.clone()?, e.features.clone())))
            .collect();
        Ok(Model {
            categories: NaiveBayes::train(&cats),
            desks: (!desks.is_empty()).then(|| NaiveBayes::train(&desks)),
        })
    }
}

#[cfg(test)]
#[allow(clippy::string_slice, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn set(words: &[&str]) -> BTreeSet<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn learns_which_words_go_where() {
        let nb = NaiveBayes::train(&[
            ("pricing".into(), set(&["pris", "licens"])),
            ("pricing".into(), set(&["pris", "faktura"])),
            ("technical".into(), set(&["kamera", "virk"])),
            ("technical".into(), set(&["lyd", "virk"])),
        ]);
        let (p, ev) = nb.posterior(&set(&["pris"]), 1.0);
        assert!(p[0] > 0.7, "{p:?}");
        assert_eq!(ev[0].0, "pricing");
        let (p, _) = nb.posterior(&set(&["kamera", "virk"]), 1.0);
        assert!(p[1] > 0.8, "{p:?}");
        // Unknown words change nothing: equal priors.
        let (p, _) = nb.posterior(&set(&["xyz"]), 1.0);
        assert!((p[0] - p[1]).abs() < 0.2, "{p:?}");
    }

    #[test]
    fn training_is_deterministic() {
        let ex = vec![
            ("a".to_string(), set(&["x", "y"])),
            ("b".to_string(), set(&["z"])),
        ];
        let (p1, e1) = NaiveBayes::train(&ex).posterior(&set(&["x", "z"]), 2.0);
        let (p2, e2) = NaiveBayes::train(&ex).posterior(&set(&["x", "z"]), 2.0);
        assert_eq!(p1, p2);
        assert_eq!(e1, e2);
    }
}
