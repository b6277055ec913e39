//! The exact mail autosvar would send for a category, language, desk and sensitive flag, in
//! answer to a given mail: `autosvar preview` prints it and the HR console shows it beside
//! the editor. Pure: composes, sends and records nothing.

use crate::classify::{Category, Classification, Classifier, DeskKey};
use crate::config::Config;
use crate::parse::Language;
use crate::render::{compose, Templates};

/// The mail a preview answers when none is given.
pub const SAMPLE: &str = "From: Mette Jensen <mette.jensen@regionh.example>\r\n\
To: e-learning@example.test\r\n\
Subject: Zoom\r\n\
Message-ID: <sample.preview@regionh.example>\r\n\
Date: Mon, 2 Mar 2026 09:15:00 +0100\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\n\
Hej, jeg har et spørgsmål om Zoom.\r\n";

/// What to preview: a category's reply, in a language, for a desk, with or without the
/// sensitive notice.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub category: Category,
    /// `None`: the mail's own language.
    pub lang: Option<Language>,
    /// For technical: the desk key (default: the classifier's choice, else cimt).
    pub desk: Option<String>,
    pub sensitive: bool,
}

/// The reply (and, for technical mail, the desk forward after a separator line) exactly
/// as autosvar would send them in answer to `mail` (a mail's bytes; [`SAMPLE`] when none).
/// The console's preview is this function too.
///
/// # Errors
/// An unknown desk, or a template that cannot render this mail.
pub fn preview(
    config: &Config,
    classifier: &Classifier,
    templates: &Templates,
    wanted: &Wanted,
    bytes: &[u8],
) -> anyhow::Result<Vec<u8>> {
    let category = wanted.category;
    let mut mail = crate::parse::parse(bytes, config.replies());
    if let Some(l) = wanted.lang {
        mail.language = l;
    }
    let found = classifier.classify(&mail);
    let desk = (category == Category::Technical).then(|| {
        wanted
            .desk
            .clone()
            .or(found.desk.clone().map(String::from))
            .unwrap_or_else(|| "cimt".into())
    });
    if let Some(d) = &desk {
        anyhow::ensure!(
            config.desks.contains_key(d.as_str()),
            "unknown desk {d:?}; the config has {}",
            config.desks.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let c = Classification {
        category,
        desk: desk.clone().map(DeskKey::from),
        sensitive: wanted.sensitive || found.sensitive,
        doubtful: false,
        ..found
    };
    let now = crate::clock::now();
    let reply = compose::reply(&mail, &c, config, templates, now)?;
    let mut out = reply.bytes;
    if let Some(d) = desk.as_ref().and_then(|d| config.desks.get(d.as_str())) {
        let fwd = compose::forward(
            &mail, bytes, false, &c, d, config, templates, classifier, now,
        )?;
        out.extend_from_slice(
            format!(
                "\n\n======== forward to {} <{}> ========\n",
                d.name, d.email
            )
            .as_bytes(),
        );
        out.extend_from_slice(&fwd.bytes);
    }
    Ok(out)
}
