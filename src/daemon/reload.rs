//! SIGHUP: read `config.toml`, the rules, the training examples and the templates again,
//! check each as the start does, and put to work what passes.
//!
//! Each part is checked on its own and a broken one is refused with its problems logged
//! (file and line), the running one kept, while the others still go ahead:
//!
//! - the config ([`Config::load`]): its live keys are taken and a changed restart-only key
//!   is logged as needing a restart and ignored ([`take_live`] says which are which);
//! - the rules (read and compiled as `cli::load_rules` does) from the rules file the config
//!   in effect names (the new one if it was taken, the running one if refused);
//! - the training examples, from that config's training folder and in its default
//!   language, trained off the async runtime (`spawn_blocking`); an unchanged folder (same
//!   files, sizes and times, same language) is not trained again;
//! - the templates ([`super::reload_templates`], as for a saved file), checked against that
//!   config's desks (the desk keys are fixed, so a desk's new name or phone never makes a set
//!   invalid), put to work at once, as a saved file is.
//!
//! The config, rules and model are handed to the pipeline together ([`Reloader::offer`])
//! and swapped in before the next mail: a mail in hand finishes on the old set. The log says
//! what changed ("config: reply.period 1d -> 2d", "rules reloaded: 3 lists changed (...)").
//! It never logs a secret or a restart-only key's value, and never reads a mail.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::classify::model::Model;
use crate::classify::text::Stemmers;
use crate::classify::Rules;
use crate::config::live::take_live;
use crate::config::Config;
use crate::metrics::{Metrics, Part};
use crate::pipeline::{Pipeline, Reloaded, Reloader};
use crate::render::Templates;
use crate::types::Language;

/// What the daemon runs with, as far as a reload needs to tell what changed.
#[derive(Clone)]
struct Running {
    config: Arc<Config>,
    /// The rules file's text (`None`: unread).
    rules: Option<String>,
    /// [`fingerprint`] of the training folder the model was trained on.
    training: Option<u64>,
}

impl Running {
    /// Reads what the daemon started with (the rules' text, the training folder's
    /// fingerprint). A file changed between the start's read and this one (the moments
    /// while the ledger opens) is seen as unchanged until it changes again.
    fn at_start(config: Arc<Config>) -> Running {
        Running {
            rules: std::fs::read_to_string(&config.rules).ok(),
            training: config
                .training
                .as_deref()
                .map(|d| fingerprint(d, config.default_language)),
            config,
        }
    }
}

/// Reloads on every SIGHUP until `stop`, one reload at a time (a SIGHUP during a reload
/// starts another after it). Returns once what runs is read (before the daemon says it
/// watches), so a change made after that is a change.
///
/// # Errors
/// When the signal handler cannot be installed.
#[cfg(unix)]
pub(super) async fn on_sighup(pipeline: &Pipeline, stop: CancellationToken) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup())?;
    let reloader = pipeline.reloader();
    let templates = pipeline.templates();
    let metrics = pipeline.metrics();
    let config = pipeline.config().clone();
    let mut running = tokio::task::spawn_blocking(move || Running::at_start(config)).await?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                got = hup.recv() => if got.is_none() { break },
            }
            info!(
                "SIGHUP: reloading config.toml, the rules, the training examples and the templates"
            );
            let was = running.clone();
            let live = templates.clone();
            let r = reloader.clone();
            let m = metrics.clone();
            match tokio::task::spawn_blocking(move || reload(&was, &live, &r, &m)).await {
                Ok(now) => running = now,
                Err(e) => {
                    error!(error = %e, "SIGHUP: the reload stopped; everything running stays")
                }
            }
        }
    });
    Ok(())
}

/// One reload: checks every part, puts the templates to work, offers the rest to the
/// pipeline; returns what runs now (once the pipeline has swapped).
fn reload(
    was: &Running,
    templates: &ArcSwap<Templates>,
    reloader: &Reloader,
    metrics: &Metrics,
) -> Running {
    let mut now = was.clone();
    let mut parts = Reloaded::default();
    let generation = reloader.begin_training();

    match Config::load(&was.config.path) {
        Ok(read) => {
            let (next, changes) = take_live(&was.config, &read);
            if changes.is_empty() {
                info!("config: unchanged");
            }
            for c in &changes {
                if c.live {
                    info!("config: {c}");
                } else {
                    warn!("config: {c}");
                }
            }
            if changes.iter().any(|c| c.live) {
                let next = Arc::new(next);
                now.config = next.clone();
                parts.config = Some(next);
            }
        }
        Err(e) => {
            for p in e.problems() {
                error!(problem = %p, "config.toml refused; the running config stays");
            }
            metrics.reload_refused(Part::Config);
        }
    }

    let config = now.config.clone();
    match read_rules(&config.rules, was.rules.as_deref()) {
        RulesRead::Unchanged => info!("rules: unchanged"),
        RulesRead::Refused => metrics.reload_refused(Part::Rules),
        RulesRead::Changed(rules, text, lists) => {
            match lists {
                Some(l) if !l.is_empty() => info!(
                    "rules reloaded: {} lists changed ({})",
                    l.len(),
                    l.join(", ")
                ),
                _ => info!("rules reloaded"),
            }
            now.rules = Some(text);
            parts.rules = Some(*rules);
        }
    }

    let training = config
        .training
        .as_deref()
        .map(|d| fingerprint(d, config.default_language));
    match (&config.training, training == was.training) {
        (_, true) => info!("training examples: unchanged"),
        (None, false) => {
            info!("training examples: none configured; the rules alone classify");
            parts.model = Some(None);
            now.training = None;
        }
        (Some(dir), false) => {
            match Model::load(dir, &Stemmers::default(), config.default_language) {
                Ok(model) => {
                    info!(
                        examples = model.categories.examples(),
                        "training examples reloaded: model retrained"
                    );
                    parts.model = Some(Some(model));
                    now.training = training;
                }
                Err(e) => {
                    error!(
                        problem = %format!("{e:#}"),
                        "training examples refused; the running model stays"
                    );
                    metrics.reload_refused(Part::Training);
                }
            }
        }
    }

    if super::reload_templates(&config.responses, &config.desks, templates, metrics) {
        info!("SIGHUP: templates reloaded");
    } else {
        warn!("SIGHUP: the templates were refused; the previous ones stay in use");
    }
    let swapping = !parts.is_empty();
    reloader.offer(generation, parts);
    if swapping {
        info!("SIGHUP: reload checked; swapped in before the next mail");
    } else {
        info!("SIGHUP: reload checked; nothing else to swap");
    }
    now
}

