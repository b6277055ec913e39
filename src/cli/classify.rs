//! `autosvar classify`: how mail files would be classified and decided. Offline: it reads
//! the config and rules, never the ledger, and sends nothing.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use serde::Serialize;

use crate::pipeline::{assess, Assessment};

#[derive(Debug, Args)]
pub struct ClassifyArgs {
    /// One JSON object per file, one per line, in input order.
    #[arg(long, conflicts_with = "explain")]
    pub json: bool,
    /// Show why: the rules that scored, the text that was considered, the confidence.
    #[arg(long)]
    pub explain: bool,
    /// Mail files (.eml); a folder means every .eml file in it.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// The `--json` contract: exactly these fields.
#[derive(Debug, Serialize)]
struct JsonLine<'a> {
    file: String,
    category: &'a str,
    desk: Option<&'a str>,
    /// The language the mail is written in (`da`, `en`, `sv`, `nb`, `nn`, `de`, …); the
    /// reply's language follows from it by `[reply]`'s language keys.
    language: &'a str,
    action: &'a str,
    skip_reason: Option<&'a str>,
    sensitive: bool,
    confidence: f64,
}

fn expand(files: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for f in files {
        if f.is_dir() {
            let mut inner: Vec<PathBuf> = std::fs::read_dir(f)
                .with_context(|| format!("cannot read folder {}", f.display()))?
                .flatten()
                .map(|e| e.path())
                // .eml files, or Maildir files (no useful extension); not labels.json etc.
                .filter(|p| {
                    let name = p
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let ext = p.extension().map(|e| e.to_string_lossy().to_lowercase());
                    p.is_file()
                        && !name.starts_with('.')
                        && !matches!(
                            ext.as_deref(),
                            Some(
                                "json"
                                    | "md"
                                    | "txt"
                                    | "toml"
                                    | "expect"
                                    | "yml"
                                    | "yaml"
                                    | "csv"
                                    | "actual"
                            )
                        )
                })
                .collect();
            inner.sort();
            out.extend(inner);
        } else {
            out.push(f.clone());
        }
    }
    Ok(out)
}

pub fn run(config: &Path, args: ClassifyArgs) -> anyhow::Result<i32> {
    let (config, classifier) = super::Setup::load_classifier(config)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failed = false;
    for file in expand(&args.files)? {
        let bytes = match std::fs::read(&file) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("autosvar: cannot read {}: {e}", file.display());
                failed = true;
                continue;
            }
        };
        let a = assess(&bytes, &config, &classifier);
        let action = if a.guard.is_some() { "skip" } else { "reply" };
        if args.json {
            let line = JsonLine {
                file: file.display().to_string(),
                category: a.classification.category.name(),
                desk: a.classification.desk.as_deref(),
                language: a.mail.written_code(),
                action,
                skip_reason: a.guard.map(|r| r.as_str()),
                sensitive: a.classification.sensitive,
                confidence: a.classification.confidence,
            };
            writeln!(out, "{}", serde_json::to_string(&line)?)?;
        } else if args.explain {
            explain(&mut out, &file, &a)?;
        } else {
            writeln!(
                out,
                "{}\t{}\t{}\t{}\t{}{}\tconfidence={:.2}",
                file.display(),
                a.classification.category,
                a.classification.desk.as_deref().unwrap_or("-"),
                a.mail.written_code(),
                action,
                a.guard.map(|r| format!(" ({r})")).unwrap_or_default(),
                a.classification.confidence,
            )?;
        }
    }
    Ok(if failed { 2 } else { 0 })
}

fn explain(out: &mut impl Write, file: &Path, a: &Assessment) -> anyhow::Result<()> {
    writeln!(out, "{}", file.display())?;
    writeln!(out, "  subject:    {}", a.mail.subject)?;
    match a.mail.written {
        Some(w) if w.code() != a.mail.language.code() => writeln!(
            out,
            "  language:   {w}, answered in {} ([reply] {}-language); {}",
            a.mail.language,
            if w.is_nordic() { "nordic" } else { "other" },
            if w.is_nordic() {
                "the category rules and the model know Danish and English words only (the \
                 sensitive-data check reads this language too)"
            } else {
                "the category rules and the patient check read Danish, English, Swedish and \
                 Norwegian words only: this mail's category and patient details may be missed \
                 (identity numbers are found in any language, the writer's own illness also \
                 in German)"
            }
        )?,
        Some(w) => writeln!(out, "  language:   {w}")?,
        None => writeln!(
            out,
            "  language:   not told, answered in {} ([reply] default-language)",
            a.mail.language
        )?,
    }
    for line in crate::pipeline::explain_summary(a).lines() {
        writeln!(out, "  {line}")?;
    }
    writeln!(
        out,
        "  new text considered (quotes, signatures removed; CPR numbers hidden):"
    )?;
    for line in crate::classify::sensitive::redact(&a.mail.new_text).lines() {
        writeln!(out, "    | {line}")?;
    }
    writeln!(out)?;
    Ok(())
}
