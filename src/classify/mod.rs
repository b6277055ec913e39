//! Classify: [`Mail`] -> [`Classification`] (category, desk for technical mail, confidence,
//! sensitive data).
//!
//! Scores every category by the weighted patterns in the rules file, over the subject
//! (weighted up, or down in a reply) and the new text only, never quoted history; what a
//! mail asks counts more than what it only tells. The learned model's posterior is blended
//! in (see [`model`]). Below the configured confidence the answer is `other`, which gets a
//! human; so are a short thank-you that asks nothing, a mail about another product that
//! never names Zoom, and a calendar invitation that asks nothing. Deterministic and pure:
//! the same mail, rules and examples always give the same answer, with no I/O (stems are
//! memoised per thread, which changes nothing but speed). Never panics on any mail: no
//! indexing or slicing that could fail (the lints below), no offset carried from a
//! lowercased copy into the text it was made from.

#![deny(clippy::string_slice, clippy::indexing_slicing)]

pub mod model;
pub mod rules;
pub mod sensitive;
pub mod text;

use serde::Serialize;

pub use rules::Rules;
use rules::{Pattern, WordMatch};
use text::{Stemmers, Token, Tokens};

use crate::parse::Mail;
use crate::types::Language;
pub use crate::types::{Category, DeskKey, DESKS};

/// Where a pattern matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    Subject,
    Body,
}

/// One rule that scored, for `--explain`.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    /// A category name or `desk:<key>`.
    pub target: String,
    pub pattern: String,
    pub field: Field,
    pub points: f64,
}

/// The classifier's answer for one mail.
#[derive(Debug, Clone, Serialize)]
pub struct Classification {
    pub category: Category,
    /// For technical mail: the desk key.
    pub desk: Option<DeskKey>,
    /// 0..1: the winning category's share of all points, damped for few points.
    pub confidence: f64,
    /// A second topic that also scored well.
    pub secondary: Option<Category>,
    pub sensitive: bool,
    pub scores: Vec<(Category, f64)>,
    pub hits: Vec<Hit>,
}

/// Compiled rules, the learned model and the stemmers, shared by every mail.
pub struct Classifier {
    rules: Rules,
    model: Option<model::Model>,
    stemmers: Stemmers,
    /// Per category and per desk: the patterns by the stems their first word can have, so a
    /// mail's words are looked up instead of every pattern being scanned.
    /// Every category and desk pattern in one index (one lookup per word for all of
    /// them); `owner` maps each back to its target (categories, then desks) and position.
    all_patterns: Vec<Pattern>,
    owner: Vec<(usize, usize)>,
    all_index: PatternIndex,
    topic_index: PatternIndex,
    /// The `[sensitive]` patient and medical words, for sensitive-data detection.
    pub(crate) patient_index: PatternIndex,
    pub(crate) medical_index: PatternIndex,
    lists: ListIndexes,
}

/// Patterns by what their first word can be: an exact stem or spelling, a prefix, a
/// suffix; only "contains" patterns are scanned. A mail's words are looked up, not every
/// pattern tried (10,000+ mails a second on one core).
#[derive(Debug, Default)]
pub(crate) struct PatternIndex {
    exact: FastMap<Vec<usize>>,
    prefix: FastMap<Vec<usize>>,
    suffix: FastMap<Vec<usize>>,
    /// Byte lengths that occur among the prefixes and suffixes: only those are looked up.
    prefix_lens: Vec<usize>,
    suffix_lens: Vec<usize>,
    contains: Vec<usize>,
}

/// FNV-1a: the keys are short words from our own rules file, so a fast non-keyed hash is
/// fine here (SipHash was the largest cost of classifying a mail).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

pub(crate) type FastMap<V> =
    std::collections::HashMap<String, V, std::hash::BuildHasherDefault<Fnv>>;

impl PatternIndex {
    pub(crate) fn new(patterns: &[Pattern]) -> PatternIndex {
        let mut index = PatternIndex::default();
        for (i, p) in patterns.iter().enumerate() {
            match p.words.first() {
                Some(WordMatch::Stem(variants)) => {
                    for v in variants {
                        index.exact.entry(v.clone()).or_default().push(i);
                    }
                }
                Some(WordMatch::Prefix(x)) => {
                    index.prefix.entry(x.clone()).or_default().push(i);
                    index.prefix_lens.push(x.len());
                }
                Some(WordMatch::Suffix(x)) => {
                    index.suffix.entry(x.clone()).or_default().push(i);
                    index.suffix_lens.push(x.len());
                }
                Some(WordMatch::Contains(_)) => index.contains.push(i),
                None => {}
            }
        }
        for lens in [&mut index.prefix_lens, &mut index.suffix_lens] {
            lens.sort_unstable();
            lens.dedup();
        }
        index
    }

