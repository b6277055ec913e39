//! Tests against real Dovecot and Postfix, started by this test binary on 127.0.0.1.
//!
//! A custom harness (`harness = false`): the servers are started once before the tests and
//! stopped after them, which libtest has no hook for. Tests run one after another, each with
//! its own users. The last line is "N passed, N failed".

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ask;
mod harness;
mod metrics;
mod oauth2;
mod secrets;
mod systemd;
mod throttle;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use harness::{append, messages, question, smtp_send, wait_for, ImapOpts, Proxy, Servers, Setup};

type Test = (&'static str, fn(&Servers));

fn main() {
    let tests: Vec<Test> = vec![
        (
            "replies_thread_desks_get_technical_and_machines_get_nothing",
            replies_thread_desks_get_technical_and_machines_get_nothing,
        ),
        (
            "a_large_mail_in_a_backlog_goes_with_the_small_ones_and_all_are_shown",
            a_large_mail_in_a_backlog_goes_with_the_small_ones_and_all_are_shown,
        ),
        (
            "idle_answers_new_mail_at_once_and_sigterm_stops",
            idle_answers_new_mail_at_once_and_sigterm_stops,
        ),
        (
            "starttls_imap_and_implicit_tls_smtp_work",
            starttls_imap_and_implicit_tls_smtp_work,
        ),
        (
            "a_certificate_the_config_does_not_trust_is_refused",
            a_certificate_the_config_does_not_trust_is_refused,
        ),
        (
            "old_backlog_is_recorded_not_answered",
            old_backlog_is_recorded_not_answered,
        ),
        (
            "postfix_outage_loses_and_duplicates_nothing",
            postfix_outage_loses_and_duplicates_nothing,
        ),
        (
            "dovecot_restart_during_idle_is_survived",
            dovecot_restart_during_idle_is_survived,
        ),
        (
            "refused_replies_set_mails_aside_and_never_block_the_rest",
            refused_replies_set_mails_aside_and_never_block_the_rest,
        ),
        (
            "polling_finds_new_mail_without_idle",
            polling_finds_new_mail_without_idle,
        ),
        (
            "category_folders_and_keywords_show_outcomes",
            category_folders_and_keywords_show_outcomes,
        ),
        (
            "a_poisoned_mail_is_flagged_and_the_rest_answered",
            a_poisoned_mail_is_flagged_and_the_rest_answered,
        ),
        (
            "an_answer_asked_in_the_console_is_sent_once_over_imap",
            an_answer_asked_in_the_console_is_sent_once_over_imap,
        ),
        (
            "a_doubtful_technical_mail_is_acknowledged_and_its_forward_held_until_released",
            a_doubtful_technical_mail_is_acknowledged_and_its_forward_held_until_released,
        ),
        (
            "a_silently_dropped_idle_connection_is_noticed_and_mail_answered",
            a_silently_dropped_idle_connection_is_noticed_and_mail_answered,
        ),
        (
            "an_idle_the_server_never_confirms_is_given_up",
            an_idle_the_server_never_confirms_is_given_up,
        ),
        (
            "mail_arriving_while_busy_is_answered_without_waiting_for_a_renewal",
            mail_arriving_while_busy_is_answered_without_waiting_for_a_renewal,
        ),
        (
            "a_lost_ledger_answers_nothing_twice",
            a_lost_ledger_answers_nothing_twice,
        ),
        (
            "a_lost_ledger_over_a_folder_without_keywords_asks_the_sent_folder",
            a_lost_ledger_over_a_folder_without_keywords_asks_the_sent_folder,
        ),
        (
            "kill_9_spread_over_a_backlog_answers_every_mail_exactly_once",
            kill_9_spread_over_a_backlog_answers_every_mail_exactly_once,
        ),
        (
            "kill_9_with_appended_sent_copies_answers_every_mail_at_most_once",
            kill_9_with_appended_sent_copies_answers_every_mail_at_most_once,
        ),
        (
            "a_throttled_backlog_drains_at_its_rate_and_new_mail_goes_first",
            throttle::a_throttled_backlog_drains_at_its_rate_and_new_mail_goes_first,
        ),
        (
            "too_much_mail_is_waited_out_without_counting_an_attempt",
            throttle::too_much_mail_is_waited_out_without_counting_an_attempt,
        ),
        (
            "xoauth2_tokens_that_expire_are_fetched_anew_for_every_connection",
            secrets::xoauth2_tokens_that_expire_are_fetched_anew_for_every_connection,
        ),
        (
            "nothing_secret_and_no_body_text_in_the_log_at_trace",
            secrets::nothing_secret_and_no_body_text_in_the_log_at_trace,
        ),
        (
            "an_untrusted_certificate_stops_the_daemon_with_78",
            secrets::an_untrusted_certificate_stops_the_daemon_with_78,
        ),
        (
            "imap_daemon_tells_systemd_ready_watchdog_in_idle_status_and_reconnecting",
            systemd::imap_daemon_tells_systemd_ready_watchdog_in_idle_status_and_reconnecting,
        ),
        (
            "history_status_and_release_answer_from_a_real_server_run",
            ask::history_status_and_release_answer_from_a_real_server_run,
        ),
        (
            "metrics_count_what_was_sent_and_readyz_follows_imap",
            metrics::metrics_count_what_was_sent_and_readyz_follows_imap,
        ),
    ];
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let servers = Servers::start();
    let (mut passed, mut failed) = (0, 0);
    for (name, test) in tests {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let start = Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| test(&servers)));
        match result {
            Ok(()) => {
                passed += 1;
                println!(
                    "test {name} ... ok ({:.1} s)",
                    start.elapsed().as_secs_f64()
                );
            }
            Err(_) => {
                failed += 1;
                println!("test {name} ... FAILED");
            }
        }
    }
    drop(servers);
    println!("\nmail: {passed} passed, {failed} failed");
    std::process::exit(if failed == 0 { 0 } else { 1 });
}

const WAIT: Duration = Duration::from_secs(30);

/// What the daemon logs once IDLE has begun (the server sent its continuation).
const IDLE_BEGUN: &str = "waiting for new mail (IDLE)";

