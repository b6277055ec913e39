//! The console's pages: minijinja templates compiled into the binary (`views/*.html`, so
//! HTML-escaped by default: every text from a mail or a file shows as text), the Danish and
//! English words they use, and the browser's language choice. The static assets (one style
//! sheet, one small script) are here too. Nothing here reads the ledger or a request body.

use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use minijinja::{Environment, Value};

use super::Error;

/// The console's language: Danish or English, as the browser asks (`Accept-Language`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lang {
    Da,
    En,
}

impl Lang {
    /// The first of the browser's languages that the console speaks; Danish when none.
    pub(super) fn of(headers: &HeaderMap) -> Lang {
        let Some(accept) = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
        else {
            return Lang::Da;
        };
        let mut tags: Vec<(f32, usize, String)> = accept
            .split(',')
            .take(20)
            .enumerate()
            .filter_map(|(i, part)| {
                let mut it = part.trim().split(';');
                let tag = it.next()?.trim().to_ascii_lowercase();
                let q = it
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.parse::<f32>().ok())
                    .unwrap_or(1.0);
                Some((q, i, tag))
            })
            .collect();
        tags.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for (_, _, tag) in tags {
            let primary = tag.split('-').next().unwrap_or_default();
            match primary {
                "da" | "nb" | "no" | "nn" | "sv" => return Lang::Da,
                "en" => return Lang::En,
                _ => {}
            }
        }
        Lang::Da
    }

    pub(super) fn code(self) -> &'static str {
        match self {
            Lang::Da => "da",
            Lang::En => "en",
        }
    }
}

