//! Asking the ledger (issue 13): `history`, `status` and `release --json` on a ledger that
//! `run --once` built over the demo Maildir (offline), and the JSON log: every line of
//! stderr parses, and every per-mail line names the mail (source, Message-ID) and its
//! outcome, a set-aside warning included.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::embedded_default;

/// A mail whose bytes hold this token panics the pipeline in a test build
/// (`AUTOSVAR_FAULT`), and is set aside.
const POISON: &str = "POISON-13";

fn bin(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_autosvar"));
    c.env_remove("RUST_LOG")
        .env_remove("AUTOSVAR_CONFIG")
        .env_remove("AUTOSVAR_FAULT")
        .env_remove("AUTOSVAR_LOG_FORMAT")
        .current_dir(dir);
    c
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn json_lines(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

/// The demo's six mails plus one that panics, run once: 4 replied, 2 skipped, 1 set aside.
fn run_demo_with_a_poisoned_mail(dir: &Path, log: &[(&str, &str)]) -> Output {
    std::fs::write(
        dir.join("demo/Maildir/new/9-poison.eml"),
        format!(
            "From: poison@sender.example\r\nTo: e-learning@example.test\r\nSubject: Pris {POISON}\r\n\
             Message-ID: <poison-13@sender.example>\r\n\r\nHvad koster en licens?\r\n"
        ),
    )
    .unwrap();
    let mut c = bin(dir);
    c.args(["run", "--once"])
        .env("AUTOSVAR_FAULT", format!("panic:{POISON}"));
    for (k, v) in log {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o
}

#[test]
fn history_status_and_release_answer_from_a_run_once_ledger() {
    let dir = embedded_default();
    let d = dir.path();
    // Asking before anything ran creates no ledger.
    let none = bin(d).arg("status").output().unwrap();
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("no ledger"));
    assert!(!d.join("var/autosvar.sqlite").exists());

    run_demo_with_a_poisoned_mail(d, &[]);

    let all = json_lines(&ok(bin(d).args(["history", "--json"]).output().unwrap()));
    assert_eq!(all.len(), 7);
    let count = |o: &str| all.iter().filter(|m| m["outcome"] == o).count();
    assert_eq!(
        (count("replied"), count("skipped"), count("set-aside")),
        (4, 2, 1)
    );
    for m in &all {
        for field in ["at", "updated", "source", "key", "outcome"] {
            assert!(m[field].is_string(), "{field} in {m}");
        }
        assert!(m["source"].as_str().unwrap().starts_with("demo/Maildir/"));
    }
    let aside = all.iter().find(|m| m["outcome"] == "set-aside").unwrap();
    assert!(aside["source"].as_str().unwrap().ends_with("9-poison.eml"));
    assert!(aside["why"].as_str().unwrap().contains("internal error"));

    let text = ok(bin(d).arg("history").output().unwrap());
    assert_eq!(text.lines().count(), 7, "{text}");
    assert!(text.lines().all(|l| l.split('\t').count() == 6), "{text}");

    // Filters: outcome, category, sender (hashed: the address is never printed), limit,
    // since.
    let skipped = ok(bin(d)
        .args(["history", "--outcome", "skipped"])
        .output()
        .unwrap());
    assert_eq!(skipped.lines().count(), 2, "{skipped}");
    assert!(skipped.contains("auto-reply") && skipped.contains("\tlist"));
    let technical = json_lines(&ok(bin(d)
        .args(["history", "--category", "technical", "--json"])
        .output()
        .unwrap()));
    let mut desks: Vec<&str> = technical
        .iter()
        .map(|m| m["desk"].as_str().unwrap())
        .collect();
    desks.sort();
    assert_eq!(desks, ["cimt", "kuit"]);
    let mette = ok(bin(d)
        .args(["history", "--sender", "Mette.Holm@regionh.example"])
        .output()
        .unwrap());
    assert_eq!(mette.lines().count(), 1, "{mette}");
    assert!(mette.contains("demo-1-pricing") && mette.contains("\treplied\t"));
    assert!(!mette.to_lowercase().contains("mette.holm"), "{mette}");
    let one = ok(bin(d)
        .args(["history", "--limit", "1", "--json"])
        .output()
        .unwrap());
    assert_eq!(one.lines().count(), 1);
    let recent = ok(bin(d).args(["history", "--since", "1h"]).output().unwrap());
    assert_eq!(recent.lines().count(), 7);
    let bad = bin(d)
        .args(["history", "--outcome", "lost"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));

    // Status: the counts of the run, nothing pending, the daemon's notes.
    let s: Value =
        serde_json::from_str(&ok(bin(d).args(["status", "--json"]).output().unwrap())).unwrap();
    assert_eq!(s["today"]["total"], 7, "{s}");
    assert_eq!(
        (
            &s["today"]["replied"],
            &s["today"]["skipped"],
            &s["today"]["set-aside"]
        ),
        (&Value::from(4), &Value::from(2), &Value::from(1)),
        "{s}"
    );
    assert_eq!(s["week"]["total"], 7, "{s}");
    assert_eq!(s["pending"]["messages"], 0);
    assert_eq!(s["set_aside"], 1);
    assert_eq!(s["last_contact"]["what"], "maildir scanned");
    assert_eq!(s["templates"]["on_disk"], true, "{s}");
    assert_eq!(s["templates"]["digest"].as_str().unwrap().len(), 24);
    assert_eq!(s["ledger"]["mails"], 7);
    assert!(s["ledger"]["bytes"].as_u64().unwrap() > 0);
    let text = ok(bin(d).arg("status").output().unwrap());
    assert!(
        text.contains("7 mail(s): 4 replied, 2 skipped, 1 set-aside"),
        "{text}"
    );
    // A template edited on disk and not yet loaded shows as a difference.
    let pricing = d.join("responses/pricing.da.txt");
    let edited = std::fs::read_to_string(&pricing).unwrap() + "\n";
    std::fs::write(&pricing, edited).unwrap();
    let s: Value =
        serde_json::from_str(&ok(bin(d).args(["status", "--json"]).output().unwrap())).unwrap();
    assert_eq!(s["templates"]["on_disk"], false, "{s}");

    // Release: listed, released by its ID, gone from the list.
    let listed = json_lines(&ok(bin(d).args(["release", "--json"]).output().unwrap()));
    assert_eq!(listed.len(), 1);
    let id = listed[0]["source"].as_str().unwrap().to_string();
    assert!(id.ends_with("9-poison.eml"));
    assert_eq!(listed[0]["key"], aside["key"]);
    let released = json_lines(&ok(bin(d)
        .args(["release", "--json", &id])
        .output()
        .unwrap()));
    assert_eq!(released.len(), 1);
    assert_eq!(released[0]["id"], id.as_str());
    assert_eq!(released[0]["released"], true);
    assert_eq!(released[0]["mails"][0]["key"], aside["key"]);
    let again = bin(d).args(["release", "--json", &id]).output().unwrap();
    assert_eq!(again.status.code(), Some(1));
    let again = json_lines(&String::from_utf8(again.stdout).unwrap());
    assert_eq!(again[0]["released"], false);
    assert!(ok(bin(d).args(["release", "--json"]).output().unwrap()).is_empty());
}

#[test]
fn json_logs_parse_line_by_line_and_every_mail_line_names_its_mail_and_outcome() {
    let dir = embedded_default();
    let d = dir.path();
    let config = d.join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}\n[log]\nformat = \"json\"\n")).unwrap();
    let o = run_demo_with_a_poisoned_mail(d, &[("RUST_LOG", "autosvar=info")]);
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(!err.contains('\u{1b}'), "no colour codes: {err}");
    let lines = json_lines(&err);
    let handled: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "mail handled")
        .collect();
    assert_eq!(handled.len(), 6, "{err}");
    for l in &handled {
        let span = &l["span"];
        assert_eq!(span["name"], "mail", "{l}");
        assert!(span["source"]
            .as_str()
            .unwrap()
            .starts_with("demo/Maildir/"));
        assert!(span["message_id"].as_str().unwrap().starts_with("demo-"));
        assert!(["replied", "skipped"].contains(&span["outcome"].as_str().unwrap()));
        assert_eq!(l["level"], "INFO");
    }
    // The set-aside warning says which mail.
    let aside = lines
        .iter()
        .find(|l| l["message"] == "mail set aside for a person")
        .unwrap_or_else(|| panic!("{err}"));
    assert_eq!(aside["level"], "WARN");
    assert_eq!(aside["outcome"], "set-aside");
    assert!(aside["source"].as_str().unwrap().ends_with("9-poison.eml"));
    assert!(aside["span"]["source"]
        .as_str()
        .unwrap()
        .ends_with("9-poison.eml"));
    let not_answered = lines
        .iter()
        .find(|l| l["message"] == "mail not answered")
        .unwrap_or_else(|| panic!("{err}"));
    assert_eq!(not_answered["span"]["outcome"], "set-aside");
    // Unreadable, it is named as the ledger knows it: by the digest of its bytes.
    assert!(not_answered["span"]["message_id"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    // No address and no body text.
    for needle in ["mette.holm@", "poison@sender", "Hvad koster"] {
        assert!(!err.contains(needle), "{needle} in {err}");
    }
    // The summary line is JSON too.
    assert!(lines
        .iter()
        .any(|l| l["message"] == "7 mail(s): 4 replied, 1 set-aside, 2 skipped"));
}

/// A template set the running daemon reloads is in `status` at once (the reload rings the
/// daemon's bell, which notes it), not only at the next Maildir poll (30 s here).
#[test]
fn status_shows_a_reloaded_template_set_without_waiting_for_mail() {
    use std::time::{Duration, Instant};
    let dir = crate::common::empty_embedded_default();
    let d = dir.path();
    let mut daemon = bin(d)
        .arg("run")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let status = || -> Option<Value> {
        let o = bin(d).args(["status", "--json"]).output().unwrap();
        o.status
            .success()
            .then(|| serde_json::from_slice(&o.stdout).unwrap())
    };
    let until = |what: &str, ready: &dyn Fn(&Value) -> bool| -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = status().filter(|s| ready(s)) {
                return s;
            }
            assert!(Instant::now() < deadline, "{what}: {:?}", status());
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let first = until("the first scan noted", &|s| s["templates"].is_object());
    assert_eq!(first["last_contact"]["what"], "maildir scanned");
    let before = first["templates"]["digest"].clone();
    let pricing = d.join("responses/pricing.en.txt");
    let edited = std::fs::read_to_string(&pricing).unwrap() + "\nThank you.\n";
    std::fs::write(&pricing, edited).unwrap();
    let reloaded = until("the reloaded set noted", &|s| {
        s["templates"]["digest"] != before && s["templates"]["on_disk"] == true
    });
    assert_eq!(reloaded["templates"]["published_version"], Value::Null);
    Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while daemon.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "daemon did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `release ID --forward DESK` on a doubtful mail (every specific category doubtful with
/// `review-below = 1.0`): `run --once` acknowledges it and holds its forward; the request
/// is written and audited; the next `run --once` sends the forward, once; asking again, or
/// for a mail that holds no forward, is refused (exit 1).
#[test]
fn release_forward_asks_for_a_doubtful_mails_held_forward_once() {
    let d = crate::common::empty_embedded_default();
    let dir = d.path();
    let rules = dir.join("rules.toml");
    let text = std::fs::read_to_string(&rules).unwrap();
    let doubting: Vec<&str> = text
        .lines()
        .map(|l| {
            if l.starts_with("review-below = ") {
                "review-below = 1.0"
            } else {
                l
            }
        })
        .collect();
    std::fs::write(&rules, doubting.join("\n")).unwrap();
    std::fs::write(
        dir.join("demo/Maildir/new/1-doubt.eml"),
        "From: Bo <bo@regionh.example>\r\nTo: e-learning@example.test\r\n\
         Subject: Kamera virker ikke\r\nMessage-ID: <cli-doubt@regionh.example>\r\n\r\n\
         Mit kamera virker ikke i Zoom Meetings på min pc.\r\n",
    )
    .unwrap();
    let out = ok(bin(dir).args(["run", "--once"]).output().unwrap());
    assert!(out.contains("acknowledged doubtful technical"), "{out}");
    let forwards = || {
        std::fs::read_dir(dir.join("var/outbox"))
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
            .filter(|m| m.contains("X-Autosvar-Desk:"))
            .count()
    };
    assert_eq!(forwards(), 0, "held");
    let source = "demo/Maildir/1-doubt.eml";
    let listed = json_lines(&ok(bin(dir)
        .args(["history", "--review", "--json"])
        .output()
        .unwrap()));
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["source"], source);
    let asked = bin(dir)
        .args(["release", source, "--forward", "kuit", "--json"])
        .output()
        .unwrap();
    let line = &json_lines(&ok(asked))[0];
    assert_eq!(line["requested"], true, "{line}");
    let out = ok(bin(dir).args(["run", "--once"]).output().unwrap());
    assert!(out.contains("forwarded technical desk=kuit"), "{out}");
    assert_eq!(forwards(), 1);
    let again = bin(dir)
        .args(["release", source, "--forward", "cimt"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(text.contains("forward refused"), "{text}");
    assert!(text.contains("already sent or asked for"), "{text}");
    // Nothing was asked for, so nothing is promised.
    assert!(!text.contains("the running daemon sends"), "{text}");
    ok(bin(dir).args(["run", "--once"]).output().unwrap());
    assert_eq!(forwards(), 1, "one forward only");
    assert!(
        ok(bin(dir).args(["history", "--review"]).output().unwrap()).contains("no mail matches")
    );
    let unknown = bin(dir)
        .args(["release", "nope", "--forward", "cimt"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(1));
}
