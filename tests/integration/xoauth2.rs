//! XOAUTH2 login (Microsoft 365) against a small IMAP server in the test itself: Dovecot
//! only offers XOAUTH2 with an OAuth2 token service behind it. The server speaks just the
//! commands `autosvar check` sends, and checks the SASL payload byte for byte.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;

use base64::Engine as _;

use crate::common::root;

/// Serves one connection; returns what the client authenticated with.
fn serve_one(
    listener: TcpListener,
    token: &'static str,
) -> std::thread::JoinHandle<Option<String>> {
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().ok()?;
        let mut out = stream.try_clone().ok()?;
        let mut lines = BufReader::new(stream);
        let mut send = |s: &str| out.write_all(s.as_bytes()).ok();
        send("* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2] test server ready\r\n")?;
        let mut seen = None;
        loop {
            let mut line = String::new();
            if lines.read_line(&mut line).ok()? == 0 {
                return seen;
            }
            let mut parts = line.trim_end().splitn(3, ' ');
            let tag = parts.next()?.to_string();
            let cmd = parts.next().unwrap_or_default().to_ascii_uppercase();
            match cmd.as_str() {
                "AUTHENTICATE" => {
                    send("+ \r\n")?;
                    let mut payload = String::new();
                    lines.read_line(&mut payload).ok()?;
                    let decoded = base64::engine::general_purpose::STANDARD.decode(payload.trim()).ok()?;
                    let text = String::from_utf8(decoded).ok()?;
                    seen = Some(text.clone());
                    if text == format!("user=hr@example.test\x01auth=Bearer {token}\x01\x01") {
                        send(&format!("{tag} OK AUTHENTICATE completed\r\n"))?;
                    } else {
                        // RFC 7628: an error challenge, answered with an empty line.
                        send("+ eyJzdGF0dXMiOiI0MDEifQ==\r\n")?;
                        let mut empty = String::new();
                        lines.read_line(&mut empty).ok()?;
                        send(&format!("{tag} NO AUTHENTICATE failed\r\n"))?;
                    }
                }
                "CAPABILITY" => send(&format!("* CAPABILITY IMAP4rev1 IDLE\r\n{tag} OK done\r\n"))?,
                "SELECT" => send(&format!(
                    "* 0 EXISTS\r\n* FLAGS (\\Answered \\Flagged)\r\n* OK [PERMANENTFLAGS (\\Answered \\Flagged \\*)] ok\r\n\
                     * OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 1] ok\r\n{tag} OK [READ-WRITE] SELECT completed\r\n"
                ))?,
                "LIST" => send(&format!("* LIST (\\HasNoChildren \\Sent) \"/\" Sent\r\n{tag} OK LIST completed\r\n"))?,
                "LOGOUT" => {
                    send(&format!("* BYE bye\r\n{tag} OK LOGOUT completed\r\n"))?;
                    return seen;
                }
                _ => send(&format!("{tag} BAD unknown command\r\n"))?,
            }
        }
    })
}

fn config(dir: &std::path::Path, port: u16, token_command: &str) {
    std::fs::copy(root().join("rules.toml"), dir.join("rules.toml")).unwrap();
    crate::common::copy_tree(&root().join("responses"), &dir.join("responses"));
    std::fs::write(
        dir.join("config.toml"),
        format!(
            r#"[reply]
from = "hr@example.test"
[outbox]
path = "out"
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
port = {port}
tls = "none"
user = "hr@example.test"
auth = "xoauth2"
token-command = "{token_command}"
timeout = "5s"
"#
        ),
    )
    .unwrap();
}

#[test]
fn xoauth2_sends_the_token_from_the_command_and_a_wrong_one_is_refused() {
    for (command, ok) in [("echo s3cr3t-token", true), ("echo expired-token", false)] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = serve_one(listener, "s3cr3t-token");
        let dir = tempfile::tempdir().unwrap();
        config(dir.path(), port, command);
        let out = Command::new(env!("CARGO_BIN_EXE_autosvar"))
            .current_dir(dir.path())
            .args(["check"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.success(), ok, "{command}: {stdout}");
        if ok {
            assert!(
                stdout.contains("logged in, folder INBOX selected"),
                "{stdout}"
            );
            assert!(stdout.contains("Sent folder Sent"), "{stdout}");
        } else {
            assert!(
                stdout.contains("login as hr@example.test refused"),
                "{stdout}"
            );
            assert!(
                !stdout.contains("expired-token"),
                "the token must never be printed: {stdout}"
            );
        }
        let seen = server.join().unwrap().expect("the client authenticated");
        assert!(
            seen.starts_with("user=hr@example.test\x01auth=Bearer "),
            "{seen:?}"
        );
    }
}
