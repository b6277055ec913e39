//! The checker: collects every problem found in `config.toml` while the other modules
//! validate, each as a [`Diagnostic`] placed by line and column (from toml's byte spans,
//! through [`crate::diagnostic::place`]), so that all are reported in one pass. It also
//! deserialises a section on its own, turning serde's error into a diagnostic. Nothing
//! here decides what is valid.

use std::ops::Range;
use std::path::Path;

use serde::de::DeserializeOwned;
use toml::de::DeValue;
use toml::Spanned;

use crate::diagnostic::{place, Diagnostic};

/// Collects problems while validating, each located in the source text.
pub(super) struct Checker<'a> {
    pub(super) file: &'a Path,
    pub(super) text: &'a str,
    pub(super) problems: Vec<Diagnostic>,
}

impl Checker<'_> {
    /// A problem at `span` (or with no place), about `key` (empty: none).
    pub(super) fn problem(
        &mut self,
        span: Option<Range<usize>>,
        key: &str,
        message: impl Into<String>,
    ) {
        self.push(span, key, message.into(), None);
    }

    /// A problem with what to do about it; prints as `key: message; hint`.
    pub(super) fn problem_hint(
        &mut self,
        span: Option<Range<usize>>,
        key: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.push(span, key, message.into(), Some(hint.into()));
    }

    fn push(
        &mut self,
        span: Option<Range<usize>>,
        key: &str,
        message: String,
        hint: Option<String>,
    ) {
        let (line, column) = span.map(|s| place(self.text, s.start)).unzip();
        self.problems.push(Diagnostic {
            file: self.file.to_path_buf(),
            line,
            column,
            key: key.to_string(),
            message,
            hint,
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
