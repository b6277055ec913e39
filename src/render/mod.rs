//! Render: the reply templates HR staff own in `responses/`, and the messages built from them.
//!
//! [`Templates::load`] reads every file and goes through [`check`]: each file is compiled in
//! strict mode (an undefined placeholder is an error, never a blank in a sent mail) and
//! every category is test-rendered in every language, with and without a desk and
//! sensitive data. Either the whole set passes or nothing of it is used: each problem
//! comes back as `responses/<file>:<line>:<column>: <what>; <hint>`, in plain words.
//! [`compose`] turns a decision into finished RFC 5322 messages. What a message says to a
//! person or a desk comes from these files (`forward.txt` is the desk's cover note,
//! `forward-copy.txt` heads the text copy a desk gets instead of the original); the code
//! adds headers, the placeholders' values and the sender's own redacted text, and must
//! never write a sentence of its own into a message (the two exceptions: the redaction
//! marks, which are `classify`'s, and the subject that stands in for an empty one, see
//! [`compose::reply_subject`]). Pure: no I/O after loading.

// Every byte of a mail is hostile: no slicing or indexing that could panic on it.
#![deny(clippy::string_slice, clippy::indexing_slicing)]

pub mod check;
pub mod compose;
pub mod preview;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::classify::Category;
use crate::config::Desk;
use crate::diagnostic::Diagnostic;
use crate::parse::Language;
use crate::types::DeskKey;
pub use check::{
    catalogue, check_dir, check_set, Checked, Entry, Problem, Purpose, Severity, Slip,
};

/// Files that are not category replies.
const SIGNATURE: &str = "signature";
const SENSITIVE: &str = "sensitive";
const FORWARD: &str = "forward.txt";
/// The lines above the text copy a desk gets when the original is not attached.
const FORWARD_COPY: &str = "forward-copy.txt";

/// Markers used while test-rendering to prove a template shows the signature and notice.
const SIGNATURE_MARK: &str = "\u{2063}SIGNATURE\u{2063}";
const NOTICE_MARK: &str = "\u{2063}NOTICE\u{2063}";

/// Why the template set cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read templates folder {}", path.display())]
    ReadDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid { problems: Vec<Diagnostic> },
    #[error("cannot render {name}: {message}")]
    Render { name: String, message: String },
}

impl TemplateError {
    pub fn problems(&self) -> Vec<String> {
        match self {
            TemplateError::Invalid { problems } => {
                problems.iter().map(ToString::to_string).collect()
            }
            other => vec![other.to_string()],
        }
    }
}

/// Everything a template may use. Every field is always defined (strict mode).
#[derive(Debug, Clone, Serialize)]
pub struct Context {
    pub name: String,
    pub first_name: String,
    pub email: String,
    pub subject: String,
    pub category: String,
    pub language: String,
    pub sensitive: bool,
    pub desk: Option<Desk>,
    pub desks: BTreeMap<DeskKey, Desk>,
    pub mailbox: String,
    pub secondary: Option<String>,
    pub signature: String,
    pub sensitive_notice: String,
    /// `forward.txt` only: the original mail is attached whole (else the desk gets a
    /// redacted text copy of it).
    pub attached: bool,
}

/// What `forward-copy.txt` may use: everything `forward.txt` may (its `subject` as the
/// desk sees it), and the original's own header lines. Every field is always defined.
#[derive(Debug, Clone, Serialize)]
pub struct CopyContext {
    #[serde(flatten)]
    pub cover: Context,
    /// The original's From display name as the desk sees it: on one line, capped, CPR
    /// numbers and recognised patient names and health details redacted; empty if none.
    pub from_name: String,
    /// The original's From address; empty when it had no From.
    pub from_email: String,
    /// The original's Message-ID in angle brackets; empty when it had none (or one that
    /// may not be echoed).
    pub message_id: String,
    /// Something of the mail is not in the copy (attachments, or text past what was read):
    /// the whole mail is only in the mailbox.
    pub left_out: bool,
}

