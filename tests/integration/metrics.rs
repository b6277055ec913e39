//! `/metrics`, `/healthz` and `/readyz` on the running daemon's console, over the embedded
//! default (Maildir in, outbox out): no session needed, the console's headers kept, the
//! counts those of the mail dropped in, no address in the text, a broken template saved to
//! `responses/` counted as a refused reload. The same against real Dovecot and Postfix,
//! with IMAP stopped, is tests/mail/metrics.rs.

use std::time::{Duration, Instant};

use crate::console::{Client, Running};

const WAIT: Duration = Duration::from_secs(30);

/// The value of the series `series` (name and labels exactly as written) in `text`.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn scrape_until(c: &mut Client, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        let r = c.get("/metrics");
        assert_eq!(r.status, 200, "{}", r.body);
        if pred(&r.body) {
            return r.body;
        }
        assert!(
            start.elapsed() < WAIT,
            "{what}: not within {WAIT:?}:\n{}",
            r.body
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn metrics_healthz_and_readyz_on_the_console_over_the_maildir() {
    let d = Running::start();
    let mut c = d.browser();

    let r = c.get("/healthz");
    assert_eq!((r.status, r.body.as_str()), (200, "ok\n"));
    assert!(r.header("content-security-policy").is_some());
    // Ready once the Maildir was scanned (and the ledger takes a write).
    let start = Instant::now();
    loop {
        let r = c.get("/readyz");
        if r.status == 200 {
            assert_eq!(r.body, "ready\n");
            break;
        }
        assert_eq!(r.status, 503);
        assert!(r.body.starts_with("maildir: "), "{}", r.body);
        assert!(start.elapsed() < WAIT, "never ready: {}", r.body);
        std::thread::sleep(Duration::from_millis(50));
    }

    let reply = d.ask("metrics1", "Hvad koster en enterprise-licens?");
    assert!(reply.contains("X-Autosvar-Category: pricing"), "{reply}");
    // A machine mail: skipped, no reply.
    let ooo = "From: Per <per@regionh.example>\r\nTo: e-learning@example.test\r\nSubject: Fravaer\r\n\
               Message-ID: <metrics2@regionh.example>\r\nAuto-Submitted: auto-replied\r\n\r\nJeg er paa ferie.\r\n";
    std::fs::write(d.path("demo/Maildir/tmp/metrics2"), ooo).unwrap();
    std::fs::rename(
        d.path("demo/Maildir/tmp/metrics2"),
        d.path("demo/Maildir/new/metrics2"),
    )
    .unwrap();
    let text = scrape_until(&mut c, "the skipped mail counted", |t| {
        value(
            t,
            "autosvar_mails_total{outcome=\"skipped\",category=\"other\"}",
        ) == Some(1.0)
    });
    for (series, want) in [
        (
            "autosvar_mails_total{outcome=\"replied\",category=\"pricing\"}",
            1.0,
        ),
        ("autosvar_replies_sent_total", 1.0),
        ("autosvar_forwards_sent_total", 0.0),
        ("autosvar_set_aside_total", 0.0),
        ("autosvar_reply_latency_seconds_count", 1.0),
        ("autosvar_reload_failures_total{part=\"templates\"}", 0.0),
        ("autosvar_backlog", 0.0),
    ] {
        assert_eq!(value(&text, series), Some(want), "{series} in:\n{text}");
    }
    assert!(
        value(&text, "autosvar_last_imap_contact_seconds").unwrap_or(0.0) > 0.0,
        "{text}"
    );
    assert!(!text.contains("regionh.example"), "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");

    // A broken template saved with a text editor: refused by the watcher, and counted.
    let file = d.path("responses/pricing.da.txt");
    let original = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{original}\n{{{{ no_such_variable }}}}\n")).unwrap();
    scrape_until(&mut c, "the refused templates counted", |t| {
        value(t, "autosvar_reload_failures_total{part=\"templates\"}") == Some(1.0)
    });

    // The pages still ask for a session; only these three do not.
    let r = c.get("/templates");
    assert_ne!(r.status, 200, "{}", r.body);
}