fn replies_thread_desks_get_technical_and_machines_get_nothing(s: &Servers) {
    let hr = "hr-a@example.test";
    let setup = Setup::default(s, hr, "");
    let mails = [
        (
            "a-price@regionh.example",
            question(
                "a1@regionh.example",
                "Mette <a-price@regionh.example>",
                hr,
                "Pris",
                "Hvad koster en enterprise-licens til længere møder?",
                "",
            ),
        ),
        (
            "a-cimt@regionh.example",
            question(
                "a2@regionh.example",
                "Jonas <a-cimt@regionh.example>",
                hr,
                "Kamera virker ikke",
                "Mit kamera virker ikke i Zoom på min pc.",
                "",
            ),
        ),
        (
            "a-kuit@ku.example",
            question(
                "a3@ku.example",
                "Sara <a-kuit@ku.example>",
                hr,
                "KU-ID",
                "I cannot log in to Zoom with my KU-ID, my account is locked.",
                "",
            ),
        ),
        (
            "a-terms@regionh.example",
            question(
                "a4@regionh.example",
                "Lise <a-terms@regionh.example>",
                hr,
                "Må vi?",
                "Må vi bruge Zoom til samtaler med patienter?",
                "",
            ),
        ),
        (
            "a-ooo@regionh.example",
            question(
                "a5@regionh.example",
                "Per <a-ooo@regionh.example>",
                hr,
                "Fravær",
                "Jeg er på ferie.",
                "Auto-Submitted: auto-replied\r\n",
            ),
        ),
        (
            "a-list@lists.example",
            question(
                "a6@lists.example",
                "Liste <a-list@lists.example>",
                hr,
                "Nyhedsbrev",
                "Hvad koster Zoom?",
                "List-Id: <nyt.lists.example>\r\n",
            ),
        ),
        (
            "noreply@a.example",
            question(
                "a7@a.example",
                "System <noreply@a.example>",
                hr,
                "Kvittering",
                "Din bestilling er modtaget.",
                "",
            ),
        ),
    ];
    for (from, m) in &mails {
        smtp_send(s, from, hr, m);
    }
    // A real bounce: mail from the responder to an address Dovecot refuses.
    smtp_send(
        s,
        hr,
        "x!y@example.test",
        &question("a8@example.test", hr, "x!y@example.test", "t", "t", ""),
    );
    wait_for(s, hr, "INBOX", "8 mails in INBOX", WAIT, |m| m.len() == 8);

    let (ok, out, err) = setup.run_once();
    assert!(ok, "{out}\n{err}");
    assert_eq!(out.matches("\treplied ").count(), 4, "{out}");
    assert_eq!(out.matches("\tskipped ").count(), 4, "{out}");

    for (from, id, cat) in [
        ("a-price@regionh.example", "<a1@regionh.example>", "pricing"),
        (
            "a-cimt@regionh.example",
            "<a2@regionh.example>",
            "technical",
        ),
        ("a-kuit@ku.example", "<a3@ku.example>", "technical"),
        ("a-terms@regionh.example", "<a4@regionh.example>", "terms"),
    ] {
        let got = messages(s, from, "INBOX");
        assert_eq!(got.len(), 1, "{from} must get exactly one reply");
        let r = &got[0];
        assert_eq!(r.header("In-Reply-To").as_deref(), Some(id));
        assert!(r.header("References").unwrap().contains(id));
        assert_eq!(r.header("Auto-Submitted").as_deref(), Some("auto-replied"));
        assert_eq!(r.header("X-Autosvar-Category").as_deref(), Some(cat));
        assert!(r.header("Subject").unwrap().starts_with("Re: "));
    }
    let cimt = messages(s, &format!("cimt-{hr}"), "INBOX");
    let kuit = messages(s, &format!("kuit-{hr}"), "INBOX");
    assert_eq!((cimt.len(), kuit.len()), (1, 1), "one forward to each desk");
    assert!(cimt[0]
        .header("Reply-To")
        .unwrap()
        .contains("a-cimt@regionh.example"));
    assert!(kuit[0]
        .header("Reply-To")
        .unwrap()
        .contains("a-kuit@ku.example"));
    assert!(cimt[0]
        .header("References")
        .unwrap()
        .contains("<a2@regionh.example>"));
    for machine in [
        "a-ooo@regionh.example",
        "a-list@lists.example",
        "noreply@a.example",
        "mailer-daemon@localhost",
    ] {
        assert!(
            messages(s, machine, "INBOX").is_empty(),
            "{machine} got mail"
        );
    }
    let sent = messages(s, hr, "Sent");
    assert_eq!(sent.len(), 6, "4 replies and 2 forwards in Sent");
    let inbox = messages(s, hr, "INBOX");
    assert_eq!(
        inbox
            .iter()
            .filter(|m| m.flags.iter().any(|f| f.contains("Answered")))
            .count(),
        4
    );
    assert!(
        inbox
            .iter()
            .all(|m| !m.flags.iter().any(|f| f.contains("Seen"))),
        "never \\Seen"
    );

    let (ok, out, _) = setup.run_once();
    assert!(ok && !out.contains("replied"), "{out}");
    assert_eq!(
        messages(s, hr, "Sent").len(),
        6,
        "the second run sends nothing"
    );
}

fn idle_answers_new_mail_at_once_and_sigterm_stops(s: &Servers) {
    let hr = "hr-b@example.test";
    // Polling every 10 minutes: only IDLE can bring the mail in quickly.
    let setup = Setup::default(s, hr, "poll-interval = \"10m\"");
    let daemon = setup.spawn();
    daemon.wait_log(IDLE_BEGUN, 1, WAIT);
    let from = "b-ask@regionh.example";
    let start = Instant::now();
    harness::ask_price(s, "b1@regionh.example", from, hr);
    wait_for(s, from, "INBOX", "reply under IDLE", WAIT, |m| m.len() == 1);
    let latency = start.elapsed();
    println!(
        "    reply arrived {} ms after delivery (IDLE)",
        latency.as_millis()
    );
    assert!(
        latency < Duration::from_secs(5),
        "took {latency:?}: IDLE did not wake the daemon"
    );
    daemon.stop(Duration::from_secs(10));
    let log = std::fs::read_to_string(setup.log_path()).unwrap();
    assert!(log.contains("stopped"), "{log}");
}

fn starttls_imap_and_implicit_tls_smtp_work(s: &Servers) {
    let hr = "hr-c@example.test";
    let setup = Setup::new(
        s,
        hr,
        ImapOpts {
            port: s.imap,
            tls: "starttls",
            ca: &s.ca,
            extra: "",
        },
        (s.smtps, "implicit"),
        "",
    );
    let from = "c-ask@regionh.example";
    smtp_send(
        s,
        from,
        hr,
        &question(
            "c1@regionh.example",
            from,
            hr,
            "Adgang",
            "Jeg er studerende på KU. Må jeg bruge regionens Zoom?",
            "",
        ),
    );
    wait_for(s, hr, "INBOX", "delivered", WAIT, |m| m.len() == 1);
    let (ok, out, err) = setup.run_once();
    assert!(ok, "{out}{err}");
    assert_eq!(messages(s, from, "INBOX").len(), 1);
}

