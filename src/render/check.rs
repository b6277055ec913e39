//! The template check: what is wrong with a set of reply templates, said in plain Danish and
//! English at the line and column where it is, for the person who wrote it.
//!
//! [`check_set`] checks files held in memory (the console's draft), [`check_dir`] reads
//! `responses/` and goes through the same check, so `autosvar check`, the daemon's reload
//! and the console always agree. A file is read as an HR officer writes it: a byte-order
//! mark is left out (with a warning), a stray file is ignored (with a warning), and the
//! slips a template parser would misplace or word in its own terms (an unclosed `{{`, a
//! missing `{% endif %}`, `{ mailbox }` in single braces) are found by a scan of our own
//! before minijinja compiles the file; what minijinja still finds is translated, never
//! shown in its words. Only [`check_dir`] touches the disk, and only to read: the check
//! never writes, moves or deletes a file, and never reads a file that is no template name.

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::UndefinedBehavior;

use super::{environment, sample_context, tidy, Templates, FORWARD, FORWARD_COPY};
use super::{TemplateError, SENSITIVE, SIGNATURE};
use crate::classify::Category;
use crate::config::Desk;
use crate::diagnostic::{place, Diagnostic};
use crate::parse::Language;
use crate::types::DeskKey;

/// Longest line, in characters, a mail should carry (RFC 5322 §2.1.1 recommends 78).
pub const MAX_LINE: usize = 78;

/// Longest piece of a template quoted back in a message.
const QUOTE_MAX: usize = 60;

/// Files in `responses/` that belong there without being templates.
const KNOWN_OTHERS: [&str; 1] = ["README.md"];

/// Every placeholder a template may use (see `Context` and `CopyContext`), for suggestions.
const PLACEHOLDERS: [&str; 30] = [
    "name",
    "first_name",
    "email",
    "subject",
    "category",
    "language",
    "sensitive",
    "desk",
    "desk.name",
    "desk.phone",
    "desk.email",
    "desk.key",
    "desks",
    "desks.cimt.name",
    "desks.cimt.phone",
    "desks.cimt.email",
    "desks.kuit.name",
    "desks.kuit.phone",
    "desks.kuit.email",
    "mailbox",
    "secondary",
    "signature",
    "sensitive_notice",
    "attached",
    "from_name",
    "from_email",
    "message_id",
    "left_out",
    "desks.cimt.key",
    "desks.kuit.key",
];

/// Danish words HR staff may reach for, and the placeholder they mean.
const DANISH_NAMES: [(&str, &str); 10] = [
    ("fornavn", "first_name"),
    ("navn", "name"),
    ("emne", "subject"),
    ("postkasse", "mailbox"),
    ("underskrift", "signature"),
    ("signatur", "signature"),
    ("kategori", "category"),
    ("sprog", "language"),
    ("telefon", "desk.phone"),
    ("afsender", "email"),
];

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The set is refused; the previous set stays in use.
    Error,
    /// The set is used; the person should still mend it.
    Warning,
}

/// One kind of slip, with what is needed to tell it. [`Slip::message`] and [`Slip::hint`]
/// say it in Danish or English.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Slip {
    /// A required template is not in the set.
    Missing,
    /// A file (or, `folder`, a folder) that is no template name: ignored. `like` is the
    /// template name it differs from only in case.
    Stray { folder: bool, like: Option<String> },
    /// The file is not UTF-8 (`utf16`: it is UTF-16, Notepad's "Unicode").
    NotUtf8 { utf16: bool },
    /// The file cannot be read at all.
    Unreadable { error: String },
    /// The file began with a byte-order mark, which is left out.
    ByteOrderMark,
    /// A line longer than [`MAX_LINE`] characters as it would be sent.
    LongLine { chars: usize },
    /// Something that looks like a placeholder without two braces on each side
    /// (`{ mailbox }`, `{mailbox}}`, `{{ mailbox }`); `name` is what it would show.
    LoneBrace {
        written: String,
        name: Option<String>,
    },
    /// `}}` or `%}` with no opening before it.
    StrayClose { written: String },
    /// `{{`, `{%` or `{#` never closed.
    Unclosed { open: String, close: String },
    /// `{% if %}` (or another block) with no end.
    MissingEnd { start: String, end: String },
    /// `{% endif %}` (or another end) with no start.
    EndWithoutStart { end: String, start: String },
    /// `{% else %}` or `{% elif %}` outside an `{% if %}`.
    Misplaced { word: String },
    /// `{% iff %}`: a word that is no instruction.
    UnknownInstruction {
        word: String,
        suggest: Option<String>,
    },
    /// A `{{ ... }}` that cannot be read (`{{ first name }}`).
    BadPlaceholder {
        written: String,
        suggest: Option<String>,
    },
    /// A `{% ... %}` that cannot be read.
    BadInstruction { written: String },
    /// A quotation mark inside `{{ }}` or `{% %}` not closed.
    UnclosedQuote { written: String },
    /// A placeholder that does not exist (`{{ naem }}`).
    UnknownPlaceholder {
        name: String,
        suggest: Option<String>,
    },
    /// `{{ desk.phone }}` where no mail has a desk (a reply that is not technical).
    DeskOutsideTechnical { name: String },
    /// `{{ name | upcase }}`: a filter that does not exist.
    UnknownFilter { name: String },
    /// Anything else minijinja refuses, quoted.
    NotUnderstood { written: String },
    /// A reply that does not show `{{ signature }}`.
    NoSignatureShown,
    /// A reply that does not show `{{ sensitive_notice }}` for sensitive mail.
    NoNoticeShown,
    /// The signature is empty.
    EmptySignature,
    /// The signature does not say that the reply was sent automatically.
    SignatureNotAutomatic,
}

impl Slip {
    /// Whether the set can be used with this slip in it.
    pub fn severity(&self) -> Severity {
        match self {
            Slip::Stray { .. } | Slip::ByteOrderMark | Slip::LongLine { .. } => Severity::Warning,
            _ => Severity::Error,
        }
    }

