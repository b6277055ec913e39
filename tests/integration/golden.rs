//! Golden files: the exact bytes of rendered replies and desk forwards.
//!
//! On a mismatch the actual output is written beside the golden file as `<case>.actual`
//! and the test fails naming it. `BLESS=1 cargo test` rewrites the golden files; review
//! the diff like any other change.

use std::path::{Path, PathBuf};

use autosvar::classify::sensitive::find_cpr;
use autosvar::pipeline::assess;

use crate::common::{fixtures, forward_of, reply_to, root, setup};

fn golden_dir() -> PathBuf {
    root().join("tests/golden")
}

fn check_golden(case: &str, actual: &[u8]) -> Result<(), String> {
    let path = golden_dir().join(format!("{case}.eml"));
    let actual_path = golden_dir().join(format!("{case}.actual"));
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
        let _ = std::fs::remove_file(&actual_path);
        return Ok(());
    }
    match std::fs::read(&path) {
        Ok(expected) if expected == actual => {
            let _ = std::fs::remove_file(&actual_path);
            Ok(())
        }
        Ok(_) => {
            std::fs::write(&actual_path, actual).unwrap();
            Err(format!(
                "{case}: output differs from {}; see {}",
                path.display(),
                actual_path.display()
            ))
        }
        Err(_) => {
            std::fs::write(&actual_path, actual).unwrap();
            Err(format!(
                "{case}: no golden file {}; run with BLESS=1 to create it",
                path.display()
            ))
        }
    }
}

/// (case name, fixture) pairs: every category in both languages, both desks, sensitive mail.
fn cases() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for (folder, name) in [
        ("classify/pricing", "pricing"),
        ("classify/terms", "terms"),
        ("classify/eligibility", "eligibility"),
        ("classify/other", "other"),
        ("classify/technical/cimt", "technical-cimt"),
        ("classify/technical/kuit", "technical-kuit"),
    ] {
        for lang in ["da", "en"] {
            let dir = fixtures().join(folder);
            let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| {
                    p.file_name()
                        .unwrap()
                        .to_str()
                        .unwrap()
                        .starts_with(&format!("{lang}-"))
                })
                .collect();
            files.sort();
            out.push((format!("{name}.{lang}"), files.remove(0)));
        }
    }
    out.push((
        "sensitive-cpr.da".into(),
        fixtures().join("sensitive/yes/da-cpr-i-zoom-chat-cimt.eml"),
    ));
    out.push((
        "sensitive-patient.da".into(),
        fixtures().join("sensitive/yes/da-navngiven-patient-lungebetaendelse-cimt.eml"),
    ));
    // Sensitive and not technical: passed on to no one, and the notice says so.
    out.push((
        "sensitive-terms.da".into(),
        fixtures().join("sensitive/yes/da-navngiven-patient-kemo-terms.eml"),
    ));
    out.push((
        "sensitive-html.en".into(),
        fixtures().join("sensitive/yes/en-html-cpr-screen-share-cimt.eml"),
    ));
    // A CPR number in the display name and in a CSV attachment sent as octet-stream, and a
    // patient with a diagnosis only in the HTML alternative.
    out.push((
        "sensitive-hidden.da".into(),
        golden_dir().join("inputs/sensitive-hidden.da.eml"),
    ));
    out
}

fn render(path: &Path) -> (Vec<u8>, Option<Vec<u8>>) {
    let s = setup();
    let raw = std::fs::read(path).unwrap();
    let a = assess(&raw, &s.config, &s.classifier);
    let forward = a
        .classification
        .desk
        .as_ref()
        .map(|d| forward_of(&a, &raw, d.as_str()));
    (reply_to(&a), forward)
}

#[test]
fn rendered_replies_match_their_golden_files() {
    let mut failures = Vec::new();
    for (case, path) in cases() {
        let (reply, forward) = render(&path);
        if let Err(e) = check_golden(&format!("{case}.reply"), &reply) {
            failures.push(e);
        }
        if let Some(f) = forward {
            if let Err(e) = check_golden(&format!("{case}.forward"), &f) {
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.split("\r\n\r\n").next()?.lines().find_map(|l| {
        l.split_once(':')
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    })
}

#[test]
fn replies_thread_and_mark_themselves_and_never_quote_the_sender() {
    for (case, path) in cases() {
        let raw = std::fs::read(&path).unwrap();
        let s = setup();
        let a = assess(&raw, &s.config, &s.classifier);
        let (reply, _) = render(&path);
        let text = String::from_utf8(reply).unwrap();
        assert_eq!(
            header(&text, "Auto-Submitted"),
            Some("auto-replied"),
            "{case}"
        );
        assert_eq!(
            header(&text, "X-Auto-Response-Suppress"),
            Some("All"),
            "{case}"
        );
        assert_eq!(
            header(&text, "X-Autosvar-Category"),
            Some(a.classification.category.name()),
            "{case}"
        );
        let id = a.mail.message_id.as_ref().unwrap().bracketed();
        assert_eq!(header(&text, "In-Reply-To"), Some(id.as_str()), "{case}");
        assert!(header(&text, "References").unwrap().contains(&id), "{case}");
        assert!(
            !text.contains("Re: Re:") && !text.contains("Re: SV:"),
            "{case}"
        );
        assert!(
            header(&text, "Message-ID")
                .unwrap()
                .ends_with("@example.test>"),
            "{case}"
        );
        // No sentence of the sender's own text comes back.
        let body = text.split("\r\n\r\n").nth(1).unwrap();
        for sentence in a
            .mail
            .new_text
            .split(['.', '?', '!', '\n'])
            .map(str::trim)
            .filter(|s| s.len() > 25)
        {
            assert!(
                !body.contains(sentence),
                "{case}: reply quotes {sentence:?}"
            );
        }
    }
}

#[test]
fn a_forward_of_sensitive_mail_carries_no_cpr_number() {
    let path = fixtures().join("sensitive/yes/da-cpr-i-zoom-chat-cimt.eml");
    let raw = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
    assert!(
        !find_cpr(&raw).is_empty(),
        "the fixture must hold a CPR number"
    );
    let s = setup();
    let raw_bytes = std::fs::read(&path).unwrap();
    let mut a = assess(&raw_bytes, &s.config, &s.classifier);
    assert!(a.classification.sensitive);
    // Whatever the classifier says, a forward of this mail must carry no CPR number.
    a.classification.category = autosvar::classify::Category::Technical;
    a.classification.desk = Some("cimt".into());
    let reply = reply_to(&a);
    let forward = String::from_utf8(forward_of(&a, &raw_bytes, "cimt")).unwrap();
    assert!(
        find_cpr(&forward).is_empty(),
        "CPR number in forward:\n{forward}"
    );
    assert!(find_cpr(&String::from_utf8(reply).unwrap()).is_empty());
    assert!(
        !forward.contains("message/rfc822"),
        "the raw original must not be attached"
    );
    assert!(header(&forward, "Reply-To").is_some());
}
