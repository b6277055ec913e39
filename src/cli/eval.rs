//! `autosvar eval DIR`: how well autosvar does on labelled mail (`DIR/labels.json`, the
//! format of the shared corpus). HR and IT run it before a rules change goes live; with
//! thresholds it exits 1 when one is not met. `--folds K` cross-validates the training
//! folder instead, the way the rules' weights are chosen. Offline: no ledger, nothing sent.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;

use crate::classify::model::{Example, Model};
use crate::eval::{Label, Metrics, Prediction};
use crate::pipeline::{assess, Assessment};

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A folder with labels.json and the mail files it names.
    #[arg(required_unless_present = "folds")]
    pub dir: Option<PathBuf>,
    /// Instead of a folder: cross-validate the configured training folder in K folds (each
    /// fold classified by a model trained on the others). Measures category and desk only.
    #[arg(long, value_name = "K", conflicts_with = "dir")]
    pub folds: Option<usize>,
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
    /// Fail when less than this share of the labelled-specific mail from people gets a
    /// specific template at the rules' review-below.
    #[arg(long)]
    pub min_coverage: Option<f64>,
    /// Fail when more than this share of the specific templates sent at the rules'
    /// review-below is the wrong one.
    #[arg(long)]
    pub max_risk: Option<f64>,
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
            Ok((l, prediction(a)))
        })
        .collect()
}

fn prediction(a: Assessment) -> Prediction {
    Prediction {
        category: a.classification.category,
        desk: a.classification.desk.map(String::from),
        language: a.mail.written_code().into(),
        reply: a.guard.is_none(),
        skip_reason: a.guard.map(|r| r.as_str().to_string()),
        sensitive: a.classification.sensitive,
        confidence: a.classification.confidence,
        raw_confidence: a.classification.raw_confidence,
        secondary: a.classification.secondary,
    }
}

/// K-fold cross-validation of the configured training folder: example i is in fold i mod k
/// (file-name order, so the same folder always gives the same folds) and is classified by
/// the rules and a model trained on the other folds. The folder labels only category and
/// desk, so language and sensitivity are taken as predicted and every mail as answerable.
///
/// # Errors
/// When the config, the rules or the training folder cannot be used, or k is out of range.
pub fn cross_validate(config: &Path, k: usize) -> anyhow::Result<(Vec<(Label, Prediction)>, f64)> {
    let config = crate::config::Config::load(config)?;
    let rules = super::load_rules(&config)?;
    let dir = config.training.clone().context(
        "--folds cross-validates the training folder, and the config names none: set \
         [classify] training",
    )?;
    let stemmers = crate::classify::text::Stemmers::default();
    let examples = Model::read_examples(&dir, &stemmers, config.default_language)
        .with_context(|| format!("training examples in {} are not usable", dir.display()))?;
    anyhow::ensure!(
        (2..=examples.len()).contains(&k),
        "--folds {k}: use between 2 and the number of examples ({})",
        examples.len()
    );
    let mut out = Vec::with_capacity(examples.len());
    for fold in 0..k {
        let rest: Vec<Example> = (0..examples.len())
            .filter(|i| i % k != fold)
            .map(|i| examples[i].clone())
            .collect();
        let model = Model::train(&dir, &rest)
            .with_context(|| format!("fold {} of {k} leaves a category empty", fold + 1))?;
        let classifier = crate::classify::Classifier::new(rules.clone(), Some(model));
        for e in examples.iter().skip(fold).step_by(k) {
            let bytes = std::fs::read(&e.path)
                .with_context(|| format!("cannot read {}", e.path.display()))?;
            let p = prediction(assess(&bytes, &config, &classifier));
            let file = e.path.strip_prefix(&dir).unwrap_or(&e.path);
            let label = Label {
                file: file.display().to_string(),
                category: e.category.clone(),
                desk: e.desk.clone().unwrap_or_else(|| "none".into()),
                language: p.language.clone(),
                expect_reply: true,
                skip: None,
                sensitive: p.sensitive,
                secondary: None,
                note: None,
            };
            out.push((label, p));
        }
    }
    Ok((out, rules.review_below))
}

