//! The daemon under test: `autosvar run` on a temporary copy of the embedded default
//! (config.toml, rules.toml, responses/, training/, demo/) with the console on a free
//! loopback port, and the HR users it knows.
//!
//! [`Console::start`] gives a test a daemon of its own (for tests that change templates,
//! the ledger or the login throttle); [`shared_url`] one daemon for the whole run, for tests
//! that only look (a fresh browser profile each, so no session is shared). Stopped by PID
//! (SIGTERM, then SIGKILL) when dropped. When a test fails, the end of its log is printed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::browser::{free_port, poll, root};

/// How long the daemon may take to start (it trains the model from training/ first).
const START: Duration = Duration::from_secs(60);

/// The HR user every console test logs in as.
pub const USER: &str = "hr-test";
pub const PASSWORD: &str = "correct horse battery staple";

pub struct Console {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Child,
}

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

/// The shipped config.toml with the console on `port`: the shipped `listen` line rewritten,
/// or a `[console]` section added when the file has none.
fn config_with_port(shipped: &str, port: u16) -> String {
    let listen = format!("listen = \"127.0.0.1:{port}\"");
    let mut in_console = false;
    let mut done = false;
    let mut out = String::new();
    for line in shipped.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            in_console = t == "[console]";
        }
        if in_console && !done && t.starts_with("listen") && t.contains('=') {
            out.push_str(&listen);
            done = true;
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    if !done {
        assert!(
            !shipped.lines().any(|l| l.trim() == "[console]"),
            "config.toml has a [console] section without a listen line to rewrite"
        );
        out.push_str(&format!("\n[console]\n{listen}\n"));
    }
    out
}

impl Console {
    /// Copies the embedded default, adds the test user, starts `autosvar run` and waits
    /// until it says the console listens.
    pub fn start() -> Console {
        Console::start_env(&[])
    }

    /// As [`Console::start`], with `env` added to the daemon's environment (e.g.
    /// `AUTOSVAR_FAULT`, the test build's fault injection, to set a mail aside).
    pub fn start_env(env: &[(&str, &str)]) -> Console {
        Console::start_with_rules(env, |rules| rules)
    }

