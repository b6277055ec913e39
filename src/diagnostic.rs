//! Diagnostics: one problem in a file a person edits (`config.toml`, `rules.toml`, a
//! template), with its place, and the one place-finder that turns a byte offset into a line
//! and a column, which all three use.
//!
//! A [`Diagnostic`] prints as `file:line:column: key: message; hint`, leaving out what it
//! does not know. The column counts characters, not bytes, so a line with æ, ø or å before
//! the mistake points where an editor does. This module sits below every stage and imports
//! nothing of the crate; it never decides what is wrong, only how a problem is told.

use std::fmt;
use std::path::PathBuf;

/// One problem in an edited file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column in characters, when known (only shown with a line).
    pub column: Option<usize>,
    /// The setting or section concerned (`reply.period`); empty when none.
    pub key: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it, when there is something to say.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A problem in `file` with no place, key or hint yet.
    pub fn new(file: impl Into<PathBuf>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: file.into(),
            line: None,
            column: None,
            key: String::new(),
            message: message.into(),
            hint: None,
        }
    }

    /// At this 1-based line (no column).
    #[must_use]
    pub fn at_line(mut self, line: usize) -> Diagnostic {
        self.line = Some(line);
        self
    }

    /// At byte `offset` of `text`, the file's contents: its line and column (see [`place`]).
    #[must_use]
    pub fn placed(mut self, text: &str, offset: usize) -> Diagnostic {
        let (line, column) = place(text, offset);
        self.line = Some(line);
        self.column = Some(column);
        self
    }

    /// About this setting or section (`thanks.negations`).
    #[must_use]
    pub fn with_key(mut self, key: impl Into<String>) -> Diagnostic {
        self.key = key.into();
        self
    }

    /// With what to do about it.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

/// The 1-based line and column (in characters) of byte `offset` in `text`. An offset past
/// the end, or inside a character, counts as far as the characters before it.
pub fn place(text: &str, offset: usize) -> (usize, usize) {
    let (mut line, mut col) = (1, 1);
    for (_, c) in text.char_indices().take_while(|&(i, _)| i < offset) {
        if c == '\n' {
            (line, col) = (line + 1, 1);
        } else {
            col += 1;
        }
    }
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn place_counts_lines_and_characters() {
        let text = "a = 1\nnavn = \"Ærø\" x\n";
        assert_eq!(place(text, 0), (1, 1));
        assert_eq!(place(text, 6), (2, 1));
        // "x" is byte 20 but character 14 of its line: æ and ø are two bytes each.
        let x = text.find('x').unwrap();
        assert_eq!(place(text, x), (2, 14));
        assert_eq!(place(text, 10_000), (3, 1));
    }

    #[test]
    fn display_leaves_out_what_is_unknown() {
        let d = Diagnostic {
            file: PathBuf::from("config.toml"),
            line: Some(22),
            column: Some(10),
            key: "reply.period".into(),
            message: "invalid duration \"one day\" (expected number at 0)".into(),
            hint: Some("write e.g. \"30s\", \"5m\", \"1d\"".into()),
        };
        assert_eq!(
            d.to_string(),
            "config.toml:22:10: reply.period: invalid duration \"one day\" (expected number at 0); write e.g. \"30s\", \"5m\", \"1d\""
        );
        let d = Diagnostic {
            line: None,
            column: None,
            key: String::new(),
            hint: None,
            message: "missing".into(),
            ..d
        };
        assert_eq!(d.to_string(), "config.toml: missing");
    }
}