/// The words of the pages: key, Danish, English.
const WORDS: &[(&str, &str, &str)] = &[
    ("skip", "Gå til indhold", "Skip to content"),
    ("templates", "Svarskabeloner", "Reply templates"),
    ("activity", "Aktivitet", "Activity"),
    ("review", "Til gennemsyn", "Needs a person"),
    ("history", "Historik", "History"),
    ("audit", "Revisionslog", "Audit log"),
    ("signed_in_as", "Logget ind som", "Signed in as"),
    ("log_out", "Log ud", "Sign out"),
    ("log_in", "Log ind", "Sign in"),
    ("user", "Brugernavn", "User name"),
    ("password", "Adgangskode", "Password"),
    ("login_failed", "Forkert brugernavn eller adgangskode.", "Wrong user name or password."),
    ("login_wait", "For mange forkerte forsøg. Vent et øjeblik, og prøv igen.", "Too many failed attempts. Wait a moment and try again."),
    ("main_nav", "Hovedmenu", "Main menu"),
    ("no_users", "Der er ingen brugere endnu. Opret en på serveren med: autosvar user add DIT-NAVN", "There are no users yet. Create one on the server with: autosvar user add YOUR-NAME"),
    ("template", "Skabelon", "Template"),
    ("what", "Hvad", "What"),
    ("state", "Tilstand", "State"),
    ("live", "I brug", "Live"),
    ("draft", "Kladde", "Draft"),
    ("missing", "Mangler", "Missing"),
    ("edit", "Rediger", "Edit"),
    ("drafts_waiting", "kladde(r) venter på at blive udgivet", "draft(s) waiting to be published"),
    ("publish_all", "Udgiv alle kladder", "Publish all drafts"),
    ("comment", "Kommentar (valgfri)", "Comment (optional)"),
    ("text", "Tekst", "Text"),
    ("save_draft", "Gem kladde", "Save draft"),
    ("publish", "Udgiv", "Publish"),
    ("discard", "Kassér kladde", "Discard draft"),
    ("show_preview", "Vis forhåndsvisning", "Show preview"),
    ("preview", "Sådan ser mailen ud", "The mail as it would go out"),
    ("preview_lang", "Sprog", "Language"),
    ("preview_desk", "Servicedesk", "Desk"),
    ("preview_sensitive", "Mailen indeholdt følsomme oplysninger", "The mail held sensitive data"),
    ("preview_category", "Kategori", "Category"),
    ("preview_sample", "Mail der besvares", "Mail answered"),
    ("placeholders", "Pladsholdere", "Placeholders"),
    ("problems", "Fejl", "Problems"),
    ("warnings", "Advarsler", "Warnings"),
    ("line", "linje", "line"),
    ("saved", "Kladden er gemt. Den bliver først sendt, når den er udgivet.", "The draft is saved. It goes out only once published."),
    ("published", "Udgivet. autosvar bruger nu de nye tekster.", "Published. autosvar now uses the new texts."),
    ("refused", "Ikke udgivet: rettelserne herunder skal laves først. De gamle tekster er stadig i brug.", "Not published: the problems below must be mended first. The old texts are still in use."),
    ("conflict", "Filen er ændret af en anden, siden du åbnede den. Din tekst er ikke gemt over den; sammenlign herunder.", "The file was changed by someone else since you opened it. Your text did not overwrite it; compare below."),
    ("on_disk", "Filen nu", "The file now"),
    ("yours", "Din tekst", "Your text"),
    ("version", "Version", "Version"),
    ("when", "Hvornår", "When"),
    ("who", "Hvem", "Who"),
    ("compare", "Sammenlign", "Compare"),
    ("with", "med", "with"),
    ("restore", "Gendan", "Restore"),
    ("restored", "Gendannet. autosvar bruger nu den version.", "Restored. autosvar now uses that version."),
    ("no_changes", "Ingen forskel.", "No difference."),
    ("action", "Handling", "Action"),
    ("detail", "Detaljer", "Detail"),
    ("back", "Tilbage", "Back"),
    ("lines_long", "Linjen er over 78 tegn", "The line is over 78 characters"),
    ("per_day", "Pr. dag", "Per day"),
    ("per_week", "Pr. uge", "Per week"),
    ("by_category", "Efter kategori", "By category"),
    ("by_outcome", "Efter udfald", "By outcome"),
    ("as_table", "Tallene som tabel", "The numbers as a table"),
    ("find", "Søg", "Find"),
    ("find_sender", "Afsenderens mailadresse", "Sender's e-mail address"),
    ("sender_hint", "Adressen gemmes ikke; autosvar sammenligner kun en hash af den.", "The address is not stored; autosvar compares only a hash of it."),
    ("all", "Alle", "All"),
    ("outcome", "Udfald", "Outcome"),
    ("subject", "Emne", "Subject"),
    ("confidence", "Sikkerhed", "Confidence"),
    ("no_subject", "intet emne", "no subject"),
    ("sensitive", "Følsom", "Sensitive"),
    ("nothing_yet", "Ingen mails her endnu.", "No mails here yet."),
    ("older", "Ældre mails", "Older mails"),
    ("mail", "Mail", "Mail"),
    ("why", "Hvorfor det blev besluttet", "Why it was decided"),
    ("reply_as_sent", "Svaret, som det blev sendt", "The reply as sent"),
    ("forward_as_sent", "Videresendelsen, som den blev sendt", "The forward as sent"),
    ("not_sent_yet", "ikke sendt endnu", "not sent yet"),
    ("yes", "Ja", "Yes"),
    ("no", "Nej", "No"),
];

