//! What a person asked for in the console, carried out by the pipeline on the mail's bytes
//! (the daemon reads them again by the mail's [`Source`]):
//!
//! - answer: the chosen category's template as the reply (and, for `technical`, the desk
//!   forward), composed as the pipeline composes its own, written with the request's
//!   `done` in one transaction ([`Ledger::record_requested_reply`], which refuses a mail
//!   that has or may have a reply) and sent through the same delivery and crash recovery
//!   as every reply: exactly once;
//! - forward: a doubtful mail's held desk forward (the pipeline sent the sender only the
//!   acknowledgement), composed as the pipeline composes its forwards, to the desk the
//!   person chose, written with the request's `done` in one transaction
//!   ([`Ledger::record_requested_forward`], which refuses a mail that holds no forward or
//!   whose forward was written already) and sent through the same delivery: exactly once;
//! - teach: the mail's new text (quoted history already left out by the parser), without
//!   CPR numbers, patient names or health details, saved as a training example
//!   (`training/<category>/` or `training/technical/<desk>/`, named by a digest of what is
//!   saved, so teaching twice writes one file), then the model retrained in the background
//!   and swapped in between mails ([`super::Pipeline::adopt_model`], `swap.rs`).
//!
//! It never answers machine mail (the guard still decides), never writes the sender's
//! From header or a CPR number to the training folder (an address written in the mail's
//! own text is kept as written), and never logs a mail's text.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use tracing::{error, info, info_span, warn};

use super::{
    contained, kept_subject, new_record, Assessment, Outcome, Pipeline, PipelineError, Prepared,
};
use crate::classify::model::Model;
use crate::classify::sensitive::redact_details;
use crate::classify::Category;
use crate::decide::guard;
use crate::intake::RawMail;
use crate::ledger::{self, Request, RequestAction, RequestState};
use crate::parse;
use crate::types::{Action, DeskKey};

/// The console's way to wake the daemon: ring it after writing a request.
pub type Bell = Arc<tokio::sync::Notify>;

/// The longest new text kept in a training example, in characters.
const MAX_EXAMPLE_CHARS: usize = 20_000;

/// The neutral sender of every taught example: the ledger and the training folder never
/// keep who wrote a mail.
const EXAMPLE_FROM: &str = "From: Eksempel <eksempel@example.invalid>";

/// How a request ended, for the daemon's report.
#[derive(Debug, Clone, PartialEq)]
pub enum Done {
    /// An answer: written and sent (or waiting in the ledger for a retry).
    Answered(Outcome),
    /// A held forward: written and sent (or waiting in the ledger for a retry).
    Forwarded(Outcome),
    /// A teach: the example saved (its path); retraining runs in the background.
    Taught(PathBuf),
    /// Not carried out: why (also the request's note).
    Refused(String),
}

impl Pipeline {
    /// The bell the console rings after writing a request (and a finished retraining
    /// rings): the daemon's wait for mail ends at once.
    pub fn bell(&self) -> Bell {
        self.bell.clone()
    }

    /// The requests waiting for the daemon, oldest first.
    ///
    /// # Errors
    /// Only ledger errors.
    pub fn pending_requests(&self) -> Result<Vec<Request>, PipelineError> {
        Ok(self.ledger.pending_requests()?)
    }

    /// Where the mail of a request came from (`None`: the ledger no longer has it).
    ///
    /// # Errors
    /// Only ledger errors.
    pub fn source_of_request(
        &self,
        req: &Request,
    ) -> Result<Option<crate::types::Source>, PipelineError> {
        Ok(self.ledger.source_of(&req.mail_key)?)
    }

    /// Refuses a request the daemon cannot or may not carry out (its mail cannot be read
    /// again, the guard refuses it, no desk fits, the ledger says it was answered),
    /// with why, in the ledger and the audit log.
    ///
    /// # Errors
    /// Only ledger errors.
    pub fn refuse_request(
        &mut self,
        req: &Request,
        why: &str,
        now: SystemTime,
    ) -> Result<Done, PipelineError> {
        warn!(request = req.id, mail = %crate::log::id(&req.mail_key), action = req.action.name(), reason = why, "console request refused");
        self.ledger
            .finish_request(req.id, RequestState::Refused, why, now)?;
        self.ledger.audit(
            now,
            &req.user,
            &format!("{} refused", req.action.name()),
            &format!("mail {}: {why}", req.mail_key),
        )?;
        Ok(Done::Refused(why.to_string()))
    }