    /// What is wrong, in plain words.
    pub fn message(&self, lang: Language) -> String {
        let da = lang == Language::Da;
        let pick = |d: String, e: String| if da { d } else { e };
        match self {
            Slip::Missing => pick("filen mangler".into(), "the file is missing".into()),
            Slip::Stray { folder: true, .. } => pick(
                "en mappe i responses/; den bliver ikke brugt".into(),
                "a folder in responses/; it is not used".into(),
            ),
            Slip::Stray { .. } => pick(
                "ikke en skabelon; filen bliver ikke brugt".into(),
                "not a template; the file is not used".into(),
            ),
            Slip::NotUtf8 { utf16: true } => pick(
                "filen er gemt som UTF-16 (\"Unicode\"), ikke som UTF-8".into(),
                "the file is saved as UTF-16 (\"Unicode\"), not as UTF-8".into(),
            ),
            Slip::NotUtf8 { utf16: false } => pick(
                "filen er ikke gemt som UTF-8 (tegnet her kan ikke læses)".into(),
                "the file is not saved as UTF-8 (the character here cannot be read)".into(),
            ),
            Slip::Unreadable { error } => pick(
                format!("filen kan ikke læses: {error}"),
                format!("the file cannot be read: {error}"),
            ),
            Slip::ByteOrderMark => pick(
                "filen begynder med et usynligt byte-order-mærke (BOM); autosvar ser bort fra det"
                    .into(),
                "the file begins with an invisible byte-order mark (BOM); autosvar leaves it out"
                    .into(),
            ),
            Slip::LongLine { chars } => pick(
                format!("linjen bliver {chars} tegn lang i mailen (mere end {MAX_LINE})"),
                format!("the line comes out {chars} characters long (more than {MAX_LINE})"),
            ),
            Slip::LoneBrace { written, .. } => pick(
                format!(
                    "`{written}` er ikke en pladsholder: en pladsholder har to krøllede \
                     parenteser på hver side"
                ),
                format!(
                    "`{written}` is not a placeholder: a placeholder has two curly braces on \
                     each side"
                ),
            ),
            Slip::StrayClose { written } => {
                let open = opener_of(written);
                pick(
                    format!("`{written}` uden `{open}` foran"),
                    format!("`{written}` without a `{open}` before it"),
                )
            }
            Slip::Unclosed { open, close } => pick(
                format!("`{open}`, der begynder her, bliver aldrig lukket med `{close}`"),
                format!("`{open}` begun here is never closed with `{close}`"),
            ),
            Slip::MissingEnd { start, end } => pick(
                format!("`{{% {start} %}}` her mangler sit `{{% {end} %}}`"),
                format!("`{{% {start} %}}` here has no `{{% {end} %}}`"),
            ),
            Slip::EndWithoutStart { end, start } => pick(
                format!("`{{% {end} %}}` uden et `{{% {start} %}}` før"),
                format!("`{{% {end} %}}` without an `{{% {start} %}}` before it"),
            ),
            Slip::Misplaced { word } => pick(
                format!("`{{% {word} %}}` står uden for et `{{% if %}}` … `{{% endif %}}`"),
                format!("`{{% {word} %}}` is outside an `{{% if %}}` … `{{% endif %}}`"),
            ),
            Slip::UnknownInstruction { word, .. } => pick(
                format!("`{{% {word} %}}` er ikke en instruktion, autosvar kender"),
                format!("`{{% {word} %}}` is not an instruction autosvar knows"),
            ),
            Slip::BadPlaceholder { written, .. } => pick(
                format!("pladsholderen `{written}` kan ikke læses"),
                format!("cannot read the placeholder `{written}`"),
            ),
            Slip::BadInstruction { written } => pick(
                format!("instruktionen `{written}` kan ikke læses"),
                format!("cannot read the instruction `{written}`"),
            ),
            Slip::UnclosedQuote { written } => pick(
                format!("et anførselstegn i `{written}` bliver ikke lukket"),
                format!("a quotation mark in `{written}` is not closed"),
            ),
            Slip::UnknownPlaceholder { name, .. } => pick(
                format!("ukendt pladsholder {{{{ {name} }}}}"),
                format!("unknown placeholder {{{{ {name} }}}}"),
            ),
            Slip::DeskOutsideTechnical { name } => pick(
                format!("{{{{ {name} }}}} findes kun i tekniske svar og i forward.txt"),
                format!("{{{{ {name} }}}} is only known in technical replies and forward.txt"),
            ),
            Slip::UnknownFilter { name } => pick(
                format!("ukendt filter `| {name}`"),
                format!("unknown filter `| {name}`"),
            ),
            Slip::NotUnderstood { written } => pick(
                format!("autosvar kan ikke forstå `{written}` her"),
                format!("autosvar cannot make out `{written}` here"),
            ),
            Slip::NoSignatureShown => pick(
                "svaret viser ikke {{ signature }}".into(),
                "the reply does not show {{ signature }}".into(),
            ),
            Slip::NoNoticeShown => pick(
                "svaret viser ikke {{ sensitive_notice }} (når mailen havde følsomme oplysninger)"
                    .into(),
                "the reply does not show {{ sensitive_notice }} (when the mail held sensitive data)"
                    .into(),
            ),
            Slip::EmptySignature => pick("signaturen er tom".into(), "the signature is empty".into()),
            Slip::SignatureNotAutomatic => pick(
                "signaturen siger ikke, at svaret er sendt automatisk".into(),
                "the signature does not say that the reply was sent automatically".into(),
            ),
        }
    }

    /// What to do about it, when there is something to say.
    pub fn hint(&self, lang: Language) -> Option<String> {
        let da = lang == Language::Da;
        let pick = |d: String, e: String| Some(if da { d } else { e });
        let readme_da = "se alle pladsholdere i responses/README.md";
        let readme_en = "responses/README.md lists every placeholder";
        match self {
            Slip::Missing => pick(
                "alle filer skal være der (hver kategori på dansk og engelsk); kopiér den \
                 manglende fra den responses/-mappe, der følger med autosvar"
                    .into(),
                "every file must be there (each category in Danish and English); copy the \
                 missing one from the responses/ folder that comes with autosvar"
                    .into(),
            ),
            Slip::Stray { like: Some(name), .. } => pick(
                format!("mente du {name}? Filnavne skrives med små bogstaver"),
                format!("did you mean {name}? File names are written in lower case"),
            ),
            Slip::Stray { .. } => pick(
                "en kopi eller en sikkerhedskopi? autosvar læser kun de filnavne, der står i \
                 responses/README.md; flyt den ud af mappen, når du ikke skal bruge den mere"
                    .into(),
                "a copy or a backup? autosvar reads only the file names in responses/README.md; \
                 move it out of the folder when you no longer need it"
                    .into(),
            ),
            Slip::NotUtf8 { .. } => pick(
                "åbn filen og gem den igen med tegnkodningen UTF-8; ellers bliver æ, ø og å \
                 forkerte"
                    .into(),
                "open the file and save it again with the encoding UTF-8; otherwise æ, ø and å \
                 come out wrong"
                    .into(),
            ),
            Slip::Unreadable { .. } => None,
            Slip::ByteOrderMark => pick(
                "gem filen som \"UTF-8\" i stedet for \"UTF-8 med BOM\"".into(),
                "save the file as \"UTF-8\" rather than \"UTF-8 with BOM\"".into(),
            ),
            Slip::LongLine { .. } => pick(
                format!(
                    "nogle mailprogrammer knækker lange linjer på mærkelige steder; del linjen \
                     før {MAX_LINE} tegn (omkring 72 er bedst)"
                ),
                format!(
                    "some mail programs break long lines in odd places; break the line before \
                     {MAX_LINE} characters (about 72 is best)"
                ),
            ),
            Slip::LoneBrace {
                name: Some(name), ..
            } if PLACEHOLDERS.contains(&name.as_str()) => pick(
                format!("skriv {{{{ {name} }}}}"),
                format!("write {{{{ {name} }}}}"),
            ),
            Slip::LoneBrace { .. } => pick(
                format!("en pladsholder skrives fx {{{{ first_name }}}}; {readme_da}"),
                format!("a placeholder is written like {{{{ first_name }}}}; {readme_en}"),
            ),
            Slip::StrayClose { written } => {
                let open = opener_of(written);
                pick(
                    format!("tilføj det `{open}`, der mangler, eller fjern `{written}`"),
                    format!("add the missing `{open}`, or remove `{written}`"),
                )
            }
            Slip::Unclosed { open, close } if open == "{{" => pick(
                format!("afslut pladsholderen med `{close}` på samme linje, fx {{{{ first_name }}}}"),
                format!("end the placeholder with `{close}` on the same line, e.g. {{{{ first_name }}}}"),
            ),
            Slip::Unclosed { close, .. } => pick(
                format!("afslut den med `{close}` på samme linje, fx {{% endif %}}"),
                format!("end it with `{close}` on the same line, e.g. {{% endif %}}"),
            ),
            Slip::MissingEnd { end, .. } => pick(
                format!(
                    "tilføj {{% {end} %}} på en linje for sig selv, dér hvor den tekst, det \
                     styrer, slutter"
                ),
                format!("add {{% {end} %}} on a line of its own where the text it controls ends"),
            ),
            Slip::EndWithoutStart { start, .. } => pick(
                format!("fjern den, eller tilføj det {{% {start} ... %}}, den hører til"),
                format!("remove it, or add the {{% {start} ... %}} it belongs to"),
            ),
            Slip::Misplaced { .. } => pick(
                "den hører til mellem {% if ... %} og {% endif %}".into(),
                "it belongs between {% if ... %} and {% endif %}".into(),
            ),
            Slip::UnknownInstruction {
                suggest: Some(s), ..
            } => pick(format!("mente du {{% {s} %}}?"), format!("did you mean {{% {s} %}}?")),
            Slip::UnknownInstruction { .. } => pick(
                "instruktionerne er if, elif, else og endif; se responses/README.md".into(),
                "the instructions are if, elif, else and endif; see responses/README.md".into(),
            ),
            Slip::BadPlaceholder {
                suggest: Some(s), ..
            }
            | Slip::UnknownPlaceholder {
                suggest: Some(s), ..
            } => pick(
                format!("mente du {{{{ {s} }}}}? {readme_da}"),
                format!("did you mean {{{{ {s} }}}}? {readme_en}"),
            ),
            Slip::BadPlaceholder { .. } | Slip::UnknownPlaceholder { .. } => pick(
                format!(
                    "en pladsholder er ét navn, skrevet præcis som i responses/README.md, fx \
                     {{{{ first_name }}}}; {readme_da}"
                ),
                format!(
                    "a placeholder is one name, written exactly as in responses/README.md, \
                     e.g. {{{{ first_name }}}}; {readme_en}"
                ),
            ),
            Slip::BadInstruction { .. } => pick(
                "sammenlign med eksemplerne under \"How {% if %} works\" i responses/README.md \
                 (en sammenligning skrives ==)"
                    .into(),
                "compare with the examples under \"How {% if %} works\" in responses/README.md \
                 (a comparison is written ==)"
                    .into(),
            ),
            Slip::UnclosedQuote { .. } => pick(
                "tekst i en instruktion står mellem to lige anførselstegn, fx \"terms\"".into(),
                "text in an instruction goes between two straight quotation marks, e.g. \"terms\""
                    .into(),
            ),
            Slip::DeskOutsideTechnical { name } => {
                let field = name.strip_prefix("desk.").unwrap_or("name");
                pick(
                    format!(
                        "skriv {{{{ desks.cimt.{field} }}}} eller {{{{ desks.kuit.{field} }}}}, \
                         eller sæt det inden for {{% if desk %}} ... {{% endif %}}"
                    ),
                    format!(
                        "write {{{{ desks.cimt.{field} }}}} or {{{{ desks.kuit.{field} }}}}, or \
                         put it inside {{% if desk %}} ... {{% endif %}}"
                    ),
                )
            }
            Slip::UnknownFilter { .. } => pick(
                "fjern det, eller brug et af upper, lower, title, capitalize, trim, default".into(),
                "remove it, or use one of upper, lower, title, capitalize, trim, default".into(),
            ),
            Slip::NotUnderstood { .. } => pick(
                "sammenlign med responses/README.md, og skriv pladsholdere og instruktioner \
                 præcis som der"
                    .into(),
                "compare with responses/README.md, and write placeholders and instructions \
                 exactly as there"
                    .into(),
            ),
            Slip::NoSignatureShown => pick(
                "tilføj {{ signature }} på en linje for sig selv til sidst".into(),
                "add {{ signature }} on a line of its own at the end".into(),
            ),
            Slip::NoNoticeShown => pick(
                "tilføj {{ sensitive_notice }} på en linje for sig selv efter hilsenen".into(),
                "add {{ sensitive_notice }} on a line of its own after the greeting".into(),
            ),
            Slip::EmptySignature | Slip::SignatureNotAutomatic => pick(
                "signaturen skal have en linje som \"Dette svar er sendt automatisk.\" \
                 (engelsk: \"This reply was sent automatically.\"), så ingen tror, at et \
                 menneske har skrevet det"
                    .into(),
                "the signature must keep a line such as \"This reply was sent automatically.\" \
                 (Danish: \"Dette svar er sendt automatisk.\"), so nobody takes it for a \
                 person's answer"
                    .into(),
            ),
        }
    }
}