/// A compiled, tested set of templates.
pub struct Templates {
    env: Environment<'static>,
    /// What the check found that does not stop the set (stray files, a byte-order mark,
    /// long lines).
    warnings: Vec<Problem>,
    /// [`set_digest`] of the files the set was made from.
    digest: String,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("warnings", &self.warnings.len())
            .finish_non_exhaustive()
    }
}

/// Which set of templates this is, for `autosvar status`: a SHA-256 (first 12 bytes, hex)
/// over the template files' names and texts as saved, in name order; files that are no
/// template name are left out. The same texts give the same digest on disk, in a
/// published version, and in the running daemon.
pub fn set_digest(files: &BTreeMap<String, String>) -> String {
    use sha2::{Digest as _, Sha256};
    let names = required_files();
    let mut hash = Sha256::new();
    for (name, text) in files.iter().filter(|(n, _)| names.contains(n)) {
        for part in [name.as_bytes(), &[0], text.as_bytes(), &[0]] {
            hash.update(part);
        }
    }
    crate::types::hex_prefix(&hash.finalize(), 12)
}

/// The file names a complete set needs (the names of [`catalogue`]).
pub fn required_files() -> Vec<String> {
    catalogue().into_iter().map(|e| e.name).collect()
}

/// An environment with the templates' syntax, in strict mode.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // trim_blocks: a line holding only `{% if %}` leaves no blank line behind.
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .keep_trailing_newline(true)
        .build()
        .expect("the default delimiters are valid");
    env.set_syntax(syntax);
    env
}

/// Guesses a first name from a display name: "Bredahl, Natasja" and "Natasja Bredahl" both
/// give "Natasja"; anything that does not look like a person's name gives "".
pub fn first_name(display: &str) -> String {
    let d = display.trim().trim_matches('"');
    let candidate = match d.split_once(',') {
        Some((_, first)) => first.split_whitespace().next(),
        None => d.split_whitespace().next(),
    }
    .unwrap_or_default();
    let mut chars = candidate.chars();
    let looks_like_name = chars.next().is_some_and(char::is_uppercase)
        && candidate.chars().count() >= 2
        && candidate.chars().all(|c| c.is_alphabetic() || c == '-')
        && !candidate.chars().skip(1).all(char::is_uppercase);
    if looks_like_name && d.split_whitespace().count() >= 1 && !d.contains('@') {
        candidate.to_string()
    } else {
        String::new()
    }
}

/// Trims trailing spaces and folds runs of blank lines into one.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.trim_matches('\n').lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    let trimmed = out.trim_matches('\n');
    format!("{trimmed}\n")
}

impl Templates {
    /// Loads, compiles and test-renders the whole folder ([`check_dir`]); warnings (stray
    /// files, a byte-order mark, long lines) are kept in [`Templates::warnings`].
    ///
    /// # Errors
    /// [`TemplateError::ReadDir`] when the folder cannot be listed; else
    /// [`TemplateError::Invalid`] listing every error: missing files, syntax, undefined
    /// placeholders, single braces, a template that does not show the signature or
    /// sensitive notice, a signature that does not say it was sent automatically.
    pub fn load(dir: &Path, desks: &BTreeMap<DeskKey, Desk>) -> Result<Templates, TemplateError> {
        check_dir(dir, desks)?.into_result(dir)
    }

    /// What the check found that does not stop the set, ordered by file and place.
    pub fn warnings(&self) -> &[Problem] {
        &self.warnings
    }

    /// Which set this is: [`set_digest`] of its files.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Renders every template against sample contexts; returns the replies that do not
    /// show the signature or notice, and every render error with its file's name.
    fn test_render(
        &self,
        desks: &BTreeMap<DeskKey, Desk>,
    ) -> (Vec<Problem>, Vec<(String, minijinja::Error)>) {
        let mut problems = Vec::new();
        let mut errors: Vec<(String, minijinja::Error)> = Vec::new();
        for lang in Language::ALL {
            for c in Category::ALL {
                for sensitive in [false, true] {
                    for named in [true, false] {
                        let desk = (c == Category::Technical)
                            .then(|| desks.values().next().cloned())
                            .flatten();
                        let ctx = sample_context(c, lang, desk, desks, sensitive, named);
                        self.test_render_one(c, ctx, &mut problems, &mut errors);
                    }
                }
            }
        }
        (problems, errors)
    }