fn a_certificate_the_config_does_not_trust_is_refused(s: &Servers) {
    let hr = "hr-d@example.test";
    let setup = Setup::new(
        s,
        hr,
        ImapOpts {
            port: s.imaps,
            tls: "implicit",
            ca: &s.other_ca,
            extra: "",
        },
        (s.smtp, "starttls"),
        "",
    );
    let from = "d-ask@regionh.example";
    smtp_send(
        s,
        from,
        hr,
        &question(
            "d1@regionh.example",
            from,
            hr,
            "Pris",
            "Hvad koster Zoom?",
            "",
        ),
    );
    wait_for(s, hr, "INBOX", "delivered", WAIT, |m| m.len() == 1);
    let (ok, _, err) = setup.run_once();
    assert!(!ok, "an untrusted certificate must stop autosvar");
    assert!(err.contains("TLS") || err.contains("certificate"), "{err}");
    let o = setup.cmd().arg("check").output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(messages(s, from, "INBOX").is_empty());
}

fn old_backlog_is_recorded_not_answered(s: &Servers) {
    let hr = "hr-e@example.test";
    let setup = Setup::default(s, hr, "max-age = \"2d\"");
    let port = s.imap;
    harness::runtime().block_on(async {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let mut c = async_imap::Client::new(tcp);
        c.read_response().await.unwrap();
        let mut session = c.login(hr, "secret").await.map_err(|(e, _)| e).unwrap();
        for (i, date) in [
            harness::imap_date_days_ago(60),
            harness::imap_date_days_ago(45),
        ]
        .iter()
        .enumerate()
        {
            let from = format!("e-old{i}@regionh.example");
            session
                .append(
                    "INBOX",
                    None,
                    Some(date.as_str()),
                    question(
                        &format!("e-old{i}@regionh.example"),
                        &from,
                        hr,
                        "Pris",
                        "Hvad koster Zoom?",
                        "",
                    ),
                )
                .await
                .unwrap();
        }
        session.logout().await.unwrap();
    });
    let from = "e-new@regionh.example";
    append(
        s,
        hr,
        "INBOX",
        &[question(
            "e-new@regionh.example",
            from,
            hr,
            "Pris",
            "Hvad koster Zoom?",
            "",
        )],
    );
    let (ok, out, err) = setup.run_once();
    assert!(ok, "{out}{err}");
    assert_eq!(out.matches("skipped old").count(), 2, "{out}");
    assert_eq!(out.matches("replied pricing").count(), 1, "{out}");
    assert!(messages(s, "e-old0@regionh.example", "INBOX").is_empty());
    assert_eq!(messages(s, from, "INBOX").len(), 1);
}

fn postfix_outage_loses_and_duplicates_nothing(s: &Servers) {
    let hr = "hr-f@example.test";
    let setup = Setup::default(s, hr, "");
    let daemon = setup.spawn();
    daemon.wait_log("connected", 1, WAIT);
    let postfix_down = s.stop_postfix();
    let senders: Vec<String> = (0..3)
        .map(|i| format!("f-ask{i}@regionh.example"))
        .collect();
    let mails: Vec<Vec<u8>> = senders
        .iter()
        .enumerate()
        .map(|(i, f)| {
            question(
                &format!("f{i}@regionh.example"),
                f,
                hr,
                "Pris",
                "Hvad koster en enterprise-licens?",
                "",
            )
        })
        .collect();
    append(s, hr, "INBOX", &mails);
    daemon.wait_log("mail not answered", 3, WAIT);
    drop(postfix_down);
    for f in &senders {
        wait_for(
            s,
            f,
            "INBOX",
            "reply after the outage",
            Duration::from_secs(90),
            |m| !m.is_empty(),
        );
    }
    daemon.stop(Duration::from_secs(10));
    for f in &senders {
        assert_eq!(messages(s, f, "INBOX").len(), 1, "{f}: exactly one reply");
    }
    let (ok, out, _) = setup.run_once();
    assert!(ok && !out.contains("replied"), "{out}");
}

fn dovecot_restart_during_idle_is_survived(s: &Servers) {
    let hr = "hr-g@example.test";
    let setup = Setup::default(s, hr, "poll-interval = \"10m\"");
    let daemon = setup.spawn();
    daemon.wait_log(IDLE_BEGUN, 1, WAIT);
    s.restart_dovecot();
    let from = "g-ask@regionh.example";
    harness::ask_price(s, "g1@regionh.example", from, hr);
    wait_for(
        s,
        from,
        "INBOX",
        "reply after Dovecot restart",
        Duration::from_secs(90),
        |m| m.len() == 1,
    );
    daemon.wait_log("connected", 2, WAIT);
    daemon.stop(Duration::from_secs(10));
}

/// Issue 11: a connection that a NAT or firewall forgets goes silent without a reset. The
/// daemon's IMAP goes through a proxy that, once IDLE has begun, swallows everything both
/// ways without closing; a mail delivered to Dovecot meanwhile must still be answered: the
/// IDLE renewal's DONE gets no answer within `timeout`, and the daemon reconnects.
fn a_silently_dropped_idle_connection_is_noticed_and_mail_answered(s: &Servers) {
    let hr = "hr-drop@example.test";
    let proxy = Proxy::start(s.imaps);
    // Polling every 10 minutes: only IDLE (or a reconnect) brings the mail in.
    let setup = Setup::new(
        s,
        hr,
        ImapOpts {
            port: proxy.port,
            tls: "implicit",
            ca: &s.ca,
            extra: "poll-interval = \"10m\"\nidle-renew = \"5s\"",
        },
        (s.smtp, "starttls"),
        "",
    );
    let daemon = setup.spawn();
    daemon.wait_log(IDLE_BEGUN, 1, WAIT);
    assert_eq!(
        proxy.blackhole(),
        1,
        "one IMAP connection through the proxy"
    );
    let from = "drop-ask@regionh.example";
    let start = Instant::now();
    // Straight to Postfix and Dovecot: only the daemon's connection is cut.
    harness::ask_price(s, "drop1@regionh.example", from, hr);
    wait_for(
        s,
        from,
        "INBOX",
        "reply despite the silent connection",
        Duration::from_secs(60),
        |m| m.len() == 1,
    );
    println!(
        "    reply arrived {:.1} s after delivery (idle-renew 5s, timeout 5s)",
        start.elapsed().as_secs_f64()
    );
    daemon.wait_log("connected", 2, WAIT);
    daemon.stop(Duration::from_secs(10));
    let log = std::fs::read_to_string(setup.log_path()).unwrap();
    assert!(
        log.contains("IDLE DONE timed out after 5 s")
            && log.contains("IMAP connection lost; reconnecting"),
        "{log}"
    );
    assert_eq!(proxy.connections(), 2, "{log}");
    assert_eq!(messages(s, from, "INBOX").len(), 1);
}