/// The review page's words (key, Danish, English).
pub(super) const REVIEW_WORDS: &[(&str, &str, &str)] = &[
    ("review_intro", "Mails som autosvar ikke kunne eller ikke burde klare alene: lagt til side, med følsomme oplysninger, tvivlsomme (kun kvitteret), besvaret som 'andet' eller med lav sikkerhed.", "Mails autosvar could not or should not handle alone: set aside, with sensitive data, doubtful (only acknowledged), answered as 'other' or with low confidence."),
    ("review_empty", "Ingen mails venter på en person.", "No mail waits for a person."),
    ("received", "Modtaget", "Received"),
    ("category", "Kategori", "Category"),
    ("why_short", "Hvorfor", "Why"),
    ("open_mail", "Åbn", "Open"),
    ("answer_with", "Svar med skabelonen", "Answer with the template"),
    ("answer_desk", "Servicedesk (teknisk)", "Desk (technical)"),
    ("desk_classifier", "Som autosvar foreslår", "As autosvar suggests"),
    ("send_answer", "Send svar", "Send answer"),
    ("no_answer", "Intet svar nødvendigt", "No answer needed"),
    ("teach_as", "Lær: denne mail er", "Teach: this mail is"),
    ("teach", "Lær", "Teach"),
    ("requests", "Seneste anmodninger", "Latest requests"),
    ("req_pending", "venter på autosvar", "waiting for autosvar"),
    ("req_sent", "sendt", "sent"),
    ("req_sending", "skrevet, sendes", "written, being sent"),
    ("req_saved", "gemt som eksempel", "saved as an example"),
    ("req_refused", "afvist", "refused"),
    ("req_answer", "svar", "answer"),
    ("req_teach", "lær", "teach"),
    ("answer_asked", "Svaret er bestilt. autosvar sender det om et øjeblik; status står under Seneste anmodninger.", "The answer is ordered. autosvar sends it in a moment; its state is under Latest requests."),
    ("teach_asked", "Eksemplet gemmes, og autosvar lærer af det om et øjeblik.", "The example is being saved; autosvar learns from it in a moment."),
    ("closed", "Mailen er lukket: intet svar nødvendigt.", "The mail is closed: no answer needed."),
    ("not_open", "Mailen var allerede lukket.", "The mail was already closed."),
    ("refused_unknown", "Afvist: autosvar kender ikke den mail.", "Refused: autosvar does not know that mail."),
    ("refused_replied", "Afvist: mailen er allerede besvaret. Der sendes ikke et svar mere.", "Refused: the mail was already answered. No second answer is sent."),
    ("refused_reply_pending", "Afvist: et svar på mailen er ved at blive sendt.", "Refused: an answer to this mail is being sent."),
    ("refused_in_doubt", "Afvist: et svar på mailen kan være sendt (afsendelsen blev afbrudt). Se i Sendt post.", "Refused: an answer to this mail may have gone out (its sending was interrupted). Look in Sent."),
    ("refused_already_asked", "Afvist: der er allerede bestilt et svar på mailen.", "Refused: an answer to this mail was already ordered."),
    ("bad_form", "Formularen var ikke udfyldt rigtigt.", "The form was not filled in correctly."),
    ("doubtful", "Tvivlsom", "Doubtful"),
    ("doubtful_note", "autosvar var ikke sikker: afsenderen fik kun en kvittering (en person svarer). Kategori og sikkerhed er autosvars gæt.", "autosvar was not sure: the sender got only an acknowledgement (a person will answer). Category and confidence are autosvar's guess."),
    ("forward_held", "Videresendelse holdt tilbage til", "Forward held for"),
    ("forward_to", "Send videresendelsen til", "Send the forward to"),
    ("send_forward", "Send videresendelse", "Send forward"),
    ("mark_reviewed", "Markér som gennemset", "Mark reviewed"),
    ("req_forward", "videresend", "forward"),
    ("forward_asked", "Videresendelsen er bestilt. autosvar sender den om et øjeblik; status står under Seneste anmodninger.", "The forward is ordered. autosvar sends it in a moment; its state is under Latest requests."),
    ("reviewed", "Mailen er markeret som gennemset.", "The mail is marked reviewed."),
    ("refused_not_held", "Afvist: mailen har ingen tilbageholdt videresendelse.", "Refused: the mail holds no forward."),
    ("refused_forwarded", "Afvist: mailen er allerede videresendt (eller det er bestilt). Der sendes ikke en videresendelse mere.", "Refused: the mail was already forwarded (or that was ordered). No second forward is sent."),
];

