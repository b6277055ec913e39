//! The review page (`/review`): the mails that need a person (set aside, sensitive,
//! doubtful, answered as `other` or with a low confidence), newest first, and three actions
//! on each: "answer with CATEGORY", "no answer needed", "teach: this is CATEGORY"; on a
//! doubtful mail (acknowledged because the classifier was unsure; its guess and confidence
//! shown) also "send the held forward to DESK" and "mark reviewed"; below them the latest
//! requests and how each ended (waiting, sent, saved, refused and why).
//!
//! The console never sends mail and never reads a mail: answering and teaching are
//! requests written to the ledger ([`Ledger::ask_answer`], [`Ledger::ask_teach`],
//! [`Ledger::ask_forward`]; an answer is refused there, in one transaction, when the mail
//! has or may have a reply or an answer was asked for already, a forward when the mail
//! holds none or its forward was written or asked for already), after which the daemon's bell is rung and the daemon carries
//! them out. Closing a mail is the console's own ledger write. Every action is in the
//! audit log. Everything shown that came from a mail (subject, why) is escaped by the
//! views; a mail key is percent-encoded in links.
//!
//! [`Ledger::ask_answer`]: crate::ledger::Ledger::ask_answer
//! [`Ledger::ask_teach`]: crate::ledger::Ledger::ask_teach
//! [`Ledger::ask_forward`]: crate::ledger::Ledger::ask_forward

use std::collections::BTreeMap;

use axum::extract::{Query, State as AxState};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::context;
use minijinja::value::Serde;
use serde::{Deserialize, Serialize};

use super::auth::User;
use super::views::{word, Lang};
use super::{Error, Shared};
use crate::ledger::{ActivityCursor, Asked, Request, RequestAction, RequestState};
use crate::types::{Category, DeskKey};

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/review", get(review_page))
        .route("/review/answer", post(answer))
        .route("/review/close", post(close))
        .route("/review/teach", post(teach))
        .route("/review/forward", post(forward))
        .route("/review/reviewed", post(reviewed))
}

fn now() -> std::time::SystemTime {
    crate::clock::now()
}

use super::views::when;

/// A mail key (or cursor) percent-encoded for a link.
use super::views::percent_encode as segment;

#[derive(Serialize)]
struct Row {
    key: String,
    link: String,
    at: String,
    category: String,
    confidence: String,
    outcome: String,
    why: String,
    subject: Option<String>,
    /// This mail's latest request, as words.
    request: Option<String>,
    /// Acknowledged because the classifier was unsure of `category` (its guess).
    doubtful: bool,
    /// A doubtful mail whose desk forward may still be sent (none written yet).
    can_forward: bool,
    /// The guessed desk, preselected in the forward form.
    held: Option<String>,
}

#[derive(Serialize)]
struct RequestRow {
    at: String,
    link: String,
    key: String,
    action: String,
    category: String,
    user: String,
    state: String,
    note: String,
}

/// A request's state in words: waiting, sent, being sent, saved, refused.
fn state_words(r: &Request, lang: &str) -> String {
    match (r.state, r.action) {
        (RequestState::Pending, _) => word(lang, "req_pending"),
        (RequestState::Done, RequestAction::Answer | RequestAction::Forward) if r.delivered => {
            word(lang, "req_sent")
        }
        (RequestState::Done, RequestAction::Answer | RequestAction::Forward) => {
            word(lang, "req_sending")
        }
        (RequestState::Done, RequestAction::Teach) => word(lang, "req_saved"),
        (RequestState::Refused, _) => word(lang, "req_refused"),
    }
}

#[derive(Deserialize, Default)]
struct PageQuery {
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    before: Option<String>,
}