    /// As [`Console::start_env`], with the shipped rules.toml's text changed by `rules`
    /// (e.g. a `review-below` that makes mail doubtful).
    pub fn start_with_rules(env: &[(&str, &str)], rules: impl FnOnce(String) -> String) -> Console {
        let dir = tempfile::tempdir().expect("tempdir");
        let shipped = std::fs::read_to_string(root().join("rules.toml")).expect("rules");
        std::fs::write(dir.path().join("rules.toml"), rules(shipped)).expect("rules");
        for d in ["responses", "training", "demo"] {
            copy_tree(&root().join(d), &dir.path().join(d));
        }
        let port = free_port();
        let shipped = std::fs::read_to_string(root().join("config.toml")).expect("config.toml");
        std::fs::write(
            dir.path().join("config.toml"),
            config_with_port(&shipped, port),
        )
        .expect("write config");
        add_user(dir.path(), USER, PASSWORD);

        let log = std::fs::File::create(dir.path().join("daemon.log")).expect("log file");
        let child = command(dir.path())
            .arg("run")
            .env("RUST_LOG", "autosvar=info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start autosvar run");
        let mut console = Console { dir, port, child };
        let want = format!("console listening on http://127.0.0.1:{port}");
        let start = Instant::now();
        loop {
            if console.log().contains(&want) {
                break;
            }
            if let Ok(Some(status)) = console.child.try_wait() {
                panic!("autosvar run exited with {status}:\n{}", console.log());
            }
            assert!(
                start.elapsed() < START,
                "autosvar never said {want:?} within {START:?}:\n{}",
                console.log()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
        console
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Waits until the outbox (var/outbox, the embedded default's) holds at least `n` mails.
    pub fn wait_outbox(&self, n: usize) {
        let outbox = self.dir.path().join("var/outbox");
        poll(&format!("{n} mails in {}", outbox.display()), START, || {
            let count = std::fs::read_dir(&outbox).ok()?.count();
            (count >= n).then_some(())
        });
    }

    /// Delivers `mail` into the embedded default's Maildir (written to tmp/, then renamed
    /// into new/, as a mail server does).
    pub fn deliver(&self, name: &str, mail: &str) {
        let maildir = self.dir.path().join("demo/Maildir");
        let tmp = maildir.join("tmp").join(name);
        std::fs::create_dir_all(maildir.join("tmp")).expect("Maildir tmp/");
        std::fs::write(&tmp, mail).expect("write mail");
        std::fs::rename(&tmp, maildir.join("new").join(name)).expect("deliver mail");
    }

    /// Waits until a mail in the outbox contains `want`; returns that mail.
    pub fn wait_outbox_with(&self, want: &str) -> String {
        let outbox = self.dir.path().join("var/outbox");
        poll(
            &format!("a mail with {want:?} in {}", outbox.display()),
            START,
            || {
                std::fs::read_dir(&outbox)
                    .ok()?
                    .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                    .find(|m| m.contains(want))
            },
        )
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("daemon.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

/// The run's shared daemon; `None` until a test asks for it.
static SHARED: Mutex<Option<Console>> = Mutex::new(None);

/// The base URL of the run's shared daemon, started on first use (and again if it has
/// exited). Only for tests that change nothing a later test could see.
pub fn shared_url() -> String {
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    let alive = shared
        .as_mut()
        .is_some_and(|c| c.child.try_wait().ok().flatten().is_none());
    if !alive {
        if let Some(dead) = shared.take() {
            eprintln!("the shared daemon had exited:\n{}", dead.log());
        }
        *shared = Some(Console::start());
    }
    shared.as_ref().expect("started above").url("")
}

/// The end of the shared daemon's log, when it runs (printed when a test fails).
pub fn shared_log_tail() -> Option<String> {
    let shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    shared.as_ref().map(|c| tail(&c.log(), 20))
}

/// Stops the shared daemon (at the end of the run).
pub fn stop_shared() {
    let console = SHARED.lock().unwrap_or_else(|e| e.into_inner()).take();
    drop(console);
}

fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// `autosvar` in `dir` (its config.toml), with no stray configuration from the environment.
fn command(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_autosvar"));
    c.current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("AUTOSVAR_CONFIG")
        .env("NO_COLOR", "1");
    c
}

/// `autosvar user add NAME` with the password on stdin (not a terminal: one line).
pub fn add_user(dir: &Path, name: &str, password: &str) {
    use std::io::Write;
    let mut child = command(dir)
        .args(["user", "add", name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start autosvar user add");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("write the password");
    let out = child.wait_with_output().expect("autosvar user add");
    assert!(
        out.status.success(),
        "autosvar user add {name} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Drop for Console {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let start = Instant::now();
            while self.child.try_wait().ok().flatten().is_none()
                && start.elapsed() < Duration::from_secs(10)
            {
                std::thread::sleep(Duration::from_millis(25));
            }
            if self.child.try_wait().ok().flatten().is_none() {
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "daemon log ({}), last lines:\n{}",
                self.log_path().display(),
                tail(&self.log(), 40)
            );
        }
    }
}

/// The config rewrite is pure; checked here because a wrong port would only show as a
/// timeout.
pub fn self_check_config_rewrite() {
    let shipped = "[reply]\nfrom = \"x\"\n\n[console]\n# c\nlisten = \"127.0.0.1:8025\"\n\n[ledger]\npath = \"l\"\n";
    let out = config_with_port(shipped, 4242);
    assert!(
        out.contains("[console]\n# c\nlisten = \"127.0.0.1:4242\"\n"),
        "{out}"
    );
    assert!(!out.contains("8025"), "{out}");
    let none = config_with_port("[reply]\nfrom = \"x\"\n", 4242);
    assert!(
        none.ends_with("[console]\nlisten = \"127.0.0.1:4242\"\n"),
        "{none}"
    );
}