    /// Carries out one request on its mail's bytes `raw`.
    ///
    /// # Errors
    /// Only ledger errors and delivery errors no retry mends (as [`Pipeline::deliver`]).
    pub async fn carry_out(
        &mut self,
        req: &Request,
        raw: &RawMail,
        now: SystemTime,
    ) -> Result<Done, PipelineError> {
        self.adopt_model();
        if self.dry_run {
            return self.refuse_request(req, "a dry run sends and saves nothing", now);
        }
        let language = self.config.replies();
        let Some(mail) = contained(|| parse::parse(&raw.bytes, language)) else {
            return self.refuse_request(req, "the mail cannot be read", now);
        };
        match req.action {
            RequestAction::Answer => self.answer_as(req, raw, mail, now).await,
            RequestAction::Teach => self.teach(req, &mail, now),
            RequestAction::Forward => self.send_held_forward(req, raw, mail, now).await,
        }
    }

    /// "send the held forward to DESK".
    async fn send_held_forward(
        &mut self,
        req: &Request,
        raw: &RawMail,
        mail: parse::Mail,
        now: SystemTime,
    ) -> Result<Done, PipelineError> {
        let Some(desk) = req
            .desk
            .clone()
            .filter(|d| self.config.desks.contains_key(d))
        else {
            return self.refuse_request(req, "no such desk", now);
        };
        let Some(mut classification) = contained(|| self.classifier.classify(&mail)) else {
            return self.refuse_request(req, "internal error while classifying the mail", now);
        };
        classification.category = Category::Technical;
        classification.desk = Some(desk.clone());
        classification.secondary = None;
        classification.doubtful = false;
        let forward = {
            let templates = self.templates.load();
            let Some(d) = self.config.desks.get(&desk) else {
                return self.refuse_request(req, "no such desk", now);
            };
            contained(|| {
                crate::render::compose::forward(
                    &mail,
                    &raw.bytes,
                    raw.truncated,
                    &classification,
                    d,
                    &self.config,
                    &templates,
                    &self.classifier,
                    now,
                )
            })
            .unwrap_or(Err(crate::render::compose::ComposeError::Internal))
        };
        let forward = match forward {
            Ok(f) => f,
            Err(e) => {
                return self.refuse_request(req, &format!("cannot compose the forward: {e}"), now)
            }
        };
        let pending = ledger::Pending {
            message: forward,
            mail_key: req.mail_key.clone(),
            attempts: 0,
            started: None,
        };
        let addresses: Vec<&str> = [&mail.from, &mail.reply_to]
            .into_iter()
            .flatten()
            .map(|a| a.email.as_str())
            .collect();
        if let Err(why) = self
            .ledger
            .record_requested_forward(req.id, &pending, &desk, &addresses, now)?
        {
            return self.refuse_request(req, &why.to_string(), now);
        }
        self.ledger.audit(
            now,
            &req.user,
            "forward written",
            &format!("mail {}: forward to {desk}", req.mail_key),
        )?;
        let key = crate::parse::MailKey::from_stored(req.mail_key.clone());
        let span = info_span!(
            "mail",
            source = %raw.source,
            message_id = %crate::log::id(key.message_id_part().unwrap_or(key.as_str())),
            category = %Category::Technical,
            outcome = tracing::field::Empty,
            request = req.id,
            by = %req.user
        );
        span.in_scope(
            || info!(desk = %desk, "sending the held desk forward, as asked in the console"),
        );
        let prepared = Prepared {
            span,
            key: req.mail_key.clone(),
            outcome: Outcome::Forwarded {
                guess: Category::Technical,
                desk,
            },
            outgoing: vec![pending],
            arrived: None,
        };
        let mut out = self.deliver(vec![prepared], now).await?;
        Ok(Done::Forwarded(out.pop().unwrap_or(Outcome::AlreadyDone)))
    }

