//! The review page on the running daemon (`autosvar run` on a copy of the embedded
//! default): a mail set aside for a person shows there; "answer with pricing" makes the
//! daemon send exactly one reply with the pricing template, a second click is refused;
//! "teach" saves the mail's text without its CPR number under training/ and the daemon
//! swaps in the retrained model; "no answer needed" closes the mail.
//!
//! A mail is set aside here the way a bug sets it aside: the test build's fault injection
//! (`AUTOSVAR_FAULT=panic:TOKEN`) panics while assessing a mail holding TOKEN; the
//! pipeline contains it and leaves the mail for a person.

use std::time::{Duration, Instant};

use crate::console::{Client, Running};

const TOKEN: &str = "REVIEW-PANIC-TOKEN";

/// Drops a mail into the Maildir as a mail client's delivery does.
fn drop_mail(d: &Running, id: &str, subject: &str, body: &str) {
    let mail = format!(
        "From: Ida <ida-{id}@regionh.example>\r\nTo: e-learning@example.test\r\nSubject: {subject}\r\nMessage-ID: <{id}@regionh.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    );
    let tmp = d.path(&format!("demo/Maildir/tmp/{id}"));
    std::fs::write(&tmp, mail).unwrap();
    std::fs::rename(&tmp, d.path(&format!("demo/Maildir/new/{id}"))).unwrap();
}

/// Polls until `f` gives something, failing with `what` at the deadline.
fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(Instant::now() < deadline, "not within 30 s: {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// The mail keys the review page shows, in order.
fn keys(c: &mut Client) -> Vec<String> {
    let page = c.get("/review");
    assert_eq!(page.status, 200, "{}", page.body);
    page.body
        .split("name=\"key\" value=\"")
        .skip(1)
        .filter_map(|r| r.split('"').next())
        .map(str::to_string)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The outbox files that reply to `id`.
fn replies_to(d: &Running, id: &str) -> Vec<String> {
    std::fs::read_dir(d.path("var/outbox"))
        .into_iter()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
        .filter(|t| t.contains(&format!("In-Reply-To: <{id}@regionh.example>")))
        .collect()
}

fn log(d: &Running) -> String {
    std::fs::read_to_string(d.path("log")).unwrap_or_default()
}

#[test]
fn a_set_aside_mail_is_answered_once_taught_and_closed_from_the_review_page() {
    let d = Running::start_env(|_| {}, &[("AUTOSVAR_FAULT", &format!("panic:{TOKEN}"))]);
    let mut c = d.signed_in();
    assert!(keys(&mut c).is_empty());

    drop_mail(
        &d,
        "review-1",
        "Hvad koster det?",
        &format!("Hej, hvad koster en licens til vores afdeling? {TOKEN}"),
    );
    let first = until("the set-aside mail on /review", || {
        keys(&mut c).into_iter().next()
    });
    assert!(
        replies_to(&d, "review-1").is_empty(),
        "set aside: not answered"
    );

    // Answer with pricing: the daemon sends exactly one reply, with the pricing template.
    let r = c.post(
        "/review/answer",
        &[("key", &first), ("category", "pricing"), ("desk", "")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/review?done=answer_asked"));
    let reply = until("the reply in var/outbox", || {
        replies_to(&d, "review-1").into_iter().next()
    });
    assert!(reply.contains("X-Autosvar-Category: pricing"), "{reply}");
    assert!(reply.contains("hvad Zoom Meetings koster"), "{reply}");
    // The page shows it sent; the mail is closed.
    until("the request shown as sent", || {
        let page = c.get("/review");
        page.body.contains(">sent</td>").then_some(())
    });
    assert!(!keys(&mut c).contains(&first));

    // A second click: refused with a clear message, and still one reply.
    let r = c.post(
        "/review/answer",
        &[("key", &first), ("category", "pricing"), ("desk", "")],
    );
    assert_eq!(r.status, 303);
    let to = r.header("location").unwrap().to_string();
    assert!(to.starts_with("/review?done=refused_"), "{to}");
    let page = c.get(&to);
    assert!(page.body.contains("Refused"), "{}", page.body);
    assert!(page.body.contains("role=\"alert\""));
    // Refused when asked: no second request was written, so the daemon has nothing to do.
    let answers = page.body.matches("class=\"request-row\"").count();
    assert_eq!(answers, 1, "{}", page.body);
    assert_eq!(replies_to(&d, "review-1").len(), 1);

    // Teach: a second set-aside mail, with a CPR number, saved as a pricing example.
    drop_mail(
        &d,
        "review-2",
        "Faktura",
        &format!("Hvem betaler fakturaen for licensen? Mit cpr-nummer er 010190-1234. {TOKEN}"),
    );
    let second = until("the second mail on /review", || {
        keys(&mut c).into_iter().find(|k| *k != first)
    });
    let r = c.post(
        "/review/teach",
        &[("key", &second), ("category", "pricing"), ("desk", "")],
    );
    assert_eq!(r.header("location"), Some("/review?done=teach_asked"));
    let example = until("the example under training/pricing/", || {
        std::fs::read_dir(d.path("training/pricing"))
            .unwrap()
            .filter_map(|e| {
                let p = e.unwrap().path();
                let name = p.file_name()?.to_str()?.to_string();
                name.starts_with("taught-")
                    .then(|| std::fs::read_to_string(&p).ok())?
            })
            .next()
    });
    assert!(
        example.contains("Hvem betaler fakturaen for licensen?"),
        "{example}"
    );
    assert!(
        !example.contains("010190") && !example.contains("1234"),
        "{example}"
    );
    assert!(
        !example.contains("ida-review-2"),
        "no sender address: {example}"
    );
    until("the retrained model swapped in", || {
        let l = log(&d);
        (l.contains("model retrained") && l.contains("retrained model swapped in")).then_some(())
    });
    assert!(
        replies_to(&d, "review-2").is_empty(),
        "teaching sends nothing"
    );

    // No answer needed: gone from the page, nothing sent; every action audited.
    let r = c.post("/review/close", &[("key", &second)]);
    assert_eq!(r.header("location"), Some("/review?done=closed"));
    assert!(keys(&mut c).is_empty());
    assert!(replies_to(&d, "review-2").is_empty());
    let audit = c.get("/audit").body;
    for action in [
        "answer requested",
        "answer written",
        "answer refused",
        "teach requested",
        "teach",
        "no answer needed",
    ] {
        assert!(
            audit.contains(&format!("<td>{action}</td>")),
            "{action}: {audit}"
        );
    }
}

/// The outbox files forwarding `id` to a desk.
fn forwards_of(d: &Running, id: &str) -> Vec<String> {
    std::fs::read_dir(d.path("var/outbox"))
        .into_iter()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
        .filter(|t| t.contains("X-Autosvar-Desk:") && t.contains(&format!("{id}@regionh.example")))
        .collect()
}

/// `autosvar ARGS` in the running daemon's folder (its ledger open beside the daemon's).
fn cli(d: &Running, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_autosvar"))
        .env_remove("RUST_LOG")
        .env_remove("AUTOSVAR_CONFIG")
        .current_dir(d.path(""))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The `--json` line of mail `id` in `autosvar history --json ARGS`.
fn history_of(d: &Running, id: &str, args: &[&str]) -> Option<serde_json::Value> {
    let mut all = vec!["history", "--json"];
    all.extend_from_slice(args);
    cli(d, &all)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["key"].as_str().is_some_and(|k| k.contains(id)))
}

/// A rules file where every specific category is doubtful (`review-below = 1.0`), outside
/// the daemon's folder; the config is pointed at it.
fn doubting_rules() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rules.toml")).unwrap();
    assert!(
        shipped.contains("\nreview-below = "),
        "the shipped rules name review-below"
    );
    let text: String = shipped
        .lines()
        .map(|l| {
            if l.starts_with("review-below = ") {
                "review-below = 1.0"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let path = dir.path().join("rules.toml");
    std::fs::write(&path, text).unwrap();
    let config_line = format!("rules = {:?}", path.display().to_string());
    (dir, config_line)
}

#[test]
fn a_doubtful_mail_is_acknowledged_flagged_and_its_held_forward_sent_once_from_the_review_page() {
    let (_rules, line) = doubting_rules();
    let edit = |c: &mut String| *c = c.replace("rules = \"rules.toml\"", &line);
    let mut d = Running::start_env(edit, &[]);
    let mut c = d.signed_in();

    drop_mail(
        &d,
        "doubt-1",
        "Zoom virker ikke",
        "Hej, når jeg starter Zoom Meetings på min pc, kan jeg ikke logge ind, og lyden \
         forsvinder i mødet. Hvad gør jeg?",
    );
    let ack = until("the acknowledgement in var/outbox", || {
        replies_to(&d, "doubt-1").into_iter().next()
    });
    // The short acknowledgement, not technical's text; no forward.
    assert!(ack.contains("X-Autosvar-Category: other"), "{ack}");
    assert!(!ack.contains("X-Autosvar-Category: technical"), "{ack}");
    assert!(forwards_of(&d, "doubt-1").is_empty(), "held: no forward");

    // Flagged in history with its guess; `--review` lists it; status counts it.
    let h = until("the doubtful mail in history --review", || {
        history_of(&d, "doubt-1", &["--review"])
    });
    assert_eq!(h["category"], "technical", "{h}");
    assert_eq!(h["doubtful"], true, "{h}");
    assert_eq!(h["forward_held"], true, "{h}");
    assert_eq!(h["waiting_review"], true, "{h}");
    let desk = h["desk"].as_str().unwrap().to_string();
    let text = cli(&d, &["history", "--review"]);
    assert!(
        text.contains(&format!(
            "doubtful (acknowledged), forward to {desk} held, waiting for review"
        )),
        "{text}"
    );
    let status = cli(&d, &["status"]);
    assert!(
        status.contains(
            "review:       1 mail(s) waiting for review (1 doubtful, 1 desk forward(s) held)"
        ),
        "{status}"
    );

    // The review page shows it as doubtful with the guessed desk; send the held forward.
    let key = h["key"].as_str().unwrap().to_string();
    assert!(keys(&mut c).contains(&key));
    let page = c.get("/review").body;
    assert!(page.contains("class=\"review-mail doubtful\""), "{page}");
    assert!(
        page.contains(&format!("<dd class=\"held\">{desk}</dd>")),
        "{page}"
    );
    let activity = c.get("/activity").body;
    assert!(
        activity.contains("doubtful: acknowledged, forward held"),
        "{activity}"
    );
    let r = c.post(
        "/review/forward",
        &[("key", &key), ("category", "technical"), ("desk", &desk)],
    );
    assert_eq!(r.header("location"), Some("/review?done=forward_asked"));
    let forward = until("the forward in var/outbox", || {
        forwards_of(&d, "doubt-1").into_iter().next()
    });
    assert!(
        forward.contains(&format!("X-Autosvar-Desk: {desk}")),
        "{forward}"
    );
    // A second click is refused; still one forward, and one reply.
    let r = c.post(
        "/review/forward",
        &[("key", &key), ("category", "technical"), ("desk", &desk)],
    );
    assert_eq!(r.header("location"), Some("/review?done=refused_forwarded"));
    until("the forward shown as sent", || {
        c.get("/review").body.contains(">sent</td>").then_some(())
    });
    assert!(!keys(&mut c).contains(&key), "forwarded: reviewed");

    // A crash and a restart send nothing again.
    d.restart(&[]);
    let mut c = d.signed_in();
    drop_mail(
        &d,
        "doubt-2",
        "Pris",
        "Hvad koster en licens til Zoom Meetings for vores afdeling?",
    );
    until("the next mail acknowledged after the restart", || {
        replies_to(&d, "doubt-2").into_iter().next()
    });
    assert_eq!(forwards_of(&d, "doubt-1").len(), 1);
    assert_eq!(replies_to(&d, "doubt-1").len(), 1);
    let h = history_of(&d, "doubt-1", &[]).unwrap();
    assert_eq!(
        (&h["forward_held"], &h["waiting_review"]),
        (&false.into(), &false.into())
    );

    // Mark reviewed: a doubtful pricing guess leaves the list, nothing sent.
    let second = history_of(&d, "doubt-2", &["--review"]).unwrap();
    assert_eq!(
        (&second["category"], &second["doubtful"]),
        (&"pricing".into(), &true.into())
    );
    let key2 = second["key"].as_str().unwrap().to_string();
    assert_eq!(keys(&mut c), std::slice::from_ref(&key2));
    let r = c.post("/review/reviewed", &[("key", &key2)]);
    assert_eq!(r.header("location"), Some("/review?done=reviewed"));
    assert!(keys(&mut c).is_empty());
    assert!(history_of(&d, "doubt-2", &["--review"]).is_none());
    assert!(forwards_of(&d, "doubt-2").is_empty());
    let audit = c.get("/audit").body;
    for action in [
        "forward requested",
        "forward written",
        "forward refused",
        "marked reviewed",
    ] {
        assert!(
            audit.contains(&format!("<td>{action}</td>")),
            "{action}: {audit}"
        );
    }
}
