//! The pattern index: every compiled pattern filed under what its first word can be (an
//! exact stem or spelling, a prefix, a suffix), so a mail's words are looked up instead of
//! every pattern being tried. Answers where each pattern first occurs; decides nothing
//! about categories. Never panics: no indexing or slicing that could fail.

#![deny(clippy::string_slice, clippy::indexing_slicing)]

use super::rules::{Pattern, WordMatch};
use super::text::{Token, Tokens};

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
