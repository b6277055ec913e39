//! Fixture-driven tests: the folder a mail sits in is its expected answer.

use std::collections::BTreeMap;

use autosvar::classify::Category;
use autosvar::decide::SkipReason;
use autosvar::parse::{parse, Language};
use autosvar::pipeline::assess;
use autosvar::render::compose;

use crate::common::{emls, fixtures, setup};

#[test]
fn every_skip_fixture_is_refused_for_its_reason() {
    let s = setup();
    let mut wrong = Vec::new();
    for f in emls(&fixtures().join("skip")) {
        let want = f
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let a = assess(&std::fs::read(&f).unwrap(), &s.config, &s.classifier);
        let got = a.guard.map(SkipReason::as_str);
        if got != Some(want.as_str()) {
            wrong.push(format!("{}: want {want}, got {got:?}", f.display()));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn mails_that_only_look_automatic_are_answered() {
    let s = setup();
    for f in emls(&fixtures().join("answer")) {
        let a = assess(&std::fs::read(&f).unwrap(), &s.config, &s.classifier);
        assert_eq!(a.guard, None, "{}", f.display());
    }
}

#[test]
fn reply_to_wins_over_from() {
    let raw = std::fs::read(fixtures().join("answer/reply-to-differs.eml")).unwrap();
    let m = parse(&raw, Language::Da);
    let to = m.reply_address().unwrap();
    assert_ne!(Some(&to.email), m.from.as_ref().map(|a| &a.email));
}

/// Checks each `mail/<shape>.eml` against its `<shape>.expect`.
#[test]
fn every_charset_and_mime_shape_parses_to_its_expected_text() {
    let dir = fixtures().join("mail");
    let mut checked = 0;
    let mut wrong = Vec::new();
    for f in emls(&dir) {
        let expect = std::fs::read_to_string(f.with_extension("expect"))
            .unwrap_or_else(|_| panic!("{} has no .expect file", f.display()));
        let m = parse(&std::fs::read(&f).unwrap(), Language::Da);
        let text = m.new_text.split_whitespace().collect::<Vec<_>>().join(" ");
        for line in expect.lines().filter(|l| !l.trim().is_empty()) {
            let (key, value) = line.split_once(':').expect("key: value");
            let value = value.trim();
            let ok = match key {
                "subject" => m.subject == value,
                "from" => m.from.as_ref().is_some_and(|a| a.email == value),
                "name" => m.from.as_ref().and_then(|a| a.name.as_deref()) == Some(value),
                "language" => m.language.code() == value,
                "contains" => {
                    text.contains(&value.split_whitespace().collect::<Vec<_>>().join(" "))
                }
                "not-contains" => !text.contains(value),
                "attachments" => m.attachments.to_string() == value,
                other => panic!("{}: unknown expect key {other}", f.display()),
            };
            checked += 1;
            if !ok {
                wrong.push(format!(
                    "{}: {line}\n    new text: {text:?}\n    subject: {:?}",
                    f.display(),
                    m.subject
                ));
            }
        }
    }
    assert!(checked > 50, "only {checked} expectations checked");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn malformed_mail_never_panics_and_is_set_aside_or_answered_safely() {
    let s = setup();
    for f in emls(&fixtures().join("malformed")) {
        let bytes = std::fs::read(&f).unwrap();
        let a = assess(&bytes, &s.config, &s.classifier);
        if a.mail.reply_address().is_none() {
            assert_eq!(a.guard, Some(SkipReason::Malformed), "{}", f.display());
        }
        // Composing never panics either (as the `mail` fuzz target checks): the reply, and
        // a desk forward, whole and as a redacted rebuild. Refusing is allowed.
        let now = crate::common::now();
        let _ = compose::reply(&a.mail, &a.classification, &s.config, &s.templates, now);
        let (key, desk) = s.config.desks.iter().next().unwrap();
        for sensitive in [false, true] {
            let c = autosvar::classify::Classification {
                category: Category::Technical,
                doubtful: false,
                desk: Some(key.clone()),
                sensitive,
                ..a.classification.clone()
            };
            let _ = compose::forward(
                &a.mail,
                &bytes,
                sensitive,
                &c,
                desk,
                &s.config,
                &s.templates,
                &s.classifier,
                now,
            );
        }
    }
}

#[test]
fn sensitive_fixtures_are_flagged_and_others_are_not() {
    let s = setup();
    for (dir, want) in [("sensitive/yes", true), ("sensitive/no", false)] {
        for f in emls(&fixtures().join(dir)) {
            let a = assess(&std::fs::read(&f).unwrap(), &s.config, &s.classifier);
            assert_eq!(a.classification.sensitive, want, "{}", f.display());
        }
    }
}

/// Category and desk accuracy on the team's labelled mails. This is a floor that protects
/// against regressions, not a target; `autosvar eval` reports the full picture.
#[test]
fn classify_fixtures_meet_the_baseline() {
    let s = setup();
    let root = fixtures().join("classify");
    let mut total = 0;
    let mut right = 0;
    let mut desk_right = 0;
    let mut desk_total = 0;
    let mut per_lang: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut misses = Vec::new();
    for f in emls(&root) {
        let rel = f.strip_prefix(&root).unwrap();
        let mut parts = rel.iter().map(|p| p.to_str().unwrap());
        let want = Category::from_name(parts.next().unwrap()).expect("folder is a category");
        let want_desk = (want == Category::Technical).then(|| parts.next().unwrap().to_string());
        let name = f.file_name().unwrap().to_str().unwrap();
        let lang = &name[..2];
        let a = assess(&std::fs::read(&f).unwrap(), &s.config, &s.classifier);
        assert_eq!(a.guard, None, "{} must be answerable", f.display());
        assert_eq!(a.mail.language.code(), lang, "{} language", f.display());
        total += 1;
        let e = per_lang.entry(lang.to_string()).or_default();
        e.1 += 1;
        if a.classification.category == want {
            right += 1;
            e.0 += 1;
            if let Some(d) = &want_desk {
                desk_total += 1;
                if a.classification.desk.as_deref() == Some(d) {
                    desk_right += 1;
                }
            }
        } else {
            misses.push(format!("{}: {} ", rel.display(), a.classification.category));
        }
    }
    let accuracy = right as f64 / total as f64;
    eprintln!("accuracy {right}/{total} = {accuracy:.3}; desks {desk_right}/{desk_total}; {per_lang:?}\n{misses:#?}");
    assert!(total >= 60, "only {total} labelled mails");
    assert!(
        accuracy >= 0.90,
        "category accuracy {accuracy:.3} below 0.90: {misses:#?}"
    );
    assert_eq!(
        desk_right, desk_total,
        "every correctly classified technical mail goes to its desk"
    );
}