    /// Renders what one sample context reaches: the signature and notice of its language,
    /// its category's reply (which must show both), and for a technical mail the forward's
    /// cover note and copy lines. Render errors go to `errors`, missing marks to `problems`.
    fn test_render_one(
        &self,
        category: Category,
        mut ctx: Context,
        problems: &mut Vec<Problem>,
        errors: &mut Vec<(String, minijinja::Error)>,
    ) {
        let mut report = |name: &str, e: minijinja::Error| errors.push((name.to_string(), e));
        let lang = ctx.language.clone();
        for extra in [SIGNATURE, SENSITIVE] {
            let name = format!("{extra}.{lang}.txt");
            if let Err(e) = self.render_raw(&name, &ctx) {
                report(&name, e);
            }
        }
        ctx.signature = SIGNATURE_MARK.into();
        ctx.sensitive_notice = if ctx.sensitive {
            NOTICE_MARK.into()
        } else {
            String::new()
        };
        let name = format!("{}.{lang}.txt", category.name());
        match self.render_raw(&name, &ctx) {
            Ok(out) => problems.extend(Templates::missing_marks(&name, &out, ctx.sensitive)),
            Err(e) => report(&name, e),
        }
        if category == Category::Technical {
            if let Err(e) = self.render_raw(FORWARD, &ctx) {
                report(FORWARD, e);
            }
            if let Err(e) = self.render_raw(FORWARD_COPY, &sample_copy_context(ctx)) {
                report(FORWARD_COPY, e);
            }
        }
    }

    /// A reply rendered with the marks in place that does not show the signature (or, for
    /// sensitive mail, the notice).
    fn missing_marks(name: &str, out: &str, sensitive: bool) -> Vec<Problem> {
        let mut problems = Vec::new();
        if !out.contains(SIGNATURE_MARK) {
            problems.push(Problem {
                file: name.into(),
                line: Some(1),
                column: None,
                slip: Slip::NoSignatureShown,
            });
        }
        if sensitive && !out.contains(NOTICE_MARK) {
            problems.push(Problem {
                file: name.into(),
                line: Some(1),
                column: None,
                slip: Slip::NoNoticeShown,
            });
        }
        problems
    }

    fn render_raw(&self, name: &str, ctx: &impl Serialize) -> Result<String, minijinja::Error> {
        self.env
            .get_template(name)?
            .render(minijinja::value::Serde(ctx))
    }

    /// Renders the reply body for a category in a language. The context's `signature` and
    /// `sensitive_notice` are filled in here.
    ///
    /// # Errors
    /// Only if a template fails on data the test render did not cover.
    pub fn render_reply(
        &self,
        category: Category,
        mut ctx: Context,
    ) -> Result<String, TemplateError> {
        let lang = ctx.language.clone();
        let err = |name: &str, e: minijinja::Error| TemplateError::Render {
            name: name.to_string(),
            message: e.to_string(),
        };
        let sig = format!("{SIGNATURE}.{lang}.txt");
        ctx.signature = tidy(&self.render_raw(&sig, &ctx).map_err(|e| err(&sig, e))?)
            .trim_end()
            .to_string();
        ctx.sensitive_notice = if ctx.sensitive {
            let n = format!("{SENSITIVE}.{lang}.txt");
            tidy(&self.render_raw(&n, &ctx).map_err(|e| err(&n, e))?)
                .trim_end()
                .to_string()
        } else {
            String::new()
        };
        let name = format!("{}.{lang}.txt", category.name());
        Ok(tidy(
            &self.render_raw(&name, &ctx).map_err(|e| err(&name, e))?,
        ))
    }

    /// Renders the cover note for a desk forward.
    ///
    /// # Errors
    /// As [`Templates::render_reply`].
    pub fn render_forward(&self, ctx: &Context) -> Result<String, TemplateError> {
        self.render_raw(FORWARD, ctx)
            .map(|s| tidy(&s))
            .map_err(|e| TemplateError::Render {
                name: FORWARD.into(),
                message: e.to_string(),
            })
    }

