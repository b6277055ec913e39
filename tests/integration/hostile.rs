//! Hostile and unlucky mail through the binary, on a copy of the embedded default: a mail
//! that panics or kills the process, the mails from issue 9 that once did, reused
//! Message-IDs, and the byte-level faults of real mail. Each asserts what the sender and
//! HR see: the replies in the outbox and the line `run --once` prints per mail.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::empty_embedded_default as setup;

fn put(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join("demo/Maildir/new").join(name), bytes).unwrap();
}

fn mail(id: &str, from: &str, subject: &str, body: &str) -> Vec<u8> {
    format!("From: {from}\r\nTo: e-learning@example.test\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").into_bytes()
}

fn run_once(dir: &Path, fault: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_autosvar"));
    c.env_remove("RUST_LOG")
        .env_remove("AUTOSVAR_CONFIG")
        .env_remove("AUTOSVAR_FAULT")
        .current_dir(dir)
        .args(["run", "--once"]);
    if let Some(f) = fault {
        c.env("AUTOSVAR_FAULT", f);
    }
    c.output().unwrap()
}

/// The `run --once` line of one Maildir file: "replied pricing", "set-aside …".
fn outcome_of(o: &Output, file: &str) -> String {
    let out = String::from_utf8_lossy(&o.stdout);
    out.lines()
        .find(|l| l.contains(&format!("/{file}\t")))
        .and_then(|l| l.split_once('\t'))
        .map(|(_, rest)| rest.to_string())
        .unwrap_or_else(|| {
            panic!(
                "no line for {file} in:\n{out}\n{}",
                String::from_utf8_lossy(&o.stderr)
            )
        })
}

