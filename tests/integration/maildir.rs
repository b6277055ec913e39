//! Maildir intake through the binary: a mail written in place is read once complete, an
//! idle daemon stays idle, a large file is read in part.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::empty_embedded_default as embedded_default;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_autosvar"));
    c.env_remove("AUTOSVAR_CONFIG");
    c
}

fn mail(id: &str, from: &str) -> String {
    format!(
        "From: {from}\r\nTo: e-learning@example.test\r\nSubject: Pris\r\nMessage-ID: <{id}>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nHvad koster en enterprise-licens til Zoom?\r\n\
         Venlig hilsen\r\n"
    )
}

/// `autosvar run` in `dir`, logging at debug level to daemon.log; killed if a test fails.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(dir: &Path) -> Daemon {
        let log = dir.join("daemon.log");
        let child = bin()
            .current_dir(dir)
            .env("RUST_LOG", "autosvar=debug")
            .args(["run"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let d = Daemon { child, log };
        // Watching, and the first scan is done: from here on only events and the poll
        // interval start a scan.
        d.wait_log(|l| l.contains("scanned Maildir"), "a first scan");
        d
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls the log until a line matches.
    fn wait_log(&self, matches: impl Fn(&str) -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.log().lines().any(&matches) {
            assert!(
                Instant::now() < deadline,
                "log never said {what}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// utime + stime so far, in clock ticks.
    fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // Fields after the command name (which is in parentheses): state is field 3.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = rest.split(' ').collect();
        f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
    }

    fn stop(mut self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        assert!(self.child.wait().unwrap().success());
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

/// Finished outbox files whose text contains `needle`.
fn replies_with(dir: &Path, needle: &str) -> Vec<String> {
    std::fs::read_dir(dir.join("var/outbox"))
        .map(|d| {
            d.map(|e| e.unwrap().path())
                .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
                .filter(|p| p.to_string_lossy().contains(".reply."))
                .filter_map(|p| std::fs::read_to_string(p).ok())
                .filter(|t| t.contains(needle))
                .collect()
        })
        .unwrap_or_default()
}

fn wait_reply(dir: &Path, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(r) = replies_with(dir, needle).pop() {
            return r;
        }
        assert!(Instant::now() < deadline, "no reply to {needle} in 20 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `{ head -3 m.eml; sleep; tail -n +4 m.eml; } > new/b.eml`, twice: each mail is read once
/// complete and answered, never recorded as an empty or malformed mail.
#[test]
fn a_mail_written_in_place_is_read_once_complete() {
    let dir = embedded_default();
    let daemon = Daemon::start(dir.path());
    for (name, id, from) in [
        ("b1.eml", "inplace-1@x.example", "Bo <bo@regionh.example>"),
        ("b2.eml", "inplace-2@x.example", "Ea <ea@regionh.example>"),
    ] {
        let text = mail(id, from);
        let split = text.match_indices("\r\n").nth(2).unwrap().0 + 2;
        let mut f = std::fs::File::create(dir.path().join("demo/Maildir/new").join(name)).unwrap();
        f.write_all(&text.as_bytes()[..split]).unwrap();
        f.flush().unwrap();
        // The daemon has looked at the file (empty or in part) and left it.
        daemon.wait_log(
            |l| l.contains("not complete") && l.contains(name),
            &format!("{name} not complete"),
        );
        f.write_all(&text.as_bytes()[split..]).unwrap();
        drop(f);
        let reply = wait_reply(dir.path(), id);
        assert!(reply.contains("X-Autosvar-Category: pricing"), "{reply}");
    }
    let log = daemon.log();
    assert!(!log.contains("malformed"), "{log}");
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("mail handled") && l.contains("replied"))
            .count(),
        2,
        "{log}"
    );
    daemon.stop();
}

/// A scan's own reads must not wake the watcher: an idle daemon scans again only at its
/// poll interval (30 s), and uses next to no CPU. Reading a file used to cause the events
/// that caused the next scan, for ever.
#[test]
fn an_idle_daemon_does_not_rescan_on_its_own_reads() {
    let dir = embedded_default();
    let daemon = Daemon::start(dir.path());
    // Delivered as Maildir asks: written in tmp/, renamed into new/. Read at its first
    // look, with no wait for it to settle.
    let tmp = dir.path().join("demo/Maildir/tmp/m1");
    std::fs::write(&tmp, mail("idle-1@x.example", "Ida <ida@regionh.example>")).unwrap();
    std::fs::rename(&tmp, dir.path().join("demo/Maildir/new/m1")).unwrap();
    wait_reply(dir.path(), "idle-1@x.example");
    assert!(
        !daemon
            .log()
            .lines()
            .any(|l| l.contains("not complete") && l.contains("m1")),
        "{}",
        daemon.log()
    );
    let scans = || {
        daemon
            .log()
            .lines()
            .filter(|l| l.contains("scanned Maildir"))
            .count()
    };
    let (before, ticks) = (scans(), daemon.cpu_ticks());
    assert!(before > 0, "no scan logged:\n{}", daemon.log());
    // The observation window: how much happens while nothing arrives.
    std::thread::sleep(Duration::from_secs(2));
    let (after, used) = (scans(), daemon.cpu_ticks() - ticks);
    assert!(
        after - before <= 2,
        "{} scans in 2 s of idle",
        after - before
    );
    // Clock ticks are 10 ms: the feedback loop took ~80 of them in 2 s.
    assert!(used < 20, "{used} ticks of CPU in 2 s of idle");
    daemon.stop();
}

/// A 3 MB mail is read in part (its first 256 KB) and still answered; `--once` does not
/// read the whole file.
#[test]
fn a_mail_over_max_size_is_read_in_part_and_answered() {
    let dir = embedded_default();
    let mut text = mail("big-1@x.example", "Bo <bo@regionh.example>");
    text.push_str(&"Mere tekst her. ".repeat(3 * 1024 * 1024 / 16));
    let tmp = dir.path().join("demo/Maildir/tmp/big");
    std::fs::write(&tmp, &text).unwrap();
    std::fs::rename(&tmp, dir.path().join("demo/Maildir/new/big")).unwrap();
    let o = bin()
        .current_dir(dir.path())
        .env("RUST_LOG", "autosvar=info")
        .args(["run", "--once"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("\treplied pricing"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(stderr.contains("over max-size"), "{stderr}");
    let reply = wait_reply(dir.path(), "big-1@x.example");
    assert!(reply.len() < 64 * 1024, "{} bytes", reply.len());
}