/// An IDLE the server never answers with its continuation (the command lost on the way) is
/// given up after `timeout`, and the next connection goes on normally. Plain IMAP on
/// loopback, so the proxy can see the command.
fn an_idle_the_server_never_confirms_is_given_up(s: &Servers) {
    let hr = "hr-noidle@example.test";
    let proxy = Proxy::start(s.imap);
    proxy.blackhole_on(b" IDLE\r\n");
    let setup = Setup::new(
        s,
        hr,
        ImapOpts {
            port: proxy.port,
            tls: "none",
            ca: &s.ca,
            extra: "poll-interval = \"10m\"",
        },
        (s.smtp, "starttls"),
        "",
    );
    let daemon = setup.spawn();
    daemon.wait_log(IDLE_BEGUN, 1, WAIT);
    let log = std::fs::read_to_string(setup.log_path()).unwrap();
    let lost = log.find("IDLE timed out after 5 s").expect(&log);
    assert!(lost < log.find(IDLE_BEGUN).unwrap(), "{log}");
    assert_eq!(log.matches("connected").count(), 2, "{log}");
    let from = "noidle-ask@regionh.example";
    harness::ask_price(s, "noidle1@regionh.example", from, hr);
    wait_for(s, from, "INBOX", "reply after the lost IDLE", WAIT, |m| {
        m.len() == 1
    });
    daemon.stop(Duration::from_secs(10));
}

/// Mail that arrives while the daemon works through a backlog is announced (EXISTS) in the
/// answer to whatever command runs then, not again once IDLE begins: it must be looked at
/// before IDLE, not at the next renewal (here 29 minutes away).
fn mail_arriving_while_busy_is_answered_without_waiting_for_a_renewal(s: &Servers) {
    let hr = "hr-busy@example.test";
    let setup = Setup::default(s, hr, "poll-interval = \"10m\"\nidle-renew = \"29m\"");
    let backlog: Vec<Vec<u8>> = (0..60)
        .map(|i| {
            let from = format!("busy{i}@regionh.example");
            question(
                &format!("busy{i}@regionh.example"),
                &from,
                hr,
                "Pris",
                "Hvad koster en licens?",
                "",
            )
        })
        .collect();
    append(s, hr, "INBOX", &backlog);
    let daemon = setup.spawn();
    daemon.wait_log("mail handled", 1, WAIT);
    let from = "busy-late@regionh.example";
    harness::ask_price(s, "busy-late@regionh.example", from, hr);
    let log = std::fs::read_to_string(setup.log_path()).unwrap();
    assert!(
        !log.contains(IDLE_BEGUN),
        "the backlog was done before the late mail came: {log}"
    );
    wait_for(s, from, "INBOX", "reply to the late mail", WAIT, |m| {
        m.len() == 1
    });
    daemon.stop(Duration::from_secs(10));
}

/// A small deterministic generator (no rand crate): xorshift seeded from the clock,
/// printed so a failing run can be repeated with AUTOSVAR_TEST_SEED.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("AUTOSVAR_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::UNIX_EPOCH
                    .elapsed()
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        println!("    seed {seed}");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// What one kill round's stretch of the daemon's log says: the messages whose SMTP
/// transaction had begun and not ended when the kill landed.
fn cut_transactions(log: &str) -> Vec<String> {
    let ids = |what: &str| -> Vec<String> {
        log.lines()
            .filter(|l| l.contains(what))
            .filter_map(|l| l.split("message_id=").nth(1))
            .filter_map(|rest| rest.split_whitespace().next())
            .map(str::to_string)
            .collect()
    };
    let ended = ids("send ended");
    ids("send begun")
        .into_iter()
        .filter(|id| !ended.contains(id))
        .collect()
}

fn log_len(setup: &Setup) -> usize {
    std::fs::read_to_string(setup.log_path()).map_or(0, |l| l.len())
}

fn log_since(setup: &Setup, from: usize) -> String {
    let log = std::fs::read_to_string(setup.log_path()).unwrap_or_default();
    log.get(from..).unwrap_or_default().to_string()
}