/// The opening that `}}`, `%}` or `#}` closes.
fn opener_of(close: &str) -> &'static str {
    match close {
        "%}" => "{%",
        "#}" => "{#",
        _ => "{{",
    }
}

/// One problem in one file of the set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file's name in `responses/` (`pricing.da.txt`).
    pub file: String,
    /// 1-based line, when the problem has a place.
    pub line: Option<usize>,
    /// 1-based column in characters (as an editor counts), when known.
    pub column: Option<usize>,
    pub slip: Slip,
}

impl Problem {
    fn new(file: &str, slip: Slip) -> Problem {
        Problem {
            file: file.to_string(),
            line: None,
            column: None,
            slip,
        }
    }

    /// At byte `offset` of `text`.
    fn placed(mut self, text: &str, offset: usize) -> Problem {
        let (line, column) = place(text, offset);
        self.line = Some(line);
        self.column = Some(column);
        self
    }

    fn at_line(mut self, line: usize) -> Problem {
        self.line = Some(line);
        self
    }

    pub fn severity(&self) -> Severity {
        self.slip.severity()
    }

    /// What is wrong, in plain words.
    pub fn message(&self, lang: Language) -> String {
        self.slip.message(lang)
    }

    /// What to do about it.
    pub fn hint(&self, lang: Language) -> Option<String> {
        self.slip.hint(lang)
    }

    /// As `autosvar check` and the log print it (`dir/file:line:column: message; hint`),
    /// in English.
    pub fn diagnostic(&self, dir: &Path) -> Diagnostic {
        Diagnostic {
            file: dir.join(&self.file),
            line: self.line,
            column: self.column.filter(|_| self.line.is_some()),
            key: String::new(),
            message: self.message(Language::En),
            hint: self.hint(Language::En),
        }
    }
}

/// The outcome of a check: the compiled set when it has no error, and every problem,
/// errors and warnings, ordered by file and place.
#[derive(Debug)]
pub struct Checked {
    pub templates: Option<Templates>,
    pub problems: Vec<Problem>,
}

impl Checked {
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity() == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity() == Severity::Warning)
    }

    /// The set, or [`TemplateError::Invalid`] with its errors placed under `dir`.
    ///
    /// # Errors
    /// When the set has an error.
    pub fn into_result(self, dir: &Path) -> Result<Templates, TemplateError> {
        match self.templates {
            Some(t) => Ok(t),
            None => Err(TemplateError::Invalid {
                problems: self
                    .problems
                    .iter()
                    .filter(|p| p.severity() == Severity::Error)
                    .map(|p| p.diagnostic(dir))
                    .collect(),
            }),
        }
    }
}

/// What a template is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The reply to a mail of this category in this language.
    Reply {
        category: Category,
        language: Language,
    },
    /// The signature under every reply in this language.
    Signature(Language),
    /// The notice in a reply to a mail that held a CPR number or patient details.
    SensitiveNotice(Language),
    /// The desk's cover note above a forwarded technical mail (Danish).
    ForwardCover,
    /// The lines above the redacted text copy a desk gets instead of the original.
    ForwardCopy,
}

/// One required template: its file name and what it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub purpose: Purpose,
}

impl Entry {
    /// What the template is for, in a few words.
    pub fn describe(&self, lang: Language) -> String {
        let da = lang == Language::Da;
        let tongue = |l: Language| match (l, da) {
            (Language::Da, true) => "dansk",
            (Language::En, true) => "engelsk",
            (Language::Da, false) => "Danish",
            (Language::En, false) => "English",
        };
        match self.purpose {
            Purpose::Reply { category, language } => {
                let what = match (category, da) {
                    (Category::Pricing, true) => "pris og licenser",
                    (Category::Terms, true) => "hvad Zoom må bruges til",
                    (Category::Eligibility, true) => "hvem der kan få Zoom",
                    (Category::Technical, true) => "tekniske problemer (sendes også til en desk)",
                    (Category::Other, true) => "alt andet (en person svarer)",
                    (Category::Pricing, false) => "price and licences",
                    (Category::Terms, false) => "what Zoom may be used for",
                    (Category::Eligibility, false) => "who can get Zoom",
                    (Category::Technical, false) => "technical problems (also forwarded to a desk)",
                    (Category::Other, false) => "anything else (a person answers)",
                };
                if da {
                    format!("svar, {}: {what}", tongue(language))
                } else {
                    format!("reply, {}: {what}", tongue(language))
                }
            }
            Purpose::Signature(l) if da => format!("signatur, {}", tongue(l)),
            Purpose::Signature(l) => format!("signature, {}", tongue(l)),
            Purpose::SensitiveNotice(l) if da => {
                format!("besked om følsomme oplysninger, {}", tongue(l))
            }
            Purpose::SensitiveNotice(l) => format!("sensitive-data notice, {}", tongue(l)),
            Purpose::ForwardCover if da => "følgebrev til desken ved videresendelse".into(),
            Purpose::ForwardCover => "cover note for the desk on a forward".into(),
            Purpose::ForwardCopy if da => "linjerne over tekstkopien til desken".into(),
            Purpose::ForwardCopy => "lines above the text copy for the desk".into(),
        }
    }
}

/// Every template a complete set needs, in the order the console lists them: per language,
/// the five replies, the signature and the sensitive notice; then the two forward files.
pub fn catalogue() -> Vec<Entry> {
    let mut out = Vec::new();
    for language in Language::ALL {
        for category in Category::ALL {
            out.push(Entry {
                name: format!("{}.{}.txt", category.name(), language.code()),
                purpose: Purpose::Reply { category, language },
            });
        }
        out.push(Entry {
            name: format!("{SIGNATURE}.{}.txt", language.code()),
            purpose: Purpose::Signature(language),
        });
        out.push(Entry {
            name: format!("{SENSITIVE}.{}.txt", language.code()),
            purpose: Purpose::SensitiveNotice(language),
        });
    }
    out.push(Entry {
        name: FORWARD.into(),
        purpose: Purpose::ForwardCover,
    });
    out.push(Entry {
        name: FORWARD_COPY.into(),
        purpose: Purpose::ForwardCopy,
    });
    out
}

