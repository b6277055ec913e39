//! What the pipeline swaps in between mails: a model retrained after a teach (see
//! [`super::manual`]), and what a reload (SIGHUP, [`crate::daemon`]) read and checked: the
//! configuration's live part, the rules, the model trained on the training folder.
//!
//! Whoever has a new part offers it through a [`Reloader`] and rings the pipeline's bell;
//! [`super::Pipeline::adopt_model`] takes what waits before the next mail (and before the
//! console's requests), so a mail in hand always finishes on the set it started with. A
//! newer training wins over an older one that finished later (each has a generation). It
//! never checks what it is given (the offerer validated it) and never reads a file.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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
            self.config = config;
            info!("reloaded configuration swapped in");
        }
        if let Some(rules) = waiting.rules {
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
