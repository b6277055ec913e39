//! What the pipeline swaps in between mails: a model retrained after a teach (see
//! [`super::manual`]), and what a reload (SIGHUP, [`crate::daemon`]) read and checked: the
//! configuration's live part, the rules, the model trained on the training folder.
//!
//! Whoever has a new part offers it through a [`Reloader`] and rings the pipeline's bell;
//! [`super::Pipeline::adopt_model`] takes what waits before the next mail (and before the
//! console's requests), so a mail in hand always finishes on the set it started with. A
//! newer training wins over an older one that finished later (each has a generation). The
//! console's copies of the config and the rules ([`Followers`]) are stored at the same time. It
//! never checks what it is given (the offerer validated it) and never reads a file.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tracing::info;

use super::{Bell, Pipeline};
use crate::classify::model::Model;
use crate::classify::{Classifier, Rules};
use crate::config::{Config, IntakeConfig};

/// What a reload read and checked, each part `None` when it is unchanged or was refused.
#[derive(Default)]
pub struct Reloaded {
    /// The configuration to run with (its restart-only keys already those running).
    pub config: Option<Arc<Config>>,
    pub rules: Option<Rules>,
    /// `Some(None)`: no training folder any more, the rules alone classify.
    pub model: Option<Option<Model>>,
}

impl Reloaded {
    /// Nothing to swap.
    pub fn is_empty(&self) -> bool {
        self.config.is_none() && self.rules.is_none() && self.model.is_none()
    }
}

/// What waits to be swapped in; a later offer replaces an earlier part of the same kind.
#[derive(Default)]
struct Waiting {
    config: Option<Arc<Config>>,
    rules: Option<Rules>,
    /// The model and the generation of the training that made it.
    model: Option<(u64, Option<Model>)>,
}

/// The pipeline's side: what waits, the trainings started, the generation adopted.
#[derive(Default)]
pub(super) struct Retrained {
    waiting: Arc<Mutex<Waiting>>,
    started: Arc<AtomicU64>,
    adopted: u64,
    /// The console's config and rules-only classifier, kept in step.
    followers: Option<Followers>,
}

/// What a reader beside the pipeline (the console's previews and review page) holds and the
/// pipeline stores into when it swaps in a reloaded config or rules.
#[derive(Clone)]
pub struct Followers {
    pub config: Arc<ArcSwap<Config>>,
    /// Rules only, no model.
    pub rules: Arc<ArcSwap<Classifier>>,
}

/// Offers new parts to a running [`Pipeline`]; cheap to clone, usable from any task.
#[derive(Clone)]
pub struct Reloader {
    waiting: Arc<Mutex<Waiting>>,
    started: Arc<AtomicU64>,
    bell: Bell,
}

impl Reloader {
    /// The generation of a training about to start (pass it to [`Reloader::offer`]).
    pub fn begin_training(&self) -> u64 {
        self.started.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Leaves `parts` for the pipeline to swap in before its next mail, and rings its bell.
    /// The model is kept only if `generation` is newer than the one waiting.
    pub fn offer(&self, generation: u64, parts: Reloaded) {
        if parts.is_empty() {
            // Still wake the daemon: a reload that changed only the templates is noted in
            // the ledger for `autosvar status` when it wakes.
            self.bell.notify_one();
            return;
        }
        if let Ok(mut w) = self.waiting.lock() {
            if parts.config.is_some() {
                w.config = parts.config;
            }
            if parts.rules.is_some() {
                w.rules = parts.rules;
            }
            if let Some(model) = parts.model {
                if w.model.as_ref().is_none_or(|(g, _)| *g < generation) {
                    w.model = Some((generation, model));
                }
            }
        }
        self.bell.notify_one();
    }
}

impl Pipeline {
    /// A handle to offer reloaded parts (and retrained models) to this pipeline.
    pub fn reloader(&self) -> Reloader {
        Reloader {
            waiting: self.retrained.waiting.clone(),
            started: self.retrained.started.clone(),
            bell: self.bell.clone(),
        }
    }

    /// From now on, a reloaded config or rules swapped in is also stored into `followers`.
    pub fn keep_in_step(&mut self, followers: Followers) {
        self.retrained.followers = Some(followers);
    }

    /// Swaps in what waits (a retrained model, a reloaded config or rules), if anything
    /// does; called between mails.
    pub fn adopt_model(&mut self) {
        let waiting = match self.retrained.waiting.lock() {
            Ok(mut w) => std::mem::take(&mut *w),
            Err(_) => return,
        };
        if let Some(config) = waiting.config {
            if let IntakeConfig::Imap(i) = &config.intake {
                self.max_attempts = i.max_attempts;
            }
            if let Some(f) = &self.retrained.followers {
                f.config.store(config.clone());
            }
            self.config = config;
            info!("reloaded configuration swapped in");
        }
        if let Some(rules) = waiting.rules {
            if let Some(f) = &self.retrained.followers {
                f.rules
                    .store(Arc::new(Classifier::new(rules.clone(), None)));
            }
            let model = self.classifier.take_model();
            self.classifier = Classifier::new(rules, model);
            info!("reloaded rules swapped in");
        }
        if let Some((generation, model)) = waiting.model {
            if generation > self.retrained.adopted {
                self.retrained.adopted = generation;
                match model {
                    Some(m) => {
                        let examples = m.categories.examples();
                        self.classifier.set_model(Some(m));
                        info!(examples, "retrained model swapped in");
                    }
                    None => {
                        self.classifier.set_model(None);
                        info!("the learned model is off: the rules alone classify");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reloader(r: &Retrained) -> Reloader {
        Reloader {
            waiting: r.waiting.clone(),
            started: r.started.clone(),
            bell: Arc::new(tokio::sync::Notify::new()),
        }
    }

    fn waiting_generation(r: &Retrained) -> Option<u64> {
        r.waiting.lock().unwrap().model.as_ref().map(|(g, _)| *g)
    }

    #[test]
    fn an_older_training_that_finishes_later_never_replaces_a_newer_one() {
        let r = Retrained::default();
        let offer = reloader(&r);
        let older = offer.begin_training();
        let newer = offer.begin_training();
        assert!(newer > older);
        let model = |m| Reloaded {
            model: Some(m),
            ..Reloaded::default()
        };
        offer.offer(newer, model(None));
        offer.offer(older, model(None));
        assert_eq!(waiting_generation(&r), Some(newer));
    }

    #[test]
    fn an_empty_offer_leaves_nothing_and_later_parts_replace_earlier_ones() {
        let r = Retrained::default();
        let offer = reloader(&r);
        offer.offer(offer.begin_training(), Reloaded::default());
        assert!(waiting_generation(&r).is_none());
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let rules = Rules::parse(&path, &text).unwrap();
        let mut second = rules.clone();
        second.min_score = 99.0;
        for r in [rules, second] {
            offer.offer(
                offer.begin_training(),
                Reloaded {
                    rules: Some(r),
                    ..Reloaded::default()
                },
            );
        }
        let w = r.waiting.lock().unwrap();
        assert_eq!(w.rules.as_ref().map(|r| r.min_score), Some(99.0));
        assert!(w.model.is_none() && w.config.is_none());
    }
}