/// Reads `dir` and checks it as [`check_set`] does. Files that are no template name are
/// not read (a warning each); a template that is not UTF-8 is an error at its first bad
/// byte.
///
/// # Errors
/// [`TemplateError::ReadDir`] when the folder cannot be listed; everything else is a
/// [`Problem`].
pub fn check_dir(dir: &Path, desks: &BTreeMap<DeskKey, Desk>) -> Result<Checked, TemplateError> {
    let entries = std::fs::read_dir(dir).map_err(|source| TemplateError::ReadDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let required = catalogue();
    let mut files = BTreeMap::new();
    let mut problems = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let folder = entry.file_type().is_ok_and(|t| t.is_dir());
        if folder || !required.iter().any(|e| e.name == name) {
            if !KNOWN_OTHERS.contains(&name.as_str()) {
                problems.push(stray(&name, folder, &required));
            }
            continue;
        }
        match std::fs::read(entry.path()) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => {
                    files.insert(name, text);
                }
                Err(e) => {
                    let bytes = e.as_bytes();
                    let utf16 =
                        bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]);
                    let good = e.utf8_error().valid_up_to();
                    let before = String::from_utf8_lossy(bytes.get(..good).unwrap_or_default());
                    problems
                        .push(Problem::new(&name, Slip::NotUtf8 { utf16 }).placed(&before, good));
                }
            },
            Err(e) => problems.push(Problem::new(
                &name,
                Slip::Unreadable {
                    error: e.kind().to_string(),
                },
            )),
        }
    }
    let mut checked = check_files(&files, desks, problems);
    // A file that could not be read is not missing: say only why it could not be read.
    let unread: Vec<String> = checked
        .problems
        .iter()
        .filter(|p| matches!(p.slip, Slip::NotUtf8 { .. } | Slip::Unreadable { .. }))
        .map(|p| p.file.clone())
        .collect();
    checked
        .problems
        .retain(|p| !(p.slip == Slip::Missing && unread.contains(&p.file)));
    Ok(checked)
}

fn stray(name: &str, folder: bool, required: &[Entry]) -> Problem {
    let lower = name.to_lowercase();
    let like = (!folder)
        .then(|| required.iter().find(|e| e.name == lower))
        .flatten()
        .map(|e| e.name.clone());
    Problem::new(name, Slip::Stray { folder, like })
}

/// Checks a set of templates held in memory (file name -> text, as saved): every slip
/// this module knows, then compiles the files and test-renders every category in every
/// language, with and without a desk, a name and sensitive data. A name that is no
/// template is a warning and left out.
pub fn check_set(files: &BTreeMap<String, String>, desks: &BTreeMap<DeskKey, Desk>) -> Checked {
    let required = catalogue();
    let mut problems = Vec::new();
    let mut known = BTreeMap::new();
    for (name, text) in files {
        if required.iter().any(|e| &e.name == name) {
            known.insert(name.clone(), text.clone());
        } else if !KNOWN_OTHERS.contains(&name.as_str()) {
            problems.push(stray(name, false, &required));
        }
    }
    check_files(&known, desks, problems)
}

fn check_files(
    files: &BTreeMap<String, String>,
    desks: &BTreeMap<DeskKey, Desk>,
    mut problems: Vec<Problem>,
) -> Checked {
    for entry in catalogue() {
        if !files.contains_key(&entry.name) {
            problems.push(Problem::new(&entry.name, Slip::Missing));
        }
    }
    let mut env = environment();
    let mut lenient = environment();
    lenient.set_undefined_behavior(UndefinedBehavior::Lenient);
    let mut sources = BTreeMap::new();
    for (name, text) in files {
        let text = match text.strip_prefix('\u{feff}') {
            Some(rest) => {
                problems.push(Problem::new(name, Slip::ByteOrderMark).at_line(1));
                rest
            }
            None => text.as_str(),
        };
        let scan = scan(text);
        let broken = !scan.problems.is_empty();
        let places = Places::new(text);
        problems.extend(scan.problems.iter().map(|(at, slip)| {
            let (line, column) = places.of(*at);
            Problem {
                file: name.clone(),
                line: Some(line),
                column: Some(column),
                slip: slip.clone(),
            }
        }));
        let ctx = sample_for(name, desks);
        problems.extend(long_lines(name, text, &scan.tags, |tag| {
            lenient
                .render_str(tag, minijinja::value::Serde(&ctx))
                .ok()
                .map(|s| s.chars().count())
        }));
        sources.insert(name.clone(), text.to_string());
        if broken {
            continue;
        }
        if let Err(e) = env.add_template_owned(name.clone(), text.to_string()) {
            problems.push(translate(&e, name, text));
        }
    }
    let errors = |p: &[Problem]| p.iter().any(|p| p.severity() == Severity::Error);
    let t = Templates {
        env,
        warnings: Vec::new(),
        digest: super::set_digest(files),
    };
    // The signatures are checked whatever else is wrong (a signature that does not compile
    // or render is reported as such, not here), so every slip shows in one pass.
    let signatures = signature_slips(&t, desks);
    if !errors(&problems) {
        let (marks, failures) = t.test_render(desks);
        problems.extend(marks);
        for (name, e) in failures {
            let text = sources.get(&name).map_or("", String::as_str);
            problems.push(translate(&e, &name, text));
        }
    }
    problems.extend(signatures);
    problems.sort_by_cached_key(|p| (p.file.clone(), p.line, p.column, p.message(Language::En)));
    problems.dedup();
    let templates = (!errors(&problems)).then(|| Templates {
        warnings: problems.clone(),
        ..t
    });
    Checked {
        templates,
        problems,
    }
}

/// Line and column of byte offsets in one text, as [`place`] counts them, without walking
/// the text again for each (a draft may hold thousands of problems).
struct Places<'a> {
    text: &'a str,
    /// Byte offset of each line's first character.
    starts: Vec<usize>,
}

impl<'a> Places<'a> {
    fn new(text: &'a str) -> Places<'a> {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Places { text, starts }
    }

    fn of(&self, offset: usize) -> (usize, usize) {
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts.get(line - 1).copied().unwrap_or_default();
        let before = self
            .text
            .get(start..)
            .unwrap_or_default()
            .char_indices()
            .take_while(|&(i, _)| start + i < offset)
            .count();
        (line, before + 1)
    }
}

/// The sample context a file is measured against: its category and language when it is a
/// reply, a technical mail with a desk otherwise (the forward files need one).
fn sample_for(name: &str, desks: &BTreeMap<DeskKey, Desk>) -> super::CopyContext {
    let (category, lang) = catalogue().into_iter().find(|e| e.name == name).map_or(
        (Category::Technical, Language::Da),
        |e| match e.purpose {
            Purpose::Reply { category, language } => (category, language),
            Purpose::Signature(l) | Purpose::SensitiveNotice(l) => (Category::Technical, l),
            Purpose::ForwardCover | Purpose::ForwardCopy => (Category::Technical, Language::Da),
        },
    );
    let desk = (category == Category::Technical)
        .then(|| desks.values().next().cloned())
        .flatten();
    super::sample_copy_context(sample_context(category, lang, desk, desks, false, true))
}

/// An empty signature, or one that does not say the reply was sent automatically.
fn signature_slips(t: &Templates, desks: &BTreeMap<DeskKey, Desk>) -> Vec<Problem> {
    let mut out = Vec::new();
    for lang in Language::ALL {
        let name = format!("{SIGNATURE}.{}.txt", lang.code());
        let ctx = sample_context(Category::Other, lang, None, desks, false, true);
        let Ok(text) = t.render_raw(&name, &ctx) else {
            continue;
        };
        let text = tidy(&text);
        if text.trim().is_empty() {
            out.push(Problem::new(&name, Slip::EmptySignature).at_line(1));
        } else if !says_automatic(&text) {
            out.push(Problem::new(&name, Slip::SignatureNotAutomatic).at_line(1));
        }
    }
    out
}

/// Whether a text says, in Danish or English, that it was sent automatically: "sendt
/// automatisk", "automatisk svar", "sent automatically", "automated reply", "autosvar" ...
/// Case and line breaks do not matter.
pub fn says_automatic(text: &str) -> bool {
    let folded = text.to_lowercase();
    folded.split(|c: char| !c.is_alphanumeric()).any(|word| {
        [
            "automatisk",
            "automatiser",
            "autogener",
            "autosvar",
            "automatic",
            "automated",
        ]
        .iter()
        .any(|stem| word.starts_with(stem))
    }) || ["auto-reply", "auto reply", "autoreply", "auto-generated"]
        .iter()
        .any(|w| folded.contains(w))
}

/// Kinds of tag in a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TagKind {
    /// `{{ ... }}`
    Var,
    /// `{% ... %}`
    Block,
    /// `{# ... #}`
    Comment,
}

