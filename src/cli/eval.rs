//! `autosvar eval DIR`: how well autosvar does on labelled mail (`DIR/labels.json`, the
//! format of the shared corpus). HR and IT run it before a rules change goes live; with
//! thresholds it exits 1 when one is not met. Offline: no ledger, nothing sent.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;

use crate::evaluate::{Label, Metrics, Prediction};
use crate::pipeline::assess;

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A folder with labels.json and the mail files it names.
    pub dir: PathBuf,
    /// Print the metrics as JSON.
    #[arg(long)]
    pub json: bool,
    /// Fail (exit 1) below this category accuracy (0-1).
    #[arg(long)]
    pub min_accuracy: Option<f64>,
    /// Fail below this macro-averaged F1 over the categories.
    #[arg(long)]
    pub min_macro_f1: Option<f64>,
    /// Fail below this desk accuracy on technical mail.
    #[arg(long)]
    pub min_desk: Option<f64>,
    /// Fail below this language accuracy.
    #[arg(long)]
    pub min_language: Option<f64>,
    /// Fail below this share of answerable mail answered.
    #[arg(long)]
    pub min_reply_rate: Option<f64>,
    /// Fail when more than this many machine mails would be answered.
    #[arg(long)]
    pub max_machine_replies: Option<usize>,
    /// Fail below this recall of sensitive mail.
    #[arg(long)]
    pub min_sensitive_recall: Option<f64>,
    /// Fail below this precision of sensitive mail.
    #[arg(long)]
    pub min_sensitive_precision: Option<f64>,
}

/// Classifies every labelled file.
///
/// # Errors
/// When labels.json or a file cannot be read.
pub fn predict(
    dir: &Path,
    setup: &(crate::config::Config, crate::classify::Classifier),
) -> anyhow::Result<Vec<(Label, Prediction)>> {
    let labels_path = dir.join("labels.json");
    let text = std::fs::read_to_string(&labels_path)
        .with_context(|| format!("cannot read {}", labels_path.display()))?;
    let labels: Vec<Label> = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a list of labels", labels_path.display()))?;
    anyhow::ensure!(
        !labels.is_empty(),
        "{} holds no labels",
        labels_path.display()
    );
    let (config, classifier) = setup;
    labels
        .into_iter()
        .map(|l| {
            let path = dir.join(&l.file);
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let a = assess(&bytes, config, classifier);
            let p = Prediction {
                category: a.classification.category,
                desk: a.classification.desk.clone(),
                language: a.mail.language.code().into(),
                reply: a.guard.is_none(),
                skip_reason: a.guard.map(|r| r.as_str().to_string()),
                sensitive: a.classification.sensitive,
                confidence: a.classification.confidence,
                secondary: a.classification.secondary,
            };
            Ok((l, p))
        })
        .collect()
}

pub fn run(config: &Path, args: EvalArgs) -> anyhow::Result<i32> {
    let setup = super::Setup::load_classifier(config)?;
    let pairs = predict(&args.dir, &setup)?;
    let m = Metrics::compute(&pairs);
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&m)?)?;
    } else {
        print_report(&mut out, &m)?;
    }
    let checks: [(&str, Option<f64>, f64, bool); 8] = [
        ("accuracy", args.min_accuracy, m.accuracy, true),
        ("macro-F1", args.min_macro_f1, m.macro_f1, true),
        ("desk accuracy", args.min_desk, m.desk_accuracy, true),
        (
            "language accuracy",
            args.min_language,
            m.language_accuracy,
            true,
        ),
        ("reply rate", args.min_reply_rate, m.reply_rate, true),
        (
            "machine replies",
            args.max_machine_replies.map(|v| v as f64),
            m.machine_replies as f64,
            false,
        ),
        (
            "sensitive recall",
            args.min_sensitive_recall,
            m.sensitive.recall,
            true,
        ),
        (
            "sensitive precision",
            args.min_sensitive_precision,
            m.sensitive.precision,
            true,
        ),
    ];
    let mut failed = false;
    for (name, limit, value, at_least) in checks {
        let Some(limit) = limit else { continue };
        let ok = if at_least {
            value >= limit
        } else {
            value <= limit
        };
        if !ok {
            failed = true;
            eprintln!(
                "autosvar: {name} {value:.3} is {} the threshold {limit}",
                if at_least { "below" } else { "above" }
            );
        }
    }
    Ok(if failed { 1 } else { 0 })
}

fn print_report(out: &mut impl Write, m: &Metrics) -> std::io::Result<()> {
    writeln!(out, "{} mails", m.mails)?;
    writeln!(out, "category accuracy   {:.3}", m.accuracy)?;
    writeln!(out, "macro-F1            {:.3}", m.macro_f1)?;
    writeln!(
        out,
        "desk accuracy       {:.3}  ({} technical; {} other mails would reach a desk)",
        m.desk_accuracy, m.technical, m.desk_false_routes
    )?;
    writeln!(out, "language accuracy   {:.3}", m.language_accuracy)?;
    writeln!(
        out,
        "reply/skip accuracy {:.3}  (answerable answered {:.3}; machine mails answered {})",
        m.action_accuracy, m.reply_rate, m.machine_replies
    )?;
    writeln!(
        out,
        "sensitive           precision {:.3}, recall {:.3} ({} sensitive)",
        m.sensitive.precision, m.sensitive.recall, m.sensitive.support
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{:<12} {:>9} {:>7} {:>6} {:>8}",
        "category", "precision", "recall", "F1", "support"
    )?;
    for (c, p) in &m.per_category {
        writeln!(
            out,
            "{c:<12} {:>9.3} {:>7.3} {:>6.3} {:>8}",
            p.precision, p.recall, p.f1, p.support
        )?;
    }
    writeln!(out)?;
    let names: Vec<&str> = crate::classify::Category::ALL
        .iter()
        .map(|c| c.name())
        .collect();
    write!(out, "{:<22}", "expected \\ predicted")?;
    for n in &names {
        write!(out, "{:>12}", n)?;
    }
    writeln!(out)?;
    for e in &names {
        write!(out, "{e:<22}")?;
        for p in &names {
            let v = m
                .confusion
                .get(*e)
                .and_then(|r| r.get(*p))
                .copied()
                .unwrap_or(0);
            write!(out, "{v:>12}")?;
        }
        writeln!(out)?;
    }
    if !m.misses.is_empty() {
        writeln!(out, "\nwrong:")?;
        for x in &m.misses {
            writeln!(
                out,
                "  {:<14} {:<10} expected {:<12} got {:<12} ({:.2})  {}",
                x.file, x.what, x.expected, x.got, x.confidence, x.note
            )?;
        }
    }
    Ok(())
}
