//! The console's routes and pages: sign-in, the templates (list, editor with preview,
//! draft, publish), the history of published versions (diff, restore) and the audit log.
//!
//! Publishing checks the whole set exactly as the daemon's file reload does
//! ([`Templates::from_sources`]); a broken set is refused with its problems and the live
//! set stays. A set that passes is written to `responses/` one file at a time, each
//! through a temporary file renamed into place, then swapped into the running daemon, and
//! kept as a version. A file changed on disk since the editor opened it is a conflict,
//! never overwritten: the files stay the source of truth.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Path, Query, State as AxState};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use minijinja::context;
use minijinja::value::Serde;
use serde::{Deserialize, Serialize};

use super::auth::{self, Identity, User};
use super::security::{self, set_cookie};
use super::views::{self, when, word, Lang};
use super::{Error, Shared};
use crate::classify::Category;
use crate::ledger::console::Draft;
use crate::parse::Language;
use crate::render::preview::{preview, Wanted};
use crate::render::{
    catalogue, check_dir, check_set, required_files, Problem, Severity, Templates,
};

pub(super) fn router(state: Shared) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/templates") }))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/templates", get(templates_page))
        .route("/templates/{name}", get(editor_page).post(editor_post))
        .route("/templates/{name}/preview", post(live_preview))
        .route("/publish", post(publish_all))
        .route("/history", get(history_page))
        .route("/history/diff", get(diff_page))
        .route("/history/{id}/restore", post(restore))
        .route("/audit", get(audit_page))
        .route("/activity", get(super::activity::list))
        .route("/activity/mail", get(super::activity::mail))
        .merge(super::review::routes())
        .merge(super::health::routes())
        .route(
            "/assets/{name}",
            get(|Path(name): Path<String>| async move { views::asset(&name) }),
        )
        .fallback(|| async { Error::NotFound })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::guard,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(security::MAX_FORM))
        .with_state(state)
}

fn now() -> SystemTime {
    crate::clock::now()
}

// ---- sign-in ----

async fn login_page(
    AxState(state): AxState<Shared>,
    headers: HeaderMap,
    Extension(id): Extension<Identity>,
) -> Response {
    let lang = Lang::of(&headers);
    let csrf = id.session.map(|s| s.csrf).unwrap_or_default();
    // A newcomer on the embedded default has no user yet: the page says how to make one.
    let no_users = state.db(|l| l.users()).await.is_ok_and(|u| u.is_empty());
    if no_users {
        let ctx = context! {
            lang => lang.code(), title => word(lang.code(), "log_in"), csrf, typed => "",
            notice => word(lang.code(), "no_users"),
        };
        return state.views.page("login.html", ctx).into_response();
    }
    login_view(&state, lang, &csrf, None, "")
}

fn login_view(
    state: &Shared,
    lang: Lang,
    csrf: &str,
    error: Option<&str>,
    typed: &str,
) -> Response {
    let ctx = match error {
        Some(error) => {
            context! { lang => lang.code(), title => word(lang.code(), "log_in"), csrf, error, typed }
        }
        None => context! { lang => lang.code(), title => word(lang.code(), "log_in"), csrf, typed },
    };
    state.views.page("login.html", ctx).into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    user: String,
    password: String,
}