/// A backlog of `n` questions, `kills` SIGKILLs at random points spread over the whole of
/// it (half timed from the start, half after a random number of sends began, so kills land
/// while starting, fetching, sending and flagging), then a run to the end. Every mail is
/// answered exactly once, every desk forward sent once, every mail carries its flags, and
/// only mails whose delivery a kill cut are set aside.
fn chaos(s: &Servers, hr: &str, sent_copy: &str, n: usize, kills: usize) {
    let setup = Setup::new(
        s,
        hr,
        ImapOpts {
            port: s.imaps,
            tls: "implicit",
            ca: &s.ca,
            extra: &format!("sent-copy = \"{sent_copy}\"\nsent-copy-grace = \"3s\""),
        },
        (s.smtp, "starttls"),
        &format!("envelope-from = \"{hr}\""),
    );
    let topics = [
        ("Pris", "Hvad koster en enterprise-licens?"),
        ("Kamera", "Mit kamera virker ikke i Zoom på min pc."),
        ("Må vi?", "Må vi bruge Zoom til samtaler med patienter?"),
        ("KU-ID", "Jeg kan ikke logge ind med mit KU-ID."),
        ("Adgang", "Jeg er studerende. Må jeg bruge regionens Zoom?"),
    ];
    let tag = hr.split('@').next().unwrap_or(hr);
    let sender = |i: usize| format!("{tag}-{i}@regionh.example");
    let mails: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let (subject, body) = topics[i % topics.len()];
            question(&sender(i), &sender(i), hr, subject, body, "")
        })
        .collect();
    append(s, hr, "INBOX", &mails);
    let technical = (0..n)
        .filter(|i| i % topics.len() == 1 || i % topics.len() == 3)
        .count();
    let mut rng = Rng::new();
    let mut cut = Vec::new();
    let mut landed = 0;
    for round in 0..kills {
        let from = log_len(&setup);
        let daemon = setup.spawn();
        if round % 2 == 0 {
            // Anywhere from connecting on: reconcile, listing, fetching, sending, flagging.
            // This start's own "connected" (an earlier start may have been killed before it
            // logged one: a resumed send can begin before the line is written).
            let start = Instant::now();
            while !log_since(&setup, from).contains("connected") {
                assert!(start.elapsed() < WAIT, "start {round} never connected");
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(Duration::from_millis(rng.below(400)));
        } else {
            // After 1 to 20 sends began in this run (or 5 s, once nothing is left).
            let sends = 1 + rng.below(20) as usize;
            let start = Instant::now();
            while log_since(&setup, from).matches("send begun").count() < sends
                && start.elapsed() < Duration::from_secs(5)
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_micros(rng.below(3000)));
        }
        daemon.kill9();
        let here = cut_transactions(&log_since(&setup, from));
        landed += usize::from(!here.is_empty());
        println!("    kill {round}: {} transaction(s) cut", here.len());
        cut.extend(here);
    }
    println!(
        "    {kills} kills, {landed} inside an SMTP transaction, {} message(s) cut",
        cut.len()
    );
    assert!(
        landed >= kills / 4,
        "only {landed} of {kills} kills landed while a message was going out: the test \
         proves too little"
    );
    let from = log_len(&setup);
    let daemon = setup.spawn();
    // Its SIGTERM handler is in place once it has connected. When the kills left nothing
    // to do, every mail is marked at once and the stop below would otherwise come before
    // it, ending the daemon by the signal's default action (seen once in CI).
    let start = Instant::now();
    while !log_since(&setup, from).contains("connected") {
        assert!(start.elapsed() < WAIT, "the last start never connected");
        std::thread::sleep(Duration::from_millis(5));
    }
    let index = |m: &harness::Msg| -> Option<usize> {
        m.header("From")?
            .rsplit('-')
            .next()?
            .split('@')
            .next()?
            .parse()
            .ok()
    };
    // Every mail is answered, or set aside because its delivery was cut; a technical one is
    // also forwarded. The reply and the forward are two messages with marks of their own: a
    // forward whose delivery a kill cut waits out `sent-copy-grace` before it is sent again,
    // so its mail may show `\Answered` some seconds before `$AutosvarForwarded`.
    let done = |m: &harness::Msg| {
        let technical = index(m).is_some_and(|i| i % topics.len() == 1 || i % topics.len() == 3);
        has_flag(m, "$AutosvarReview")
            || (marked(m) && (!technical || has_flag(m, "$AutosvarForwarded")))
    };
    let all_marked = std::panic::catch_unwind(|| {
        wait_for(
            s,
            hr,
            "INBOX",
            "every mail marked",
            Duration::from_secs(120),
            |m| m.len() == n && m.iter().all(done),
        )
    });
    if let Err(e) = all_marked {
        let log = log_since(&setup, 0);
        let tail: Vec<&str> = log.lines().rev().take(60).collect();
        let unmarked: Vec<String> = messages(s, hr, "INBOX")
            .iter()
            .filter(|m| !done(m))
            .map(|m| format!("{:?} {:?}", m.header("From"), m.flags))
            .take(10)
            .collect();
        println!("    unmarked (first 10): {unmarked:#?}");
        for l in tail.iter().rev() {
            println!("    | {l}");
        }
        std::panic::resume_unwind(e);
    }
    daemon.stop(Duration::from_secs(10));
    s.wait_queue_empty(Duration::from_secs(120));

    let inbox = messages(s, hr, "INBOX");
    let set_aside: Vec<String> = inbox
        .iter()
        .filter(|m| has_flag(m, "$AutosvarReview"))
        .filter_map(|m| m.header("From"))
        .collect();
    println!("    {} mail(s) set aside as in doubt", set_aside.len());
    assert!(
        set_aside.len() <= cut.len(),
        "set aside {} mails, but kills cut only {} deliveries",
        set_aside.len(),
        cut.len()
    );
    if sent_copy == "server" {
        assert!(
            set_aside.is_empty(),
            "the Sent folder proves every cut delivery: nothing is in doubt"
        );
    }
    for m in &inbox {
        let i = index(m).expect("a sender of the backlog");
        let doubted = has_flag(m, "$AutosvarReview");
        let got = messages(s, &sender(i), "INBOX").len();
        if doubted {
            assert!(got <= 1, "{}: {got} replies", sender(i));
        } else {
            assert_eq!(got, 1, "{}: answered exactly once", sender(i));
            assert!(
                has_flag(m, "$AutosvarReplied"),
                "{}: {:?}",
                sender(i),
                m.flags
            );
            if i % topics.len() == 1 || i % topics.len() == 3 {
                assert!(
                    has_flag(m, "$AutosvarForwarded"),
                    "{}: {:?}",
                    sender(i),
                    m.flags
                );
            }
        }
    }
    // The Sent folder has a copy of every reply that went out (appended by autosvar, or
    // filed by the server). A kill between an append and its journal entry being cleared
    // can leave a second copy; that is shown, not hidden.
    let mut copies: HashMap<String, usize> = HashMap::new();
    for m in messages(s, hr, "Sent") {
        if m.header("Auto-Submitted").as_deref() == Some("auto-replied") {
            *copies
                .entry(m.header("In-Reply-To").unwrap_or_default())
                .or_default() += 1;
        }
    }
    for m in &inbox {
        if !has_flag(m, "$AutosvarReview") {
            let id = m.header("Message-ID").unwrap_or_default();
            assert!(
                copies.get(&id).is_some_and(|c| *c >= 1),
                "no Sent copy of the reply to {id}"
            );
        }
    }
    println!(
        "    {} reply copies in Sent appear twice",
        copies.values().filter(|c| **c > 1).count()
    );
    // Each desk forward once.
    let mut forwards: HashMap<String, usize> = HashMap::new();
    for desk in ["cimt", "kuit"] {
        for m in messages(s, &format!("{desk}-{hr}"), "INBOX") {
            *forwards
                .entry(m.header("References").unwrap_or_default())
                .or_default() += 1;
        }
    }
    let twice: Vec<_> = forwards.iter().filter(|(_, c)| **c > 1).collect();
    assert!(twice.is_empty(), "forwarded more than once: {twice:?}");
    assert!(forwards.len() <= technical && forwards.len() + cut.len() >= technical);
}

fn kill_9_spread_over_a_backlog_answers_every_mail_exactly_once(s: &Servers) {
    // "sentcopy-" users get a server-side copy of what they send in Sent (like Exchange),
    // so after a crash the Sent folder proves what went out.
    chaos(s, "sentcopy-hr-h@example.test", "server", 300, 20);
}