pub fn run(config: &Path, args: EvalArgs) -> anyhow::Result<i32> {
    let (pairs, review_below) = match (&args.dir, args.folds) {
        (_, Some(k)) => cross_validate(config, k)?,
        (Some(dir), None) => {
            let setup = super::Setup::load_classifier(config)?;
            (predict(dir, &setup)?, setup.1.rules().review_below)
        }
        (None, None) => anyhow::bail!("name a folder with labels.json, or --folds K"),
    };
    let m = Metrics::compute(&pairs, review_below);
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&m)?)?;
    } else {
        if let Some(k) = args.folds {
            writeln!(
                out,
                "cross-validated in {k} folds over the training folder \
                 (category and desk are labelled there; language and sensitivity are not)"
            )?;
        }
        print_report(&mut out, &m)?;
        if args.folds.is_some() {
            print_fit(&mut out, &m)?;
        }
    }
    Ok(if below_thresholds(&args, &m) { 1 } else { 0 })
}

/// Whether any `--min-*` / `--max-*` threshold given is missed; each miss is said on
/// stderr.
fn below_thresholds(args: &EvalArgs, m: &Metrics) -> bool {
    let configured = m.answering.iter().find(|o| o.configured);
    let coverage = configured.map_or(0.0, |o| o.coverage);
    let risk = configured.map_or(1.0, |o| o.risk);
    let checks: [(&str, Option<f64>, f64, bool); 10] = [
        ("coverage", args.min_coverage, coverage, true),
        ("risk", args.max_risk, risk, false),
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
    failed
}

/// The report: the summary, each category's scores, the confusion matrix, the misses.
fn print_report(out: &mut impl Write, m: &Metrics) -> std::io::Result<()> {
    print_summary(out, m)?;
    writeln!(out)?;
    print_categories(out, m)?;
    writeln!(out)?;
    print_confusion(out, m)?;
    writeln!(out)?;
    print_calibration(out, m)?;
    writeln!(out)?;
    print_answering(out, m)?;
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

fn print_summary(out: &mut impl Write, m: &Metrics) -> std::io::Result<()> {
    writeln!(out, "{} mails", m.mails)?;
    writeln!(out, "category accuracy   {:.3}", m.accuracy)?;
    writeln!(
        out,
        "  on mail from people {:.3}  ({} mails)",
        m.human_accuracy, m.humans
    )?;
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
    )
}

fn print_categories(out: &mut impl Write, m: &Metrics) -> std::io::Result<()> {
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
    Ok(())
}

/// Confidence against how often it was right, on the mail from people.
fn print_calibration(out: &mut impl Write, m: &Metrics) -> std::io::Result<()> {
    writeln!(
        out,
        "calibration on the {} mails from people: of the mails at a confidence, how many \
         were right",
        m.humans
    )?;
    writeln!(
        out,
        "{:<12} {:>6} {:>6} {:>16} {:>8}",
        "confidence", "mails", "right", "mean confidence", "share"
    )?;
    for b in m.calibration.iter().filter(|b| b.mails > 0) {
        writeln!(
            out,
            "{:<12} {:>6} {:>6} {:>16.2} {:>8.2}",
            format!("{:.1}-{:.1}", b.from, b.to),
            b.mails,
            b.right,
            b.mean_confidence,
            b.right as f64 / b.mails as f64
        )?;
    }
    Ok(())
}

/// The calibration these folds suggest, for the rules file.
fn print_fit(out: &mut impl Write, m: &Metrics) -> std::io::Result<()> {
    let show = |p: Option<crate::classify::rules::Platt>| {
        p.map_or("(too few mails to fit)".to_string(), |p| {
            format!("[{:.3}, {:.3}]", p.a, p.b)
        })
    };
    writeln!(
        out,
        "\ncalibration fitted on these folds (rules.toml [settings]; the table above used the \
         file's):\ncalibration = {}\ncalibration-other = {}",
        show(m.fitted.specific),
        show(m.fitted.other)
    )
}

/// Coverage and risk of the careful answer at each threshold.
fn print_answering(out: &mut impl Write, m: &Metrics) -> std::io::Result<()> {
    writeln!(
        out,
        "specific answers on the mail from people (below the threshold: the acknowledgement \
         and a person)"
    )?;
    writeln!(
        out,
        "{:<14} {:>9} {:>9} {:>7} {:>9} {:>7}",
        "review-below", "answered", "coverage", "wrong", "risk", ""
    )?;
    for o in &m.answering {
        writeln!(
            out,
            "{:<14} {:>9} {:>9.3} {:>7} {:>9.3} {:>7}",
            format!("{:.2}", o.threshold),
            o.answered,
            o.coverage,
            o.wrong,
            o.risk,
            if o.configured { "(rules)" } else { "" }
        )?;
    }
    Ok(())
}

/// Expected categories down, predicted across.
fn print_confusion(out: &mut impl Write, m: &Metrics) -> std::io::Result<()> {
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
    Ok(())
}