impl TagKind {
    fn open(self) -> &'static str {
        match self {
            TagKind::Var => "{{",
            TagKind::Block => "{%",
            TagKind::Comment => "{#",
        }
    }

    fn close(self) -> &'static str {
        match self {
            TagKind::Var => "}}",
            TagKind::Block => "%}",
            TagKind::Comment => "#}",
        }
    }
}

/// A tag found by [`scan`]: its kind and byte range in the text, brackets included.
#[derive(Debug, Clone, Copy)]
struct Tag {
    kind: TagKind,
    start: usize,
    end: usize,
}

/// What [`scan`] found: the tags, and the slips with their byte offsets.
#[derive(Debug, Default)]
struct Scan {
    tags: Vec<Tag>,
    problems: Vec<(usize, Slip)>,
}

/// The next `{{`, `{%` or `{#` at or after byte `from`.
fn next_opener(text: &str, from: usize) -> Option<(usize, TagKind)> {
    let rest = text.get(from..)?;
    rest.match_indices('{').find_map(|(i, _)| {
        let kind = match rest.get(i + 1..i + 2)? {
            "{" => TagKind::Var,
            "%" => TagKind::Block,
            "#" => TagKind::Comment,
            _ => return None,
        };
        Some((from + i, kind))
    })
}

/// Shortens a quoted piece of template to one line of at most [`QUOTE_MAX`] characters.
fn quote(s: &str) -> String {
    let line = s.lines().next().unwrap_or_default();
    if line.chars().count() > QUOTE_MAX || line.len() < s.trim_end().len() {
        let mut q: String = line.chars().take(QUOTE_MAX).collect();
        q.push('…');
        q
    } else {
        line.to_string()
    }
}

/// Reads the text as a person would mistype it: finds every tag, the openings never
/// closed (at the opening, not where the parser gives up), blocks never ended (at their
/// start), ends and `else`s with no start, instructions that do not exist, and
/// placeholder-like text in single braces.
fn scan(text: &str) -> Scan {
    let mut out = Scan::default();
    let mut pos = 0;
    while let Some((open, kind)) = next_opener(text, pos) {
        lone_braces(text, pos, open, &mut out.problems);
        let body = open + 2;
        // A comment may hold anything; another tag's opening before this one's close
        // means this one was never closed. Looking for the close only up to that opening
        // keeps the scan linear however many openings are left unclosed.
        let next = match kind {
            TagKind::Comment => None,
            _ => next_opener(text, body).map(|(i, _)| i),
        };
        let close = text
            .get(body..next.unwrap_or(text.len()))
            .and_then(|r| r.find(kind.close()))
            .map(|i| body + i);
        match close {
            Some(c) => {
                out.tags.push(Tag {
                    kind,
                    start: open,
                    end: c + 2,
                });
                pos = c + 2;
            }
            _ => {
                let line_end = text
                    .get(open..)
                    .and_then(|r| r.find('\n'))
                    .map_or(text.len(), |i| open + i);
                let on_line = text.get(open..line_end).unwrap_or_default();
                let slip = match on_line.find('}') {
                    // `{{ mailbox }`: one brace short.
                    Some(b) if kind == TagKind::Var => {
                        let written = on_line.get(..=b).unwrap_or(on_line);
                        let inner = written.trim_start_matches('{').trim_end_matches('}');
                        Slip::LoneBrace {
                            written: quote(written),
                            name: placeholder_name(inner),
                        }
                    }
                    _ => Slip::Unclosed {
                        open: kind.open().into(),
                        close: kind.close().into(),
                    },
                };
                out.problems.push((open, slip));
                if kind == TagKind::Comment {
                    // Everything after an unclosed note is inside it.
                    pos = text.len();
                    break;
                }
                pos = line_end;
            }
        }
    }
    lone_braces(text, pos, text.len(), &mut out.problems);
    blocks(text, &out.tags, &mut out.problems);
    out
}

/// `mailbox` or `desk.phone`: a name as a placeholder holds it; None for anything else.
fn placeholder_name(inner: &str) -> Option<String> {
    let inner = inner.trim();
    let mut chars = inner.chars();
    let first = chars.next()?;
    ((first.is_alphabetic() || first == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '.'))
    .then(|| inner.to_string())
}

/// In plain text between tags (`text[from..to]`): placeholder-like words in single braces
/// (`{ mailbox }`, `{mailbox}}`), and a `}}` or `%}` that closes nothing.
fn lone_braces(text: &str, from: usize, to: usize, problems: &mut Vec<(usize, Slip)>) {
    let Some(plain) = text.get(from..to) else {
        return;
    };
    let mut covered = 0;
    for (i, _) in plain.match_indices('{') {
        let Some(after) = plain.get(i + 1..) else {
            continue;
        };
        let inner_len = after.find(['}', '\n', '{']).unwrap_or(after.len());
        let inner = after.get(..inner_len).unwrap_or_default();
        let Some(rest) = after.get(inner_len..) else {
            continue;
        };
        let closes = rest.len() - rest.trim_start_matches('}').len();
        if closes == 0 {
            continue;
        }
        if let Some(name) = placeholder_name(inner) {
            let end = i + 1 + inner_len + closes;
            let written = plain.get(i..end).unwrap_or_default();
            problems.push((
                from + i,
                Slip::LoneBrace {
                    written: quote(written),
                    name: Some(name),
                },
            ));
            covered = covered.max(end);
        }
    }
    for close in ["}}", "%}"] {
        for (i, _) in plain.match_indices(close) {
            if i >= covered {
                problems.push((
                    from + i,
                    Slip::StrayClose {
                        written: close.into(),
                    },
                ));
            }
        }
    }
}

/// The first word of a block tag: `if` in `{%- if name %}`.
fn block_word(text: &str, tag: &Tag) -> String {
    let inner = text.get(tag.start + 2..tag.end - 2).unwrap_or_default();
    inner
        .trim_start_matches(['-', '+'])
        .trim_start()
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Instructions that open a block, and those that stand alone.
const BLOCKS: [&str; 9] = [
    "if",
    "for",
    "with",
    "filter",
    "macro",
    "call",
    "block",
    "autoescape",
    "raw",
];
const SINGLE: [&str; 8] = [
    "set", "include", "import", "from", "extends", "do", "continue", "break",
];
/// What HR staff are told about, for suggestions.
const TOLD: [&str; 6] = ["if", "elif", "else", "endif", "for", "endfor"];

/// Matches every block with its end: a missing end is reported at the block's start, an
/// end without a start at the end.
fn blocks(text: &str, tags: &[Tag], problems: &mut Vec<(usize, Slip)>) {
    let mut open: Vec<(String, usize)> = Vec::new();
    for tag in tags.iter().filter(|t| t.kind == TagKind::Block) {
        let word = block_word(text, tag);
        let word = word.as_str();
        if BLOCKS.contains(&word) {
            open.push((word.to_string(), tag.start));
        } else if word == "elif" || word == "else" {
            let fits = open
                .last()
                .is_some_and(|(w, _)| w == "if" || (word == "else" && w == "for"));
            if !fits {
                problems.push((tag.start, Slip::Misplaced { word: word.into() }));
            }
        } else if let Some(start) = word.strip_prefix("end").filter(|s| BLOCKS.contains(s)) {
            match open.iter().rposition(|(w, _)| w == start) {
                Some(at) => {
                    // Blocks opened inside this one and never ended.
                    for (w, off) in open.drain(at..).skip(1) {
                        problems.push((off, missing_end(&w)));
                    }
                }
                None => problems.push((
                    tag.start,
                    Slip::EndWithoutStart {
                        end: word.into(),
                        start: start.into(),
                    },
                )),
            }
        } else if !SINGLE.contains(&word) {
            let written = text.get(tag.start..tag.end).unwrap_or_default();
            let slip = if word.is_empty() {
                Slip::BadInstruction {
                    written: quote(written),
                }
            } else {
                Slip::UnknownInstruction {
                    word: quote(word),
                    suggest: closest(word, &TOLD, 2).map(|s| {
                        if s.starts_with("end") || s == "else" {
                            s.to_string()
                        } else {
                            format!("{s} ...")
                        }
                    }),
                }
            };
            problems.push((tag.start, slip));
        }
    }
    for (w, off) in open {
        problems.push((off, missing_end(&w)));
    }
}

fn missing_end(start: &str) -> Slip {
    Slip::MissingEnd {
        start: start.into(),
        end: format!("end{start}"),
    }
}

/// Lines longer than [`MAX_LINE`] as they would be sent: instructions and notes count
/// nothing, a placeholder counts as long as `measure` renders it (as written when it
/// cannot).
fn long_lines(
    name: &str,
    text: &str,
    tags: &[Tag],
    measure: impl Fn(&str) -> Option<usize>,
) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut start = 0;
    for (line_no, raw) in (1..).zip(text.split_inclusive('\n')) {
        let end = start + raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        let mut chars = 0;
        let mut column = None;
        let mut skip_to = start;
        for (i, c) in line.char_indices() {
            let at = start + i;
            if at < skip_to {
                continue;
            }
            let tag = tags
                .binary_search_by_key(&at, |t| t.start)
                .ok()
                .and_then(|i| tags.get(i))
                .filter(|t| t.end <= end);
            let width = match tag {
                Some(t) => {
                    skip_to = t.end;
                    let written = text.get(t.start..t.end).unwrap_or_default();
                    match t.kind {
                        TagKind::Var => measure(written).unwrap_or_else(|| written.chars().count()),
                        TagKind::Block | TagKind::Comment => 0,
                    }
                }
                None => usize::from(c != '\r'),
            };
            chars += width;
            if chars > MAX_LINE && column.is_none() {
                column = Some(line.get(..i).unwrap_or_default().chars().count() + 1);
            }
        }
        if chars > MAX_LINE {
            out.push(Problem {
                file: name.to_string(),
                line: Some(line_no),
                column,
                slip: Slip::LongLine { chars },
            });
        }
        start = end;
    }
    out
}

