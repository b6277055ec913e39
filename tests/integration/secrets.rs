//! Secrets that cannot be read (issue 11, point 6): `check --offline` (what the systemd
//! unit used to run first) lists them, and `run` stops at once with exit 78 instead of
//! failing at the first login or reply, and without a server to talk to.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common::{copy_tree, root};

/// A config reading mail over IMAP and sending over SMTP (nothing listens on either port:
/// every secret must be read before a connection is tried), with `imap` and `smtp` lines
/// for the login.
fn config(dir: &std::path::Path, imap: &str, smtp: &str) {
    std::fs::copy(root().join("rules.toml"), dir.join("rules.toml")).unwrap();
    copy_tree(&root().join("responses"), &dir.join("responses"));
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        dir.join("config.toml"),
        format!(
            r#"[reply]
from = "hr@example.test"
[ledger]
path = "var/ledger.sqlite"
[desks.cimt]
name = "CIMT"
email = "cimt@example.test"
phone = "1"
[desks.kuit]
name = "KU-IT"
email = "kuit@example.test"
phone = "2"
[imap]
host = "127.0.0.1"
port = {closed}
tls = "none"
user = "hr@example.test"
timeout = "1s"
{imap}
[smtp]
host = "127.0.0.1"
port = {closed}
tls = "none"
timeout = "1s"
{smtp}
"#
        ),
    )
    .unwrap();
}

fn autosvar(dir: &std::path::Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_autosvar"));
    c.current_dir(dir)
        .args(args)
        .env_remove("AUTOSVAR_CONFIG")
        .env_remove("RUST_LOG")
        .env("AUTOSVAR_TEST_SET_PASSWORD", "pw-that-is-set-9431");
    c
}

/// Runs to the end, or fails the test (and kills it, by PID) after `limit`.
fn finish(mut c: Command, limit: Duration) -> Output {
    let child = c
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let start = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("still running after {:?}", start.elapsed());
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_secret_that_cannot_be_read_is_a_check_problem_and_stops_run_with_78() {
    let cases = [
        (
            "password-env = \"AUTOSVAR_SURELY_UNSET_PASSWORD\"",
            "imap.password-env: environment variable AUTOSVAR_SURELY_UNSET_PASSWORD is not set",
        ),
        (
            "password-file = \"no-such-password-file\"",
            "imap.password-file: cannot read password file",
        ),
        (
            "password-command = \"exit 3\"",
            "imap.password-command: command `exit 3` failed (exit status: 3",
        ),
        (
            "auth = \"xoauth2\"\ntoken-command = \"sleep 30\"",
            "imap.token-command: command `sleep 30` did not finish within 1 s and was killed",
        ),
    ];
    for (imap, problem) in cases {
        let dir = tempfile::tempdir().unwrap();
        let smtp = "user = \"hr@example.test\"\npassword-env = \"AUTOSVAR_TEST_SET_PASSWORD\"";
        config(dir.path(), imap, smtp);
        let out = finish(
            autosvar(dir.path(), &["check", "--offline"]),
            Duration::from_secs(20),
        );
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{imap}: {stdout}");
        assert!(stdout.contains(&format!("problem {problem}")), "{stdout}");
        assert!(
            stdout.contains("ok      smtp.password-env: password read"),
            "{stdout}"
        );
        assert!(!stdout.contains("pw-that-is-set"), "{stdout}");
        for args in [&["run"][..], &["run", "--once"]] {
            let out = finish(autosvar(dir.path(), args), Duration::from_secs(20));
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(78), "{imap} {args:?}: {stderr}");
            assert!(stderr.contains(problem), "{stderr}");
        }
    }
}

#[test]
fn an_smtp_secret_is_checked_too_and_a_good_one_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let imap = "password-env = \"AUTOSVAR_TEST_SET_PASSWORD\"";
    config(
        dir.path(),
        imap,
        "user = \"hr@example.test\"\nauth = \"xoauth2\"\ntoken-command = \"echo tok-printed-$((6*7))\"",
    );
    let out = finish(
        autosvar(dir.path(), &["check", "--offline"]),
        Duration::from_secs(20),
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("ok      imap.password-env: password read"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok      smtp.token-command: access token read"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("pw-that-is-set") && !stdout.contains("tok-printed-42"),
        "{stdout}"
    );

    config(
        dir.path(),
        imap,
        "user = \"hr@example.test\"\npassword-env = \"AUTOSVAR_SURELY_UNSET_PASSWORD\"",
    );
    let out = finish(
        autosvar(dir.path(), &["check", "--offline"]),
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains(
        "problem smtp.password-env: environment variable AUTOSVAR_SURELY_UNSET_PASSWORD is not set"
    ));
    let out = finish(autosvar(dir.path(), &["run"]), Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(78), "{}", text(&out.stderr));
}