async fn login(
    AxState(state): AxState<Shared>,
    headers: HeaderMap,
    Extension(id): Extension<Identity>,
    Form(form): Form<LoginForm>,
) -> Response {
    let lang = Lang::of(&headers);
    let csrf = id
        .session
        .as_ref()
        .map(|s| s.csrf.clone())
        .unwrap_or_default();
    let Some(name) = auth::clean_name(&form.user) else {
        return login_view(
            &state,
            lang,
            &csrf,
            Some(&word(lang.code(), "login_failed")),
            "",
        );
    };
    let peer: IpAddr = id.peer;
    if state.throttle.wait(&name, peer).is_some() {
        let mut r = login_view(
            &state,
            lang,
            &csrf,
            Some(&word(lang.code(), "login_wait")),
            &name,
        );
        *r.status_mut() = axum::http::StatusCode::TOO_MANY_REQUESTS;
        return r;
    }
    let who = name.clone();
    let stored = match state.db(move |l| l.user_hash(&who)).await {
        Ok(h) => h,
        Err(e) => return e.into_response(),
    };
    let password = form.password;
    let ok = tokio::task::spawn_blocking(move || auth::verify(stored.as_deref(), &password))
        .await
        .unwrap_or(false);
    let who = name.clone();
    if !ok {
        state.throttle.failed(&name, peer);
        let detail = format!("from {peer}");
        let _ = state
            .db(move |l| l.audit(now(), &who, "login refused", &detail))
            .await;
        let mut r = login_view(
            &state,
            lang,
            &csrf,
            Some(&word(lang.code(), "login_failed")),
            &name,
        );
        *r.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
        return r;
    }
    state.throttle.succeeded(&name, peer);
    if let Some(t) = &id.token {
        state.sessions.remove(t);
    }
    let (token, _) = state.sessions.create(Some(name));
    let detail = format!("from {peer}");
    let _ = state
        .db(move |l| l.audit(now(), &who, "login", &detail))
        .await;
    let mut r = Redirect::to("/templates").into_response();
    set_cookie(r.headers_mut(), &state, &token);
    r
}

async fn logout(
    AxState(state): AxState<Shared>,
    user: User,
    Extension(id): Extension<Identity>,
) -> Response {
    if let Some(t) = &id.token {
        state.sessions.remove(t);
    }
    let _ = state
        .db(move |l| l.audit(now(), &user.name, "logout", ""))
        .await;
    let mut r = Redirect::to("/login").into_response();
    security::clear_cookie(r.headers_mut());
    r
}

// ---- the templates ----

/// What a template is for, in words an HR officer uses.
fn what(name: &str, lang: &str) -> String {
    catalogue()
        .into_iter()
        .find(|e| e.name == name)
        .map(|e| e.describe(language(lang)))
        .unwrap_or_default()
}

fn language(lang: &str) -> Language {
    if lang == "en" {
        Language::En
    } else {
        Language::Da
    }
}

/// The template's own category and language, for its preview.
fn preview_defaults(name: &str) -> (Category, Language) {
    let mut parts = name.trim_end_matches(".txt").split('.');
    let kind = parts.next().unwrap_or_default();
    let lang = match parts.next() {
        Some("en") => Language::En,
        _ => Language::Da,
    };
    let category = Category::ALL
        .into_iter()
        .find(|c| c.name() == kind)
        .unwrap_or(if kind.starts_with("forward") {
            Category::Technical
        } else {
            Category::Pricing
        });
    (category, lang)
}

use super::auth::digest;

/// The templates on disk: name -> text, for every known template name that is there.
fn read_disk(state: &Shared) -> BTreeMap<String, String> {
    let dir = state.responses_dir();
    required_files()
        .into_iter()
        .filter_map(|name| {
            let text = std::fs::read_to_string(dir.join(&name)).ok()?;
            Some((name, text))
        })
        .collect()
}

/// The browser sends a textarea with CRLF line ends; the files use LF.
fn normalise(text: &str) -> String {
    text.replace("\r\n", "\n")
}

/// Checks a whole set as the daemon's reload does: the set (when it has no error) and
/// every problem, errors and warnings.
fn check(state: &Shared, files: &BTreeMap<String, String>) -> (Option<Templates>, Vec<Problem>) {
    let checked = check_set(files, &state.config.load().desks);
    (checked.templates, checked.problems)
}

fn errors(problems: &[Problem]) -> Vec<Problem> {
    problems
        .iter()
        .filter(|p| p.severity() == Severity::Error)
        .cloned()
        .collect()
}