async fn review_page(
    AxState(state): AxState<Shared>,
    headers: HeaderMap,
    user: User,
    Query(q): Query<PageQuery>,
) -> Result<Response, Error> {
    let lang = Lang::of(&headers).code();
    let before: Option<ActivityCursor> = q.before.as_deref().and_then(|b| b.parse().ok());
    let (queue, requests) = state
        .db(move |l| Ok((l.review_queue(before.as_ref(), 50)?, l.recent_requests(20)?)))
        .await?;
    let latest: BTreeMap<&str, &Request> = requests
        .iter()
        .rev()
        .map(|r| (r.mail_key.as_str(), r))
        .collect();
    let next = (queue.len() == 50)
        .then(|| queue.last().map(|r| segment(&r.cursor().to_string())))
        .flatten();
    let rows: Vec<Row> = queue
        .iter()
        .map(|r| Row {
            key: r.key.clone(),
            link: format!("/activity/mail?key={}", segment(&r.key)),
            at: when(r.at),
            category: r.category.map(|c| c.name().to_string()).unwrap_or_default(),
            confidence: r.confidence.map(|c| format!("{c:.2}")).unwrap_or_default(),
            outcome: r.outcome.name().to_string(),
            why: r
                .why
                .clone()
                .or_else(|| r.skip_reason.map(|s| s.to_string()))
                .unwrap_or_default(),
            subject: r.subject.clone().filter(|s| !s.is_empty()),
            request: latest.get(r.key.as_str()).map(|q| {
                format!(
                    "{} {}: {}",
                    word(lang, &format!("req_{}", q.action.name())),
                    q.category,
                    state_words(q, lang)
                )
            }),
            // Acknowledged (a doubtful mail set aside, its acknowledgement refused, is
            // answered as any set-aside mail).
            doubtful: r.doubtful && acknowledged(r.outcome),
            can_forward: r.doubtful && acknowledged(r.outcome) && !r.forwarded,
            held: r
                .desk
                .as_ref()
                .filter(|_| r.forward_held())
                .map(|d| d.as_str().to_string()),
        })
        .collect();
    let recent: Vec<RequestRow> = requests
        .iter()
        .map(|r| RequestRow {
            at: when(r.at),
            link: format!("/activity/mail?key={}", segment(&r.mail_key)),
            key: r.mail_key.clone(),
            action: word(lang, &format!("req_{}", r.action.name())),
            category: match &r.desk {
                Some(d) if r.category == Category::Technical => format!("{} ({d})", r.category),
                _ => r.category.to_string(),
            },
            user: r.user.clone(),
            state: state_words(r, lang),
            note: r.note.clone().unwrap_or_default(),
        })
        .collect();
    let notice = q
        .done
        .as_deref()
        .filter(|d| known_notice(d))
        .map(|d| word(lang, d));
    let refused = q
        .done
        .as_deref()
        .is_some_and(|d| d.starts_with("refused_") || d == "bad_form");
    let categories: Vec<&str> = Category::ALL.iter().map(|c| c.name()).collect();
    let desks: Vec<(String, String)> = state
        .config
        .load()
        .desks
        .iter()
        .map(|(k, d)| (k.as_str().to_string(), d.name.clone()))
        .collect();
    let ctx = context! {
        lang, title => word(lang, "review"), section => "review",
        user => user.name, csrf => user.csrf, rows => Serde(rows), recent => Serde(recent),
        categories, desks, notice, refused, next,
    };
    Ok(state.views.page("review.html", ctx)?.into_response())
}

/// A reply was written (sent, or on its way).
fn acknowledged(outcome: crate::ledger::Outcome) -> bool {
    matches!(
        outcome,
        crate::ledger::Outcome::Replied | crate::ledger::Outcome::Sending
    )
}

/// Only notices this page has words for are shown (the query is the browser's).
fn known_notice(key: &str) -> bool {
    super::views::REVIEW_WORDS.iter().any(|(k, _, _)| *k == key)
        && (key.starts_with("refused_")
            || matches!(
                key,
                "answer_asked"
                    | "teach_asked"
                    | "forward_asked"
                    | "closed"
                    | "reviewed"
                    | "not_open"
                    | "bad_form"
            ))
}

#[derive(Deserialize)]
struct ActionForm {
    key: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    desk: String,
}

/// The form's category and (for technical, when one was chosen) desk; `None` when the
/// form names no known category, desk or a mail key of a sane length.
fn parsed(state: &Shared, form: &ActionForm) -> Option<(Category, Option<DeskKey>)> {
    if form.key.is_empty() || form.key.len() > 2048 {
        return None;
    }
    let category = Category::from_name(&form.category)?;
    let desk = match form.desk.as_str() {
        "" => None,
        d => Some(Some(DeskKey::from(d)).filter(|d| state.config.load().desks.contains_key(d))?),
    };
    Some((category, desk.filter(|_| category == Category::Technical)))
}

fn back(done: &str) -> Response {
    Redirect::to(&format!("/review?done={done}")).into_response()
}

async fn answer(
    AxState(state): AxState<Shared>,
    user: User,
    Form(form): Form<ActionForm>,
) -> Result<Response, Error> {
    ask(state, user, form, RequestAction::Answer).await
}

async fn teach(
    AxState(state): AxState<Shared>,
    user: User,
    Form(form): Form<ActionForm>,
) -> Result<Response, Error> {
    ask(state, user, form, RequestAction::Teach).await
}