    /// Renders the lines above the text copy of a forwarded mail, as written: not tidied,
    /// so every line (even `Emne: ` with nothing after it) stays as the template makes it;
    /// only the end is made one line end.
    ///
    /// # Errors
    /// As [`Templates::render_reply`].
    pub fn render_forward_copy(&self, ctx: &CopyContext) -> Result<String, TemplateError> {
        let text = self
            .render_raw(FORWARD_COPY, ctx)
            .map_err(|e| TemplateError::Render {
                name: FORWARD_COPY.into(),
                message: e.to_string(),
            })?;
        let text = text.trim_end_matches('\n');
        Ok(if text.is_empty() {
            String::new()
        } else {
            format!("{text}\n")
        })
    }
}

/// The context used for test renders and `preview` without a mail.
pub fn sample_context(
    category: Category,
    lang: Language,
    desk: Option<Desk>,
    desks: &BTreeMap<DeskKey, Desk>,
    sensitive: bool,
    named: bool,
) -> Context {
    Context {
        name: if named {
            "Mette Jensen".into()
        } else {
            String::new()
        },
        first_name: if named { "Mette".into() } else { String::new() },
        email: "mette.jensen@regionh.example".into(),
        subject: "Zoom".into(),
        category: category.name().into(),
        language: lang.code().into(),
        sensitive,
        desk,
        desks: desks.clone(),
        mailbox: "e-learning@example.test".into(),
        secondary: None,
        signature: String::new(),
        sensitive_notice: String::new(),
        attached: !sensitive,
    }
}

/// The context used for test renders of `forward-copy.txt`: `cover` with a named sender
/// (when `cover` is named), a Message-ID, and something left out when it is sensitive.
pub fn sample_copy_context(cover: Context) -> CopyContext {
    CopyContext {
        from_name: cover.name.clone(),
        from_email: cover.email.clone(),
        message_id: "<1234@regionh.example>".into(),
        left_out: cover.sensitive,
        cover,
    }
}