#[derive(Serialize)]
struct Entry {
    name: String,
    what: String,
    draft: bool,
    missing: bool,
}

/// A problem in the page's language: `file:line: message; hint`.
fn plain(p: &Problem, lang: &str) -> String {
    let lang = language(lang);
    let place = match p.line {
        Some(l) => format!("{}:{l}", p.file),
        None => p.file.clone(),
    };
    match p.hint(lang) {
        Some(h) => format!("{place}: {}; {h}", p.message(lang)),
        None => format!("{place}: {}", p.message(lang)),
    }
}

async fn templates_page(
    AxState(state): AxState<Shared>,
    headers: HeaderMap,
    user: User,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Response, Error> {
    let lang = Lang::of(&headers).code();
    let drafts = state.db(|l| l.drafts()).await?;
    let disk = read_disk(&state);
    // The folder as the daemon reads it: stray files (a backup copy, an editor's swap
    // file) show here as warnings too.
    let problems: Vec<String> = match check_dir(&state.responses_dir(), &state.config.load().desks)
    {
        Ok(checked) => checked.problems.iter().map(|p| plain(p, lang)).collect(),
        Err(e) => vec![e.to_string()],
    };
    let entries: Vec<Entry> = required_files()
        .into_iter()
        .map(|name| Entry {
            what: what(&name, lang),
            draft: drafts.contains_key(&name),
            missing: !disk.contains_key(&name),
            name,
        })
        .collect();
    let notice = q.get("done").map(|k| word(lang, k));
    let ctx = context! {
        lang, title => word(lang, "templates"), section => "templates",
        user => user.name, csrf => user.csrf, entries => Serde(entries), problems,
        drafts => drafts.len(), notice,
    };
    Ok(state.views.page("templates.html", ctx)?.into_response())
}

#[derive(Deserialize, Default)]
struct EditForm {
    #[serde(default)]
    text: String,
    #[serde(default)]
    base: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    desk: Option<String>,
    #[serde(default)]
    sensitive: Option<String>,
    #[serde(default)]
    comment: String,
    /// Which mail the preview answers (see `samples`).
    #[serde(default)]
    sample: Option<String>,
}

/// Everything the editor page shows.
struct EditorView {
    text: String,
    base: String,
    has_draft: bool,
    notice: Option<String>,
    problems: Vec<Problem>,
    conflict: Option<Vec<Line>>,
    wanted: Wanted,
    /// The chosen sample's id, and every sample to choose from.
    sample: String,
}

#[derive(Serialize, Clone)]
struct Line {
    kind: &'static str,
    text: String,
}

fn diff_lines(old: &str, new: &str) -> Vec<Line> {
    similar::TextDiff::from_lines(old, new)
        .iter_all_changes()
        .map(|c| Line {
            kind: match c.tag() {
                similar::ChangeTag::Delete => "del",
                similar::ChangeTag::Insert => "add",
                similar::ChangeTag::Equal => "same",
            },
            text: {
                let prefix = match c.tag() {
                    similar::ChangeTag::Delete => "- ",
                    similar::ChangeTag::Insert => "+ ",
                    similar::ChangeTag::Equal => "  ",
                };
                let v = c.value();
                let v = v.strip_suffix('\n').unwrap_or(v);
                format!("{prefix}{v}")
            },
        })
        .collect()
}

#[derive(Serialize)]
struct Placeholder {
    name: String,
    meaning: String,
}

/// The placeholders and what each means, from the table in `responses/README.md` (the
/// folder's own, else the one autosvar ships).
fn placeholders(state: &Shared) -> Vec<Placeholder> {
    const SHIPPED: &str = include_str!("../../responses/README.md");
    let text = std::fs::read_to_string(state.responses_dir().join("README.md"))
        .unwrap_or_else(|_| SHIPPED.to_string());
    text.lines()
        .filter_map(|l| {
            let mut cells = l.strip_prefix('|')?.split('|');
            let name_cell = cells.next()?.trim();
            let meaning = cells.next()?.trim();
            let name = name_cell.strip_prefix("`{{ ")?.split(" }}`").next()?;
            Some(Placeholder {
                name: name.to_string(),
                meaning: meaning.replace('`', ""),
            })
        })
        .collect()
}

fn wanted_from(form: &EditForm, name: &str) -> Wanted {
    let (category, language) = preview_defaults(name);
    Wanted {
        category: form
            .category
            .as_deref()
            .and_then(|c| Category::ALL.into_iter().find(|k| k.name() == c))
            .unwrap_or(category),
        lang: Some(match form.lang.as_deref() {
            Some("en") => Language::En,
            Some("da") => Language::Da,
            _ => language,
        }),
        desk: form.desk.clone(),
        sensitive: form.sensitive.is_some(),
    }
}

/// The mail as it would go out with `files` as the set, and every problem of the set
/// (the mail is empty when an error stops it).
fn render_preview(
    state: &Shared,
    files: &BTreeMap<String, String>,
    wanted: &Wanted,
    sample: &[u8],
) -> (String, Vec<Problem>) {
    let (set, problems) = check(state, files);
    let Some(set) = set else {
        return (String::new(), problems);
    };
    match preview(
        &state.config.load(),
        &state.classifier.load(),
        &set,
        wanted,
        sample,
    ) {
        Ok(bytes) => (
            String::from_utf8_lossy(&bytes).replace("\r\n", "\n"),
            problems,
        ),
        Err(e) => (format!("{e:#}"), problems),
    }
}

fn known(name: &str) -> Result<(), Error> {
    if required_files().iter().any(|n| n == name) {
        Ok(())
    } else {
        Err(Error::NotFound)
    }
}

async fn editor_page(
    AxState(state): AxState<Shared>,
    headers: HeaderMap,
    user: User,
    Path(name): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Response, Error> {
    known(&name)?;
    let lang = Lang::of(&headers).code();
    let drafts = state.db(|l| l.drafts()).await?;
    let disk = read_disk(&state);
    let on_disk = disk.get(&name).cloned().unwrap_or_default();
    let (text, base, has_draft) = match drafts.get(&name) {
        Some(d) => (d.text.clone(), d.base.clone(), true),
        None => (on_disk.clone(), digest(&on_disk), false),
    };
    let view = EditorView {
        text,
        base,
        has_draft,
        notice: q.get("done").map(|k| word(lang, k)),
        problems: Vec::new(),
        conflict: None,
        wanted: wanted_from(&EditForm::default(), &name),
        sample: default_sample(&name),
    };
    editor(&state, lang, &user, &name, view, &drafts).await
}

/// The sample a template's preview starts with: the shipped mail in its language.
fn default_sample(name: &str) -> String {
    if name.contains(".en.") {
        "shipped:en".into()
    } else {
        "shipped:da".into()
    }
}

async fn editor(
    state: &Shared,
    lang: &str,
    user: &User,
    name: &str,
    mut view: EditorView,
    drafts: &BTreeMap<String, Draft>,
) -> Result<Response, Error> {
    // The preview uses the live files, every saved draft, and this text.
    let mut files = read_disk(state);
    for (n, d) in drafts {
        files.insert(n.clone(), d.text.clone());
    }
    files.insert(name.to_string(), view.text.clone());
    let chosen = view.sample.clone();
    let (samples, sample_bytes) = state
        .db(move |l| {
            Ok((
                super::samples::list(l, 10)?,
                super::samples::mail(l, &chosen)?,
            ))
        })
        .await?;
    let (preview, found) = render_preview(state, &files, &view.wanted, &sample_bytes);
    if view.problems.is_empty() {
        view.problems = found;
    }
    let language = language(lang);
    #[derive(Serialize)]
    struct Shown {
        line: Option<usize>,
        file: Option<String>,
        warning: bool,
        message: String,
    }
    let problems: Vec<Shown> = view
        .problems
        .iter()
        .map(|p| {
            let mine = p.file == name;
            Shown {
                line: p.line.filter(|_| mine),
                file: (!mine).then(|| p.file.clone()),
                warning: p.severity() == Severity::Warning,
                message: match p.hint(language) {
                    Some(h) => format!("{}; {h}", p.message(language)),
                    None => p.message(language),
                },
            }
        })
        .collect();
    let bad_lines: Vec<usize> = problems
        .iter()
        .filter(|p| !p.warning)
        .filter_map(|p| p.line)
        .collect();
    let lines = view.text.lines().count().max(1);
    let numbers: Vec<usize> = (1..=lines).collect();
    let categories: Vec<&str> = Category::ALL.iter().map(|c| c.name()).collect();
    let desks: Vec<String> = state
        .config
        .load()
        .desks
        .keys()
        .map(ToString::to_string)
        .collect();
    let ctx = context! {
        lang, title => format!("{}: {name}", word(lang, "template")), section => "templates",
        user => user.name.clone(), csrf => user.csrf.clone(),
        name, what => what(name, lang), text => view.text, base => view.base,
        has_draft => view.has_draft, notice => view.notice, problems => Serde(problems), bad_lines, numbers,
        rows => lines.clamp(8, 40) + 1,
        conflict => Serde(view.conflict),
        placeholders => Serde(placeholders(state)), preview, categories, desks,
        category => view.wanted.category.name(),
        preview_lang => view.wanted.lang.map_or("da", |l| l.code()),
        desk => view.wanted.desk.clone().unwrap_or_else(|| "cimt".into()),
        sensitive => view.wanted.sensitive,
        sample => view.sample,
        samples => samples.iter().map(|s| (s.id.clone(), s.label.clone())).collect::<Vec<_>>(),
    };
    Ok(state.views.page("editor.html", ctx)?.into_response())
}

async fn editor_post(
    AxState(state): AxState<Shared>,
    headers: HeaderMap,
    user: User,
    Path(name): Path<String>,
    Form(form): Form<EditForm>,
) -> Result<Response, Error> {
    known(&name)?;
    let lang = Lang::of(&headers).code();
    let text = normalise(&form.text);
    let wanted = wanted_from(&form, &name);
    match form.action.as_str() {
        "save" | "publish" => {
            let draft = Draft {
                name: name.clone(),
                text: text.clone(),
                base: form.base.clone(),
                user: user.name.clone(),
                at: now(),
            };
            state.db(move |l| l.save_draft(&draft)).await?;
            if form.action == "save" {
                return Ok(Redirect::to(&format!("/templates/{name}?done=saved")).into_response());
            }
            let drafts = state.db(|l| l.drafts()).await?;
            let only: BTreeMap<String, Draft> = drafts
                .get(&name)
                .map(|d| (name.clone(), d.clone()))
                .into_iter()
                .collect();
            match publish(&state, &user, &only, &form.comment).await? {
                Published::Done(_) => {
                    Ok(Redirect::to(&format!("/templates/{name}?done=published")).into_response())
                }
                Published::Refused(problems) => {
                    let view = EditorView {
                        text,
                        base: form.base,
                        has_draft: true,
                        notice: Some(word(lang, "refused")),
                        problems,
                        conflict: None,
                        wanted,
                        sample: form.sample.clone().unwrap_or_else(|| default_sample(&name)),
                    };
                    let mut r = editor(&state, lang, &user, &name, view, &drafts).await?;
                    *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
                    Ok(r)
                }
                Published::Conflict { name: n, disk } => {
                    let view = EditorView {
                        conflict: Some(diff_lines(&disk, &text)),
                        text,
                        base: digest(&disk),
                        has_draft: true,
                        notice: Some(format!("{n}: {}", word(lang, "conflict"))),
                        problems: Vec::new(),
                        wanted,
                        sample: form.sample.clone().unwrap_or_else(|| default_sample(&name)),
                    };
                    let mut r = editor(&state, lang, &user, &name, view, &drafts).await?;
                    *r.status_mut() = axum::http::StatusCode::CONFLICT;
                    Ok(r)
                }
            }
        }
        "discard" => {
            let n = name.clone();
            state.db(move |l| l.drop_drafts(&[n])).await?;
            Ok(Redirect::to(&format!("/templates/{name}")).into_response())
        }
        _ => {
            // "preview": the page again with this text, not saved.
            let drafts = state.db(|l| l.drafts()).await?;
            let view = EditorView {
                text,
                base: form.base,
                has_draft: drafts.contains_key(&name),
                notice: None,
                problems: Vec::new(),
                conflict: None,
                wanted,
                sample: form.sample.clone().unwrap_or_else(|| default_sample(&name)),
            };
            editor(&state, lang, &user, &name, view, &drafts).await
        }
    }
}

/// The live preview's answer: the mail as plain text, or the problems, one per line.
async fn live_preview(
    AxState(state): AxState<Shared>,
    headers: HeaderMap,
    _user: User,
    Path(name): Path<String>,
    Form(form): Form<EditForm>,
) -> Result<Response, Error> {
    known(&name)?;
    let drafts = state.db(|l| l.drafts()).await?;
    let mut files = read_disk(&state);
    for (n, d) in drafts {
        files.insert(n, d.text);
    }
    files.insert(name.clone(), normalise(&form.text));
    let lang = Lang::of(&headers).code();
    let chosen = form.sample.clone().unwrap_or_else(|| default_sample(&name));
    let sample = state.db(move |l| super::samples::mail(l, &chosen)).await?;
    let (preview, problems) = render_preview(&state, &files, &wanted_from(&form, &name), &sample);
    let text = if errors(&problems).is_empty() {
        preview
    } else {
        errors(&problems)
            .iter()
            .map(|p| plain(p, lang))
            .collect::<Vec<_>>()
            .join("\n")
    };
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

#[derive(Deserialize)]
struct CommentForm {
    #[serde(default)]
    comment: String,
}

async fn publish_all(
    AxState(state): AxState<Shared>,
    headers: HeaderMap,
    user: User,
    Form(form): Form<CommentForm>,
) -> Result<Response, Error> {
    let lang = Lang::of(&headers).code();
    let drafts = state.db(|l| l.drafts()).await?;
    match publish(&state, &user, &drafts, &form.comment).await? {
        Published::Done(_) => Ok(Redirect::to("/templates?done=published").into_response()),
        Published::Refused(problems) => {
            let list: Vec<String> = problems.iter().map(|p| plain(p, lang)).collect();
            let ctx = context! {
                lang, title => word(lang, "templates"), section => "templates",
                user => user.name, csrf => user.csrf,
                entries => Serde(Vec::<Entry>::new()), problems => list,
                drafts => drafts.len(), notice => word(lang, "refused"),
            };
            let mut r = state.views.page("templates.html", ctx)?.into_response();
            *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
        Published::Conflict { name, .. } => {
            Ok(Redirect::to(&format!("/templates/{name}")).into_response())
        }
    }
}

enum Published {
    Done(i64),
    Refused(Vec<Problem>),
    Conflict { name: String, disk: String },
}

/// Records the files on disk as a version when they differ from the newest one (at start,
/// and before each publish, so edits made with a text editor are in the history too), and
/// returns them.
pub(super) async fn record_disk_version(state: &Shared) -> Result<BTreeMap<String, String>, Error> {
    let disk = read_disk(state);
    let latest = state.db(|l| l.version(None)).await?;
    if latest.is_none_or(|v| v.files != disk) {
        let recorded = disk.clone();
        state
            .db(move |l| {
                let id = l.add_version(now(), "responses/", "the files on disk", &recorded)?;
                l.audit(
                    now(),
                    "responses/",
                    "found on disk",
                    &format!("version {id}"),
                )
            })
            .await?;
    }
    Ok(disk)
}

/// Publishes these drafts over the files on disk: checks the whole set, writes the changed
/// files atomically, swaps the running daemon's templates, and records a version.
async fn publish(
    state: &Shared,
    user: &User,
    drafts: &BTreeMap<String, Draft>,
    comment: &str,
) -> Result<Published, Error> {
    let _one_at_a_time = state.publishing.lock().await;
    let mut files = record_disk_version(state).await?;
    for (name, d) in drafts {
        let disk = files.get(name).cloned().unwrap_or_default();
        let base_matches =
            digest(&disk) == d.base || (!files.contains_key(name) && d.base.is_empty());
        if !base_matches && disk != d.text {
            return Ok(Published::Conflict {
                name: name.clone(),
                disk,
            });
        }
    }
    for (name, d) in drafts {
        files.insert(name.clone(), d.text.clone());
    }
    let set = match check(state, &files) {
        (Some(set), _) => set,
        (None, problems) => {
            state
                .metrics
                .reload_refused(crate::metrics::Part::Templates);
            let problems = errors(&problems);
            let detail = format!("{} problem(s)", problems.len());
            let who = user.name.clone();
            state
                .db(move |l| l.audit(now(), &who, "publish refused", &detail))
                .await?;
            return Ok(Published::Refused(problems));
        }
    };
    let dir = state.responses_dir();
    for (name, d) in drafts {
        write_atomically(&dir, name, &d.text)?;
    }
    state.templates.store(Arc::new(set));
    let names: Vec<String> = drafts.keys().cloned().collect();
    let who = user.name.clone();
    let comment = comment.chars().take(200).collect::<String>();
    let detail = names.join(", ");
    let id = state
        .db(move |l| {
            let id = l.add_version(now(), &who, &comment, &files)?;
            l.drop_drafts(&names)?;
            l.audit(now(), &who, "publish", &format!("version {id}: {detail}"))?;
            Ok(id)
        })
        .await?;
    tracing::info!(version = id, user = %user.name, "templates published from the console");
    Ok(Published::Done(id))
}

/// Writes `dir/name` through a temporary file renamed into place, so the daemon's file
/// watcher and any reader see the old file or the new one, never half of one.
fn write_atomically(dir: &std::path::Path, name: &str, text: &str) -> Result<(), Error> {
    use std::io::Write;
    let tmp = dir.join(format!(".{name}.autosvar-new"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, dir.join(name))?;
    Ok(())
}

// ---- history ----

#[derive(Serialize)]
struct VersionRow {
    id: i64,
    at: String,
    user: String,
    comment: String,
}

async fn history_page(
    AxState(state): AxState<Shared>,
    headers: HeaderMap,
    user: User,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Response, Error> {
    let lang = Lang::of(&headers).code();
    let versions: Vec<VersionRow> = state
        .db(|l| l.versions(200))
        .await?
        .into_iter()
        .map(|v| VersionRow {
            id: v.id,
            at: when(v.at),
            user: v.user,
            comment: v.comment,
        })
        .collect();
    let notice = q.get("done").map(|k| word(lang, k));
    let problems: Vec<String> = Vec::new();
    let ctx = context! {
        lang, title => word(lang, "history"), section => "history",
        user => user.name, csrf => user.csrf, versions => Serde(versions), notice, problems,
    };
    Ok(state.views.page("history.html", ctx)?.into_response())
}

#[derive(Deserialize)]
struct DiffQuery {
    from: i64,
    to: i64,
}

async fn diff_page(
    AxState(state): AxState<Shared>,
    headers: HeaderMap,
    user: User,
    Query(q): Query<DiffQuery>,
) -> Result<Response, Error> {
    let lang = Lang::of(&headers).code();
    let (from, to) = (q.from, q.to);
    let (a, b) = state
        .db(move |l| Ok((l.version(Some(from))?, l.version(Some(to))?)))
        .await?;
    let (Some(a), Some(b)) = (a, b) else {
        return Err(Error::NotFound);
    };
    #[derive(Serialize)]
    struct FileDiff {
        name: String,
        lines: Vec<Line>,
    }
    let mut names: Vec<&String> = a.files.keys().chain(b.files.keys()).collect();
    names.sort();
    names.dedup();
    let files: Vec<FileDiff> = names
        .into_iter()
        .filter_map(|n| {
            let old = a.files.get(n).map_or("", String::as_str);
            let new = b.files.get(n).map_or("", String::as_str);
            (old != new).then(|| FileDiff {
                name: n.clone(),
                lines: diff_lines(old, new),
            })
        })
        .collect();
    let ctx = context! {
        lang, title => word(lang, "history"), section => "history",
        user => user.name, csrf => user.csrf, from, to, files => Serde(files),
    };
    Ok(state.views.page("diff.html", ctx)?.into_response())
}

async fn restore(
    AxState(state): AxState<Shared>,
    headers: HeaderMap,
    user: User,
    Path(id): Path<i64>,
) -> Result<Response, Error> {
    let lang = Lang::of(&headers).code();
    let Some(version) = state.db(move |l| l.version(Some(id))).await? else {
        return Err(Error::NotFound);
    };
    // A restore is a publish of that version's files over whatever is on disk now.
    let disk = read_disk(&state);
    let drafts: BTreeMap<String, Draft> = version
        .files
        .iter()
        .filter(|(n, text)| disk.get(*n) != Some(*text))
        .map(|(n, text)| {
            let on_disk = disk.get(n).cloned().unwrap_or_default();
            (
                n.clone(),
                Draft {
                    name: n.clone(),
                    text: text.clone(),
                    base: if disk.contains_key(n) {
                        digest(&on_disk)
                    } else {
                        String::new()
                    },
                    user: user.name.clone(),
                    at: now(),
                },
            )
        })
        .collect();
    let comment = format!("{} {id}", word(lang, "restore"));
    match publish(&state, &user, &drafts, &comment).await? {
        Published::Done(new) => {
            let who = user.name.clone();
            state
                .db(move |l| {
                    l.audit(
                        now(),
                        &who,
                        "restore",
                        &format!("version {id} as version {new}"),
                    )
                })
                .await?;
            Ok(Redirect::to("/history?done=restored").into_response())
        }
        Published::Refused(problems) => {
            let versions: Vec<VersionRow> = Vec::new();
            let problems: Vec<String> = problems.iter().map(|p| plain(p, lang)).collect();
            let ctx = context! {
                lang, title => word(lang, "history"), section => "history",
                user => user.name, csrf => user.csrf, versions => Serde(versions),
                notice => word(lang, "refused"), problems,
            };
            let mut r = state.views.page("history.html", ctx)?.into_response();
            *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
        Published::Conflict { name, .. } => {
            Ok(Redirect::to(&format!("/templates/{name}")).into_response())
        }
    }
}

// ---- audit ----

async fn audit_page(
    AxState(state): AxState<Shared>,
    headers: HeaderMap,
    user: User,
) -> Result<Response, Error> {
    let lang = Lang::of(&headers).code();
    #[derive(Serialize)]
    struct Row {
        at: String,
        user: String,
        action: String,
        detail: String,
    }
    let entries: Vec<Row> = state
        .db(|l| l.audit_log(500))
        .await?
        .into_iter()
        .map(|e| Row {
            at: when(e.at),
            user: e.user,
            action: e.action,
            detail: e.detail,
        })
        .collect();
    let ctx = context! {
        lang, title => word(lang, "audit"), section => "audit",
        user => user.name, csrf => user.csrf, entries => Serde(entries),
    };
    Ok(state.views.page("audit.html", ctx)?.into_response())
}
