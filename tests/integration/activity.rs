//! What the ledger keeps for the HR console, through the binary on a copy of the embedded
//! default: every mail listed, a CPR number in a subject never stored, the sender's address
//! never stored in clear, the explanation the one `classify --explain` prints.

use std::path::Path;
use std::process::Command;

use autosvar::ledger::{sender_hash, ActivityQuery, Ledger, Outcome};
use autosvar::types::Category;

use crate::common::embedded_default;

const ADDRESS: &str = "Bo.Bang.4711@Outside.example";

const MAIL: &str = "From: Bo Bang <Bo.Bang.4711@Outside.example>\r\n\
To: e-learning@regionh.example\r\n\
Subject: Zoom virker ikke, CPR 010190-1234\r\n\
Message-ID: <activity-1@outside.example>\r\n\
Date: Mon, 2 Mar 2026 09:00:00 +0100\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Hej\r\n\
\r\n\
Zoom starter ikke paa min PC, den lukker ned med det samme. Mit cpr er 0101901234.\r\n\
Hvad goer jeg?\r\n\
\r\n\
Bo\r\n";

fn holds(bytes: &[u8], needle: &str) -> bool {
    bytes
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

fn autosvar(dir: &Path, args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_autosvar"))
        .env_remove("RUST_LOG")
        .env_remove("AUTOSVAR_CONFIG")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn the_ledger_keeps_what_was_done_without_cpr_numbers_or_the_address() {
    let dir = embedded_default();
    let file = dir.path().join("demo/Maildir/new/1735722400.M7P1.demo,S=1");
    std::fs::write(&file, MAIL).unwrap();
    let explained = autosvar(
        dir.path(),
        &["classify", "--explain", file.to_str().unwrap()],
    );
    let lines = autosvar(dir.path(), &["run", "--once"]);
    assert_eq!(lines.lines().count(), 7, "{lines}");

    let path = dir.path().join("var/autosvar.sqlite");
    // The process has ended: its write-ahead log is folded in; both files are read anyway.
    let mut stored = std::fs::read(&path).unwrap();
    stored.extend(std::fs::read(dir.path().join("var/autosvar.sqlite-wal")).unwrap_or_default());
    for secret in [ADDRESS, "0101901234", "010190-1234", "010190 1234"] {
        assert!(!holds(&stored, secret), "the ledger holds {secret:?}");
    }

    // The console's connection, beside no daemon.
    let l = Ledger::open(&path).unwrap();
    let all = l
        .activity(&ActivityQuery {
            limit: 50,
            ..ActivityQuery::default()
        })
        .unwrap();
    assert_eq!(all.len(), 7);
    assert!(
        all.iter()
            .all(|r| r.sender_hash.is_some() && r.subject.is_some()),
        "{all:#?}"
    );
    // Found by the address as a person types it.
    let bo = l
        .activity(&ActivityQuery {
            sender_hash: Some(sender_hash(" bo.bang.4711@outside.example")),
            limit: 50,
            ..ActivityQuery::default()
        })
        .unwrap();
    assert_eq!(bo.len(), 1, "{bo:#?}");
    let row = &bo[0];
    assert_eq!(
        (
            row.category,
            row.outcome,
            row.sensitive,
            row.desk.as_deref()
        ),
        (
            Some(Category::Technical),
            Outcome::Replied,
            true,
            Some("cimt")
        )
    );
    let subject = row.subject.as_deref().unwrap();
    assert!(
        subject.starts_with("Zoom virker ikke, CPR [CPR-nummer fjernet]"),
        "{subject}"
    );

    let detail = l.mail(&row.key).unwrap().unwrap();
    let explanation = detail.explanation.unwrap();
    // The very lines `classify --explain` prints between the language and the text.
    let printed: Vec<&str> = explained
        .lines()
        .skip_while(|l| !l.starts_with("  decision:"))
        .take_while(|l| !l.starts_with("  new text considered"))
        .map(|l| &l[2..])
        .collect();
    assert_eq!(explanation.lines().collect::<Vec<_>>(), printed);
    assert!(
        explanation.contains("category:   technical"),
        "{explanation}"
    );
    // The reply and the forward as sent, but for the address.
    assert_eq!(detail.sent.len(), 2);
    let outbox: Vec<Vec<u8>> = std::fs::read_dir(dir.path().join("var/outbox"))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    for m in &detail.sent {
        assert!(m.sent.is_some());
        assert!(!holds(&m.bytes, ADDRESS));
        let sent = outbox
            .iter()
            .find(|o| holds(o, &m.message_id))
            .unwrap_or_else(|| panic!("{} not in the outbox", m.message_id));
        let unmasked = String::from_utf8_lossy(&m.bytes).replace(
            autosvar::ledger::SENDER_MASK,
            "bo.bang.4711@outside.example",
        );
        // The outbox file starts with the envelope recipient, which was not sent.
        let sent = String::from_utf8_lossy(sent);
        let sent = match sent.split_once("\r\n") {
            Some((first, rest)) if first.starts_with("X-Autosvar-Envelope-To:") => rest,
            _ => &sent,
        };
        assert_eq!(
            unmasked.to_lowercase(),
            sent.to_lowercase(),
            "{} is not kept as sent",
            m.message_id
        );
    }
}
