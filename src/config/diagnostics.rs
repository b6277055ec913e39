//! Diagnostics: the problems found in `config.toml`, each with its place and key.
//!
//! A [`Problem`] prints as `config.toml:LINE:COL: key: what is wrong; what to do`. The
//! [`Checker`] collects them while the other modules validate, so that every problem is
//! reported in one pass; it turns a byte offset from toml into a line and a column (the
//! column counts characters, not bytes). Nothing here decides what is valid.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::de::DeValue;
use toml::Spanned;

/// One problem in the config file, with its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based line and column, when known.
    pub place: Option<(usize, usize)>,
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, col)) = self.place {
            write!(f, ":{line}:{col}")?;
        }
        if self.key.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": {}: {}", self.key, self.message)
        }
    }
}

/// Collects problems while validating, each located in the source text.
pub(super) struct Checker<'a> {
    pub(super) file: &'a Path,
    pub(super) text: &'a str,
    pub(super) problems: Vec<Problem>,
}

impl<'a> Checker<'a> {
    pub(super) fn place(&self, span: Option<Range<usize>>) -> Option<(usize, usize)> {
        let start = span?.start.min(self.text.len());
        let before = &self.text[..start];
        let line = before.matches('\n').count() + 1;
        let col = before
            .rfind('\n')
            .map_or(before.chars().count(), |i| before[i + 1..].chars().count())
            + 1;
        Some((line, col))
    }

    pub(super) fn problem(
        &mut self,
        span: Option<Range<usize>>,
        key: &str,
        message: impl Into<String>,
    ) {
        let place = self.place(span);
        self.problems.push(Problem {
            file: self.file.to_path_buf(),
            place,
            key: key.to_string(),
            message: message.into(),
        });
    }

    /// Deserialises one section, recording its error instead of stopping.
    pub(super) fn section<T: DeserializeOwned>(
        &mut self,
        key: &str,
        value: Spanned<DeValue<'_>>,
    ) -> Option<T> {
        match T::deserialize(toml::de::ValueDeserializer::from(value)) {
            Ok(v) => Some(v),
            Err(e) => {
                let message = e.message().trim().replace('\n', " ");
                self.problem(e.span(), key, message);
                None
            }
        }
    }
}