/// The rules file read again.
enum RulesRead {
    Unchanged,
    /// Unreadable or invalid: its problems are logged.
    Refused,
    /// Compiled, with the text and the lists that differ (`None`: nothing to compare with).
    Changed(Box<Rules>, String, Option<Vec<String>>),
}

/// Reads and compiles the rules (as `cli::load_rules` does, its notes logged) unless the
/// text is `was`.
fn read_rules(path: &Path, was: Option<&str>) -> RulesRead {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            error!(file = %path.display(), error = %e, "rules refused: cannot read the file; the running rules stay");
            return RulesRead::Refused;
        }
    };
    if was == Some(text.as_str()) {
        return RulesRead::Unchanged;
    }
    match Rules::parse(path, &text) {
        Ok(rules) => {
            for note in &rules.notes {
                info!(%note, "rules file");
            }
            let lists = was.map(|w| changed_lists(w, &text));
            RulesRead::Changed(Box::new(rules), text, lists)
        }
        Err(e) => {
            for p in e.problems() {
                error!(problem = %p, "rules refused; the running rules stay");
            }
            RulesRead::Refused
        }
    }
}

/// The lists (second-level tables and keys: `categories.pricing`, `settings.min-score`)
/// whose content differs between two rules files, in the file's order of sections.
fn changed_lists(old: &str, new: &str) -> Vec<String> {
    let (Ok(old), Ok(new)) = (old.parse::<toml::Table>(), new.parse::<toml::Table>()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let names: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for name in names {
        match (old.get(name), new.get(name)) {
            (Some(toml::Value::Table(o)), Some(toml::Value::Table(n))) => {
                let keys: std::collections::BTreeSet<&String> = o.keys().chain(n.keys()).collect();
                out.extend(
                    keys.into_iter()
                        .filter(|k| o.get(*k) != n.get(*k))
                        .map(|k| format!("{name}.{k}")),
                );
            }
            (o, n) if o != n => out.push(name.clone()),
            _ => {}
        }
    }
    out
}

/// What the model is trained from: every file's path, size and time under `dir`, and the
/// language. Equal fingerprints: training again would give the same model.
fn fingerprint(dir: &Path, language: Language) -> u64 {
    fn walk(dir: &Path, h: &mut DefaultHasher, depth: usize) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            "unreadable".hash(h);
            return;
        };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for e in entries {
            let Ok(meta) = e.metadata() else { continue };
            e.file_name().hash(h);
            if meta.is_dir() {
                if depth < 8 {
                    walk(&e.path(), h, depth + 1);
                }
            } else {
                meta.len().hash(h);
                meta.modified().ok().hash(h);
            }
        }
    }
    let mut h = DefaultHasher::new();
    language.code().hash(&mut h);
    walk(dir, &mut h, 0);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_lists_names_each_table_and_setting_that_differs() {
        let old = "[settings]\nmin-score = 1.0\nmin-confidence = 0.5\n\
                   [categories.pricing]\npatterns = [\"pris\"]\n\
                   [categories.terms]\npatterns = [\"vilkår\"]\n[sensitive]\nwords = []\n";
        let new = old
            .replace("min-score = 1.0", "min-score = 2.0")
            .replace("[\"pris\"]", "[\"pris\", \"blomkål\"]")
            .replace("[sensitive]\nwords = []\n", "");
        assert_eq!(
            changed_lists(old, &new),
            ["categories.pricing", "sensitive", "settings.min-score"]
        );
        assert!(changed_lists(old, old).is_empty());
    }

    #[test]
    fn the_fingerprint_changes_with_a_new_example_or_the_language_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("pricing")).unwrap();
        std::fs::write(
            dir.path().join("pricing/a.eml"),
            "Subject: a\r\n\r\npris\r\n",
        )
        .unwrap();
        let first = fingerprint(dir.path(), Language::Da);
        assert_eq!(first, fingerprint(dir.path(), Language::Da));
        assert_ne!(first, fingerprint(dir.path(), Language::En));
        std::fs::write(
            dir.path().join("pricing/b.eml"),
            "Subject: b\r\n\r\npris\r\n",
        )
        .unwrap();
        assert_ne!(first, fingerprint(dir.path(), Language::Da));
    }
}