/// A minijinja error in plain words, at the tag it is in.
fn translate(err: &minijinja::Error, name: &str, text: &str) -> Problem {
    let tags = scan(text).tags;
    let offset = err.range().map(|r| r.start);
    let detail = err.detail().unwrap_or_default();
    let unclosed_quote = detail.contains("end of string");
    let tag = if unclosed_quote {
        // minijinja reads the string on to the end of the file: blame the tag whose
        // quotation marks do not pair up.
        tags.iter().find(|t| {
            let inner = text.get(t.start..t.end).unwrap_or_default();
            t.kind != TagKind::Comment
                && (inner.matches('"').count() % 2 == 1 || inner.matches('\'').count() % 2 == 1)
        })
    } else {
        offset.and_then(|o| tags.iter().find(|t| t.start <= o && o < t.end))
    };
    let written = tag
        .and_then(|t| text.get(t.start..t.end))
        .or_else(|| err.range().and_then(|r| text.get(r)))
        .map(quote)
        .unwrap_or_default();
    let in_range = err
        .range()
        .and_then(|r| text.get(r))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let slip = match err.kind() {
        minijinja::ErrorKind::SyntaxError if unclosed_quote => Slip::UnclosedQuote { written },
        minijinja::ErrorKind::SyntaxError => match tag.map(|t| t.kind) {
            Some(TagKind::Var) => {
                let inner = written.trim_start_matches('{').trim_end_matches('}').trim();
                let joined = inner.split_whitespace().collect::<Vec<_>>().join("_");
                let suggest = if PLACEHOLDERS.contains(&joined.as_str()) {
                    Some(joined)
                } else {
                    suggest(&joined)
                };
                Slip::BadPlaceholder { suggest, written }
            }
            Some(TagKind::Block) => Slip::BadInstruction { written },
            _ => Slip::NotUnderstood { written },
        },
        minijinja::ErrorKind::UndefinedError
            if in_range == "desk" || in_range.starts_with("desk.") =>
        {
            Slip::DeskOutsideTechnical { name: in_range }
        }
        minijinja::ErrorKind::UndefinedError if placeholder_name(&in_range).is_some() => {
            Slip::UnknownPlaceholder {
                suggest: suggest(&in_range),
                name: in_range,
            }
        }
        minijinja::ErrorKind::UnknownFilter if placeholder_name(&in_range).is_some() => {
            Slip::UnknownFilter { name: in_range }
        }
        _ => Slip::NotUnderstood { written },
    };
    let problem = Problem::new(name, slip);
    match (tag, offset) {
        (Some(t), _) => problem.placed(text, t.start),
        (None, Some(o)) => problem.placed(text, o),
        (None, None) => problem.at_line(err.line().unwrap_or(1)),
    }
}

/// The placeholder someone who wrote `wrote` most likely meant.
fn suggest(wrote: &str) -> Option<String> {
    let lower = wrote.to_lowercase();
    if let Some((_, p)) = DANISH_NAMES.iter().find(|(d, _)| *d == lower) {
        return Some((*p).to_string());
    }
    let folded = lower.replace(['-', ' '], "_");
    if folded != wrote && PLACEHOLDERS.contains(&folded.as_str()) {
        return Some(folded);
    }
    closest(&lower, &PLACEHOLDERS, 2).map(str::to_string)
}

/// The candidate within `max` edits of `word` (the nearest), if any and not `word` itself.
fn closest<'a>(word: &str, candidates: &[&'a str], max: usize) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edits(word, c), *c))
        .filter(|(d, c)| *d <= max && *c != word)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance in characters.