    /// "answer with CATEGORY".
    async fn answer_as(
        &mut self,
        req: &Request,
        raw: &RawMail,
        mail: parse::Mail,
        now: SystemTime,
    ) -> Result<Done, PipelineError> {
        if let Some(reason) = guard(&mail, &self.config.own_addresses) {
            return self.refuse_request(
                req,
                &format!("autosvar never answers such mail ({reason})"),
                now,
            );
        }
        if mail.reply_address().is_none() {
            return self.refuse_request(req, "the mail has no address to answer", now);
        }
        let Some(mut classification) = contained(|| self.classifier.classify(&mail)) else {
            return self.refuse_request(req, "internal error while classifying the mail", now);
        };
        let desk = match req.category {
            Category::Technical => {
                let chosen = req
                    .desk
                    .clone()
                    .or_else(|| classification.desk.clone())
                    .or_else(|| self.config.desks.keys().next().cloned());
                match chosen.filter(|d| self.config.desks.contains_key(d)) {
                    Some(d) => Some(d),
                    None => return self.refuse_request(req, "no such desk", now),
                }
            }
            _ => None,
        };
        classification.category = req.category;
        classification.desk.clone_from(&desk);
        classification.secondary = None;
        let a = Assessment {
            mail,
            classification,
            guard: None,
        };
        let messages = match self.compose(raw, &a, desk.as_ref(), now) {
            Ok(m) => m,
            Err(e) => {
                return self.refuse_request(req, &format!("cannot compose the reply: {e}"), now)
            }
        };
        let sender = a
            .mail
            .reply_address()
            .map(|s| ledger::sender_hash(&s.email));
        let mut record = new_record(raw, &a, Action::Reply, sender, &self.classifier);
        // The ledger's key for this mail (a mail set aside unread is known by its bytes).
        record.key.clone_from(&req.mail_key);
        record.desk.clone_from(&desk);
        record.explain = record
            .explain
            .map(|e| format!("{e}answered by hand: {} chose {}\n", req.user, req.category));
        let (reply, forward) = messages;
        let (reply_id, outgoing) = super::to_send(&mut record, reply, forward);
        if let Err(why) = self
            .ledger
            .record_requested_reply(req.id, &record, &outgoing, now)?
        {
            return self.refuse_request(req, &why.to_string(), now);
        }
        let detail = match &desk {
            Some(d) => format!("mail {}: {} (forward to {d})", req.mail_key, req.category),
            None => format!("mail {}: {}", req.mail_key, req.category),
        };
        self.ledger
            .audit(now, &req.user, "answer written", &detail)?;
        let key = crate::parse::MailKey::from_stored(req.mail_key.clone());
        let span = info_span!(
            "mail",
            source = %raw.source,
            message_id = %crate::log::id(key.message_id_part().unwrap_or(key.as_str())),
            category = %req.category,
            outcome = tracing::field::Empty,
            request = req.id,
            by = %req.user
        );
        span.in_scope(
            || info!(category = %req.category, "answering by hand, as asked in the console"),
        );
        let prepared = Prepared {
            span,
            key: req.mail_key.clone(),
            outcome: Outcome::Replied {
                category: req.category,
                desk,
                reply_id,
            },
            outgoing,
            // Answered by hand: how long it waited for a person is no reply latency.
            arrived: None,
        };
        let mut out = self.deliver(vec![prepared], now).await?;
        Ok(Done::Answered(out.pop().unwrap_or(Outcome::AlreadyDone)))
    }

    /// "teach: this is CATEGORY".
    fn teach(
        &mut self,
        req: &Request,
        mail: &parse::Mail,
        now: SystemTime,
    ) -> Result<Done, PipelineError> {
        let Some(root) = self.config.training.clone() else {
            return self.refuse_request(req, "no training folder is configured", now);
        };
        let desk = match req.category {
            Category::Technical => req
                .desk
                .clone()
                .or_else(|| contained(|| self.classifier.classify(mail)).and_then(|c| c.desk))
                .filter(|d| self.config.desks.contains_key(d)),
            _ => None,
        };
        let Some(example) = contained(|| example(mail, &self.classifier)) else {
            return self.refuse_request(req, "internal error while cleaning the mail's text", now);
        };
        let saved = match save_example(&root, req.category, desk.as_ref(), &example) {
            Ok(p) => p,
            Err(e) => {
                error!(error = %e, folder = %root.display(), "cannot save a training example");
                return self.refuse_request(req, &format!("cannot save the example: {e}"), now);
            }
        };
        let shown = saved
            .strip_prefix(root.parent().unwrap_or(Path::new("")))
            .unwrap_or(&saved)
            .display()
            .to_string();
        info!(request = req.id, file = %shown, category = %req.category, "training example saved; retraining the model");
        self.ledger.finish_request(
            req.id,
            RequestState::Done,
            &format!("saved as {shown}; the model is retrained"),
            now,
        )?;
        self.ledger.audit(
            now,
            &req.user,
            "teach",
            &format!("mail {}: {} saved as {shown}", req.mail_key, req.category),
        )?;
        self.retrain(root);
        Ok(Done::Taught(saved))
    }

    /// Trains a model on `root` in the background; when it is ready it is offered to the
    /// pipeline ([`super::Reloader`]), which swaps it in between mails.
    fn retrain(&self, root: PathBuf) {
        let reloader = self.reloader();
        let generation = reloader.begin_training();
        let language = self.config.default_language;
        tokio::spawn(async move {
            let trained = tokio::task::spawn_blocking(move || {
                let stemmers = crate::classify::text::Stemmers::default();
                Model::load(&root, &stemmers, language)
            })
            .await;
            match trained {
                Ok(Ok(model)) => {
                    info!(
                        examples = model.categories.examples(),
                        "model retrained on the training folder"
                    );
                    let parts = super::Reloaded {
                        model: Some(Some(model)),
                        ..super::Reloaded::default()
                    };
                    reloader.offer(generation, parts);
                }
                Ok(Err(e)) => error!(error = %e, "retraining failed; the running model stays"),
                Err(e) => error!(error = %e, "retraining stopped; the running model stays"),
            }
        });
    }
}