    /// Patterns whose first word may match `t`.
    fn candidates<'a>(&'a self, t: &'a Token) -> impl Iterator<Item = usize> + 'a {
        let exact = [&t.stem, &t.word]
            .into_iter()
            .flat_map(|k| self.exact.get(k.as_str()).into_iter().flatten());
        let w = t.word.as_str();
        let prefixes = self
            .prefix_lens
            .iter()
            .filter_map(move |&n| w.get(..n))
            .flat_map(move |p| self.prefix.get(p).into_iter().flatten());
        let suffixes = self
            .suffix_lens
            .iter()
            .filter_map(move |&n| w.len().checked_sub(n).and_then(|i| w.get(i..)))
            .flat_map(move |x| self.suffix.get(x).into_iter().flatten());
        exact.chain(prefixes).chain(suffixes).copied()
    }

    /// The first position of each pattern that occurs (same answer as [`find`]).
    pub(crate) fn first_matches(&self, patterns: &[Pattern], toks: &Tokens) -> Vec<(usize, usize)> {
        let mut found: Vec<Option<usize>> = vec![None; patterns.len()];
        for (pos, t) in toks.tokens.iter().enumerate() {
            for pi in self.candidates(t) {
                if let (Some(slot @ None), Some(p)) = (found.get_mut(pi), patterns.get(pi)) {
                    if matches_at(p, toks, pos) {
                        *slot = Some(pos);
                    }
                }
            }
        }
        for (pos, t) in &toks.compounds {
            for pi in self.candidates(t) {
                if let (Some(slot @ None), Some(p)) = (found.get_mut(pi), patterns.get(pi)) {
                    if matches!(p.words.as_slice(), [one] if word_matches(one, t)) {
                        *slot = Some(*pos);
                    }
                }
            }
        }
        for &pi in &self.contains {
            if let (Some(slot), Some(p)) = (found.get_mut(pi), patterns.get(pi)) {
                *slot = find(p, toks);
            }
        }
        found
            .into_iter()
            .enumerate()
            .filter_map(|(pi, pos)| pos.map(|p| (pi, p)))
            .collect()
    }

    /// Whether any pattern occurs.
    pub(crate) fn any(&self, patterns: &[Pattern], toks: &Tokens) -> bool {
        !self.first_matches(patterns, toks).is_empty()
    }
}

/// Whether every word of the pattern matches the tokens from `pos` on.
fn matches_at(p: &Pattern, toks: &Tokens, pos: usize) -> bool {
    p.words
        .iter()
        .enumerate()
        .all(|(j, m)| toks.tokens.get(pos + j).is_some_and(|t| word_matches(m, t)))
}

fn word_matches(m: &WordMatch, t: &Token) -> bool {
    match m {
        WordMatch::Stem(v) => v.iter().any(|s| *s == t.stem || *s == t.word),
        WordMatch::Prefix(p) => t.word.starts_with(p.as_str()),
        WordMatch::Suffix(s) => t.word.ends_with(s.as_str()),
        WordMatch::Contains(s) => t.word.contains(s.as_str()),
    }
}

/// Where a pattern first occurs in the tokens (the index of its first word).
pub(crate) fn find(p: &Pattern, toks: &Tokens) -> Option<usize> {
    match p.words.as_slice() {
        [] => None,
        [one] => toks
            .tokens
            .iter()
            .position(|t| word_matches(one, t))
            .or_else(|| {
                toks.compounds
                    .iter()
                    .find(|(_, t)| word_matches(one, t))
                    .map(|(i, _)| *i)
            }),
        many => toks
            .tokens
            .windows(many.len())
            .position(|w| w.iter().zip(many).all(|(t, m)| word_matches(m, t))),
    }
}

impl Classifier {
    pub fn new(rules: Rules, model: Option<model::Model>) -> Classifier {
        let targets: Vec<&[Pattern]> = Category::ALL
            .iter()
            .map(|c| {
                rules
                    .categories
                    .iter()
                    .find(|(k, _)| k == c)
                    .map_or(&[][..], |(_, p)| p.as_slice())
            })
            .chain(rules.desks.iter().map(|(_, p)| p.as_slice()))
            .collect();
        let mut all_patterns = Vec::new();
        let mut owner = Vec::new();
        for (ti, patterns) in targets.iter().enumerate() {
            for (li, p) in patterns.iter().enumerate() {
                all_patterns.push(p.clone());
                owner.push((ti, li));
            }
        }
        let all_index = PatternIndex::new(&all_patterns);
        let topic_index = PatternIndex::new(&rules.topic_words);
        let patient_index = PatternIndex::new(&rules.patient_words);
        let medical_index = PatternIndex::new(&rules.medical_words);
        let lists = ListIndexes {
            aside: PatternIndex::new(&rules.aside_words),
            thanks: PatternIndex::new(&rules.thanks.words),
            done: PatternIndex::new(&rules.thanks.done),
            product: PatternIndex::new(&rules.elsewhere.product),
            elsewhere: PatternIndex::new(&rules.elsewhere.words),
        };
        Classifier {
            rules,
            model,
            stemmers: Stemmers::default(),
            all_patterns,
            owner,
            all_index,
            topic_index,
            patient_index,
            medical_index,
            lists,
        }
    }