#[cfg(test)]
#[allow(clippy::string_slice, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn desks() -> BTreeMap<DeskKey, Desk> {
        let mut m = BTreeMap::new();
        for (k, n, p) in [
            ("cimt", "CIMT Servicedesk", "3864 8080"),
            ("kuit", "KU-IT", "3532 3232"),
        ] {
            m.insert(
                k.into(),
                Desk {
                    key: k.into(),
                    name: n.into(),
                    email: format!("{k}@example.test"),
                    phone: p.into(),
                },
            );
        }
        m
    }

    /// The set as `Templates::load` would build it from a folder `responses`.
    fn load(files: BTreeMap<String, String>) -> Result<Templates, TemplateError> {
        check_set(&files, &desks()).into_result(Path::new("responses"))
    }

    fn minimal() -> BTreeMap<String, String> {
        required_files()
            .into_iter()
            .map(|n| {
                let body = if n.starts_with("signature") {
                    "Sent automatically {{ name }}\n".to_string()
                } else if n.starts_with("sensitive") || n == FORWARD {
                    "text {{ name }}\n".to_string()
                } else {
                    "Hej {{ first_name }}\n{{ sensitive_notice }}\n\nBody\n\n{{ signature }}\n"
                        .to_string()
                };
                (n, body)
            })
            .collect()
    }

    #[test]
    fn a_complete_set_loads() {
        load(minimal()).unwrap();
    }

    #[test]
    fn undefined_placeholder_names_file_and_line() {
        let mut f = minimal();
        f.insert(
            "pricing.da.txt".into(),
            "Hej\n\n{{ naem }}\n{{ sensitive_notice }}{{ signature }}".into(),
        );
        let e = load(f).unwrap_err();
        let p = e.problems();
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with(
                "responses/pricing.da.txt:3:1: unknown placeholder {{ naem }}; did you mean {{ name }}?"
            ),
            "{p:?}"
        );
    }

    #[test]
    fn syntax_error_and_missing_file_are_both_reported() {
        let mut f = minimal();
        f.remove("terms.en.txt");
        f.insert(
            "other.da.txt".into(),
            "Hej\n{% if sensitive %}\n{{ signature }}".into(),
        );
        let p = load(f).unwrap_err().problems();
        assert!(
            p.iter()
                .any(|l| l.starts_with("responses/terms.en.txt: the file is missing")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|l| l.starts_with("responses/other.da.txt:")),
            "{p:?}"
        );
    }

    #[test]
    fn a_template_without_signature_or_notice_is_refused() {
        let mut f = minimal();
        f.insert("terms.da.txt".into(), "Hej\n{{ signature }}".into());
        let p = load(f).unwrap_err().problems();
        assert!(
            p.iter()
                .any(|l| l.contains("terms.da.txt") && l.contains("sensitive_notice")),
            "{p:?}"
        );
    }

    #[test]
    fn a_set_without_forward_copy_names_the_file_and_the_fix() {
        let mut f = minimal();
        f.remove(FORWARD_COPY);
        let p = load(f).unwrap_err().problems();
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("responses/forward-copy.txt: the file is missing")
                && p[0].contains("copy the missing one from the responses/ folder"),
            "{p:?}"
        );
    }

    #[test]
    fn a_misspelt_placeholder_in_forward_copy_is_refused() {
        let mut f = minimal();
        f.insert(FORWARD_COPY.into(), "Fra: {{ from_mail }}\n".into());
        let p = load(f).unwrap_err().problems();
        assert!(
            p.iter().any(|l| l
                .starts_with("responses/forward-copy.txt:1:6: unknown placeholder {{ from_mail }}; did you mean {{ from_email }}?")),
            "{p:?}"
        );
    }

    /// The shipped `forward-copy.txt` writes, byte for byte, the lines the code wrote
    /// before they became HR's text (the note about attachments now wrapped).
    #[test]
    fn the_shipped_copy_lines_are_the_lines_the_code_wrote() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("responses");
        let t = Templates::load(&dir, &desks()).unwrap();
        // Wrapped before 78 characters since the code wrote it on one line.
        let note = "(Vedhæftede filer er ikke sendt med; den oprindelige mail ligger i\n\
                    e-learning-postkassen.)\n";
        for name in ["Anne Hansen", ""] {
            for email in ["anne@x.test", ""] {
                for subject in ["Zoom fryser", ""] {
                    for id in ["<a@x.test>", ""] {
                        for left_out in [false, true] {
                            let mut cover = sample_context(
                                Category::Technical,
                                Language::Da,
                                None,
                                &desks(),
                                true,
                                true,
                            );
                            cover.subject = subject.into();
                            let ctx = CopyContext {
                                cover,
                                from_name: name.into(),
                                from_email: email.into(),
                                message_id: id.into(),
                                left_out,
                            };
                            let mut want = String::new();
                            match (email.is_empty(), name.is_empty()) {
                                (true, _) => {}
                                (false, true) => want.push_str(&format!("Fra: <{email}>\n")),
                                (false, false) => {
                                    want.push_str(&format!("Fra: {name} <{email}>\n"))
                                }
                            }
                            want.push_str(&format!("Emne: {subject}\n"));
                            if !id.is_empty() {
                                want.push_str(&format!("Message-ID: {id}\n"));
                            }
                            if left_out {
                                want.push_str(note);
                            }
                            assert_eq!(t.render_forward_copy(&ctx).unwrap(), want);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn first_names() {
        assert_eq!(first_name("Natasja Bredahl"), "Natasja");
        assert_eq!(first_name("Bredahl, Natasja"), "Natasja");
        assert_eq!(first_name("HR NYT"), "");
        assert_eq!(first_name("bo@x.example"), "");
        assert_eq!(first_name(""), "");
    }

    #[test]
    fn tidy_folds_blank_lines() {
        assert_eq!(tidy("\nA  \n\n\n\nB\n\n"), "A\n\nB\n");
    }
}