/// A training example of `mail`: a minimal RFC 5322 message with a neutral sender, the
/// subject and the new text, CPR numbers, patient names and health details removed.
fn example(mail: &parse::Mail, classifier: &crate::classify::Classifier) -> String {
    let subject = redact_details(&kept_subject(&mail.subject), classifier);
    let text: String = mail.new_text.chars().take(MAX_EXAMPLE_CHARS).collect();
    let text = redact_details(&text, classifier);
    let body: String = text
        .lines()
        .map(|l| {
            l.trim_end()
                .chars()
                .filter(|c| !c.is_control())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\r\n");
    let language = mail.language.code();
    format!(
        "{EXAMPLE_FROM}\r\nSubject: {subject}\r\nContent-Language: {language}\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=\"utf-8\"\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    )
}

/// Writes `text` as `<root>/<category>/taught-<digest>.eml` (or under
/// `technical/<desk>/`), through a temporary file renamed into place; the same example
/// taught before as another category is removed from there.
fn save_example(
    root: &Path,
    category: Category,
    desk: Option<&DeskKey>,
    text: &str,
) -> std::io::Result<PathBuf> {
    let digest = Sha256::digest(text.as_bytes());
    let name = format!("taught-{}.eml", parse::hex(&digest[..12]));
    let folder = match (category, desk) {
        (Category::Technical, Some(d)) => root.join("technical").join(d.as_str()),
        _ => root.join(category.name()),
    };
    std::fs::create_dir_all(&folder)?;
    let target = folder.join(&name);
    for other in example_folders(root) {
        if other != folder {
            // Absent is the usual case.
            let _ = std::fs::remove_file(other.join(&name));
        }
    }
    if !target.exists() {
        let tmp = folder.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &target)?;
    }
    Ok(target)
}

/// Every folder an example can be in: the categories and technical's desk folders.
fn example_folders(root: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Category::ALL.iter().map(|c| root.join(c.name())).collect();
    if let Ok(desks) = std::fs::read_dir(root.join("technical")) {
        out.extend(desks.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::rules::Rules;
    use crate::classify::Classifier;
    use crate::types::Language;

    fn classifier() -> Classifier {
        let rules =
            Rules::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules.toml")).unwrap();
        Classifier::new(rules, None)
    }

    const MAIL: &str = "From: Ida Holm <ida@regionh.example>\r\nTo: e-learning@example.test\r\n\
        Subject: Licens til patient Poul Eriksen 010190-1234\r\nMessage-ID: <t1@regionh.example>\r\n\
        Content-Type: text/plain; charset=utf-8\r\n\r\n\
        Hvad koster en licens? Mit cpr er 010190-1234.\r\n\r\n\
        > gammel tekst med 020290-2345\r\n";

    #[test]
    fn an_example_keeps_the_new_words_and_no_cpr_number_or_address() {
        let c = classifier();
        let mail = parse::parse(MAIL.as_bytes(), Language::Da);
        let text = example(&mail, &c);
        assert!(text.contains("Hvad koster en licens?"), "{text}");
        assert!(!text.contains("010190") && !text.contains("1234"), "{text}");
        assert!(
            !text.contains("020290"),
            "quoted history is left out: {text}"
        );
        assert!(
            !text.contains("ida@regionh.example") && !text.contains("Ida Holm"),
            "{text}"
        );
        // It reads back as a mail with the same words.
        let back = parse::parse(text.as_bytes(), Language::Da);
        assert!(back.new_text.contains("Hvad koster en licens?"));
        assert!(back.subject.starts_with("Licens til"), "{}", back.subject);
    }

    #[test]
    fn teaching_twice_writes_one_file_and_another_category_moves_it() {
        let dir = tempfile::tempdir().unwrap();
        let c = classifier();
        let mail = parse::parse(MAIL.as_bytes(), Language::Da);
        let text = example(&mail, &c);
        let a = save_example(dir.path(), Category::Pricing, None, &text).unwrap();
        let b = save_example(dir.path(), Category::Pricing, None, &text).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            std::fs::read_dir(dir.path().join("pricing"))
                .unwrap()
                .count(),
            1
        );
        let kuit = DeskKey::from("kuit");
        let t = save_example(dir.path(), Category::Technical, Some(&kuit), &text).unwrap();
        assert!(t.starts_with(dir.path().join("technical/kuit")));
        assert!(
            !a.exists(),
            "taught again as technical: no longer a pricing example"
        );
        assert_eq!(std::fs::read_to_string(t).unwrap(), text);
    }
}