fn replies(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("var/outbox"))
        .map(|d| {
            d.map(|e| e.unwrap().path())
                .filter(|p| {
                    let n = p.file_name().unwrap().to_string_lossy();
                    !n.starts_with('.') && n.contains(".reply.")
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn read(p: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned()
}

#[test]
fn a_mail_that_panics_is_set_aside_and_the_mails_behind_it_are_answered() {
    let dir = setup();
    let d = dir.path();
    put(
        d,
        "1-a.eml",
        &mail(
            "a@h.test",
            "a@sender.test",
            "Pris",
            "Hvad koster en licens?",
        ),
    );
    put(
        d,
        "2-b.eml",
        &mail(
            "b@h.test",
            "b@sender.test",
            "Pris POISON-7",
            "Hvad koster det?",
        ),
    );
    put(
        d,
        "3-c.eml",
        &mail(
            "c@h.test",
            "c@sender.test",
            "Pris",
            "Hvad koster en licens?",
        ),
    );
    let o = run_once(d, Some("panic:POISON-7"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(outcome_of(&o, "1-a.eml").starts_with("replied"));
    assert!(
        outcome_of(&o, "2-b.eml").starts_with("set-aside"),
        "{:?}",
        outcome_of(&o, "2-b.eml")
    );
    assert!(outcome_of(&o, "3-c.eml").starts_with("replied"));
    assert_eq!(replies(d).len(), 2);
    // The panic's message (which may quote the mail) is not logged; where it happened is.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("internal error (panic)"), "{err}");
    assert!(!err.contains("injected fault"), "{err}");
    // Recorded: the next run leaves it alone.
    let again = run_once(d, Some("panic:POISON-7"));
    assert!(outcome_of(&again, "2-b.eml").starts_with("already-done"));
    assert_eq!(replies(d).len(), 2);
    // The operator lists it, and releases it once the bug is fixed (no fault any more).
    let list = release(d, &[]);
    assert_eq!(list.lines().count(), 1, "{list}");
    assert!(
        list.contains("2-b.eml") && list.contains("internal error"),
        "{list}"
    );
    let source = list.split('\t').nth(1).unwrap().to_string();
    assert!(release(d, &[&source]).contains("released"));
    assert!(release(d, &[]).contains("no mail is set aside"));
    let fixed = run_once(d, None);
    assert!(outcome_of(&fixed, "2-b.eml").starts_with("replied"));
    assert_eq!(replies(d).len(), 3);
}

fn release(dir: &Path, args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_autosvar"))
        .env_remove("AUTOSVAR_CONFIG")
        .current_dir(dir)
        .arg("release")
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn a_mail_that_kills_the_process_is_retried_then_set_aside() {
    let dir = setup();
    let d = dir.path();
    put(
        d,
        "1-a.eml",
        &mail(
            "a@h.test",
            "a@sender.test",
            "Pris",
            "Hvad koster en licens?",
        ),
    );
    put(
        d,
        "2-b.eml",
        &mail("b@h.test", "b@sender.test", "KILLER-3", "Hvad koster det?"),
    );
    put(
        d,
        "3-c.eml",
        &mail(
            "c@h.test",
            "c@sender.test",
            "Pris",
            "Hvad koster en licens?",
        ),
    );
    // Dies at the mail (as out of memory or an abort would), POISON_AFTER times: a death may
    // have been a kill that had nothing to do with it.
    for _ in 0..autosvar::pipeline::POISON_AFTER {
        let o = run_once(d, Some("abort:KILLER-3"));
        assert!(!o.status.success());
    }
    assert_eq!(
        replies(d).len(),
        1,
        "mail 1 was answered before the first death"
    );
    let o = run_once(d, Some("abort:KILLER-3"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(outcome_of(&o, "2-b.eml").starts_with("set-aside"));
    assert!(outcome_of(&o, "3-c.eml").starts_with("replied"));
    assert_eq!(replies(d).len(), 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("stopped while handling this mail"), "{err}");
}

#[test]
fn a_process_killed_once_at_a_mail_answers_it_on_the_next_start() {
    let dir = setup();
    let d = dir.path();
    put(
        d,
        "1-a.eml",
        &mail(
            "a@h.test",
            "a@sender.test",
            "Pris",
            "Hvad koster en licens?",
        ),
    );
    let o = run_once(d, Some("abort:Hvad koster"));
    assert!(!o.status.success());
    let o = run_once(d, None);
    assert!(
        outcome_of(&o, "1-a.eml").starts_with("replied"),
        "{:?}",
        outcome_of(&o, "1-a.eml")
    );
}

/// The inputs that stopped the daemon for good before (issue 9, point 1).
#[test]
fn mails_that_once_crashed_compose_or_classify_are_answered() {
    let dir = setup();
    let d = dir.path();
    put(
        d,
        "1-kelvin.eml",
        &mail(
            "k@h.test",
            "k@sender.test",
            "Re: \u{212A}elvin Zoom",
            "Hvad koster en licens?",
        ),
    );
    put(
        d,
        "2-dotted.eml",
        &mail(
            "i@h.test",
            "i@sender.test",
            "SV: \u{0130}stanbul",
            "Hvad koster en licens?",
        ),
    );
    put(
        d,
        "3-lf-name.eml",
        b"From: =?utf-8?b?QW5uZQpIYW5zZW4=?= <anne@sender.test>\r\nSubject: Pris\r\nMessage-ID: <lf@h.test>\r\n\r\nHvad koster en licens?\r\n",
    );
    put(
        d,
        "4-cr-name.eml",
        b"From: \"Anne\rHansen\" <anne2@sender.test>\r\nReply-To: =?utf-8?q?Bo=0D=0ABcc=3A_x=40evil=2Etest?= <bo@sender.test>\r\nSubject: Pris\r\nMessage-ID: <cr@h.test>\r\n\r\nHvad koster en licens?\r\n",
    );
    let o = run_once(d, None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "1-kelvin.eml",
        "2-dotted.eml",
        "3-lf-name.eml",
        "4-cr-name.eml",
    ] {
        assert!(
            outcome_of(&o, f).starts_with("replied"),
            "{f}: {}",
            outcome_of(&o, f)
        );
    }
    for r in replies(d) {
        let text = read(&r);
        let head = text.split("\r\n\r\n").next().unwrap();
        assert!(!head.lines().any(|l| l.starts_with("Bcc:")), "{head}");
        assert!(
            head.contains("\r\nTo: ") || head.starts_with("To: "),
            "{head}"
        );
    }
}

/// Issue 9, point 3: a reused Message-ID must not silently drop another sender's mail, and
/// one mail seen twice is still answered once.
#[test]
fn a_reused_message_id_is_two_mails_but_a_redelivery_is_one() {
    let dir = setup();
    let d = dir.path();
    let a = mail(
        "same@h.test",
        "a@sender.test",
        "Pris",
        "Hvad koster en licens?",
    );
    put(d, "1-a.eml", &a);
    put(
        d,
        "2-b.eml",
        &mail(
            "same@h.test",
            "b@sender.test",
            "Licens",
            "Hvad koster en enterprise-licens til møder med 300 deltagere?",
        ),
    );
    // The same mail delivered again, with a Received line and LF line ends.
    let mut again =
        b"Received: from relay.test by mx.test; Mon, 1 Jan 2024 10:00:00 +0000\n".to_vec();
    again.extend(
        String::from_utf8(a)
            .unwrap()
            .replace("\r\n", "\n")
            .into_bytes(),
    );
    put(d, "3-a-again.eml", &again);
    let o = run_once(d, None);
    assert!(outcome_of(&o, "1-a.eml").starts_with("replied"));
    assert!(
        outcome_of(&o, "2-b.eml").starts_with("replied"),
        "{}",
        outcome_of(&o, "2-b.eml")
    );
    assert!(outcome_of(&o, "3-a-again.eml").starts_with("already-done"));
    assert_eq!(replies(d).len(), 2);
}

/// Issue 9, point 6: mail a person wrote, with byte-level faults, is parsed and answered.
#[test]
fn cr_only_leading_blank_and_raw_latin1_mail_is_answered() {
    let dir = setup();
    let d = dir.path();
    put(
        d,
        "1-cr.eml",
        b"From: Bo <bo@sender.test>\rSubject: Pris\rMessage-ID: <cr-only@h.test>\r\rHvad koster en licens til 200 deltagere?\r",
    );
    put(
        d,
        "2-blank.eml",
        b"\r\nFrom: Ida <ida@sender.test>\r\nSubject: Pris\r\nMessage-ID: <blank@h.test>\r\n\r\nHvad koster en licens til 200 deltagere?\r\n",
    );
    put(
        d,
        "3-latin1.eml",
        b"From: S\xf8ren <soren@sender.test>\r\nSubject: K\xf8b af licens\r\nMessage-ID: <latin1@h.test>\r\n\r\nHvad koster en licens til st\xf8rre m\xf8der?\r\n",
    );
    let o = run_once(d, None);
    for f in ["1-cr.eml", "2-blank.eml", "3-latin1.eml"] {
        assert!(
            outcome_of(&o, f).starts_with("replied pricing"),
            "{f}: {}",
            outcome_of(&o, f)
        );
    }
    let latin1 = replies(d)
        .into_iter()
        .map(|p| read(&p))
        .find(|t| t.contains("soren@sender.test"))
        .unwrap();
    let parsed = mail_parser::MessageParser::default()
        .parse(latin1.as_bytes())
        .unwrap();
    assert_eq!(parsed.subject(), Some("Re: Køb af licens"));
}

/// Issue 10: a restart asks the ledger before it reads a mail. A mail handled from this
/// very file with these very bytes is reported done without being parsed or classified:
/// reading it now would kill the process, and the run goes through. The same bytes under
/// another name, and other bytes under the same name, are read again (and reading them is
/// what fails now).
#[test]
fn a_restart_does_not_read_a_finished_mail_again() {
    let dir = setup();
    let d = dir.path();
    let a = mail(
        "a@h.test",
        "a@sender.test",
        "Pris READ-AGAIN-5",
        "Hvad koster en licens?",
    );
    put(d, "1-a.eml", &a);
    let first = run_once(d, None);
    assert!(outcome_of(&first, "1-a.eml").starts_with("replied"));
    // Parsing or classifying the mail would abort the process now.
    let again = run_once(d, Some("abort:READ-AGAIN-5"));
    assert!(
        again.status.success(),
        "the finished mail was read again: {}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(outcome_of(&again, "1-a.eml"), "already-done");
    assert_eq!(replies(d).len(), 1);
    // The same bytes in another file are read: reading panics now, so it is set aside.
    put(d, "2-a-copy.eml", &a);
    let copy = run_once(d, Some("panic:READ-AGAIN-5"));
    assert_eq!(outcome_of(&copy, "1-a.eml"), "already-done");
    assert!(
        outcome_of(&copy, "2-a-copy.eml").starts_with("set-aside"),
        "{}",
        outcome_of(&copy, "2-a-copy.eml")
    );
    // Other bytes in the first file (a redelivery: the same mail to the ledger) are read.
    let mut redelivered =
        b"Received: from relay.test by mx.test; Mon, 1 Jan 2024 10:00:00 +0000\r\n".to_vec();
    redelivered.extend_from_slice(&a);
    put(d, "1-a.eml", &redelivered);
    let changed = run_once(d, Some("panic:READ-AGAIN-5"));
    assert!(
        outcome_of(&changed, "1-a.eml").starts_with("set-aside"),
        "{}",
        outcome_of(&changed, "1-a.eml")
    );
    // Read without the fault, it is the mail already answered.
    let fine = run_once(d, None);
    assert_eq!(outcome_of(&fine, "2-a-copy.eml"), "already-done");
    assert_eq!(replies(d).len(), 1);
}
