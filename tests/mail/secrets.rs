//! Tokens, secrets in logs, and trust (issue 11, points 4 to 6), against the real servers.
//!
//! - XOAUTH2 with tokens that expire after a few seconds, validated by Dovecot's oauth2
//!   passdb for IMAP and (through Dovecot SASL) for Postfix: reconnects forced after each
//!   expiry must each present a fresh token.
//! - A session at `RUST_LOG=trace` must not log a password (or any base64 form of it), a
//!   token, or a word of a mail's body.
//! - A certificate the config does not trust stops the daemon with exit 78, SMTP as well as
//!   IMAP, and `check` says so; nothing is retried, nothing is lost.

use std::process::Output;
use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::harness::{
    messages, question, smtp_send, wait_for, Daemon, ImapOpts, Msg, Servers, Setup,
};

const WAIT: Duration = Duration::from_secs(30);

/// Seconds an access token lives in these tests.
const TOKEN_TTL: u32 = 3;

/// Polls `pred` until it holds, or fails the test at `deadline`.
fn wait_until(what: &str, deadline: Duration, mut pred: impl FnMut() -> bool) {
    let start = Instant::now();
    while !pred() {
        assert!(
            start.elapsed() < deadline,
            "{what}: not within {deadline:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `[imap]` and `[smtp]` lines for XOAUTH2 with tokens from the test's token service.
fn xoauth2_lines(s: &Servers, user: &str, ttl: u32) -> (String, String) {
    let cmd = s.tokens().token_command(user, ttl);
    (
        format!("auth = \"xoauth2\"\ntoken-command = \"{cmd}\""),
        format!("user = \"{user}\"\nauth = \"xoauth2\"\ntoken-command = \"{cmd}\""),
    )
}

/// Lines of `log` that say `what` and name `user`.
fn count_lines(log: &std::path::Path, what: &str, user: &str) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(what) && l.contains(user))
        .count()
}

/// `/metrics` has the expiry of the last IMAP and SMTP tokens (the JWT's `exp`): a token
/// issued since `since` (Unix seconds) and alive no longer than its lifetime, never the
/// token itself.
fn token_expiry_is_in_the_metrics(console: &str, since: i64) {
    let now = autosvar::clock::unix_seconds(autosvar::clock::now());
    let start = std::time::Instant::now();
    loop {
        let (status, _, text) = crate::harness::http_get(console, "/metrics");
        assert_eq!(status, 200, "{text}");
        let expiry = |server: &str| -> Option<i64> {
            let series = format!("autosvar_oauth2_token_expiry_seconds{{server=\"{server}\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(series.as_str())?.parse().ok())
        };
        if let (Some(imap), Some(smtp)) = (expiry("imap"), expiry("smtp")) {
            for (server, at) in [("imap", imap), ("smtp", smtp)] {
                assert!(
                    at >= since + i64::from(TOKEN_TTL) - 1 && at <= now + i64::from(TOKEN_TTL),
                    "{server} token expires at {at}; issued after {since}, now {now}"
                );
            }
            assert!(!text.contains("eyJ"), "a token in /metrics:\n{text}");
            return;
        }
        assert!(
            start.elapsed() < WAIT,
            "no token expiry in /metrics:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn xoauth2_tokens_that_expire_are_fetched_anew_for_every_connection(s: &Servers) {
    const ROUNDS: usize = 4;
    let hr = "hr-tok@example.test";
    let tokens = s.tokens();
    let before = tokens.stats();
    let (imap, smtp) = xoauth2_lines(s, hr, TOKEN_TTL);
    // With the console: its /metrics says when the tokens expire (their JWT `exp`).
    let smtp = format!("{smtp}\n[console]\nlisten = \"127.0.0.1:0\"\n");
    let setup = Setup::new(
        s,
        hr,
        ImapOpts {
            port: s.imaps,
            tls: "implicit",
            ca: &s.ca,
            extra: &imap,
        },
        (s.smtp, "starttls"),
        &smtp,
    );
    let since = autosvar::clock::unix_seconds(autosvar::clock::now());
    let daemon = setup.spawn();
    daemon.wait_log("connected", 1, WAIT);
    let console = daemon.console_addr(WAIT);
    let senders: Vec<String> = (0..ROUNDS)
        .map(|i| format!("tok{i}-ask@regionh.example"))
        .collect();
    for (round, from) in senders.iter().enumerate() {
        if round > 0 {
            // Every token issued so far has expired: a connection that kept one, or a
            // login that reused one, is refused from here on.
            wait_until("every token expired", WAIT, || tokens.stats().live == 0);
            // New connections, both ways: IMAP reconnects after the restart, and the kept
            // SMTP connection is found dead at the next reply.
            s.restart_dovecot();
            // Postfix stopped and started again (the guard starts it when dropped).
            drop(s.stop_postfix());
            daemon.wait_log("connected", round + 1, WAIT);
        }
        smtp_send(
            s,
            from,
            hr,
            &question(
                &format!("tok{round}@regionh.example"),
                from,
                hr,
                "Pris",
                "Hvad koster en licens til Zoom?",
                "",
            ),
        );
        wait_for(s, from, "INBOX", "reply after a token expired", WAIT, |m| {
            m.len() == 1
        });
        if round == 0 {
            token_expiry_is_in_the_metrics(&console, since);
        }
    }
    daemon.stop(Duration::from_secs(10));
    for from in &senders {
        assert_eq!(messages(s, from, "INBOX").len(), 1, "{from}: one reply");
    }
    let after = tokens.stats();
    println!("    token service: {before:?} -> {after:?}");
    assert_eq!(
        (
            after.expired - before.expired,
            after.unknown - before.unknown
        ),
        (0, 0),
        "a login presented an expired or unknown token"
    );
    let logins = (after.active - before.active) as usize;
    assert!(
        logins >= 2 * ROUNDS,
        "{logins} token logins for {ROUNDS} rounds"
    );
    let dir = &s.dir;
    let imap_logins = count_lines(&dir.join("log/dovecot.log"), "method=XOAUTH2", hr);
    let smtp_logins = count_lines(&dir.join("log/postfix.log"), "sasl_method=XOAUTH2", hr);
    println!("    XOAUTH2 logins: IMAP {imap_logins}, SMTP {smtp_logins} over {ROUNDS} rounds");
    assert!(imap_logins >= ROUNDS, "IMAP logins: {imap_logins}");
    assert!(smtp_logins >= ROUNDS, "SMTP logins: {smtp_logins}");
}

/// The base64 texts that contain `secret` wherever it sits in the encoded bytes: the
/// secret after 0, 1 and 2 other bytes, cut to the characters only the secret decides.
fn base64_forms(secret: &str) -> Vec<String> {
    (0..3)
        .map(|k| {
            let mut bytes = vec![0u8; k];
            bytes.extend_from_slice(secret.as_bytes());
            let text = base64::engine::general_purpose::STANDARD.encode(&bytes);
            let first = (8 * k).div_ceil(6);
            let last = 8 * bytes.len() / 6;
            text[first..last].to_string()
        })
        .collect()
}

/// Fails if `log` holds any of `secrets` or their base64 forms, or any of `texts`.
fn assert_clean(log: &str, secrets: &[String], texts: &[String]) {
    for secret in secrets {
        assert!(!log.contains(secret.as_str()), "a secret is in the log");
        for form in base64_forms(secret) {
            assert!(
                !log.contains(&form),
                "a secret's base64 form {form} is in the log"
            );
        }
    }
    for text in texts {
        assert!(
            !log.contains(text.as_str()),
            "body text {text:?} is in the log"
        );
    }
}

/// The longest line of a message's body: text only the body has.
fn body_line(m: &Msg) -> String {
    let text = m.text();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    let line = body.lines().max_by_key(|l| l.len()).unwrap_or_default();
    assert!(line.len() >= 20, "a body line to look for: {body:?}");
    line.to_string()
}

/// `run --once` at RUST_LOG=trace; its log.
fn run_at_trace(setup: &Setup, password: &str) -> String {
    let Output {
        status,
        stdout,
        stderr,
    } = setup
        .cmd()
        .env("AUTOSVAR_TEST_PASSWORD", password)
        .env("RUST_LOG", "trace")
        .args(["run", "--once"])
        .output()
        .expect("run --once");
    let log = String::from_utf8_lossy(&stderr).into_owned();
    assert!(
        status.success(),
        "{}\n{log}",
        String::from_utf8_lossy(&stdout)
    );
    assert!(log.contains("mail handled"), "{log}");
    log
}

pub fn nothing_secret_and_no_body_text_in_the_log_at_trace(s: &Servers) {
    // Random per run (std's hasher keys are random), so no log line holds it by chance.
    let salt = std::hash::BuildHasher::hash_one(
        &std::collections::hash_map::RandomState::new(),
        std::process::id(),
    );
    // Dovecot's passwd-file takes it for this user.
    let password = format!("Pw{}q{salt}Zx", std::process::id());
    let (hr_pw, hr_tok) = ("hr-logpw@example.test", "hr-logtok@example.test");
    s.add_user(hr_pw, &password);
    let (imap, smtp) = xoauth2_lines(s, hr_tok, 600);
    let sessions = [
        // IMAP LOGIN and SMTP AUTH PLAIN with the password, both after STARTTLS.
        (
            hr_pw,
            String::new(),
            format!("user = \"{hr_pw}\"\npassword-env = \"AUTOSVAR_TEST_PASSWORD\""),
        ),
        // XOAUTH2 both ways.
        (hr_tok, imap, smtp),
    ];
    for (i, (hr, imap_extra, smtp_extra)) in sessions.iter().enumerate() {
        let setup = Setup::new(
            s,
            hr,
            ImapOpts {
                port: s.imap,
                tls: "starttls",
                ca: &s.ca,
                extra: imap_extra,
            },
            (s.smtp, "starttls"),
            smtp_extra,
        );
        let from = format!("log{i}-ask@regionh.example");
        let marker = format!("zebrafinke{i}x{salt}");
        smtp_send(
            s,
            &from,
            hr,
            &question(
                &format!("log{i}@regionh.example"),
                &from,
                hr,
                "Pris",
                &format!("Hvad koster en licens? Mit kodeord er ikke {marker}."),
                "",
            ),
        );
        wait_for(s, hr, "INBOX", "the question", WAIT, |m| m.len() == 1);
        let log = run_at_trace(&setup, &password);
        let reply = wait_for(s, &from, "INBOX", "the reply", WAIT, |m| m.len() == 1);
        let tokens: Vec<String> = s
            .tokens()
            .issued()
            .into_iter()
            .filter(|t| t.user == hr_tok)
            .map(|t| t.token)
            .collect();
        assert!(
            i == 0 || tokens.len() >= 2,
            "tokens issued: {}",
            tokens.len()
        );
        let mut secrets = vec![
            password.clone(),
            format!("\0{hr_pw}\0{password}"),
            format!("{hr_pw}\0{hr_pw}\0{password}"),
        ];
        for t in &tokens {
            secrets.push(t.clone());
            secrets.push(format!("user={hr_tok}\x01auth=Bearer {t}\x01\x01"));
        }
        println!(
            "    session {i}: {} log lines at trace, {} secrets looked for",
            log.lines().count(),
            secrets.len()
        );
        assert_clean(&log, &secrets, &[marker, body_line(&reply[0])]);
    }
}

/// Waits for the daemon to exit on its own; its exit code.
fn exit_code(daemon: &mut Daemon, log: &std::path::Path, deadline: Duration) -> Option<i32> {
    let start = Instant::now();
    loop {
        if let Some(status) = daemon.child.try_wait().expect("wait for the daemon") {
            return status.code();
        }
        assert!(
            start.elapsed() < deadline,
            "the daemon is still running after {deadline:?}: it retries what cannot work\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Points `[smtp]`'s ca-file at `ca`.
fn smtp_ca(setup: &Setup, from: &std::path::Path, to: &std::path::Path) {
    let path = setup.dir.path().join("config.toml");
    let text = std::fs::read_to_string(&path).expect("config.toml");
    let (imap, smtp) = text.split_once("[smtp]").expect("an [smtp] section");
    let smtp = smtp.replace(
        &format!("ca-file = \"{}\"", from.display()),
        &format!("ca-file = \"{}\"", to.display()),
    );
    std::fs::write(path, format!("{imap}[smtp]{smtp}")).expect("config.toml");
}

pub fn an_untrusted_certificate_stops_the_daemon_with_78(s: &Servers) {
    let cases = [
        ("starttls", s.other_ca.as_path(), "smtp"),
        ("smtps", s.other_ca.as_path(), "smtp"),
        ("imaps", s.ca.as_path(), "imap"),
    ];
    for (i, (case, smtp_trusts, refused)) in cases.into_iter().enumerate() {
        let hr = format!("hr-ca-{case}@example.test");
        let imap_trusts = if refused == "imap" {
            &s.other_ca
        } else {
            &s.ca
        };
        let smtp = match case {
            "smtps" => (s.smtps, "implicit"),
            _ => (s.smtp, "starttls"),
        };
        let setup = Setup::new(
            s,
            &hr,
            ImapOpts {
                port: s.imaps,
                tls: "implicit",
                ca: imap_trusts,
                extra: "",
            },
            smtp,
            "",
        );
        smtp_ca(&setup, &s.ca, smtp_trusts);
        // (A sender named like a mail system, "smtps@…", would be taken for a bounce.)
        let from = format!("cert{i}-ask@regionh.example");
        smtp_send(
            s,
            &from,
            &hr,
            &question(
                &format!("ca-{case}@regionh.example"),
                &from,
                &hr,
                "Pris",
                "Hvad koster Zoom?",
                "",
            ),
        );
        wait_for(s, &hr, "INBOX", "the question", WAIT, |m| m.len() == 1);
        let mut daemon = setup.spawn();
        let code = exit_code(&mut daemon, &setup.log_path(), WAIT);
        let log = std::fs::read_to_string(setup.log_path()).unwrap_or_default();
        assert_eq!(code, Some(78), "{case}: {log}");
        assert!(log.contains("certificate"), "{case}: {log}");
        let o = setup.cmd().arg("check").output().expect("check");
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(1), "{case}: {out}");
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("problem {refused} ")) && l.contains("certificate")),
            "{case}: {out}"
        );
        assert!(
            messages(s, &from, "INBOX").is_empty(),
            "{case}: nothing sent"
        );
        if refused == "smtp" {
            // Trusted again: the reply that waited in the ledger goes out, once.
            smtp_ca(&setup, smtp_trusts, &s.ca);
            let (ok, out, err) = setup.run_once();
            assert!(ok, "{case}: {out}{err}");
            wait_for(s, &from, "INBOX", "the reply, late", WAIT, |m| m.len() == 1);
            assert_eq!(messages(s, &from, "INBOX").len(), 1, "{case}: one reply");
        }
    }
}
