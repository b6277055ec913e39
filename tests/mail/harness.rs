//! The test run's own Dovecot and Postfix, and small clients to talk to them.
//!
//! `Servers::start` installs the Debian packages when missing and starts both servers on
//! free loopback ports in a fresh state folder (tests/servers/mailserver), and the OAuth2
//! token service Dovecot asks about XOAUTH2 logins ([`crate::oauth2`]); dropping it stops
//! them, by PID. Every test uses its own users, so tests never see each other's mail.
//! [`Proxy`] stands between the daemon and a server for network faults (a NAT that forgets
//! a connection without a word).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures::TryStreamExt;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn script() -> PathBuf {
    root().join("tests/servers/mailserver")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The running servers.
pub struct Servers {
    pub dir: PathBuf,
    pub imap: u16,
    pub imaps: u16,
    pub smtp: u16,
    pub smtps: u16,
    /// SMTP with Microsoft 365-like limits: 3 connections, 80 messages per 2 s.
    pub throttled: u16,
    pub ca: PathBuf,
    pub other_ca: PathBuf,
    ports: HashMap<&'static str, u16>,
    /// Issues the tokens XOAUTH2 logins present, and validates them for Dovecot.
    pub oauth2: Option<crate::oauth2::TokenService>,
}

impl Servers {
    pub fn start() -> Servers {
        let out = Command::new(script())
            .arg("install")
            .status()
            .expect("run mailserver install");
        assert!(out.success(), "installing Dovecot and Postfix failed");
        let dir = PathBuf::from(format!("/tmp/asv-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut ports = HashMap::new();
        for name in [
            "AUTOSVAR_TEST_IMAP_PORT",
            "AUTOSVAR_TEST_IMAPS_PORT",
            "AUTOSVAR_TEST_SMTP_PORT",
            "AUTOSVAR_TEST_SMTPS_PORT",
            "AUTOSVAR_TEST_THROTTLED_PORT",
            "AUTOSVAR_TEST_OAUTH2_PORT",
        ] {
            ports.insert(name, free_port());
        }
        let mut s = Servers {
            imap: ports["AUTOSVAR_TEST_IMAP_PORT"],
            imaps: ports["AUTOSVAR_TEST_IMAPS_PORT"],
            smtp: ports["AUTOSVAR_TEST_SMTP_PORT"],
            smtps: ports["AUTOSVAR_TEST_SMTPS_PORT"],
            throttled: ports["AUTOSVAR_TEST_THROTTLED_PORT"],
            ca: dir.join("tls/ca.pem"),
            other_ca: dir.join("tls/other-ca.pem"),
            dir,
            ports,
            oauth2: None,
        };
        s.script(&["start"]);
        s.oauth2 = Some(crate::oauth2::TokenService::start(
            s.ports["AUTOSVAR_TEST_OAUTH2_PORT"],
            &s.dir.join("log/oauth2.log"),
        ));
        s
    }

    /// The token service (started with the servers).
    pub fn tokens(&self) -> &crate::oauth2::TokenService {
        self.oauth2.as_ref().expect("the token service runs")
    }

    /// Lets `user` log in with `password` (besides "secret"): a line in Dovecot's
    /// passwd-file. Dovecot looks at the file at most once a second, so this returns once
    /// Dovecot's auth service accepts the password (`doveadm auth test`, which no IMAP or
    /// SMTP login penalty counts).
    pub fn add_user(&self, user: &str, password: &str) {
        use std::io::Write;
        let mut users = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.join("etc/users"))
            .expect("Dovecot's users file");
        writeln!(users, "{}:{{PLAIN}}{password}", user.to_lowercase()).expect("add a user");
        let start = Instant::now();
        loop {
            let out = Command::new("doveadm")
                .arg("-c")
                .arg(self.dir.join("etc/dovecot.conf"))
                .args(["auth", "test", user, password])
                .output()
                .expect("run doveadm auth test");
            if out.status.success() {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "Dovecot does not take the password of {user}: {}",
                String::from_utf8_lossy(&out.stdout)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn script(&self, args: &[&str]) {
        let mut c = Command::new(script());
        c.args(args).arg(&self.dir).stdout(Stdio::null());
        for (k, v) in &self.ports {
            c.env(k, v.to_string());
        }
        let status = c.status().expect("run mailserver");
        assert!(status.success(), "mailserver {args:?} failed");
    }

    /// Stops Postfix until the guard is dropped (or started): a test that fails while it
    /// is down leaves it running for the tests after it.
    pub fn stop_postfix(&self) -> PostfixDown<'_> {
        self.script(&["stop-postfix"]);
        PostfixDown { servers: self }
    }

    /// Waits until Postfix has delivered everything it accepted.
    pub fn wait_queue_empty(&self, deadline: Duration) {
        let start = Instant::now();
        loop {
            let out = Command::new("postqueue")
                .arg("-c")
                .arg(self.dir.join("postfix/etc"))
                .arg("-p")
                .output()
                .expect("run postqueue");
            if String::from_utf8_lossy(&out.stdout).contains("Mail queue is empty") {
                return;
            }
            assert!(
                start.elapsed() < deadline,
                "Postfix queue not empty after {deadline:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn restart_dovecot(&self) {
        self.script(&["restart-dovecot"]);
    }

    /// Stops Dovecot until the guard is dropped: a test that fails while it is down leaves
    /// it running for the tests after it.
    pub fn stop_dovecot(&self) -> DovecotDown<'_> {
        self.script(&["stop-dovecot"]);
        DovecotDown { servers: self }
    }
}

pub struct DovecotDown<'a> {
    servers: &'a Servers,
}

impl Drop for DovecotDown<'_> {
    fn drop(&mut self) {
        self.servers.script(&["start-dovecot"]);
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.oauth2 = None;
        self.script(&["stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A TCP proxy on 127.0.0.1 in front of a server's port, in plain threads. Told to, it stops
/// forwarding a connection in both directions WITHOUT closing it, as a NAT or firewall that
/// dropped the connection's state does: the daemon's writes are taken and swallowed, nothing
/// comes back, no FIN, no RST. (Its kernel still acknowledges, so TCP keepalive cannot see
/// this; only the protocol's own timeouts can.) Connections opened afterwards pass as usual.
pub struct Proxy {
    pub port: u16,
    shared: Arc<ProxyShared>,
    accept: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct ProxyShared {
    stop: AtomicBool,
    /// Every connection: its "stopped forwarding" switch and both sockets, held open here
    /// until the proxy is dropped.
    conns: Mutex<Vec<(Arc<AtomicBool>, TcpStream, TcpStream)>>,
    /// Armed by [`Proxy::blackhole_on`]: the next connection whose client sends these bytes.
    trigger: Mutex<Option<Vec<u8>>>,
}

impl Proxy {
    pub fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy listener");
        let port = listener.local_addr().expect("proxy address").port();
        let shared = Arc::new(ProxyShared::default());
        let s = shared.clone();
        let accept = std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let hole = Arc::new(AtomicBool::new(false));
                let clone = |t: &TcpStream| t.try_clone().expect("clone a proxied socket");
                let (c2, s2) = (clone(&client), clone(&server));
                s.conns
                    .lock()
                    .unwrap()
                    .push((hole.clone(), clone(&client), clone(&server)));
                let (sa, ha) = (s.clone(), hole.clone());
                std::thread::spawn(move || pump(client, s2, &ha, &sa, true));
                let sb = s.clone();
                std::thread::spawn(move || pump(server, c2, &hole, &sb, false));
            }
        });
        Proxy {
            port,
            shared,
            accept: Some(accept),
        }
    }

    /// Stops forwarding on every connection open now (they stay open); returns how many.
    pub fn blackhole(&self) -> usize {
        let conns = self.shared.conns.lock().unwrap();
        for (hole, _, _) in conns.iter() {
            hole.store(true, Ordering::SeqCst);
        }
        conns.len()
    }

    /// Once: the first connection whose client sends `bytes` stops forwarding from the
    /// read that completes them on (that read is swallowed, so the server never gets all of
    /// them; async-imap writes a command's tag, name and CRLF separately).
    pub fn blackhole_on(&self, bytes: &[u8]) {
        *self.shared.trigger.lock().unwrap() = Some(bytes.to_vec());
    }

    /// Connections made through the proxy so far.
    pub fn connections(&self) -> usize {
        self.shared.conns.lock().unwrap().len()
    }
}

/// Copies `from` to `to` until either closes or the proxy stops; swallows instead once the
/// connection is blackholed (and then passes no end-of-stream on either).
fn pump(mut from: TcpStream, mut to: TcpStream, hole: &AtomicBool, shared: &ProxyShared, up: bool) {
    // The switch and the proxy's end are looked at between reads.
    let _ = from.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = vec![0u8; 64 * 1024];
    // The last bytes sent upstream, so that the trigger is found across reads.
    let mut seen: Vec<u8> = Vec::new();
    while !shared.stop.load(Ordering::SeqCst) {
        match from.read(&mut buf) {
            Ok(0) => {
                if !hole.load(Ordering::SeqCst) {
                    let _ = to.shutdown(Shutdown::Write);
                }
                return;
            }
            Ok(n) => {
                if up {
                    seen.extend_from_slice(&buf[..n]);
                    let mut trigger = shared.trigger.lock().unwrap();
                    let hit = trigger
                        .as_ref()
                        .is_some_and(|t| seen.windows(t.len()).any(|w| w == t.as_slice()));
                    if hit {
                        *trigger = None;
                        hole.store(true, Ordering::SeqCst);
                    }
                    let keep = seen.len().saturating_sub(64);
                    seen.drain(..keep);
                }
                if !hole.load(Ordering::SeqCst) && to.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then sees `stop`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        for (_, client, server) in self.shared.conns.lock().unwrap().drain(..) {
            let _ = client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
        }
    }
}

/// A plain HTTP/1.1 GET on loopback, no session: (status, headers, body).
pub fn http_get(addr: &str, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the console");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Sends raw bytes over plain SMTP to the local Postfix.
/// A new mail arriving through Postfix: `from` asks `to` what a licence costs (Message-ID
/// `<id>`).
pub fn ask_price(servers: &Servers, id: &str, from: &str, to: &str) {
    smtp_send(
        servers,
        from,
        to,
        &question(id, from, to, "Pris", "Hvad koster en licens?", ""),
    );
}

pub fn smtp_send(servers: &Servers, from: &str, to: &str, bytes: &[u8]) {
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
    let port = servers.smtp;
    runtime().block_on(async {
        let t = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(port)
            .build();
        let envelope = lettre::address::Envelope::new(
            Some(from.parse().expect("from")),
            vec![to.parse().expect("to")],
        )
        .expect("envelope");
        t.send_raw(&envelope, bytes).await.expect("SMTP send");
    });
}

type Session = async_imap::Session<tokio::net::TcpStream>;

async fn login(port: u16, user: &str) -> Session {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("IMAP connect");
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.expect("greeting");
    client
        .login(user, "secret")
        .await
        .map_err(|(e, _)| e)
        .expect("IMAP login")
}

/// A message as a test sees it.
#[derive(Debug, Clone)]
pub struct Msg {
    pub flags: Vec<String>,
    pub bytes: Vec<u8>,
}

impl Msg {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// An (unfolded) header's value.
    pub fn header(&self, name: &str) -> Option<String> {
        let text = self.text();
        let head = text
            .split("\r\n\r\n")
            .next()
            .unwrap_or_default()
            .replace("\r\n ", " ");
        head.lines().find_map(|l| {
            l.split_once(':')
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_string())
        })
    }
}

/// Every message in a user's folder.
pub fn messages(servers: &Servers, user: &str, folder: &str) -> Vec<Msg> {
    let port = servers.imap;
    runtime().block_on(async {
        let mut s = login(port, user).await;
        s.select(folder).await.expect("select");
        let fetched: Vec<_> = s
            .uid_fetch("1:*", "(FLAGS BODY.PEEK[])")
            .await
            .expect("fetch")
            .try_collect()
            .await
            .expect("fetch every message (an error is no empty folder)");
        let out = fetched
            .iter()
            .filter_map(|f| {
                Some(Msg {
                    flags: f.flags().map(|fl| format!("{fl:?}")).collect(),
                    bytes: f.body()?.to_vec(),
                })
            })
            .collect();
        let _ = s.logout().await;
        out
    })
}

/// Puts a message straight into a folder (as delivery would), bypassing SMTP.
/// Takes `flag` off every message of `folder` (as a mail client, or a server that keeps
/// fewer flags, might).
pub fn remove_flag(servers: &Servers, user: &str, folder: &str, flag: &str) {
    runtime().block_on(async {
        let mut s = login(servers.imap, user).await;
        s.select(folder).await.expect("select");
        let _: Vec<_> = s
            .uid_store("1:*", format!("-FLAGS.SILENT ({flag})"))
            .await
            .expect("store")
            .try_collect()
            .await
            .expect("store every message");
        s.logout().await.expect("logout");
    });
}

pub fn append(servers: &Servers, user: &str, folder: &str, messages: &[Vec<u8>]) {
    let port = servers.imap;
    runtime().block_on(async {
        let mut s = login(port, user).await;
        for m in messages {
            s.append(folder, None, None, m).await.expect("append");
        }
        let _ = s.logout().await;
    });
}

/// Polls until `pred` holds on the user's folder, or panics at the deadline.
pub fn wait_for(
    servers: &Servers,
    user: &str,
    folder: &str,
    what: &str,
    deadline: Duration,
    pred: impl Fn(&[Msg]) -> bool,
) -> Vec<Msg> {
    let start = Instant::now();
    loop {
        let msgs = messages(servers, user, folder);
        if pred(&msgs) {
            return msgs;
        }
        assert!(
            start.elapsed() < deadline,
            "{what}: not within {deadline:?} ({} messages in {user}/{folder})",
            msgs.len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A question from `from` to `to`, with a unique Message-ID.
pub fn question(
    id: &str,
    from: &str,
    to: &str,
    subject: &str,
    body: &str,
    extra_headers: &str,
) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {}\r\nMessage-ID: <{id}>\r\n{extra_headers}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n",
        httpdate_now()
    )
    .into_bytes()
}

/// An RFC 5322 date for now (the INTERNALDATE that matters is the server's).
fn httpdate_now() -> String {
    let (y, mo, d, h, mi, s, wd) = civil(autosvar::clock::now());
    let day = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][wd];
    format!(
        "{day}, {d} {} {y} {h:02}:{mi:02}:{s:02} +0000",
        MONTHS[mo - 1]
    )
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// An IMAP INTERNALDATE ("01-Oct-2026 10:00:00 +0000", quoted) `days` before now, from the
/// clock, never from a calendar written into the test.
pub fn imap_date_days_ago(days: u64) -> String {
    let t = autosvar::clock::now() - Duration::from_secs(days * 86_400);
    let (y, mo, d, h, mi, s, _) = civil(t);
    format!(
        "\"{d:02}-{}-{y} {h:02}:{mi:02}:{s:02} +0000\"",
        MONTHS[mo - 1]
    )
}

/// UTC (year, month, day, hour, minute, second, weekday from Thursday) of a time (Howard
/// Hinnant's days-to-civil).
fn civil(t: std::time::SystemTime) -> (i64, usize, u64, u64, u64, u64, usize) {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u64;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as usize;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        (days % 7) as usize,
    )
}

/// A working copy of the shipped files with a config pointing at the test servers.
/// Copies a folder tree.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create folder");
    for e in std::fs::read_dir(from).expect("read folder") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).expect("copy file");
        }
    }
}

/// Postfix is stopped while this lives.
pub struct PostfixDown<'a> {
    servers: &'a Servers,
}