/// The word for `key` in `lang`; the key itself when there is none (a missing word shows
/// up in the browser test, not as an error page).
pub(super) fn word(lang: &str, key: &str) -> String {
    WORDS
        .iter()
        .chain(REVIEW_WORDS)
        .find(|(k, _, _)| *k == key)
        .map_or(key, |(_, da, en)| if lang == "en" { en } else { da })
        .to_string()
}

/// The compiled pages.
pub(super) struct Views {
    env: Environment<'static>,
}

macro_rules! view {
    ($env:ident, $name:literal) => {
        // The views are part of the binary; a broken one fails every test that opens it.
        if let Err(e) = $env.add_template($name, include_str!(concat!("views/", $name))) {
            tracing::error!(error = %e, view = $name, "console view does not compile");
        }
    };
}

impl Views {
    pub(super) fn new() -> Views {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.add_function("t", |state: &minijinja::State, key: &str| -> String {
            let lang = state
                .lookup("lang")
                .map(|v| v.to_string())
                .unwrap_or_default();
            word(&lang, key)
        });
        env.add_filter("urlencode", |v: &str| -> String { percent_encode(v) });
        view!(env, "layout.html");
        view!(env, "login.html");
        view!(env, "templates.html");
        view!(env, "editor.html");
        view!(env, "history.html");
        view!(env, "diff.html");
        view!(env, "audit.html");
        view!(env, "activity.html");
        view!(env, "mail.html");
        view!(env, "review.html");
        Views { env }
    }

    /// Renders a page; `ctx` must hold `lang` (and, for signed-in pages, `user` and `csrf`).
    pub(super) fn page(&self, name: &str, ctx: Value) -> Result<Html<String>, Error> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map(Html)
            // `{e}`, not `{e:#}`: the alternate form dumps the page's values into the log.
            .map_err(|e| Error::Internal(format!("view {name}: {e}")))
    }
}

/// A time as the pages show it: `2026-12-07 03:44:21 UTC`.
pub(super) fn when(t: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(t)
        .to_string()
        .replace('T', " ")
        .replace('Z', " UTC")
}

/// Everything but the unreserved characters of RFC 3986 as `%XX`: safe in a query value.
pub(super) fn percent_encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

/// `/assets/console.css` and `/assets/console.js`, from the binary.
pub(super) fn asset(name: &str) -> Response {
    let (body, kind) = match name {
        "console.css" => (CSS, "text/css; charset=utf-8"),
        "console.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return Error::NotFound.into_response(),
    };
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lang(accept: &'static str) -> Lang {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static(accept));
        Lang::of(&h)
    }

    #[test]
    fn the_browser_language_decides() {
        assert_eq!(lang("en-GB,en;q=0.9,da;q=0.8"), Lang::En);
        assert_eq!(lang("da,en;q=0.5"), Lang::Da);
        assert_eq!(lang("de-DE, en;q=0.7"), Lang::En);
        assert_eq!(lang("fr"), Lang::Da);
        assert_eq!(lang("da;q=0.1, en;q=0.9"), Lang::En);
        assert_eq!(Lang::of(&HeaderMap::new()), Lang::Da);
    }

    #[test]
    fn every_view_compiles_and_every_word_has_both_languages() {
        let v = Views::new();
        for name in [
            "layout.html",
            "login.html",
            "templates.html",
            "editor.html",
            "history.html",
            "diff.html",
            "audit.html",
            "activity.html",
            "mail.html",
            "review.html",
        ] {
            assert!(v.env.get_template(name).is_ok(), "{name}");
        }
        for (k, da, en) in WORDS {
            assert!(!da.is_empty() && !en.is_empty(), "{k}");
        }
        assert_eq!(word("en", "publish"), "Publish");
        assert_eq!(word("da", "publish"), "Udgiv");
        assert_eq!(
            percent_encode("<a&b=c d>@x.dk"),
            "%3Ca%26b%3Dc%20d%3E%40x.dk"
        );
    }
}