    /// Points for one target. One word, one vote: where several patterns match at the same
    /// place ("licens", "licens*", "license"), only the heaviest counts.
    fn score(
        &self,
        target: &str,
        patterns: &[Pattern],
        target_id: usize,
        fields: &[ScoredField<'_>],
        hits: &mut Vec<Hit>,
    ) -> f64 {
        let mut total = 0.0;
        for &(field, found, factor) in fields {
            let mut best: std::collections::BTreeMap<usize, &Pattern> =
                std::collections::BTreeMap::new();
            for &(pi, at) in found.get(target_id).into_iter().flatten() {
                let Some(p) = patterns.get(pi) else { continue };
                let slot = best.entry(at).or_insert(p);
                if p.weight > slot.weight {
                    *slot = p;
                }
            }
            for (&at, p) in &best {
                let points = p.weight * factor(at);
                total += points;
                hits.push(Hit {
                    target: target.to_string(),
                    pattern: p.text.clone(),
                    field,
                    points,
                });
            }
        }
        total
    }

    /// Each category's points from the rules (never below zero).
    fn category_scores(
        &self,
        fields: &[ScoredField<'_>],
        hits: &mut Vec<Hit>,
    ) -> Vec<(Category, f64)> {
        Category::ALL
            .iter()
            .enumerate()
            .map(|(ci, c)| {
                let patterns = self
                    .rules
                    .categories
                    .iter()
                    .find(|(k, _)| k == c)
                    .map_or(&[][..], |(_, p)| p.as_slice());
                (
                    *c,
                    self.score(c.name(), patterns, ci, fields, hits).max(0.0),
                )
            })
            .collect()
    }

    /// "250 deltagere", "2 timer", "90 minutes": a meeting beyond the free tier (more
    /// participants or longer than the configured limits) needs a paid licence.
    fn beyond_free_tier(&self, toks: &Tokens) -> Option<String> {
        let limits = &self.rules.limits;
        let words = &toks.tokens;
        for (i, t) in words.iter().enumerate() {
            let Some(n) = number(&t.word) else { continue };
            for (j, unit) in words.iter().enumerate().skip(i + 1).take(2) {
                let u = unit.word.as_str();
                // "10 timer om ugen", "20 hours a week": working time, not a meeting.
                let per_period = words.get(j + 2).is_some_and(|w| {
                    [
                        "ugen", "uge", "week", "maaneden", "month", "dagen", "day", "aaret", "year",
                    ]
                    .contains(&w.word.as_str())
                });
                if per_period {
                    continue;
                }
                let people = [
                    "deltager",
                    "participant",
                    "people",
                    "person",
                    "attendee",
                    "mennesker",
                    "brugere",
                    "users",
                    "kolleger",
                ]
                .iter()
                .any(|p| u.starts_with(p));
                let minutes = match u {
                    _ if u.starts_with("minut") || u == "min" => Some(n),
                    _ if u.starts_with("time") || u.starts_with("hour") || u == "t" => {
                        Some(n * 60.0)
                    }
                    _ => None,
                };
                if people && n > limits.participants {
                    return Some(format!(
                        "{} {u} (more than {} participants)",
                        t.word, limits.participants
                    ));
                }
                if let Some(m) = minutes.filter(|m| *m >= limits.minutes) {
                    return Some(format!(
                        "{} {u} ({m} min: the free tier ends meetings at {} minutes)",
                        t.word, limits.minutes
                    ));
                }
            }
        }
        None
    }

    /// Every pattern found in the tokens, grouped by target: (pattern index, position).
    fn matches(&self, toks: &Tokens) -> Found {
        let mut out = vec![Vec::new(); Category::ALL.len() + self.rules.desks.len()];
        for (flat, pos) in self.all_index.first_matches(&self.all_patterns, toks) {
            let Some(&(target, local)) = self.owner.get(flat) else {
                continue;
            };
            if let Some(found) = out.get_mut(target) {
                found.push((local, pos));
            }
        }
        out
    }

    /// Tokenises text as the classifier sees it.
    pub fn tokenize(&self, text: &str, lang: Language) -> Tokens {
        text::tokenize(text, lang, &self.stemmers)
    }

    /// Classifies a mail on its subject and new text.
    pub fn classify(&self, mail: &Mail) -> Classification {
        let stripped = strip_subject_prefixes(&mail.subject);
        let subject = self.tokenize(&stripped, mail.language);
        // "SV: Hvor finder jeg Zoom?" names the old question, not this one. A Danish forward
        // ("VS:") has always been weighed so too, and rules.toml's weights were chosen with
        // it: weighing it as the forward it is lowers the 5-fold numbers (0.933 -> 0.932).
        let is_reply = {
            use crate::parse::subject::{leading, PrefixKind};
            matches!(
                leading(&mail.subject),
                Some((_, PrefixKind::Reply) | ("vs:", PrefixKind::Forward))
            )
        };
        let subject_weight = if is_reply {
            self.rules.reply_subject_weight
        } else {
            self.rules.subject_weight
        };
        let body = self.tokenize(&mail.new_text, mail.language);
        let mut hits = Vec::new();
        let subject_found = self.matches(&subject);
        let body_found = self.matches(&body);
        // When the mail asks something, what it asks is the topic; sentences that only
        // tell ("Tak, det virker nu.") count less, and so do the questions after the first
        // (people ask first what they wrote about: "..., og hvad koster det i øvrigt?").
        let any_asked = body.asks();
        let (told_weight, later_weight) =
            (self.rules.told_weight, self.rules.later_question_weight);
        // "P.S.", "og mens jeg har jer": from there on, a side remark. Unless all before it
        // is a short thank-you ("Tak for prisen. Et andet spørgsmål: ..."): then the old
        // matter is closed, what comes before weighs like a side remark, and the "other
        // question" is why they wrote.
        let thanks_at = self
            .lists
            .thanks
            .first_matches(&self.rules.thanks.words, &body);
        let pivot = self
            .lists
            .aside
            .first_matches(&self.rules.aside_words, &body)
            .into_iter()
            .map(|(_, at)| at)
            .min()
            .filter(|&at| at > 0);
        let closes_old = pivot
            .is_some_and(|at| at <= THANKS_BEFORE_ASIDE && thanks_at.iter().any(|&(_, t)| t < at));
        let (closed_before, aside_from) = match pivot {
            Some(at) if closes_old => (at, usize::MAX),
            Some(at) => (0, at),
            None => (0, usize::MAX),
        };
        // The first question outside the closed matter and the side remark is the main one.
        let first_question = body
            .question
            .iter()
            .enumerate()
            .filter(|(i, _)| (closed_before..aside_from).contains(i))
            .find_map(|(_, q)| *q)
            .unwrap_or(u16::MAX);
        // `discount` off: every question counts in full (for finding a second topic).
        let weigh = |pos: usize, discount: bool| -> f64 {
            let base = match body.question.get(pos).copied().flatten() {
                Some(q) if q == first_question || !discount => 1.0,
                Some(_) => later_weight,
                None if any_asked => told_weight,
                None => 1.0,
            };
            if discount && (pos >= aside_from || pos < closed_before) {
                base.min(later_weight)
            } else {
                base
            }
        };
        let body_weight = |pos: usize| weigh(pos, true);
        let subject_weight_of = |_: usize| subject_weight;
        let fields: Vec<ScoredField<'_>> = vec![
            (Field::Subject, &subject_found, &subject_weight_of),
            (Field::Body, &body_found, &body_weight),
        ];
        let beyond_free = [&subject, &body]
            .into_iter()
            .find_map(|t| self.beyond_free_tier(t));
        let mut scores = self.category_scores(&fields, &mut hits);
        let limit_points = beyond_free
            .as_ref()
            .map_or(0.0, |_| self.rules.limits.weight);
        if let Some(what) = beyond_free {
            if let Some((_, s)) = scores.iter_mut().find(|(c, _)| *c == Category::Pricing) {
                *s += limit_points;
            }
            hits.push(Hit {
                target: Category::Pricing.name().into(),
                pattern: what,
                field: Field::Body,
                points: limit_points,
            });
        }
        // Each category's rule confidence: its share of all points, damped so that a single
        // weak word is not "certain".
        let total: f64 = scores.iter().map(|(_, s)| s).sum();
        let rule_conf = |s: f64| {
            if total > 0.0 {
                (s / total) * (s / (s + self.rules.min_score))
            } else {
                0.0
            }
        };
        // The learned model's posterior, blended in with its configured weight.
        let learned = self.model.as_ref().map(|m| {
            // The model reads the whole new text too, each word weighed as in the rules.
            // (In a reply the subject names the old matter: it weighs as in the rules.)
            let mut feats = std::collections::BTreeMap::new();
            model::add_weighted_features(&mut feats, &subject, |_| {
                if is_reply {
                    self.rules.reply_subject_weight
                } else {
                    1.0
                }
            });
            model::add_weighted_features(&mut feats, &body, body_weight);
            let (post, evidence) = m
                .categories
                .posterior_weighted(&feats, self.rules.model_temperature);
            for (label, word, strength) in evidence.into_iter().take(8) {
                hits.push(Hit {
                    target: label,
                    pattern: format!("learned: {word}"),
                    field: Field::Body,
                    points: (strength * 10.0).round() / 10.0,
                });
            }
            (m, post, feats)
        });
        let w = if learned.is_some() {
            self.rules.model_weight
        } else {
            0.0
        };
        let mut blended: Vec<(Category, f64)> = scores
            .iter()
            .map(|(c, s)| {
                let p = learned.as_ref().map_or(0.0, |(m, post, _)| {
                    m.categories
                        .labels()
                        .iter()
                        .zip(post)
                        .find(|(l, _)| *l == c.name())
                        .map_or(0.0, |(_, p)| *p)
                });
                (*c, (1.0 - w) * rule_conf(*s) + w * p)
            })
            .collect();
        // Highest first; ties keep the order of Category::ALL (a fixed, documented order).
        blended.sort_by(|a, b| b.1.total_cmp(&a.1));
        scores.sort_by(|a, b| b.1.total_cmp(&a.1));
        // (One entry per category: never empty.)
        let (top, top_blend) = blended.first().copied().unwrap_or((Category::Other, 0.0));
        let mut confidence = top_blend;
        let on_topic = self.topic_index.any(&self.rules.topic_words, &subject)
            || self.topic_index.any(&self.rules.topic_words, &body);
        if !on_topic {
            confidence *= self.rules.off_topic_factor;
        }
        let too_few_points =
            learned.is_none() && scores.first().map_or(0.0, |(_, s)| *s) < self.rules.min_score;
        // "Tusind tak, nu virker det!": a short thank-you with no question asks nothing,
        // whatever the old subject or the quoted history were about.
        let words = mail.new_text.split_whitespace().count();
        // (And it reports no problem: "Tak, men installationen fejler" is technical.)
        let body_points = |c: Category, found: &[(usize, usize)]| -> f64 {
            let patterns = self
                .rules
                .categories
                .iter()
                .find(|(k, _)| *k == c)
                .map_or(&[][..], |(_, p)| p.as_slice());
            found
                .iter()
                .map(|&(pi, _)| patterns.get(pi).map_or(0.0, |p| p.weight))
                .sum()
        };
        // (`body_found` holds the categories first, in the order of `Category::ALL`.)
        let asks_something = Category::ALL
            .into_iter()
            .zip(&body_found)
            .filter(|(c, _)| *c != Category::Other)
            .any(|(c, found)| body_points(c, found) >= self.rules.min_score);
        // "Tak, licensen virker nu, og seminaret kørte alle to timer": the matter is closed,
        // whatever topic words the thanks repeat.
        let thanks = &self.rules.thanks;
        // ("Det virker nu ikke" is the opposite.)
        let closes = self
            .lists
            .done
            .first_matches(&thanks.done, &body)
            .into_iter()
            .any(|(pi, at)| {
                let len = thanks.done.get(pi).map_or(0, |p| p.words.len());
                !body
                    .tokens
                    .iter()
                    .skip(at + len)
                    .take(2)
                    .any(|t| matches!(t.word.as_str(), "ikke" | "not" | "aldrig" | "never"))
            });
        let just_thanks = !mail.new_text.contains('?')
            && ((words <= thanks.max_words && !asks_something)
                || (closes && words <= 2 * thanks.max_words))
            && (!thanks_at.is_empty() || closes);
        if just_thanks {
            hits.push(Hit {
                target: Category::Other.name().into(),
                pattern: "a short thank-you without a question".into(),
                field: Field::Body,
                points: 0.0,
            });
            confidence = confidence.max(0.9);
        }
        // "Lyden forsvinder i Teams": about another product, never naming ours.
        let elsewhere = &self.rules.elsewhere;
        let names_product = [&subject, &body]
            .iter()
            .any(|t| self.lists.product.any(&elsewhere.product, t));
        let other_product = (!names_product)
            .then(|| {
                [&subject, &body].iter().find_map(|t| {
                    let found = self.lists.elsewhere.first_matches(&elsewhere.words, t);
                    found.first().and_then(|&(pi, _)| elsewhere.words.get(pi))
                })
            })
            .flatten();
        // "Invitation: Status på introduktionsdage" with nothing asked: calendar mail.
        let invitation = !mail.new_text.contains('?') && {
            let subject = mail.subject.trim_start().to_lowercase();
            elsewhere
                .invitations
                .iter()
                .any(|p| subject.starts_with(p.as_str()))
        };
        if invitation {
            hits.push(Hit {
                target: Category::Other.name().into(),
                pattern: "a calendar invitation that asks nothing".into(),
                field: Field::Subject,
                points: 0.0,
            });
        }
        if let Some(p) = other_product {
            hits.push(Hit {
                target: Category::Other.name().into(),
                pattern: format!("about {:?}, never naming Zoom", p.text),
                field: Field::Body,
                points: 0.0,
            });
        }
        let category = if just_thanks
            || other_product.is_some()
            || invitation
            || too_few_points
            || confidence < self.rules.min_confidence
        {
            Category::Other
        } else {
            top
        };
        // A second topic: clearly present in the rules, or close behind in the blend.
        // A second topic lives in the later questions and side remarks, so here every
        // question counts in full.
        let plain_body = |pos: usize| weigh(pos, false);
        let plain_fields: Vec<ScoredField<'_>> = vec![
            (Field::Subject, &subject_found, &subject_weight_of),
            (Field::Body, &body_found, &plain_body),
        ];
        // Only when some question or side remark was weighed down do the scores differ.
        let discounted = aside_from != usize::MAX
            || closed_before > 0
            || body
                .question
                .iter()
                .any(|q| q.is_some_and(|q| q != first_question));
        let plain_scores: Vec<(Category, f64)> = if !discounted {
            scores.clone()
        } else {
            let mut plain = self.category_scores(&plain_fields, &mut Vec::new());
            for (c, s) in &mut plain {
                if *c == Category::Pricing {
                    *s += limit_points;
                }
            }
            plain
        };
        let top_points = plain_scores
            .iter()
            .find(|(c, _)| *c == category)
            .map_or(0.0, |(_, s)| *s);
        let secondary = blended
            .iter()
            .filter(|(c, _)| *c != category && *c != Category::Other)
            .find(|(c, v)| {
                let points = plain_scores
                    .iter()
                    .find(|(k, _)| k == c)
                    .map_or(0.0, |(_, s)| *s);
                (points >= self.rules.min_score && points >= 0.3 * top_points)
                    || (*v >= 0.2 && *v >= 0.5 * top_blend)
            })
            .map(|(c, _)| *c)
            .filter(|_| category != Category::Other);
        let desk = (category == Category::Technical).then(|| {
            let rule_desks: Vec<(String, f64)> = self
                .rules
                .desks
                .iter()
                .enumerate()
                .map(|(di, (key, patterns))| {
                    let s = self.score(
                        &format!("desk:{key}"),
                        patterns,
                        Category::ALL.len() + di,
                        &fields,
                        &mut hits,
                    );
                    (key.clone(), s.max(0.0))
                })
                .collect();
            let desk_total: f64 = rule_desks.iter().map(|(_, s)| s).sum();
            let desk_post = learned.as_ref().and_then(|(m, _, feats)| {
                m.desks.as_ref().map(|d| {
                    (
                        d,
                        d.posterior_weighted(feats, self.rules.model_temperature).0,
                    )
                })
            });
            let wd = if desk_post.is_some() { w } else { 0.0 };
            let mut best: Option<(&str, f64)> = None;
            for (key, s) in &rule_desks {
                let share = if desk_total > 0.0 {
                    s / desk_total
                } else {
                    0.0
                };
                let p = desk_post.as_ref().map_or(0.0, |(d, post)| {
                    d.labels()
                        .iter()
                        .zip(post)
                        .find(|(l, _)| *l == key)
                        .map_or(0.0, |(_, p)| *p)
                });
                let v = (1.0 - wd) * share + wd * p;
                if v > 0.0 && best.is_none_or(|(_, b)| v > b) {
                    best = Some((key.as_str(), v));
                }
            }
            DeskKey::from(
                best.map_or_else(|| self.rules.default_desk.clone(), |(k, _)| k.to_string()),
            )
        });
        let sensitive = sensitive::is_sensitive(mail, self);
        Classification {
            category,
            desk,
            confidence: (confidence * 1000.0).round() / 1000.0,
            secondary,
            sensitive,
            scores,
            hits,
        }
    }
}