fn kill_9_with_appended_sent_copies_answers_every_mail_at_most_once(s: &Servers) {
    chaos(s, "hr-z@example.test", "append", 300, 20);
}

/// Answered, or set aside for a person (flags as the harness shows them: `Answered`,
/// `Custom("$AutosvarReview")`).
fn marked(m: &harness::Msg) -> bool {
    m.flags.iter().any(|f| f == "Answered") || has_flag(m, "$AutosvarReview")
}

/// Deletes the ledger and its journal files.
fn lose_ledger(setup: &Setup) {
    for f in ["ledger.sqlite", "ledger.sqlite-wal", "ledger.sqlite-shm"] {
        let _ = std::fs::remove_file(setup.dir.path().join("var").join(f));
    }
}

fn a_lost_ledger_answers_nothing_twice(s: &Servers) {
    let hr = "hr-l@example.test";
    let setup = Setup::default(s, hr, "");
    let n = 30;
    let sender = |i: usize| format!("l{i}@regionh.example");
    let mails: Vec<Vec<u8>> = (0..n)
        .map(|i| question(&sender(i), &sender(i), hr, "Pris", "Hvad koster Zoom?", ""))
        .collect();
    append(s, hr, "INBOX", &mails);
    let (ok, out, err) = setup.run_once();
    assert!(ok, "{err}");
    assert_eq!(out.matches("\treplied").count(), n, "{out}");
    s.wait_queue_empty(Duration::from_secs(60));
    let replies = || -> usize { (0..n).map(|i| messages(s, &sender(i), "INBOX").len()).sum() };
    assert_eq!(replies(), n);

    // Deleted, then truncated to nothing: the mailbox's marks stop a second reply, loudly.
    for lose in ["deleted", "truncated"] {
        lose_ledger(&setup);
        if lose == "truncated" {
            std::fs::write(setup.dir.path().join("var/ledger.sqlite"), b"").unwrap();
        }
        let (ok, out, err) = setup.run_once();
        assert!(ok, "{err}");
        assert_eq!(
            out.matches("skipped already-handled").count(),
            n,
            "{lose}: {out}"
        );
        assert!(
            err.contains("was the ledger lost or deleted?"),
            "{lose}: {err}"
        );
    }
    // Rebuilt at once: the next run finds every mail known, and warns of nothing.
    lose_ledger(&setup);
    let o = setup.cmd().args(["ledger", "rebuild"]).output().unwrap();
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        said.contains(&format!("{n} mail(s) recorded as handled")),
        "{said}"
    );
    let (ok, out, err) = setup.run_once();
    assert!(ok, "{err}");
    assert_eq!(out.matches("\talready-done").count(), n, "{out}");
    assert!(!err.contains("was the ledger lost"), "{err}");
    s.wait_queue_empty(Duration::from_secs(60));
    assert_eq!(replies(), n, "no second reply to anyone");
}

fn a_lost_ledger_over_a_folder_without_keywords_asks_the_sent_folder(s: &Servers) {
    let hr = "hr-w@example.test";
    // No keywords (as on Exchange), and the \Answered flags gone too: the Sent folder's
    // replies are all the mailbox has left to say which mails were answered.
    let setup = Setup::default(s, hr, "keywords = false\nsent-copy = \"append\"");
    let n = 6;
    let sender = |i: usize| format!("w{i}@regionh.example");
    let mails: Vec<Vec<u8>> = (0..n)
        .map(|i| question(&sender(i), &sender(i), hr, "Pris", "Hvad koster Zoom?", ""))
        .collect();
    append(s, hr, "INBOX", &mails);
    let (ok, out, err) = setup.run_once();
    assert!(ok, "{err}");
    assert_eq!(out.matches("\treplied").count(), n, "{out}");
    harness::remove_flag(s, hr, "INBOX", "\\Answered");
    assert!(messages(s, hr, "INBOX").iter().all(|m| m.flags.is_empty()));
    lose_ledger(&setup);
    let (ok, out, err) = setup.run_once();
    assert!(ok, "{err}");
    assert_eq!(out.matches("skipped already-handled").count(), n, "{out}");
    s.wait_queue_empty(Duration::from_secs(60));
    for i in 0..n {
        assert_eq!(messages(s, &sender(i), "INBOX").len(), 1, "{}", sender(i));
    }
}

fn has_flag(m: &harness::Msg, flag: &str) -> bool {
    m.flags.iter().any(|f| f.contains(flag))
}

fn refused_replies_set_mails_aside_and_never_block_the_rest(s: &Servers) {
    let hr = "hr-i@example.test";
    let setup = Setup::default(s, hr, "max-attempts = 2");
    // UIDs in this order: the refused ones come first and must not hold up the third.
    let mails = [
        question(
            "i1@regionh.example",
            "reject-i@regionh.example",
            hr,
            "Pris",
            "Hvad koster en licens?",
            "",
        ),
        question(
            "i2@regionh.example",
            "defer-i@regionh.example",
            hr,
            "Pris",
            "Hvad koster en licens?",
            "",
        ),
        question(
            "i3@regionh.example",
            "ok-i@regionh.example",
            hr,
            "Pris",
            "Hvad koster en licens?",
            "",
        ),
    ];
    append(s, hr, "INBOX", &mails);
    let daemon = setup.spawn();
    wait_for(
        s,
        "ok-i@regionh.example",
        "INBOX",
        "the mail behind the refused ones",
        WAIT,
        |m| m.len() == 1,
    );
    // 550 sets aside at once; 450 after max-attempts refusals (retried with backoff).
    let inbox = wait_for(
        s,
        hr,
        "INBOX",
        "both refused mails flagged for a person",
        Duration::from_secs(60),
        |m| m.iter().filter(|m| has_flag(m, "Flagged")).count() == 2,
    );
    daemon.stop(Duration::from_secs(10));
    for m in &inbox {
        let id = m.header("Message-ID").unwrap();
        let flagged = has_flag(m, "Flagged");
        assert_eq!(flagged, id != "<i3@regionh.example>", "{id}");
        assert_eq!(
            has_flag(m, "Answered"),
            id == "<i3@regionh.example>",
            "{id}"
        );
    }
    let log = std::fs::read_to_string(setup.log_path()).unwrap();
    assert!(
        log.contains("setting the mail aside after repeated refusals"),
        "{log}"
    );
    // Set-aside mail is never retried.
    let (ok, out, _) = setup.run_once();
    assert!(ok && !out.contains("replied"), "{out}");
}

