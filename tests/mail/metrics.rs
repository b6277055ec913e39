//! `/metrics`, `/healthz` and `/readyz` on the console's listener, scraped while the daemon
//! answers a known mix of mail over real Dovecot and Postfix (issue 13, "Metrics and
//! health"): the counts must be what was sent; with Dovecot stopped, `/readyz` names imap
//! and the reconnect counter rises; with Dovecot back, ready again.

use std::time::{Duration, Instant};

use crate::harness::{append, http_get, messages, question, wait_for, Servers, Setup};

const WAIT: Duration = Duration::from_secs(60);

/// The value of the series `series` (name and labels, exactly as written) in `text`.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Scrapes until `pred` holds on the text, or panics at the deadline with the last one.
fn scrape_until(addr: &str, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        let (status, _, body) = http_get(addr, "/metrics");
        assert_eq!(status, 200, "{body}");
        if pred(&body) {
            return body;
        }
        assert!(
            start.elapsed() < WAIT,
            "{what}: not within {WAIT:?}:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Asks `/readyz` until its status is `want`, or panics at the deadline: (status, body).
fn readyz_until(addr: &str, want: u16, deadline: Duration) -> String {
    let start = Instant::now();
    loop {
        let (status, _, body) = http_get(addr, "/readyz");
        if status == want {
            return body;
        }
        assert!(
            start.elapsed() < deadline,
            "/readyz never said {want} within {deadline:?}; last {status}: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn metrics_count_what_was_sent_and_readyz_follows_imap(s: &Servers) {
    let hr = "hr-metrics@example.test";
    let setup = Setup::new(
        s,
        hr,
        crate::harness::ImapOpts {
            port: s.imaps,
            tls: "implicit",
            ca: &s.ca,
            extra: "",
        },
        (s.smtp, "starttls"),
        "\n[console]\nlisten = \"127.0.0.1:0\"\n",
    );
    let pricing = "Hvad koster en enterprise-licens til længere møder?";
    let mix = [
        // (Message-ID, sender, subject, body, extra headers)
        (
            "m1@regionh.example",
            "m-price1@regionh.example",
            "Pris",
            pricing,
            "",
        ),
        (
            "m2@regionh.example",
            "m-price2@regionh.example",
            "Pris",
            pricing,
            "",
        ),
        (
            "m3@regionh.example",
            "m-terms@regionh.example",
            "Må vi?",
            "Må vi bruge Zoom til samtaler med patienter?",
            "",
        ),
        (
            "m4@regionh.example",
            "m-cimt@regionh.example",
            "Kamera virker ikke",
            "Mit kamera virker ikke i Zoom på min pc.",
            "",
        ),
        (
            "m5@regionh.example",
            "m-ooo@regionh.example",
            "Fravær",
            "Jeg er på ferie.",
            "Auto-Submitted: auto-replied\r\n",
        ),
        // Postfix refuses replies to reject-* (550): set aside for a person.
        (
            "m6@regionh.example",
            "reject-m@regionh.example",
            "Pris",
            pricing,
            "",
        ),
    ];
    let mails: Vec<Vec<u8>> = mix
        .iter()
        .map(|(id, from, subject, body, extra)| question(id, from, hr, subject, body, extra))
        .collect();
    append(s, hr, "INBOX", &mails);

    let daemon = setup.spawn();
    let addr = daemon.console_addr(WAIT);

    // Alive at once; no session asked for, the console's headers kept.
    let (status, head, body) = http_get(&addr, "/healthz");
    assert_eq!((status, body.trim()), (200, "ok"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-security-policy"),
        "{head}"
    );

    for from in [
        "m-price1@regionh.example",
        "m-price2@regionh.example",
        "m-terms@regionh.example",
        "m-cimt@regionh.example",
    ] {
        wait_for(s, from, "INBOX", "a reply", WAIT, |m| m.len() == 1);
    }
    wait_for(
        s,
        &format!("cimt-{hr}"),
        "INBOX",
        "the forward to the desk",
        WAIT,
        |m| m.len() == 1,
    );
    let text = scrape_until(&addr, "six mails counted", |t| {
        value(t, "autosvar_set_aside_total") == Some(1.0)
            && [
                ("replied", "pricing"),
                ("replied", "terms"),
                ("replied", "technical"),
                ("skipped", "other"),
                ("set-aside", "pricing"),
            ]
            .iter()
            .map(|(o, c)| {
                value(
                    t,
                    &format!("autosvar_mails_total{{outcome=\"{o}\",category=\"{c}\"}}"),
                )
                .unwrap_or(0.0)
            })
            .sum::<f64>()
                == 6.0
    });
    println!(
        "    /metrics after the mix:\n{}",
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.contains("_bucket") && !l.ends_with(" 0"))
            .map(|l| format!("      {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let (_, head, _) = http_get(&addr, "/metrics");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/openmetrics-text"),
        "{head}"
    );
    for (series, want) in [
        (
            "autosvar_mails_total{outcome=\"replied\",category=\"pricing\"}",
            2.0,
        ),
        (
            "autosvar_mails_total{outcome=\"replied\",category=\"terms\"}",
            1.0,
        ),
        (
            "autosvar_mails_total{outcome=\"replied\",category=\"technical\"}",
            1.0,
        ),
        (
            "autosvar_mails_total{outcome=\"skipped\",category=\"other\"}",
            1.0,
        ),
        (
            "autosvar_mails_total{outcome=\"set-aside\",category=\"pricing\"}",
            1.0,
        ),
        ("autosvar_replies_sent_total", 4.0),
        ("autosvar_forwards_sent_total", 1.0),
        ("autosvar_send_failures_total{class=\"refused\"}", 1.0),
        ("autosvar_send_failures_total{class=\"connection\"}", 0.0),
        ("autosvar_set_aside_total", 1.0),
        ("autosvar_imap_reconnects_total", 0.0),
        ("autosvar_reply_latency_seconds_count", 4.0),
        ("autosvar_backlog", 0.0),
    ] {
        assert_eq!(value(&text, series), Some(want), "{series} in:\n{text}");
    }
    // Every reply within an hour of its arrival: all four in the finite buckets.
    assert_eq!(
        value(
            &text,
            "autosvar_reply_latency_seconds_bucket{le=\"3600.0\"}"
        ),
        Some(4.0),
        "{text}"
    );
    for stage in ["fetch", "decide", "send", "mark"] {
        let n = value(
            &text,
            &format!("autosvar_stage_seconds_count{{stage=\"{stage}\"}}"),
        )
        .unwrap_or(0.0);
        assert!(n >= 1.0, "stage {stage} never timed:\n{text}");
    }
    let contact = value(&text, "autosvar_last_imap_contact_seconds").unwrap_or(0.0);
    let now = autosvar::clock::unix_seconds(autosvar::clock::now()) as f64;
    assert!(
        contact > now - 120.0 && contact <= now + 1.0,
        "last IMAP contact {contact}, now {now}"
    );
    for private in ["regionh.example", "example.test", "Pris", "secret"] {
        assert!(!text.contains(private), "{private:?} in /metrics:\n{text}");
    }
    // Nothing else was sent: the counts are the mailboxes' too.
    assert_eq!(messages(s, "reject-m@regionh.example", "INBOX").len(), 0);
    assert!(messages(s, "m-ooo@regionh.example", "INBOX").is_empty());

    let body = readyz_until(&addr, 200, WAIT);
    assert_eq!(body.trim(), "ready");

    // IMAP gone: not ready, naming imap; the lost connection counted. Alive all along.
    {
        let _down = s.stop_dovecot();
        let body = readyz_until(&addr, 503, WAIT);
        println!("    /readyz with Dovecot stopped: 503 {}", body.trim());
        assert!(body.contains("imap:"), "{body}");
        assert!(
            !body.contains("smtp:") && !body.contains("ledger:"),
            "{body}"
        );
        scrape_until(&addr, "the reconnect counted", |t| {
            value(t, "autosvar_imap_reconnects_total").unwrap_or(0.0) >= 1.0
        });
        let (status, _, _) = http_get(&addr, "/healthz");
        assert_eq!(status, 200);
    }
    // Dovecot back: the daemon reconnects (backoff) and is ready again.
    readyz_until(&addr, 200, Duration::from_secs(120));
    daemon.stop(Duration::from_secs(10));
}