/// Indexes over the short word lists that are looked up in every mail.
struct ListIndexes {
    aside: PatternIndex,
    thanks: PatternIndex,
    done: PatternIndex,
    product: PatternIndex,
    elsewhere: PatternIndex,
}

/// At most this many words before an aside word may be a thank-you that closes the old
/// matter, making what follows the main question.
const THANKS_BEFORE_ASIDE: usize = 15;

/// Per target, the patterns found: (pattern index, position).
type Found = Vec<Vec<(usize, usize)>>;

/// A part of the mail, what was found in it, and how much it counts.
type ScoredField<'a> = (Field, &'a [Vec<(usize, usize)>], &'a dyn Fn(usize) -> f64);

/// A number written as digits or as a small Danish or English number word.
fn number(word: &str) -> Option<f64> {
    if let Ok(n) = word.parse::<f64>() {
        return Some(n);
    }
    Some(match word {
        "en" | "et" | "one" | "an" => 1.0,
        "halvanden" => 1.5,
        "to" | "two" => 2.0,
        "tre" | "three" => 3.0,
        "fire" | "four" => 4.0,
        "fem" | "five" => 5.0,
        "seks" | "six" => 6.0,
        _ => return None,
    })
}

/// "Re: SV: Fwd: Emne" -> "Emne" (the prefixes are [`crate::parse::subject`]'s).
pub fn strip_subject_prefixes(subject: &str) -> String {
    crate::parse::subject::strip_prefixes(subject).to_string()
}