/// Issue 9: a mail that panics the pipeline, and one that kills the process every time it is
/// read, are set aside (`\\Flagged`, never answered), and the mails behind them answered.
/// The console's "answer with pricing" on a mail set aside in an IMAP folder: the request
/// is written to the ledger as the console writes it; the daemon fetches the mail again by
/// its UID, sends one reply over SMTP and flags the mail \Answered. Asked again: refused,
/// and still one reply.
fn an_answer_asked_in_the_console_is_sent_once_over_imap(s: &Servers) {
    use autosvar::ledger::{Asked, Ledger, Refusal};
    let hr = "hr-ask@example.test";
    let who = "ask@regionh.example";
    let setup = Setup::default(s, hr, "");
    append(
        s,
        hr,
        "INBOX",
        &[question(
            "ask1@regionh.example",
            who,
            hr,
            "Pris PANICS-HERE",
            "Hvad koster en licens?",
            "",
        )],
    );
    let run = || {
        let o = setup
            .cmd()
            .env("AUTOSVAR_FAULT", "panic:PANICS-HERE")
            .args(["run", "--once"])
            .output()
            .expect("run --once");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let out = run();
    assert!(out.contains("set-aside"), "{out}");
    let ledger_path = setup.dir.path().join("var/ledger.sqlite");
    let key = {
        let l = Ledger::open(&ledger_path).expect("ledger");
        let queue = l.review_queue(None, 10).expect("queue");
        assert_eq!(queue.len(), 1);
        queue[0].key.clone()
    };
    let ask = || {
        let mut l = Ledger::open(&ledger_path).expect("ledger");
        l.ask_answer(
            &key,
            autosvar::types::Category::Pricing,
            None,
            "mette",
            autosvar::clock::now(),
        )
        .expect("ask")
    };
    assert!(matches!(ask(), Asked::Queued(_)));
    let out = run();
    assert!(out.contains("replied pricing"), "{out}");
    let replies = wait_for(s, who, "INBOX", "the reply", WAIT, |m| m.len() == 1);
    let text = replies[0].text();
    assert!(text.contains("X-Autosvar-Category: pricing"), "{text}");
    wait_for(s, hr, "INBOX", "the mail shown answered", WAIT, |m| {
        m.len() == 1 && has_flag(&m[0], "Answered")
    });
    assert_eq!(ask(), Asked::Refused(Refusal::Replied));
    run();
    assert_eq!(messages(s, who, "INBOX").len(), 1, "one reply only");
}

/// With `review-below = 1.0` every specific category is doubtful: a technical mail gets the
/// short acknowledgement (the `other` template), is flagged in the mailbox, and no desk
/// forward goes out, however often autosvar runs, until a person asks for it (the console's
/// request, written here as the console writes it); then exactly one.
fn a_doubtful_technical_mail_is_acknowledged_and_its_forward_held_until_released(s: &Servers) {
    use autosvar::ledger::{Asked, Ledger, Refusal};
    let hr = "hr-doubt@example.test";
    let who = "doubt@regionh.example";
    let setup = Setup::default(s, hr, "");
    let rules = setup.dir.path().join("rules.toml");
    let text = std::fs::read_to_string(&rules).unwrap();
    assert!(
        text.contains("\nreview-below = "),
        "the shipped rules name review-below"
    );
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
    append(
        s,
        hr,
        "INBOX",
        &[question(
            "doubt1@regionh.example",
            who,
            hr,
            "Kamera virker ikke",
            "Mit kamera virker ikke i Zoom på min pc.",
            "",
        )],
    );
    let (ok, out, err) = setup.run_once();
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("acknowledged doubtful technical"), "{out}");
    let acks = wait_for(s, who, "INBOX", "the acknowledgement", WAIT, |m| {
        m.len() == 1
    });
    assert_eq!(
        acks[0].header("X-Autosvar-Category").as_deref(),
        Some("other")
    );
    assert_eq!(
        acks[0].header("In-Reply-To").as_deref(),
        Some("<doubt1@regionh.example>")
    );
    wait_for(s, hr, "INBOX", "the mail flagged and answered", WAIT, |m| {
        m.len() == 1 && has_flag(&m[0], "Flagged") && has_flag(&m[0], "Answered")
    });
    let desks = || {
        messages(s, &format!("cimt-{hr}"), "INBOX").len()
            + messages(s, &format!("kuit-{hr}"), "INBOX").len()
    };
    // Another run (a restart) sends nothing; the ledger holds nothing to send.
    let (ok, out, err) = setup.run_once();
    assert!(ok, "{out}\n{err}");
    let ledger_path = setup.dir.path().join("var/ledger.sqlite");
    let (key, desk) = {
        let l = Ledger::open(&ledger_path).expect("ledger");
        assert!(l.pending().expect("pending").is_empty());
        let queue = l.review_queue(None, 10).expect("queue");
        assert_eq!(queue.len(), 1);
        assert!(queue[0].doubtful && queue[0].forward_held(), "{queue:?}");
        (
            queue[0].key.clone(),
            queue[0].desk.clone().expect("a guessed desk"),
        )
    };
    assert_eq!(desks(), 0, "held: no forward");

    let ask = || {
        let mut l = Ledger::open(&ledger_path).expect("ledger");
        l.ask_forward(&key, &desk, "mette", autosvar::clock::now())
            .expect("ask")
    };
    assert!(matches!(ask(), Asked::Queued(_)));
    let (ok, out, err) = setup.run_once();
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains(&format!("forwarded technical desk={desk}")),
        "{out}"
    );
    let inbox = format!("{desk}-{hr}");
    let got = wait_for(s, &inbox, "INBOX", "the released forward", WAIT, |m| {
        m.len() == 1
    });
    assert_eq!(
        got[0].header("X-Autosvar-Desk").as_deref(),
        Some(desk.as_str())
    );
    assert!(got[0].header("Reply-To").unwrap().contains(who));
    assert_eq!(ask(), Asked::Refused(Refusal::Forwarded));
    let (ok, out, err) = setup.run_once();
    assert!(ok, "{out}\n{err}");
    wait_for(s, hr, "INBOX", "the mail shown forwarded", WAIT, |m| {
        m.len() == 1 && has_flag(&m[0], "$AutosvarForwarded")
    });
    assert_eq!(desks(), 1, "one forward only");
    assert_eq!(
        messages(s, who, "INBOX").len(),
        1,
        "one acknowledgement only"
    );
}