/// Writes the request (or its refusal) and the audit line, rings the daemon's bell.
async fn ask(
    state: Shared,
    user: User,
    form: ActionForm,
    action: RequestAction,
) -> Result<Response, Error> {
    let Some((category, desk)) = parsed(&state, &form) else {
        return Ok(back("bad_form"));
    };
    let who = user.name.clone();
    let key = form.key.clone();
    let asked = state
        .db(move |l| {
            let t = now();
            let asked = match action {
                RequestAction::Answer => l.ask_answer(&key, category, desk.as_ref(), &who, t)?,
                RequestAction::Teach => l.ask_teach(&key, category, desk.as_ref(), &who, t)?,
                RequestAction::Forward => match &desk {
                    Some(d) => l.ask_forward(&key, d, &who, t)?,
                    // A forward goes to a desk the person chose.
                    None => return Ok(None),
                },
            };
            let shown = match &desk {
                Some(d) => format!("{category} ({d})"),
                None => category.to_string(),
            };
            let (what, detail) = match asked {
                Asked::Queued(id) => (
                    format!("{} requested", action.name()),
                    format!("mail {key}: {shown} (request {id})"),
                ),
                Asked::Refused(why) => (
                    format!("{} refused", action.name()),
                    format!("mail {key}: {shown}: {why}"),
                ),
            };
            l.audit(t, &who, &what, &detail)?;
            Ok(Some(asked))
        })
        .await?;
    let Some(asked) = asked else {
        return Ok(back("bad_form"));
    };
    match asked {
        Asked::Queued(_) => {
            state.bell.notify_one();
            Ok(back(match action {
                RequestAction::Answer => "answer_asked",
                RequestAction::Teach => "teach_asked",
                RequestAction::Forward => "forward_asked",
            }))
        }
        Asked::Refused(why) => Ok(back(&format!("refused_{}", why.name()))),
    }
}

/// "send the held forward to DESK" (a doubtful mail's; the form says `technical`).
async fn forward(
    AxState(state): AxState<Shared>,
    user: User,
    Form(form): Form<ActionForm>,
) -> Result<Response, Error> {
    ask(state, user, form, RequestAction::Forward).await
}

/// "mark reviewed": a person has seen the mail (a doubtful one's sender has the
/// acknowledgement); it leaves the list, and a forward it held is not sent.
async fn reviewed(
    AxState(state): AxState<Shared>,
    user: User,
    Form(form): Form<ActionForm>,
) -> Result<Response, Error> {
    take_off_the_list(state, user, form, "marked reviewed", "reviewed").await
}

async fn close(
    AxState(state): AxState<Shared>,
    user: User,
    Form(form): Form<ActionForm>,
) -> Result<Response, Error> {
    take_off_the_list(state, user, form, "no answer needed", "closed").await
}

/// Marks the form's mail reviewed, audited as `what`; back to the list with `done` (or
/// "not_open" when it had already left the list).
async fn take_off_the_list(
    state: Shared,
    user: User,
    form: ActionForm,
    what: &'static str,
    done: &'static str,
) -> Result<Response, Error> {
    if form.key.is_empty() || form.key.len() > 2048 {
        return Ok(back("bad_form"));
    }
    let key = form.key;
    let who = user.name;
    let was_open = state
        .db(move |l| {
            let t = now();
            let was_open = l.mark_reviewed(&key, t)?;
            if was_open {
                l.audit(t, &who, what, &format!("mail {key}"))?;
            }
            Ok(was_open)
        })
        .await?;
    Ok(back(if was_open { done } else { "not_open" }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_one_path_segment() {
        assert_eq!(segment("id:<a/b c>@x"), "id%3A%3Ca%2Fb%20c%3E%40x");
        assert_eq!(segment("abc-1.2_~"), "abc-1.2_~");
    }

    #[test]
    fn only_known_notices_show() {
        assert!(known_notice("refused_replied"));
        assert!(known_notice("answer_asked"));
        assert!(known_notice("forward_asked") && known_notice("reviewed"));
        assert!(!known_notice("refused_nonsense"));
        assert!(!known_notice("review_intro"));
        for (k, da, en) in crate::console::views::REVIEW_WORDS {
            assert!(!da.is_empty() && !en.is_empty(), "{k}");
        }
        for r in [
            crate::ledger::Refusal::UnknownMail,
            crate::ledger::Refusal::Replied,
            crate::ledger::Refusal::ReplyPending,
            crate::ledger::Refusal::InDoubt,
            crate::ledger::Refusal::AlreadyAsked,
            crate::ledger::Refusal::NotHeld,
            crate::ledger::Refusal::Forwarded,
        ] {
            assert!(known_notice(&format!("refused_{}", r.name())), "{r:?}");
        }
    }
}