#[cfg(test)]
#[allow(clippy::string_slice, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use std::path::Path;

    fn classifier() -> Classifier {
        let text = include_str!("../../rules.toml");
        Classifier::new(Rules::parse(Path::new("rules.toml"), text).unwrap(), None)
    }

    fn mail(subject: &str, body: &str) -> Mail {
        let raw = format!(
            "From: A <a@regionh.example>\r\nSubject: {subject}\r\nMessage-ID: <t@x>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
        );
        crate::parse::parse(raw.as_bytes(), Language::Da)
    }

    #[test]
    fn strips_reply_prefixes() {
        assert_eq!(strip_subject_prefixes("SV: Re: Fwd: Zoom"), "Zoom");
        assert_eq!(strip_subject_prefixes("Zoom: sv: nej"), "Zoom: sv: nej");
    }

    #[test]
    fn strips_prefixes_before_characters_whose_lowercase_is_longer_or_shorter() {
        // U+212A KELVIN SIGN lowercases to 'k' (3 bytes -> 1); U+0130 to "i̇" (2 -> 3).
        for tail in ["\u{212A}elvin", "\u{0130}stanbul", "\u{1E9E}", "\u{212A}"] {
            assert_eq!(strip_subject_prefixes(&format!("Re: {tail}")), tail);
            assert_eq!(strip_subject_prefixes(&format!("RE: SV:{tail}")), tail);
            let m = mail(&format!("Re: {tail} zoom"), "Hvad koster det?");
            let _ = classifier().classify(&m);
        }
        assert_eq!(strip_subject_prefixes("\u{212A}e: x"), "\u{212A}e: x");
    }

    #[test]
    fn shipped_rules_classify_plain_questions() {
        let c = classifier();
        let cases = [
            (
                "Pris",
                "Hvad koster en enterprise-licens til Zoom?",
                Category::Pricing,
                None,
            ),
            (
                "Zoom",
                "Må vi bruge Zoom til samtaler med patienter?",
                Category::Terms,
                None,
            ),
            (
                "Adgang",
                "Jeg er studerende, må jeg bruge regionens Zoom?",
                Category::Eligibility,
                None,
            ),
            (
                "Kamera",
                "Mit kamera virker ikke i Zoom på min pc.",
                Category::Technical,
                Some("cimt"),
            ),
            (
                "Login",
                "Jeg kan ikke logge ind med mit KU-ID.",
                Category::Technical,
                Some("kuit"),
            ),
            ("Hej", "Tak for hjælpen i går!", Category::Other, None),
        ];
        for (subject, body, cat, desk) in cases {
            let r = c.classify(&mail(subject, body));
            assert_eq!(r.category, cat, "{body}: {:?}", r.scores);
            assert_eq!(r.desk.as_deref(), desk, "{body}");
        }
    }

    #[test]
    fn a_meeting_cut_at_the_free_limit_is_pricing_evidence() {
        let c = classifier();
        let toks = c.tokenize("Efter 40 minutter lukker mødet hver gang", Language::Da);
        assert!(c.beyond_free_tier(&toks).is_some());
        let toks = c.tokenize("Mødet varer 30 minutter", Language::Da);
        assert!(c.beyond_free_tier(&toks).is_none());
        let toks = c.tokenize("Vi er 100 deltagere", Language::Da);
        assert!(
            c.beyond_free_tier(&toks).is_none(),
            "100 fit in the free tier"
        );
    }

    #[test]
    fn the_first_question_outweighs_a_later_one() {
        let c = classifier();
        let r = c.classify(&mail(
            "Spørgsmål",
            "Må vi bruge Zoom til samtaler med patienter? Og hvad koster en licens?",
        ));
        assert_eq!(r.category, Category::Terms, "{:?}", r.scores);
        assert_eq!(r.secondary, Some(Category::Pricing));
        let r = c.classify(&mail(
            "Spørgsmål",
            "Hvad koster en licens? Og må vi bruge Zoom til samtaler med patienter?",
        ));
        assert_eq!(r.category, Category::Pricing, "{:?}", r.scores);
    }

    #[test]
    fn another_product_never_naming_ours_is_other() {
        let c = classifier();
        let r = c.classify(&mail(
            "Lyd forsvinder",
            "Når jeg deltager i møder i Teams, forsvinder lyden efter ti minutter. \
             Kameraet virker heller ikke. Hvad gør jeg?",
        ));
        assert_eq!(r.category, Category::Other, "{:?}", r.hits);
        // Naming Zoom keeps the mail ours, Teams or not.
        let r = c.classify(&mail(
            "Lyd forsvinder",
            "Lyden forsvinder i Zoom, men ikke i Teams. Hvad gør jeg?",
        ));
        assert_eq!(r.category, Category::Technical, "{:?}", r.hits);
        // A team of people is no product.
        let r = c.classify(&mail(
            "Licens",
            "Jeg sidder i Team Lederudvikling. Hvad koster en licens til møder på 2 timer?",
        ));
        assert_eq!(r.category, Category::Pricing, "{:?}", r.hits);
    }

    #[test]
    fn a_calendar_invitation_that_asks_nothing_is_other() {
        let c = classifier();
        let r = c.classify(&mail(
            "Invitation: Zoom-møde om licenser og undervisning",
            "Jeg inviterer til et kort møde om vores Zoom-licenser og brugen af dem.",
        ));
        assert_eq!(r.category, Category::Other, "{:?}", r.hits);
        // A forwarded invitation with a question is a question.
        let r = c.classify(&mail(
            "VS: Invitation: Netværksmøde",
            "Må jeg deltage i det her møde, når det er en samarbejdspartners Zoom?",
        ));
        assert_ne!(r.category, Category::Other, "{:?}", r.hits);
    }

    #[test]
    fn after_thanks_another_question_is_the_main_one() {
        let c = classifier();
        let r = c.classify(&mail(
            "SV: Pris på licens",
            "Tak for svaret om prisen på licensen. Et helt andet spørgsmål: min kollega er \
             vikar. Må hun også få adgang til Zoom?",
        ));
        assert_eq!(r.category, Category::Eligibility, "{:?}", r.hits);
    }

    #[test]
    fn thanks_that_close_the_matter_ask_nothing() {
        let c = classifier();
        let r = c.classify(&mail(
            "SV: Licens til lange møder",
            "Tusind tak for hjælpen. Licensen virker nu, og vores seminar på to timer kørte \
             uden at blive afbrudt. Vi køber måske flere licenser senere.",
        ));
        assert_eq!(r.category, Category::Other, "{:?}", r.hits);
        let r = c.classify(&mail(
            "Kamera",
            "Tak for svaret. Kameraet virker nu ikke længere i Zoom, heller ikke efter en \
             genstart af pc'en.",
        ));
        assert_eq!(r.category, Category::Technical, "{:?}", r.hits);
    }

    #[test]
    fn a_side_remark_does_not_outvote_the_problem() {
        let c = classifier();
        let r = c.classify(&mail(
            "Kamera",
            "Mit kamera virker ikke i Zoom på min pc. Og mens jeg har jer: hvad koster en \
             enterprise-licens, og skal vi betale for længere møder?",
        ));
        assert_eq!(r.category, Category::Technical, "{:?}", r.scores);
        assert_eq!(r.secondary, Some(Category::Pricing));
    }

    #[test]
    fn confidence_is_between_zero_and_one() {
        let c = classifier();
        let r = c.classify(&mail("x", "blah"));
        assert_eq!(r.category, Category::Other);
        assert!(r.confidence >= 0.0 && r.confidence < 0.5);
        let r = c.classify(&mail(
            "Pris på licens",
            "Hvad koster en licens? Hvad er prisen?",
        ));
        assert!(
            r.confidence > 0.5 && r.confidence <= 1.0,
            "{}",
            r.confidence
        );
    }
}