fn a_poisoned_mail_is_flagged_and_the_rest_answered(s: &Servers) {
    let hr = "hr-p@example.test";
    let setup = Setup::default(s, hr, "");
    let q = |id: &str, from: &str, subject: &str| {
        question(id, from, hr, subject, "Hvad koster en licens?", "")
    };
    append(
        s,
        hr,
        "INBOX",
        &[
            q("p1@regionh.example", "a-p@regionh.example", "Pris"),
            q(
                "p2@regionh.example",
                "b-p@regionh.example",
                "Pris PANICS-HERE",
            ),
            q(
                "p3@regionh.example",
                "c-p@regionh.example",
                "Pris KILLS-HERE",
            ),
            q("p4@regionh.example", "d-p@regionh.example", "Pris"),
        ],
    );
    let run = |fault: &str| {
        let o = setup
            .cmd()
            .env("AUTOSVAR_FAULT", fault)
            .args(["run", "--once"])
            .output()
            .expect("run --once");
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    // The panic is contained at once; the process dies at the other mail POISON_AFTER times
    // running, and the next start sets it aside and goes on.
    let fault = "panic:PANICS-HERE,abort:KILLS-HERE";
    for _ in 0..autosvar::pipeline::POISON_AFTER {
        let (ok, out) = run(fault);
        assert!(!ok, "{out}");
    }
    let (ok, out) = run(fault);
    assert!(ok, "{out}");
    assert!(out.contains("set-aside"), "{out}");
    let inbox = wait_for(s, hr, "INBOX", "two mails flagged", WAIT, |m| {
        m.iter().filter(|m| has_flag(m, "Flagged")).count() == 2
    });
    for m in &inbox {
        let id = m.header("Message-ID").unwrap();
        let poisoned = id.contains("p2@") || id.contains("p3@");
        assert_eq!(has_flag(m, "Flagged"), poisoned, "{id}");
        assert_eq!(has_flag(m, "Answered"), !poisoned, "{id}");
    }
    for who in ["a-p@regionh.example", "d-p@regionh.example"] {
        wait_for(s, who, "INBOX", "a reply", WAIT, |m| m.len() == 1);
    }
    for who in ["b-p@regionh.example", "c-p@regionh.example"] {
        assert!(messages(s, who, "INBOX").is_empty(), "{who} got a reply");
    }
}

/// A mail over 1 MB in the middle of a backlog is fetched in part (its first 256 KB) in the
/// same batch as the small ones; every mail is answered once, with a Sent copy and
/// `\Answered` (the marks of one batch are shown while the next goes out).
fn a_large_mail_in_a_backlog_goes_with_the_small_ones_and_all_are_shown(s: &Servers) {
    let hr = "hr-big@example.test";
    let setup = Setup::default(s, hr, "");
    let padding =
        "Linje med tekst, der fylder op i en stor mail uden betydning.\r\n".repeat(40_000);
    let senders: Vec<String> = (0..40)
        .map(|i| format!("big-ask{i}@regionh.example"))
        .collect();
    let mails: Vec<Vec<u8>> = senders
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let body = if i == 20 {
                format!("Hvad koster en enterprise-licens?\r\n\r\n{padding}")
            } else {
                "Hvad koster en enterprise-licens?".to_string()
            };
            question(&format!("big{i}@regionh.example"), f, hr, "Pris", &body, "")
        })
        .collect();
    assert!(
        mails[20].len() > 2 * 1024 * 1024,
        "the large mail is over 1 MB"
    );
    append(s, hr, "INBOX", &mails);
    let (ok, out, err) = setup.run_once();
    assert!(ok, "{out}{err}");
    assert_eq!(out.matches("replied pricing").count(), 40, "{out}");
    for f in &senders {
        assert_eq!(messages(s, f, "INBOX").len(), 1, "{f}: exactly one reply");
    }
    let inbox = messages(s, hr, "INBOX");
    assert_eq!(inbox.len(), 40);
    assert!(inbox
        .iter()
        .all(|m| m.flags.iter().any(|f| f == "Answered")));
    assert_eq!(
        messages(s, hr, "Sent").len(),
        40,
        "a Sent copy of every reply"
    );
    let (ok, out, _) = setup.run_once();
    assert!(
        ok && !out.contains("replied"),
        "nothing answered twice: {out}"
    );
}

fn polling_finds_new_mail_without_idle(s: &Servers) {
    let hr = "hr-j@example.test";
    let setup = Setup::default(s, hr, "idle = false\npoll-interval = \"1s\"");
    let daemon = setup.spawn();
    daemon.wait_log("connected", 1, WAIT);
    let from = "j-ask@regionh.example";
    harness::ask_price(s, "j1@regionh.example", from, hr);
    wait_for(s, from, "INBOX", "reply found by polling", WAIT, |m| {
        m.len() == 1
    });
    daemon.stop(Duration::from_secs(10));
}

fn category_folders_and_keywords_show_outcomes(s: &Servers) {
    let hr = "hr-k@example.test";
    let setup = Setup::default(s, hr, "category-folders = \"Autosvar\"");
    append(
        s,
        hr,
        "INBOX",
        &[
            question(
                "k1@regionh.example",
                "k-a@regionh.example",
                hr,
                "Pris",
                "Hvad koster en licens?",
                "",
            ),
            question(
                "k2@regionh.example",
                "k-b@regionh.example",
                hr,
                "Kamera",
                "Mit kamera virker ikke i Zoom på min pc.",
                "",
            ),
            question(
                "k3@regionh.example",
                "k-c@regionh.example",
                hr,
                "Ferie",
                "Jeg er på ferie.",
                "Auto-Submitted: auto-replied\r\n",
            ),
        ],
    );
    let (ok, out, err) = setup.run_once();
    assert!(ok, "{out}{err}");
    assert!(
        messages(s, hr, "INBOX").is_empty(),
        "handled mail is moved out of the INBOX"
    );
    let pricing = messages(s, hr, "Autosvar/pricing");
    let technical = messages(s, hr, "Autosvar/technical");
    let other = messages(s, hr, "Autosvar/other");
    assert_eq!((pricing.len(), technical.len(), other.len()), (1, 1, 1));
    assert!(has_flag(&pricing[0], "Answered") && has_flag(&pricing[0], "AutosvarReplied"));
    assert!(has_flag(&technical[0], "AutosvarForwarded"));
    assert!(has_flag(&other[0], "AutosvarSkipped") && !has_flag(&other[0], "Answered"));
    assert!(!has_flag(&pricing[0], "Seen"));
}