fn edits(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row.first().copied().unwrap_or_default();
        if let Some(first) = row.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let above = row.get(j + 1).copied().unwrap_or_default();
            let left = row.get(j).copied().unwrap_or_default();
            let value = (above + 1).min(left + 1).min(prev + usize::from(ca != *cb));
            prev = above;
            if let Some(cell) = row.get_mut(j + 1) {
                *cell = value;
            }
        }
    }
    row.last().copied().unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::string_slice, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::render::Context;

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

    fn shipped_dir() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("responses")
    }

    /// The shipped templates, name -> text.
    fn shipped() -> BTreeMap<String, String> {
        catalogue()
            .into_iter()
            .map(|e| {
                let text = std::fs::read_to_string(shipped_dir().join(&e.name)).unwrap();
                (e.name, text)
            })
            .collect()
    }

    /// The shipped set with one file replaced.
    fn with(name: &str, text: &str) -> Checked {
        let mut files = shipped();
        files.insert(name.into(), text.into());
        check_set(&files, &desks())
    }

    /// The only problem of a check, or a failure listing them all.
    fn only(c: &Checked) -> &Problem {
        assert_eq!(c.problems.len(), 1, "{:#?}", c.problems);
        &c.problems[0]
    }

    /// No message or hint in either language speaks the parser's language.
    fn plain(p: &Problem) {
        for lang in Language::ALL {
            let text = format!("{} {}", p.message(lang), p.hint(lang).unwrap_or_default());
            for word in [
                "unexpected",
                "expected",
                "syntax",
                "identifier",
                "variable block",
                "end of input",
                "statement",
                "undefined",
            ] {
                assert!(!text.contains(word), "{word:?} in {text}");
            }
        }
        assert_ne!(p.message(Language::Da), p.message(Language::En));
    }

    #[test]
    fn the_shipped_set_has_no_error_and_no_warning() {
        let c = check_dir(&shipped_dir(), &desks()).unwrap();
        assert!(c.problems.is_empty(), "{:#?}", c.problems);
        assert!(c.templates.is_some());
    }

    #[test]
    fn a_byte_order_mark_is_left_out_with_a_warning() {
        let sig = format!("\u{feff}{}", shipped()["signature.da.txt"]);
        let c = with("signature.da.txt", &sig);
        let p = only(&c).clone();
        assert_eq!(
            (p.slip.clone(), p.severity(), p.line),
            (Slip::ByteOrderMark, Severity::Warning, Some(1))
        );
        plain(&p);
        let t = c.templates.expect("a warning does not stop the set");
        assert_eq!(t.warnings(), std::slice::from_ref(&p));
        let ctx = sample_context(Category::Pricing, Language::Da, None, &desks(), false, true);
        let reply = t.render_reply(Category::Pricing, ctx).unwrap();
        assert!(!reply.contains('\u{feff}'), "{reply:?}");
        assert!(reply.contains("Venlig hilsen"));
    }

    #[test]
    fn single_braces_that_look_like_a_placeholder_are_errors_at_their_place() {
        let base = shipped()["pricing.da.txt"].clone();
        let line = base.lines().count() + 2;
        for (written, col) in [
            ("{ mailbox }", 7),
            ("{mailbox}", 7),
            ("{{ mailbox }", 7),
            ("{mailbox}}", 7),
            ("{ desks.cimt.phone }", 7),
        ] {
            let c = with(
                "pricing.da.txt",
                &format!("{base}\nSkriv {written} i dag.\n"),
            );
            let p = only(&c);
            assert!(c.templates.is_none(), "{written}");
            assert_eq!(
                (p.file.as_str(), p.line, p.column),
                ("pricing.da.txt", Some(line), Some(col)),
                "{written}"
            );
            assert!(matches!(p.slip, Slip::LoneBrace { .. }), "{written}: {p:?}");
            assert!(p.message(Language::En).contains(written), "{p:?}");
            let name = written.trim_matches(['{', '}', ' ']);
            assert_eq!(
                p.hint(Language::En).unwrap(),
                format!("write {{{{ {name} }}}}")
            );
            assert_eq!(
                p.hint(Language::Da).unwrap(),
                format!("skriv {{{{ {name} }}}}")
            );
            plain(p);
        }
        // Braces around something that is no name are text.
        let c = with(
            "pricing.da.txt",
            &format!("{base}\nSe {{ 1, 2 }} og {{}}.\n"),
        );
        assert!(c.problems.is_empty(), "{:#?}", c.problems);
    }

    #[test]
    fn a_closing_without_its_opening_is_an_error() {
        let c = with(
            "terms.en.txt",
            "Hello mailbox }}\n{{ sensitive_notice }}\n{ % if desk %}x\n{{ signature }}\n",
        );
        let got: Vec<_> = c
            .problems
            .iter()
            .map(|p| (p.line, p.column, p.message(Language::En)))
            .collect();
        assert_eq!(
            got,
            [
                (
                    Some(1),
                    Some(15),
                    "`}}` without a `{{` before it".to_string()
                ),
                (
                    Some(3),
                    Some(13),
                    "`%}` without a `{%` before it".to_string()
                ),
            ]
        );
        c.problems.iter().for_each(plain);
    }

    #[test]
    fn an_unclosed_placeholder_is_reported_on_its_own_line() {
        let c = with(
            "pricing.en.txt",
            "Hello {{ first_name\n{{ sensitive_notice }}\n\nText\nmore text\n\n{{ signature }}\n",
        );
        let p = only(&c);
        assert_eq!((p.line, p.column), (Some(1), Some(7)));
        assert_eq!(
            p.message(Language::En),
            "`{{` begun here is never closed with `}}`"
        );
        assert_eq!(
            p.message(Language::Da),
            "`{{`, der begynder her, bliver aldrig lukket med `}}`"
        );
        plain(p);
        // At the end of the file too: minijinja would blame the last line.
        let c = with(
            "pricing.en.txt",
            "Hi\n{{ sensitive_notice }}\n{{ signature\n\nBye\n",
        );
        let p = only(&c);
        assert_eq!((p.line, p.column), (Some(3), Some(1)), "{p:?}");
    }

    #[test]
    fn a_missing_endif_is_reported_at_its_if() {
        let text = "Hej\n{% if first_name %}\nHej {{ first_name }}\n{% if desk %}x{% endif %}\n\
                    {{ sensitive_notice }}\n{{ signature }}\n";
        let c = with("other.da.txt", text);
        let p = only(&c);
        assert_eq!((p.line, p.column), (Some(2), Some(1)), "{p:?}");
        assert_eq!(
            p.message(Language::En),
            "`{% if %}` here has no `{% endif %}`"
        );
        assert_eq!(
            p.message(Language::Da),
            "`{% if %}` her mangler sit `{% endif %}`"
        );
        plain(p);
        // Inside a block that is ended: the inner one is reported.
        let text = "{% if desk %}\n{% for d in desks %}\n{% endif %}\n{{ sensitive_notice }}{{ signature }}";
        let p = only(&with("other.da.txt", text)).clone();
        assert_eq!(
            (p.line, p.slip),
            (
                Some(2),
                Slip::MissingEnd {
                    start: "for".into(),
                    end: "endfor".into()
                }
            )
        );
    }

    #[test]
    fn an_end_or_else_without_its_if_is_reported_where_it_is() {
        let c = with(
            "other.en.txt",
            "Hi\n{{ sensitive_notice }}\n{% else %}\nx\n{% endif %}\n{{ signature }}\n",
        );
        let got: Vec<_> = c
            .problems
            .iter()
            .map(|p| (p.line, p.slip.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    Some(3),
                    Slip::Misplaced {
                        word: "else".into()
                    }
                ),
                (
                    Some(5),
                    Slip::EndWithoutStart {
                        end: "endif".into(),
                        start: "if".into()
                    }
                ),
            ]
        );
        c.problems.iter().for_each(plain);
    }

    #[test]
    fn an_unknown_instruction_is_named_with_a_suggestion() {
        let c = with(
            "other.en.txt",
            "Hi\n{{ sensitive_notice }}\n{% iff desk %}x{% endif %}\n{{ signature }}\n",
        );
        let p = &c.problems[0];
        assert_eq!((p.line, p.column), (Some(3), Some(1)));
        assert_eq!(
            p.message(Language::En),
            "`{% iff %}` is not an instruction autosvar knows"
        );
        assert_eq!(p.hint(Language::En).unwrap(), "did you mean {% if ... %}?");
        c.problems.iter().for_each(plain);
    }

    #[test]
    fn unknown_placeholders_and_filters_are_named_plainly() {
        let cases = [
            (
                "{{ naem }}",
                "unknown placeholder {{ naem }}",
                "did you mean {{ name }}?",
            ),
            (
                "{{ fornavn }}",
                "unknown placeholder {{ fornavn }}",
                "did you mean {{ first_name }}?",
            ),
            (
                "{{ first name }}",
                "cannot read the placeholder `{{ first name }}`",
                "did you mean {{ first_name }}?",
            ),
            (
                "{{ name | upcase }}",
                "unknown filter `| upcase`",
                "remove it",
            ),
            (
                "{{ desk.phone }}",
                "{{ desk.phone }} is only known in technical replies and forward.txt",
                "write {{ desks.cimt.phone }} or {{ desks.kuit.phone }}",
            ),
            (
                "{% if secondary == \"terms %}x{% endif %}",
                "a quotation mark in `{% if secondary == \"terms %}` is not closed",
                "text in an instruction goes between",
            ),
            (
                "{% if secondary = \"terms\" %}x{% endif %}",
                "cannot read the instruction `{% if secondary = \"terms\" %}`",
                "compare with the examples",
            ),
        ];
        for (bad, message, hint) in cases {
            let c = with(
                "pricing.da.txt",
                &format!(
                    "Hej\n{{{{ sensitive_notice }}}}\nRing til {bad} nu.\n{{{{ signature }}}}\n"
                ),
            );
            let p = only(&c);
            assert_eq!((p.line, p.column), (Some(3), Some(10)), "{bad}: {p:?}");
            assert_eq!(p.message(Language::En), message, "{bad}");
            assert!(
                p.hint(Language::En).unwrap().starts_with(hint),
                "{bad}: {p:?}"
            );
            plain(p);
        }
    }

    #[test]
    fn an_empty_signature_or_one_that_hides_the_automation_is_an_error() {
        for text in [
            "",
            "\n\n  \n",
            "{% if false %}Sendt automatisk{% endif %}\n",
        ] {
            let c = with("signature.da.txt", text);
            assert_eq!(only(&c).slip, Slip::EmptySignature, "{text:?}");
            assert!(c.templates.is_none());
        }
        let c = with(
            "signature.en.txt",
            "Kind regards\n\nE-learning, Centre for HR and Education\n",
        );
        let p = only(&c);
        assert_eq!(
            (p.file.as_str(), p.slip.clone()),
            ("signature.en.txt", Slip::SignatureNotAutomatic)
        );
        assert!(p
            .hint(Language::Da)
            .unwrap()
            .contains("Dette svar er sendt automatisk."));
        plain(p);
        for ok in [
            "Venlig hilsen\nE-learning\n\nSvaret er automatisk\ngenereret.\n",
            "Hilsen\nDette er et AUTOSVAR.\n",
            "Regards\nThis is an automated reply.\n",
            "Regards\nThis reply was sent\nautomatically.\n",
        ] {
            let c = with("signature.da.txt", ok);
            assert!(c.problems.is_empty(), "{ok:?}: {:#?}", c.problems);
        }
    }

    #[test]
    fn a_silent_signature_is_reported_beside_other_errors() {
        let mut files = shipped();
        files.insert("signature.en.txt".into(), "Kind regards\n".into());
        files.insert("other.da.txt".into(), "Hej {{ first_name\n".into());
        let c = check_set(&files, &desks());
        let got: Vec<_> = c
            .problems
            .iter()
            .map(|p| (p.file.as_str(), p.slip.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "other.da.txt",
                    Slip::Unclosed {
                        open: "{{".into(),
                        close: "}}".into()
                    }
                ),
                ("signature.en.txt", Slip::SignatureNotAutomatic),
            ]
        );
    }

    #[test]
    fn a_long_line_is_a_warning_measured_as_it_is_sent() {
        let base = shipped()["terms.en.txt"].clone();
        let long = "word ".repeat(16);
        let c = with("terms.en.txt", &format!("{base}\n{long}\n"));
        let p = only(&c);
        assert_eq!(p.severity(), Severity::Warning);
        assert_eq!(p.slip, Slip::LongLine { chars: 80 });
        assert_eq!(
            (p.line, p.column),
            (Some(base.lines().count() + 2), Some(79))
        );
        assert!(c.templates.is_some(), "a long line does not stop the set");
        plain(p);
        // Placeholders count as rendered, instructions not at all: 85 characters as written.
        let fits =
            "- Login: {{ desks.kuit.name }}, tlf. {{ desks.kuit.phone }}{% if desk %}!{% endif %}";
        assert!(fits.chars().count() > MAX_LINE);
        let c = with("terms.en.txt", &format!("{base}\n{fits}\n"));
        assert!(c.problems.is_empty(), "{:#?}", c.problems);
    }

    #[test]
    fn stray_files_in_the_folder_are_ignored_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in shipped() {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        std::fs::write(dir.path().join("README.md"), "# notes").unwrap();
        let strays = [
            "pricing.da - Kopi.txt",
            "pricing.da.txt~",
            ".pricing.da.txt.swp",
            "#foo#",
            "Thumbs.db",
            ".DS_Store",
            "Pricing.da.txt",
        ];
        for name in strays {
            // Broken on purpose: a stray file is never read.
            std::fs::write(dir.path().join(name), "{{ broken").unwrap();
        }
        std::fs::create_dir(dir.path().join("old")).unwrap();
        let c = check_dir(dir.path(), &desks()).unwrap();
        assert!(c.templates.is_some(), "{:#?}", c.problems);
        let mut got: Vec<&str> = c.problems.iter().map(|p| p.file.as_str()).collect();
        let mut want: Vec<&str> = strays.to_vec();
        want.push("old");
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want);
        for p in &c.problems {
            assert_eq!(p.severity(), Severity::Warning, "{p:?}");
            plain(p);
        }
        let case = c
            .problems
            .iter()
            .find(|p| p.file == "Pricing.da.txt")
            .unwrap();
        assert!(case
            .hint(Language::En)
            .unwrap()
            .starts_with("did you mean pricing.da.txt?"));
        let copy = c
            .problems
            .iter()
            .find(|p| p.file == "pricing.da - Kopi.txt")
            .unwrap();
        assert_eq!(
            copy.diagnostic(Path::new("responses")).to_string(),
            "responses/pricing.da - Kopi.txt: not a template; the file is not used; a copy or a \
             backup? autosvar reads only the file names in responses/README.md; move it out of \
             the folder when you no longer need it"
        );
        // In memory, the same names are the same warnings.
        let mut files = shipped();
        files.insert("pricing.da - Kopi.txt".into(), String::new());
        let c = check_set(&files, &desks());
        assert!(c.templates.is_some());
        assert_eq!(only(&c).file, "pricing.da - Kopi.txt");
    }

    #[test]
    fn a_file_not_saved_as_utf8_is_an_error_at_its_first_bad_character() {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in shipped() {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        // "Venlig hilsen\n\nPå gensyn" in Latin-1, as Notepad's "ANSI" saves it.
        std::fs::write(
            dir.path().join("signature.da.txt"),
            b"Venlig hilsen\n\nP\xe5 gensyn, sendt automatisk\n",
        )
        .unwrap();
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend("Hi\n".encode_utf16().flat_map(u16::to_le_bytes));
        std::fs::write(dir.path().join("signature.en.txt"), utf16).unwrap();
        let c = check_dir(dir.path(), &desks()).unwrap();
        let got: Vec<_> = c
            .problems
            .iter()
            .map(|p| (p.file.as_str(), p.line, p.column, p.slip.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "signature.da.txt",
                    Some(3),
                    Some(2),
                    Slip::NotUtf8 { utf16: false }
                ),
                (
                    "signature.en.txt",
                    Some(1),
                    Some(1),
                    Slip::NotUtf8 { utf16: true }
                ),
            ]
        );
        c.problems.iter().for_each(plain);
    }

    #[test]
    fn every_listed_placeholder_exists() {
        let all: String = PLACEHOLDERS
            .iter()
            .map(|p| format!("{{{{ {p} }}}}\n"))
            .collect();
        let c = with(FORWARD_COPY, &all);
        assert!(
            c.problems
                .iter()
                .all(|p| matches!(p.slip, Slip::LongLine { .. })),
            "{:#?}",
            c.problems
        );
        // And `Context` has no field the list forgets.
        let ctx = sample_context(
            Category::Technical,
            Language::Da,
            None,
            &desks(),
            false,
            true,
        );
        let value = serde_json::to_value(&ctx).unwrap();
        for key in value.as_object().unwrap().keys() {
            assert!(PLACEHOLDERS.contains(&key.as_str()), "{key}");
        }
        let _: &Context = &ctx;
    }

    #[test]
    fn the_catalogue_names_every_required_file_once_and_says_what_it_is() {
        let c = catalogue();
        assert_eq!(c.len(), 16);
        let names: std::collections::BTreeSet<_> = c.iter().map(|e| e.name.clone()).collect();
        assert_eq!(names.len(), 16);
        assert!(names.contains("signature.en.txt") && names.contains("forward-copy.txt"));
        for lang in Language::ALL {
            let said: std::collections::BTreeSet<_> = c.iter().map(|e| e.describe(lang)).collect();
            assert_eq!(said.len(), 16, "{lang}: {said:?}");
        }
        let pricing = c.iter().find(|e| e.name == "pricing.en.txt").unwrap();
        assert_eq!(
            pricing.purpose,
            Purpose::Reply {
                category: Category::Pricing,
                language: Language::En
            }
        );
        assert_eq!(
            pricing.describe(Language::Da),
            "svar, engelsk: pris og licenser"
        );
    }

    #[test]
    fn says_automatic_in_both_languages() {
        for yes in [
            "Dette svar er sendt automatisk.",
            "AUTOMATISKE svar",
            "This reply was sent automatically.",
            "an auto-reply",
        ] {
            assert!(says_automatic(yes), "{yes}");
        }
        for no in [
            "Venlig hilsen",
            "Kind regards, the e-learning team",
            "autonomt",
        ] {
            assert!(!says_automatic(no), "{no}");
        }
    }

    #[test]
    fn a_problem_prints_as_a_diagnostic_with_its_place_and_hint() {
        let c = with(
            "pricing.da.txt",
            "Hej { mailbox }\n{{ sensitive_notice }}{{ signature }}\n",
        );
        assert_eq!(
            only(&c).diagnostic(Path::new("responses")).to_string(),
            "responses/pricing.da.txt:1:5: `{ mailbox }` is not a placeholder: a placeholder \
             has two curly braces on each side; write {{ mailbox }}"
        );
    }

    #[test]
    fn windows_line_ends_change_nothing() {
        let files: BTreeMap<String, String> = shipped()
            .into_iter()
            .map(|(n, t)| (n, t.replace('\n', "\r\n")))
            .collect();
        let c = check_set(&files, &desks());
        assert!(c.problems.is_empty(), "{:#?}", c.problems);
        let c = with(
            "pricing.da.txt",
            "Hej {{ first_name\r\n{{ sensitive_notice }}\r\n{{ signature }}\r\n",
        );
        assert_eq!((only(&c).line, only(&c).column), (Some(1), Some(5)));
    }

    /// A draft full of openings never closed, or of notes, is checked in one linear pass:
    /// every unclosed `{{` is reported, an unclosed note once.
    #[test]
    fn many_unclosed_openings_are_each_reported_once() {
        let text = "{{ x\n".repeat(20_000);
        let c = with("other.da.txt", &text);
        assert_eq!(c.problems.len(), 20_000);
        assert!(c
            .problems
            .iter()
            .all(|p| matches!(p.slip, Slip::Unclosed { .. })));
        let text = "{# note\n".repeat(20_000);
        let c = with("other.da.txt", &text);
        assert_eq!(only(&c).line, Some(1));
    }

    #[test]
    fn places_agree_with_the_diagnostic_place() {
        let text = "a {{\nnavn = \"Ærø\" x\n\nz";
        let places = Places::new(text);
        for offset in 0..=text.len() + 2 {
            if text.is_char_boundary(offset.min(text.len())) {
                assert_eq!(places.of(offset), place(text, offset), "{offset}");
            }
        }
    }

    #[test]
    fn edits_counts_characters() {
        assert_eq!(edits("naem", "name"), 2);
        assert_eq!(edits("fornavn", "fornavn"), 0);
        assert_eq!(edits("", "abc"), 3);
        assert_eq!(edits("æøå", "aøå"), 1);
    }
}
