//! The HR console over HTTP, on the real daemon (`autosvar run` on a copy of the embedded
//! default, console on a free port): no page without a session, forged and cross-site forms
//! refused, the login slowed down after failures, a single-sign-on header trusted only from
//! the proxy's address, and publishing: a broken set refused with the live one kept, a good
//! one answering the next mail, a file changed on disk a conflict, restore. The same pages in
//! a real browser are in tests/console.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::empty_embedded_default;

fn bin() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_autosvar"));
    c.env_remove("RUST_LOG").env_remove("AUTOSVAR_CONFIG");
    c
}

const PASSWORD: &str = "korrekt hest batteri";

/// The daemon with its console, stopped (by PID) on drop.
pub(crate) struct Running {
    dir: tempfile::TempDir,
    child: Child,
    addr: String,
}

/// `autosvar run` in `dir`, its log in `dir/log`; returns once its console listens.
fn spawn_run(dir: &Path, env: &[(&str, &str)]) -> (Child, String) {
    let log = std::fs::File::create(dir.join("log")).unwrap();
    let child = bin()
        .current_dir(dir)
        .envs(env.iter().copied())
        .args(["run"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = loop {
        let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
        let found = log
            .split("console listening on http://")
            .nth(1)
            .or_else(|| log.split("console listening on https://").nth(1));
        if let Some(rest) = found {
            break rest.split_whitespace().next().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "no console within 30 s:\n{log}");
        std::thread::sleep(Duration::from_millis(20));
    };
    (child, addr)
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    pub(crate) fn start() -> Running {
        Running::start_with(|_| {})
    }

    /// Starts on a fresh copy of the embedded default after `edit` changed its config text.
    fn start_with(edit: impl FnOnce(&mut String)) -> Running {
        Running::start_env(edit, &[])
    }

    /// As [`Running::start_with`], with `env` set for the daemon.
    pub(crate) fn start_env(edit: impl FnOnce(&mut String), env: &[(&str, &str)]) -> Running {
        let dir = empty_embedded_default();
        let cfg = dir.path().join("config.toml");
        let mut text = std::fs::read_to_string(&cfg).unwrap();
        edit(&mut text);
        std::fs::write(&cfg, text).unwrap();
        let mut add = bin()
            .current_dir(dir.path())
            .args(["user", "add", "mette"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        writeln!(add.stdin.take().unwrap(), "{PASSWORD}").unwrap();
        assert!(add.wait().unwrap().success());
        let (child, addr) = spawn_run(dir.path(), env);
        Running { dir, child, addr }
    }

    /// Kills the daemon (SIGKILL, as a crash) and starts it again on the same folder and
    /// ledger, with `env`; the log starts anew.
    pub(crate) fn restart(&mut self, env: &[(&str, &str)]) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, addr) = spawn_run(self.dir.path(), env);
        self.child = child;
        self.addr = addr;
    }

    pub(crate) fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    pub(crate) fn browser(&self) -> Client {
        Client {
            addr: self.addr.clone(),
            cookie: None,
            csrf: None,
            origin: format!("http://{}", self.addr),
            headers: Vec::new(),
        }
    }

    pub(crate) fn signed_in(&self) -> Client {
        let mut c = self.browser();
        let r = c.login("mette", PASSWORD);
        assert_eq!(r.status, 303, "{}", r.body);
        assert_eq!(r.header("location"), Some("/templates"));
        c
    }

    /// Drops a mail into the Maildir and returns the reply's text, waiting to a deadline.
    pub(crate) fn ask(&self, id: &str, body: &str) -> String {
        self.ask_with(id, "Pris", body)
    }

    fn ask_with(&self, id: &str, subject: &str, body: &str) -> String {
        let mail = format!(
            "From: Ida <ida-{id}@regionh.example>\r\nTo: e-learning@example.test\r\nSubject: {subject}\r\nMessage-ID: <{id}@regionh.example>\r\n\r\n{body}\r\n"
        );
        let tmp = self.path(&format!("demo/Maildir/tmp/{id}"));
        std::fs::write(&tmp, mail).unwrap();
        std::fs::rename(&tmp, self.path(&format!("demo/Maildir/new/{id}"))).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            for e in std::fs::read_dir(self.path("var/outbox"))
                .into_iter()
                .flatten()
            {
                let text = std::fs::read_to_string(e.unwrap().path()).unwrap_or_default();
                if text.contains(&format!("In-Reply-To: <{id}@regionh.example>")) {
                    return text;
                }
            }
            assert!(Instant::now() < deadline, "no reply to {id} within 20 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

pub(crate) struct Response {
    pub(crate) status: u16,
    headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Response {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A minimal HTTP/1.1 client with one cookie, as a browser without JavaScript is.
pub(crate) struct Client {
    addr: String,
    cookie: Option<String>,
    /// The CSRF token of the last page that had a form.
    csrf: Option<String>,
    origin: String,
    /// Extra headers sent with every request.
    headers: Vec<(String, String)>,
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Client {
    fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<String>,
        origin: bool,
    ) -> Response {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept-Language: en\r\n",
            self.addr
        );
        if let Some(c) = &self.cookie {
            req.push_str(&format!("Cookie: autosvar_session={c}\r\n"));
        }
        if origin {
            req.push_str(&format!("Origin: {}\r\n", self.origin));
        }
        for (k, v) in &self.headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        let body = body.unwrap_or_default();
        if method == "POST" {
            req.push_str(&format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        req.push_str("\r\n");
        req.push_str(&body);
        s.write_all(req.as_bytes()).unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        for (k, v) in &headers {
            if k.eq_ignore_ascii_case("set-cookie") {
                let value = v
                    .split(';')
                    .next()
                    .and_then(|p| p.strip_prefix("autosvar_session="))
                    .unwrap_or_default();
                self.cookie = (!value.is_empty()).then(|| value.to_string());
            }
        }
        // Chunked bodies: good enough for HTML pages (chunk sizes are stripped).
        let body = if headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
        {
            dechunk(body)
        } else {
            body.to_string()
        };
        if let Some(t) = body
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
        {
            self.csrf = Some(t.to_string());
        }
        Response {
            status,
            headers,
            body,
        }
    }

    pub(crate) fn get(&mut self, path: &str) -> Response {
        self.request("GET", path, None, false)
    }

    /// Posts a form the way the page's own form does: with its CSRF token and our Origin.
    pub(crate) fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Response {
        let csrf = self.csrf.clone().unwrap_or_default();
        let mut all: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all, true)
    }

    fn post_raw(&mut self, path: &str, fields: &[(&str, &str)], origin: bool) -> Response {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.request("POST", path, Some(body), origin)
    }

    fn login(&mut self, user: &str, password: &str) -> Response {
        let page = self.get("/login");
        assert_eq!(page.status, 200);
        self.post("/login", &[("user", user), ("password", password)])
    }

    /// The editor's hidden `base` field (the digest of the file as opened).
    fn base_of(&mut self, template: &str) -> String {
        let page = self.get(&format!("/templates/{template}"));
        assert_eq!(page.status, 200);
        page.body
            .split("name=\"base\" value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap()
            .to_string()
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 {
            break;
        }
        out.push_str(after.get(..n).unwrap_or(after));
        rest = after.get(n + 2..).unwrap_or("");
    }
    out
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn console_pages_need_a_session_and_carry_the_security_headers() {
    let d = Running::start();
    let mut anon = d.browser();
    for page in [
        "/templates",
        "/templates/pricing.da.txt",
        "/history",
        "/audit",
        "/",
    ] {
        let r = anon.get(page);
        assert!(
            r.status == 303
                && r.header("location")
                    .is_some_and(|l| l == "/login" || l == "/templates"),
            "{page}: {} {:?}",
            r.status,
            r.header("location")
        );
    }
    let r = anon.post_raw("/publish", &[("comment", "x")], true);
    assert_eq!(r.status, 403, "a post without a session");
    for page in ["/login", "/assets/console.css", "/nothing-here"] {
        let r = anon.get(page);
        let csp = r.header("content-security-policy").unwrap_or_default();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{page}: {csp}"
        );
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{page}");
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{page}"
        );
    }
    let r = d.browser().get("/login");
    let cookie = r
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.clone())
        .unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let login = d.browser().get("/login");
    assert!(!login.body.contains("no users yet"), "mette exists");
    let mut c = d.signed_in();
    let r = c.get("/templates");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("pricing.da.txt") && r.body.contains("forward-copy.txt"));
    for page in [
        "/templates",
        "/templates/pricing.da.txt",
        "/history",
        "/activity",
        "/review",
    ] {
        let body = c.get(page).body;
        assert!(
            !body.contains(">None<") && !body.contains("conflict-h"),
            "{page}: {body}"
        );
    }
    // A Windows backup copy in responses/ is a warning on the list, not a broken console.
    std::fs::write(d.path("responses/pricing.da - Kopi.txt"), "gammel tekst").unwrap();
    let r = c.get("/templates");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("pricing.da - Kopi.txt"), "{}", r.body);
    // Signing out ends the session on the server, not only in the browser.
    let old = c.cookie.clone();
    assert_eq!(c.post("/logout", &[]).status, 303);
    c.cookie = old;
    assert_eq!(c.get("/templates").status, 303);
}

#[test]
fn console_refuses_forged_and_cross_site_forms() {
    let d = Running::start();
    let mut c = d.signed_in();
    let file = d.path("responses/pricing.da.txt");
    let before = read(&file);
    let base = c.base_of("pricing.da.txt");
    let changed = format!("{before}Forged.\n");
    let fields = [
        ("base", base.as_str()),
        ("text", changed.as_str()),
        ("action", "publish"),
    ];
    let r = c.post_raw("/templates/pricing.da.txt", &fields, true);
    assert_eq!(r.status, 403, "no CSRF token");
    let mut wrong: Vec<(&str, &str)> = vec![("csrf", "0000")];
    wrong.extend_from_slice(&fields);
    assert_eq!(
        c.post_raw("/templates/pricing.da.txt", &wrong, true).status,
        403
    );
    let csrf = c.csrf.clone().unwrap();
    let mut right: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
    right.extend_from_slice(&fields);
    c.origin = "http://evil.example".into();
    assert_eq!(
        c.post_raw("/templates/pricing.da.txt", &right, true).status,
        403,
        "the right token from another site"
    );
    assert_eq!(read(&file), before, "nothing refused was written");
    c.origin = format!("http://{}", d.addr);
    let r = c.post_raw("/templates/pricing.da.txt", &right, true);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(read(&file), changed);
}

#[test]
fn console_login_slows_down_after_failures() {
    let d = Running::start();
    let mut c = d.browser();
    for _ in 0..3 {
        assert_eq!(c.login("mette", "forkert").status, 401);
    }
    let r = c.login("mette", PASSWORD);
    assert_eq!(
        r.status, 429,
        "the right password right after three wrong ones is refused"
    );
    assert!(r.body.contains("Too many failed attempts"), "{}", r.body);
    let mut other = d.browser();
    assert_eq!(
        other.login("nobody", "forkert").status,
        429,
        "the same address, another name"
    );
    let audit = {
        // The refusals are in the audit log once someone signs in (after the wait).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut c = d.browser();
            let r = c.login("mette", PASSWORD);
            if r.status == 303 {
                break c.get("/audit").body;
            }
            assert!(Instant::now() < deadline, "still refused after 10 s");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    assert!(audit.contains("login refused"), "{audit}");
}

#[test]
fn console_trusts_the_sso_header_only_from_the_proxy_address() {
    let sso = |proxy: &'static str| {
        move |text: &mut String| {
            *text = text.replace(
                "# trusted-header = \"X-Forwarded-Email\"\n# trusted-proxy = \"127.0.0.1\"",
                &format!("trusted-header = \"X-Forwarded-Email\"\ntrusted-proxy = \"{proxy}\""),
            );
        }
    };
    let elsewhere = Running::start_with(sso("127.0.0.2"));
    let mut c = elsewhere.browser();
    c.headers
        .push(("X-Forwarded-Email".into(), "mallory@example.test".into()));
    let r = c.get("/templates");
    assert_eq!(
        r.status, 303,
        "the header from an address that is not the proxy is ignored"
    );
    drop(elsewhere);
    let proxied = Running::start_with(sso("127.0.0.1"));
    let mut c = proxied.browser();
    c.headers.push((
        "X-Forwarded-Email".into(),
        "hr.officer@regionh.example".into(),
    ));
    let r = c.get("/templates");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("hr.officer@regionh.example"));
    let cookie = r
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.clone())
        .unwrap();
    assert!(
        cookie.contains("Secure"),
        "behind a TLS proxy the cookie is Secure: {cookie}"
    );
}

#[test]
fn console_publishes_to_the_running_daemon_refuses_a_broken_set_and_restores() {
    let d = Running::start();
    let mut c = d.signed_in();
    let file = d.path("responses/pricing.da.txt");
    let original = read(&file);
    let base = c.base_of("pricing.da.txt");

    // A broken edit: refused at its line, nothing written, the live set still answers.
    let broken = format!("{original}\n{{% if first_name %}}\nHej\n");
    let r = c.post(
        "/templates/pricing.da.txt",
        &[("base", &base), ("text", &broken), ("action", "publish")],
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("Not published"), "{}", r.body);
    // The missing {% endif %} is reported at its {% if %}, in plain words.
    let if_line = original.lines().count() + 2;
    assert!(
        r.body.contains(&format!("href=\"#L{if_line}\"")),
        "line {if_line}: {}",
        r.body
    );
    assert!(!r.body.contains("unexpected"), "parser words: {}", r.body);
    assert_eq!(read(&file), original);
    let reply = d.ask("before", "Hvad koster en enterprise-licens?");
    assert!(!reply.contains("Ny tekst fra konsollen"));

    // A good edit goes out in the very next reply.
    let good = format!("{original}\nNy tekst fra konsollen.\n");
    let r = c.post(
        "/templates/pricing.da.txt",
        &[("base", &base), ("text", &good), ("action", "save")],
    );
    assert_eq!(r.status, 303);
    assert_eq!(read(&file), original, "a draft is not published");
    let r = c.post(
        "/templates/pricing.da.txt",
        &[
            ("base", &base),
            ("text", &good),
            ("action", "publish"),
            ("comment", "ny linje"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(read(&file), good);
    let reply = d.ask("after", "Hvad koster en enterprise-licens?");
    assert!(reply.contains("Ny tekst fra konsollen."), "{reply}");

    // Someone edits the file with a text editor meanwhile: a conflict, not an overwrite.
    let base = c.base_of("pricing.da.txt");
    let by_hand = format!("{good}Rettet i en teksteditor.\n");
    std::fs::write(&file, &by_hand).unwrap();
    let mine = format!("{good}Min rettelse.\n");
    let r = c.post(
        "/templates/pricing.da.txt",
        &[("base", &base), ("text", &mine), ("action", "publish")],
    );
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(read(&file), by_hand);

    // History: the first version (the files as found) restored.
    let history = c.get("/history");
    assert!(history.body.contains("ny linje"), "{}", history.body);
    let r = c.post("/history/1/restore", &[]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(read(&file), original);
    let diff = c.get("/history/diff?from=1&to=2");
    assert!(
        diff.body.contains("+ Ny tekst fra konsollen."),
        "{}",
        diff.body
    );
    let audit = c.get("/audit").body;
    for action in ["login", "publish refused", "publish", "restore"] {
        assert!(
            audit.contains(&format!("<td>{action}</td>")),
            "{action}: {audit}"
        );
    }
}

#[test]
fn console_shows_file_text_as_text() {
    let d = Running::start();
    let file = d.path("responses/other.en.txt");
    let text = read(&file);
    std::fs::write(&file, format!("{text}<script>alert(1)</script>\n")).unwrap();
    let mut c = d.signed_in();
    let r = c.get("/templates/other.en.txt");
    assert!(
        !r.body.contains("<script>alert(1)"),
        "raw script in the page"
    );
    assert!(
        r.body
            .contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
        "{}",
        r.body
    );
}

#[test]
fn console_serves_https_itself_with_a_secure_cookie() {
    let fixtures = crate::common::fixtures().join("console-tls");
    let (cert, key) = (fixtures.join("cert.pem"), fixtures.join("key.pem"));
    let d = Running::start_with(|text| {
        *text = text.replace(
            "idle-timeout = \"30m\"\n",
            &format!(
                "idle-timeout = \"30m\"\ntls-cert = \"{}\"\ntls-key = \"{}\"\n",
                cert.display(),
                key.display()
            ),
        );
    });
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(fixtures.join("ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, TcpStream::connect(&d.addr).unwrap());
    tls.sock
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        tls,
        "GET /login HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        d.addr
    )
    .unwrap();
    let mut raw = Vec::new();
    // A server may close without close_notify; what was read is the answer.
    let _ = tls.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let lower = text.to_ascii_lowercase();
    assert!(
        lower.contains("strict-transport-security: max-age="),
        "{text}"
    );
    let cookie = lower
        .lines()
        .find(|l| l.starts_with("set-cookie:"))
        .unwrap_or_default()
        .to_string();
    assert!(
        cookie.contains("; secure") && cookie.contains("httponly"),
        "{cookie}"
    );
    // Plain HTTP on the TLS port gets no page.
    let r = std::panic::catch_unwind(|| d.browser().get("/login"));
    assert!(r.is_err() || r.is_ok_and(|r| r.status != 200));
}

#[test]
fn console_activity_shows_mail_text_as_text_and_finds_a_sender_by_address() {
    let d = Running::start();
    let reply = d.ask_with(
        "xss",
        "<script>alert(1)</script> 010203-1234",
        "Hvad koster en enterprise-licens?",
    );
    assert!(reply.contains("X-Autosvar-Category: pricing"));
    let mut c = d.signed_in();
    let page = c.get("/activity");
    assert_eq!(page.status, 200);
    assert!(
        !page.body.contains("<script>alert(1)"),
        "raw script in the page"
    );
    assert!(
        page.body.contains("&lt;script&gt;alert(1)"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("010203-1234"),
        "a CPR number on the page"
    );
    assert!(page.body.contains("<svg"), "the chart");
    let found = c.get("/activity?sender=Ida-XSS%40regionh.example");
    assert!(
        found.body.contains("&lt;script&gt;alert(1)"),
        "found by address, any case"
    );
    let other = c.get("/activity?sender=someone.else%40regionh.example");
    assert!(!other.body.contains("alert(1)"), "{}", other.body);
    let key = page
        .body
        .split("/activity/mail?key=")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let mail = c.get(&format!("/activity/mail?key={key}"));
    assert_eq!(mail.status, 200);
    assert!(mail.body.contains("The reply as sent"), "{}", mail.body);
    assert!(mail.body.contains("X-Autosvar-Category: pricing"));
    assert!(
        mail.body.contains("category:   pricing"),
        "the explanation: {}",
        mail.body
    );
    assert!(
        !mail.body.contains("ida-xss@regionh.example"),
        "the address masked"
    );
    // The preview can answer that recent mail (rebuilt from the CPR-free subject) or a
    // shipped sample.
    let editor = c.get("/templates/pricing.da.txt");
    assert!(editor.body.contains("value=\"recent:"), "{}", editor.body);
    let text = read(&d.path("responses/pricing.da.txt"));
    let decoded_key = key.replace("%40", "@").replace("%23", "#");
    let sample = format!("recent:{decoded_key}");
    let p = c.post(
        "/templates/pricing.da.txt/preview",
        &[("text", &text), ("sample", &sample)],
    );
    assert_eq!(p.status, 200);
    assert!(
        p.body.contains("Subject: Re: <script>alert(1)</script>"),
        "{}",
        p.body
    );
    assert!(!p.body.contains("010203-1234"));
    let p = c.post(
        "/templates/pricing.en.txt/preview",
        &[
            ("text", &read(&d.path("responses/pricing.en.txt"))),
            ("sample", "shipped:en"),
        ],
    );
    assert!(p.body.contains("John"), "{}", p.body);
    let log = std::fs::read_to_string(d.path("log")).unwrap();
    assert!(
        !log.to_lowercase().contains("ida-xss@regionh.example"),
        "the searched address logged"
    );
}

#[test]
fn user_add_refuses_a_short_password_and_keeps_only_a_hash() {
    let dir = empty_embedded_default();
    let add = |password: &str| {
        let mut child = bin()
            .current_dir(dir.path())
            .args(["user", "add", "jens"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        child.wait_with_output().unwrap()
    };
    let short = add("kort");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 10 characters"));
    let ok = add("et langt kodeord");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let list = bin()
        .current_dir(dir.path())
        .args(["user", "list"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&list.stdout), "jens\n");
    let ledger = std::fs::read(dir.path().join("var/autosvar.sqlite")).unwrap();
    let text = String::from_utf8_lossy(&ledger);
    assert!(
        !text.contains("et langt kodeord"),
        "the password in the ledger"
    );
    assert!(text.contains("$argon2id$"), "the hash");
}

#[test]
fn a_console_without_users_says_how_to_make_one() {
    let dir = empty_embedded_default();
    let log = std::fs::File::create(dir.path().join("log")).unwrap();
    let mut child = bin()
        .current_dir(dir.path())
        .args(["run"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = loop {
        let log = std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
        if let Some(rest) = log.split("console listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "no console: {log}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut c = Client {
        addr: addr.clone(),
        cookie: None,
        csrf: None,
        origin: format!("http://{addr}"),
        headers: Vec::new(),
    };
    let page = c.get("/login");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        page.body.contains("autosvar user add YOUR-NAME"),
        "{}",
        page.body
    );
    let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
    assert!(log.contains("no users yet"), "{log}");
}
