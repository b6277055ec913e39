//! Arbitrary text -> `Rules::parse`, as if read from a path that does not exist; rules that
//! load then classify a few fixed mails (rules are data: no rule may make classify panic).
#![no_main]

use autosvar::classify::rules::Rules;
use autosvar::classify::Classifier;
use autosvar::parse::{parse, Language, Mail};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const MAILS: &[&str] = &[
    "From: Mette Jensen <mette@regionh.example>\r\nSubject: Re: Zoom virker ikke\r\n\
     Message-ID: <a@b>\r\n\r\nHej, hvad koster en licens? Min lyd virker ikke i Zoom.\r\n\
     Mit cpr-nummer er 120488-1436.\r\n",
    "From: \"Bredahl, Natasja\" <n@ku.example>\r\nSubject: SV: \u{212a}elvin \u{0130}stanbul \u{1e9e}\r\n\
     Content-Type: text/plain; charset=utf-8\r\n\r\nCan I use Zoom for teaching? \u{212a}\u{0130}\u{1e9e}\r\n\
     > quoted text\r\n",
    "From: x@y\r\n\r\n",
];

fn mails() -> &'static Vec<Mail> {
    static MAILS_PARSED: OnceLock<Vec<Mail>> = OnceLock::new();
    MAILS_PARSED.get_or_init(|| {
        MAILS
            .iter()
            .map(|m| parse(m.as_bytes(), Language::Da))
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let path = autosvar_fuzz::fake_path("rules.toml");
    match Rules::parse(&path, &text) {
        Ok(rules) => {
            let classifier = Classifier::new(rules, None);
            for m in mails() {
                let c = classifier.classify(m);
                assert!(c.confidence.is_finite(), "confidence {}", c.confidence);
            }
        }
        Err(e) => {
            let problems = e.diagnostics();
            assert!(!problems.is_empty(), "an error with no problem listed");
            for d in &problems {
                assert_eq!(d.file, path, "a problem placed in another file: {d}");
                assert!(
                    d.column.is_none() || d.line.is_some(),
                    "a column with no line: {d}"
                );
                assert!(!d.message.is_empty(), "a problem that says nothing: {d}");
            }
        }
    }
});