impl Drop for PostfixDown<'_> {
    fn drop(&mut self) {
        self.servers.script(&["start-postfix"]);
    }
}

pub struct Setup {
    pub dir: tempfile::TempDir,
}

pub struct ImapOpts<'a> {
    pub port: u16,
    pub tls: &'a str,
    pub ca: &'a Path,
    pub extra: &'a str,
}

impl Setup {
    pub fn new(
        servers: &Servers,
        user: &str,
        imap: ImapOpts<'_>,
        smtp: (u16, &str),
        smtp_extra: &str,
    ) -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::copy(root().join("rules.toml"), dir.path().join("rules.toml")).expect("rules");
        let responses = dir.path().join("responses");
        std::fs::create_dir_all(&responses).expect("responses dir");
        for e in std::fs::read_dir(root().join("responses")).expect("responses") {
            let e = e.expect("entry");
            std::fs::copy(e.path(), responses.join(e.file_name())).expect("copy template");
        }
        // The learned model too, trained at start as the shipped config does.
        copy_tree(&root().join("training"), &dir.path().join("training"));
        let config = format!(
            r#"[reply]
from = "E-learning <{user}>"

[classify]
rules = "rules.toml"
training = "training"

[ledger]
path = "var/ledger.sqlite"

[desks.cimt]
name = "CIMT Servicedesk"
email = "cimt-{user}"
phone = "3864 8080"

[desks.kuit]
name = "KU-IT"
email = "kuit-{user}"
phone = "3532 3232"

[imap]
host = "127.0.0.1"
port = {}
tls = "{}"
user = "{user}"
password-env = "AUTOSVAR_TEST_PASSWORD"
ca-file = "{}"
timeout = "5s"
{}

[smtp]
host = "127.0.0.1"
port = {}
tls = "{}"
ca-file = "{}"
timeout = "5s"
retry-after = "1s"
{smtp_extra}
"#,
            imap.port,
            imap.tls,
            imap.ca.display(),
            imap.extra,
            smtp.0,
            smtp.1,
            servers.ca.display(),
        );
        std::fs::write(dir.path().join("config.toml"), config).expect("config");
        Setup { dir }
    }

    /// The default: IMAPS and SMTP with STARTTLS.
    pub fn default(servers: &Servers, user: &str, imap_extra: &str) -> Setup {
        Setup::new(
            servers,
            user,
            ImapOpts {
                port: servers.imaps,
                tls: "implicit",
                ca: &servers.ca,
                extra: imap_extra,
            },
            (servers.smtp, "starttls"),
            "",
        )
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_autosvar"));
        c.current_dir(self.dir.path())
            .env("AUTOSVAR_TEST_PASSWORD", "secret")
            .env_remove("RUST_LOG")
            .env_remove("AUTOSVAR_CONFIG");
        c
    }

    /// `run --once`: (exit ok, stdout, stderr).
    pub fn run_once(&self) -> (bool, String, String) {
        let o = self
            .cmd()
            .args(["run", "--once"])
            .output()
            .expect("run --once");
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("daemon.log")
    }

    /// Starts the daemon; its log goes to daemon.log (appended).
    pub fn spawn(&self) -> Daemon {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        let child = self
            .cmd()
            .args(["run"])
            .env("RUST_LOG", "autosvar=debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn daemon");
        Daemon {
            child,
            log: self.log_path(),
        }
    }
}

pub struct Daemon {
    pub child: Child,
    log: PathBuf,
}

impl Daemon {
    /// Waits until the log has said `what` `n` times in all.
    pub fn wait_log(&self, what: &str, n: usize, deadline: Duration) {
        let start = Instant::now();
        loop {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            if log.matches(what).count() >= n {
                return;
            }
            assert!(
                start.elapsed() < deadline,
                "daemon log never said {what:?} {n} times:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(ok.success());
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(mut self, deadline: Duration) {
        self.signal("-TERM");
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "daemon exited with {status}");
                return;
            }
            assert!(
                start.elapsed() < deadline,
                "daemon did not stop within {deadline:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The console's address (`127.0.0.1:PORT`), once the log has said where it listens.
    pub fn console_addr(&self, deadline: Duration) -> String {
        let what = "console listening on http://";
        self.wait_log(what, 1, deadline);
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let rest = log.split(what).nth(1).unwrap();
        rest.split_whitespace()
            .next()
            .unwrap()
            .trim_end_matches('"')
            .to_string()
    }

    pub fn kill9(mut self) {
        self.signal("-KILL");
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
