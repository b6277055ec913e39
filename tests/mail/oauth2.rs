//! The test run's OAuth2 token service (tests/servers/oauth2): it issues access tokens to
//! the daemon's token command and answers Dovecot's oauth2 passdb, which asks it about
//! every XOAUTH2 login, IMAP and SMTP (Postfix authenticates through Dovecot). Started by
//! [`crate::harness::Servers::start`], stopped by PID when dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::harness::root;

fn script() -> PathBuf {
    root().join("tests/servers/oauth2")
}

pub struct TokenService {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

/// A token the service issued.
#[derive(Debug, Clone)]
pub struct Issued {
    pub user: String,
    pub token: String,
}

/// What the service counted: tokens issued, and introspections by result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub issued: u64,
    pub active: u64,
    pub expired: u64,
    pub unknown: u64,
    /// Issued tokens not expired yet.
    pub live: u64,
}

impl TokenService {
    /// Starts the service on `port`, logging every event to `log`; returns once it listens.
    pub fn start(port: u16, log: &Path) -> TokenService {
        let mut child = Command::new(script())
            .arg("serve")
            .arg(port.to_string())
            .arg(log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start tests/servers/oauth2");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("its stdout");
        // "ready PORT" once it listens; end of file if it died.
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read from tests/servers/oauth2");
        if line.trim() != format!("ready {port}") {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tests/servers/oauth2 did not start: {line:?}");
        }
        TokenService {
            child,
            port,
            log: log.to_path_buf(),
        }
    }

    /// A `token-command` for config.toml: prints a fresh token for `user`, valid `ttl_secs`.
    pub fn token_command(&self, user: &str, ttl_secs: u32) -> String {
        format!(
            "{} token http://127.0.0.1:{}/token {user} {ttl_secs}",
            script().display(),
            self.port
        )
    }

    /// The service's counters.
    pub fn stats(&self) -> Stats {
        use std::io::{Read, Write};
        let mut http = std::net::TcpStream::connect(("127.0.0.1", self.port))
            .expect("connect to the token service");
        http.write_all(b"GET /stats HTTP/1.0\r\n\r\n")
            .expect("ask the token service");
        let mut answer = String::new();
        http.read_to_string(&mut answer)
            .expect("read the token service's answer");
        let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
        assert!(head.starts_with("HTTP/1.1 200"), "GET /stats: {head}");
        let v: serde_json::Value = serde_json::from_str(body).expect("stats are JSON");
        let n = |k: &str| {
            v[k].as_u64()
                .unwrap_or_else(|| panic!("stats lack {k}: {v}"))
        };
        Stats {
            issued: n("issued"),
            active: n("active"),
            expired: n("expired"),
            unknown: n("unknown"),
            live: n("live"),
        }
    }

    /// Every token issued so far.
    pub fn issued(&self) -> Vec<Issued> {
        let log = std::fs::read_to_string(&self.log).expect("the token service's log");
        log.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON line"))
            .filter(|v| v["event"] == "issued")
            .map(|v| Issued {
                user: v["user"].as_str().unwrap_or_default().to_string(),
                token: v["token"].as_str().unwrap_or_default().to_string(),
            })
            .collect()
    }
}

impl Drop for TokenService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
