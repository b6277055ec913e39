//! sd_notify over IMAP against the real Dovecot (issue 13): the test is systemd's end of
//! `NOTIFY_SOCKET`. READY once logged in and the folder selected; WATCHDOG=1 keeps coming
//! while the daemon waits in IDLE (IDLE renewed only every 5 minutes: the loop itself must
//! wake to feed it); a STATUS line that counts the mail answered; "reconnecting to IMAP"
//! while Dovecot restarts; STOPPING at SIGTERM.

use std::os::unix::net::UnixDatagram;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{self, wait_for, Servers, Setup};

/// systemd's end: every datagram, as it came.
struct Systemd {
    socket: UnixDatagram,
    seen: Vec<String>,
}

impl Systemd {
    /// Reads until a line `matches` accepts, for at most `within`. Returns that line.
    fn wait_for(&mut self, matches: impl Fn(&str) -> bool, what: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        let mut buf = vec![0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no {what} within {within:?}; got: {:#?}",
                self.seen
            );
            self.socket.set_read_timeout(Some(left)).unwrap();
            let Ok(n) = self.socket.recv(&mut buf) else {
                continue;
            };
            let got = String::from_utf8(buf[..n].to_vec()).unwrap();
            self.seen.push(got.clone());
            if let Some(line) = got.lines().find(|l| matches(l)) {
                return line.to_string();
            }
        }
    }
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

pub fn imap_daemon_tells_systemd_ready_watchdog_in_idle_status_and_reconnecting(s: &Servers) {
    let hr = "hr-systemd@example.test";
    // Polling every 10 minutes, IDLE renewed every 5: only the watchdog's bound on the wait
    // brings the loop round within seconds.
    let setup = Setup::default(s, hr, "poll-interval = \"10m\"\nidle-renew = \"5m\"");
    let path = setup.dir.path().join("notify");
    let mut systemd = Systemd {
        socket: UnixDatagram::bind(&path).unwrap(),
        seen: Vec::new(),
    };
    // WATCHDOG=1 due every 1.5 s; systemd would act after 3 s without one.
    let watchdog = Duration::from_secs(3);
    let log = std::fs::File::create(setup.log_path()).unwrap();
    let daemon = Running(
        setup
            .cmd()
            .arg("run")
            .env("RUST_LOG", "autosvar=debug")
            .env("NOTIFY_SOCKET", &path)
            .env("WATCHDOG_USEC", watchdog.as_micros().to_string())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    systemd.wait_for(|l| l == "READY=1", "READY=1", crate::WAIT);
    let log = std::fs::read_to_string(setup.log_path()).unwrap();
    assert!(log.contains("connected"), "READY before the login: {log}");
    systemd.wait_for(
        |l| l == "STATUS=idle, no mail handled yet",
        "STATUS=idle",
        crate::WAIT,
    );

    let mut last = Instant::now();
    for _ in 0..4 {
        systemd.wait_for(|l| l == "WATCHDOG=1", "WATCHDOG=1 while in IDLE", watchdog);
        let gap = last.elapsed();
        assert!(gap < watchdog, "WATCHDOG=1 {gap:?} after the one before");
        last = Instant::now();
    }

    let from = "sd-ask@regionh.example";
    harness::ask_price(s, "sd1@regionh.example", from, hr);
    wait_for(s, from, "INBOX", "reply", crate::WAIT, |m| m.len() == 1);
    let status = systemd.wait_for(
        |l| l.starts_with("STATUS=idle, 1 mail handled, last mail "),
        "STATUS=idle with the mail counted",
        crate::WAIT,
    );
    assert!(status.ends_with(" UTC"), "{status}");

    s.restart_dovecot();
    let reconnecting = systemd.wait_for(
        |l| l.starts_with("STATUS=reconnecting to IMAP in "),
        "STATUS=reconnecting",
        Duration::from_secs(60),
    );
    assert!(!reconnecting.contains('\r'), "{reconnecting}");
    systemd.wait_for(
        |l| l.starts_with("STATUS=idle, 1 mail handled"),
        "STATUS=idle again after the reconnect",
        Duration::from_secs(90),
    );
    let readies = systemd
        .seen
        .iter()
        .filter(|m| m.contains("READY=1"))
        .count();
    assert_eq!(
        readies, 1,
        "READY once, not at each login: {:#?}",
        systemd.seen
    );

    let ok = std::process::Command::new("kill")
        .args(["-TERM", &daemon.0.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    systemd.wait_for(|l| l == "STOPPING=1", "STOPPING=1", Duration::from_secs(10));
}
