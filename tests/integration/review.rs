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
