//! systemd's side of the daemon: the sd_notify protocol (`sd_notify(3)`), written here
//! (a datagram of `KEY=value` lines to the unix socket named by `$NOTIFY_SOCKET`; a name
//! starting with `@` is an abstract socket). Tells systemd READY once the mailbox was
//! first read (IMAP login and SELECT, or the Maildir's first scan), a `STATUS=` line for
//! `systemctl status`, `WATCHDOG=1`, and STOPPING at shutdown. Without `$NOTIFY_SOCKET`
//! every call does nothing.
//!
//! The watchdog is fed only by the daemon's own loop (the calls in `imap.rs` and
//! `maildir.rs`, whose waits are bounded by [`until_watchdog`]): there is no timer task,
//! so a loop that hangs stops feeding it and systemd restarts the process. This module
//! must never block or fail the loop (the socket is non-blocking; a notification that
//! cannot be sent is logged at DEBUG and dropped), and never passes on a control
//! character from a server's error text: a newline there would start a line of its own
//! (`READY=1`, `MAINPID=`) in the datagram.

use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use tracing::debug;

use super::Report;
use crate::pipeline::Outcome;

/// At most this many characters of an error in a `STATUS=` line.
const REASON_CHARS: usize = 100;

/// The process's one connection to systemd, read from the environment at first use.
fn systemd() -> &'static Systemd {
    static SYSTEMD: OnceLock<Systemd> = OnceLock::new();
    SYSTEMD.get_or_init(|| {
        Systemd::new(
            std::env::var_os("NOTIFY_SOCKET").as_deref(),
            std::env::var("WATCHDOG_USEC").ok().as_deref(),
            std::env::var("WATCHDOG_PID").ok().as_deref(),
            std::process::id(),
        )
    })
}

/// READY=1, once: the mailbox has been read (IMAP logged in and selected the folder, or the
/// Maildir's `new/` was listed). Mail waiting from before is handled after it.
pub(crate) fn ready() {
    let s = systemd();
    let mut state = s.state();
    if !state.ready {
        state.ready = true;
        s.send("READY=1\nSTATUS=started, reading the mailbox");
    }
}

/// A batch of mail (or one mail of a Maildir's scan) is done: the `STATUS=` line says so,
/// with the count so far (at most once a second), and the watchdog is fed (a long backlog
/// is the loop at work).
pub(crate) fn working(report: &Report) {
    status(Activity::Working, report);
    watchdog();
}

/// The loop is about to wait for new mail: `STATUS=idle, 1,234 mails handled, last mail
/// 12:03 UTC`.
pub(crate) fn idle(report: &Report) {
    status(Activity::Idle, report);
}

/// The connection to `server` was lost: `STATUS=reconnecting to IMAP in 8 s: <reason>`;
/// the watchdog is fed (waiting out an outage is the loop at work; a restart would not
/// bring the server back).
pub(crate) fn reconnecting(server: &str, wait: Duration, reason: &str) {
    let s = systemd();
    s.send(&format!(
        "STATUS={}",
        reconnect_status(server, wait, reason)
    ));
    s.state().status.clear();
    watchdog();
}

/// WATCHDOG=1, when systemd asked for a watchdog (`WatchdogSec=`), at most once a second.
/// Called only from the daemon's loop.
pub(crate) fn watchdog() {
    systemd().watchdog(Instant::now());
}

/// How long the loop may wait before it must come round to feed the watchdog (half of
/// `WatchdogSec=` after the last WATCHDOG=1); `Duration::MAX` without a watchdog.
pub(crate) fn until_watchdog() -> Duration {
    systemd().until_watchdog(Instant::now())
}

/// STOPPING=1: shutdown was asked for; the mail in hand is being finished.
pub(crate) fn stopping() {
    systemd().send("STOPPING=1\nSTATUS=stopping: finishing the mail in hand");
}

fn status(activity: Activity, report: &Report) {
    systemd().status(
        activity,
        handled(report),
        Instant::now(),
        crate::clock::now(),
    );
}

/// Mails finished so far: every outcome but "already handled" (nothing was done) and
/// "failed" (it will be tried again, and counted then).
fn handled(report: &Report) -> usize {
    let not_counted = [
        Outcome::AlreadyDone.label(),
        Outcome::Failed {
            error: String::new(),
        }
        .label(),
    ];
    report
        .counts()
        .iter()
        .filter(|(label, _)| !not_counted.contains(label))
        .map(|(_, n)| n)
        .sum()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Activity {
    Working,
    Idle,
}

/// "idle, 1,234 mails handled, last mail 12:03 UTC"; "working, 1 mail handled, …";
/// "idle, no mail handled yet".
fn mail_status(activity: Activity, handled: usize, last_mail: Option<SystemTime>) -> String {
    let doing = match activity {
        Activity::Working => "working",
        Activity::Idle => "idle",
    };
    match (handled, last_mail) {
        (0, _) | (_, None) => format!("{doing}, no mail handled yet"),
        (1, Some(t)) => format!("{doing}, 1 mail handled, last mail {}", hh_mm(t)),
        (n, Some(t)) => format!(
            "{doing}, {} mails handled, last mail {}",
            thousands(n),
            hh_mm(t)
        ),
    }
}

/// "reconnecting to IMAP in 8 s: connection refused": the wait rounded up to a second, the
/// reason on one line and at most [`REASON_CHARS`] characters.
fn reconnect_status(server: &str, wait: Duration, reason: &str) -> String {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    format!(
        "reconnecting to {server} in {secs} s: {}",
        one_line(reason, REASON_CHARS)
    )
}

/// `text` with every control character (a newline too) as a space, runs of spaces as one,
/// cut to `max` characters ("…" at the cut).
fn one_line(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    let mut space = false;
    for c in text.trim().chars() {
        let c = if c.is_control() { ' ' } else { c };
        if c == ' ' && space {
            continue;
        }
        space = c == ' ';
        if count == max {
            out.truncate(out.trim_end().len());
            out.push('…');
            return out;
        }
        out.push(c);
        count += 1;
    }
    out
}

/// 1234567 -> "1,234,567".
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// "12:03 UTC".
fn hh_mm(t: SystemTime) -> String {
    let stamp = humantime::format_rfc3339_seconds(t).to_string();
    // "2026-03-02T12:03:00Z": the hour and minute are at 11..16 of this ASCII text.
    format!("{} UTC", stamp.get(11..16).unwrap_or("??:??"))
}

/// Where notifications go, and the watchdog's period.
struct Systemd {
    #[cfg(unix)]
    socket: Option<(
        std::os::unix::net::UnixDatagram,
        std::os::unix::net::SocketAddr,
    )>,
    #[cfg(not(unix))]
    socket: Option<()>,
    /// Half of `WatchdogSec=`: how often WATCHDOG=1 is sent.
    ping_every: Option<Duration>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    ready: bool,
    last_ping: Option<Instant>,
    /// What the last `STATUS=` about mail said, so an unchanged line is not sent again.
    status: String,
    handled: usize,
    last_mail: Option<SystemTime>,
    /// When a "working, …" line was last sent: a backlog says so at most once a second.
    working_said: Option<Instant>,
}

impl Systemd {
    /// From the values of `$NOTIFY_SOCKET`, `$WATCHDOG_USEC` and `$WATCHDOG_PID`, as
    /// sd_notify(3) and sd_watchdog_enabled(3) read them: the watchdog is this process's
    /// only when `$WATCHDOG_PID` is unset or names it.
    fn new(
        notify_socket: Option<&std::ffi::OsStr>,
        watchdog_usec: Option<&str>,
        watchdog_pid: Option<&str>,
        pid: u32,
    ) -> Systemd {
        let socket = notify_socket.and_then(open);
        let ours = watchdog_pid.is_none_or(|p| p.trim().parse::<u32>() == Ok(pid));
        let ping_every = watchdog_usec
            .and_then(|u| u.trim().parse::<u64>().ok())
            .filter(|&u| u > 0 && ours && socket.is_some())
            .map(|u| Duration::from_micros(u) / 2);
        Systemd {
            socket,
            ping_every,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while the lock was held leaves plain data behind: still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A `STATUS=` line about mail: not sent when it says what the last one said, nor, for
    /// "working", within a second of the last "working". `wall`: when a new count is seen.
    fn status(&self, activity: Activity, handled: usize, now: Instant, wall: SystemTime) {
        if self.socket.is_none() {
            return;
        }
        let line = {
            let mut state = self.state();
            if handled != state.handled {
                state.handled = handled;
                state.last_mail = Some(wall);
            }
            let line = mail_status(activity, handled, state.last_mail);
            let recent = state
                .working_said
                .is_some_and(|t| now.saturating_duration_since(t) < Duration::from_secs(1));
            if line == state.status || (activity == Activity::Working && recent) {
                return;
            }
            if activity == Activity::Working {
                state.working_said = Some(now);
            }
            state.status.clone_from(&line);
            line
        };
        self.send(&format!("STATUS={line}"));
    }

    fn watchdog(&self, now: Instant) {
        let Some(every) = self.ping_every else {
            return;
        };
        let mut state = self.state();
        let gap = every.min(Duration::from_secs(1));
        if state
            .last_ping
            .is_some_and(|t| now.saturating_duration_since(t) < gap)
        {
            return;
        }
        state.last_ping = Some(now);
        drop(state);
        self.send("WATCHDOG=1");
    }

    fn until_watchdog(&self, now: Instant) -> Duration {
        let Some(every) = self.ping_every else {
            return Duration::MAX;
        };
        match self.state().last_ping {
            Some(t) => every.saturating_sub(now.saturating_duration_since(t)),
            None => Duration::ZERO,
        }
    }

    #[cfg(unix)]
    fn send(&self, message: &str) {
        if let Some((socket, addr)) = &self.socket {
            if let Err(e) = socket.send_to_addr(message.as_bytes(), addr) {
                debug!(error = %e, "cannot notify systemd");
            }
        }
    }

    #[cfg(not(unix))]
    fn send(&self, _message: &str) {}
}

/// An unbound, non-blocking datagram socket and the address `$NOTIFY_SOCKET` names: a path,
/// or an abstract name after `@` (Linux). Anything else (systemd's `vsock:`) is ignored.
#[cfg(unix)]
fn open(
    name: &std::ffi::OsStr,
) -> Option<(
    std::os::unix::net::UnixDatagram,
    std::os::unix::net::SocketAddr,
)> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let bytes = name.as_bytes();
    let addr = match bytes.first() {
        Some(b'/') => SocketAddr::from_pathname(name),
        #[cfg(any(target_os = "linux", target_os = "android"))]
        Some(b'@') => {
            #[cfg(target_os = "android")]
            use std::os::android::net::SocketAddrExt;
            #[cfg(target_os = "linux")]
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(&bytes[1..])
        }
        _ => {
            debug!(socket = ?name, "NOTIFY_SOCKET is no unix socket path; not notifying systemd");
            return None;
        }
    };
    let opened = addr.and_then(|addr| {
        let socket = UnixDatagram::unbound()?;
        socket.set_nonblocking(true)?;
        Ok((socket, addr))
    });
    match opened {
        Ok(opened) => Some(opened),
        Err(e) => {
            debug!(error = %e, socket = ?name, "cannot open NOTIFY_SOCKET; not notifying systemd");
            None
        }
    }
}

#[cfg(not(unix))]
fn open(_name: &std::ffi::OsStr) -> Option<()> {
    None
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn status_lines_read_as_the_unit_shows_them() {
        let noon = crate::clock::from_unix_seconds(1_772_445_600 + 2 * 3600 + 3 * 60 + 59);
        assert_eq!(
            mail_status(Activity::Idle, 1234, Some(noon)),
            "idle, 1,234 mails handled, last mail 12:03 UTC"
        );
        assert_eq!(
            mail_status(Activity::Working, 1, Some(noon)),
            "working, 1 mail handled, last mail 12:03 UTC"
        );
        assert_eq!(
            mail_status(Activity::Idle, 0, None),
            "idle, no mail handled yet"
        );
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn a_servers_error_cannot_add_a_line_to_the_datagram() {
        let s = reconnect_status(
            "IMAP",
            Duration::from_millis(7_200),
            "connection reset\nREADY=1\r\nMAINPID=1\t ok",
        );
        assert_eq!(
            s,
            "reconnecting to IMAP in 8 s: connection reset READY=1 MAINPID=1 ok"
        );
        assert!(!s.contains('\n'));
        let long = "é".repeat(500);
        let cut = one_line(&long, REASON_CHARS);
        assert_eq!(cut.chars().count(), REASON_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(
            reconnect_status("IMAP", MINUTE, ""),
            "reconnecting to IMAP in 60 s: "
        );
    }

    /// A socket as systemd binds it, and a `Systemd` pointed at it.
    fn bound(
        watchdog_usec: Option<&str>,
        pid: Option<&str>,
    ) -> (tempfile::TempDir, UnixDatagram, Systemd) {
        let dir = tempfile::tempdir().expect("a temp folder");
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).expect("a socket in it");
        listener.set_nonblocking(true).expect("non-blocking");
        let s = Systemd::new(Some(path.as_os_str()), watchdog_usec, pid, 42);
        (dir, listener, s)
    }

    fn received(l: &UnixDatagram) -> Vec<String> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = l.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        out
    }

    #[test]
    fn the_watchdog_is_fed_at_most_once_a_second_and_says_when_next() {
        let (_dir, l, s) = bound(Some("120000000"), None);
        let t0 = Instant::now();
        assert_eq!(s.until_watchdog(t0), Duration::ZERO, "never fed: due now");
        s.watchdog(t0);
        s.watchdog(t0 + Duration::from_millis(500));
        assert_eq!(received(&l), ["WATCHDOG=1"]);
        assert_eq!(
            s.until_watchdog(t0 + Duration::from_secs(20)),
            Duration::from_secs(40)
        );
        assert_eq!(s.until_watchdog(t0 + 2 * MINUTE), Duration::ZERO);
        s.watchdog(t0 + Duration::from_secs(2));
        assert_eq!(received(&l), ["WATCHDOG=1"]);
    }

    #[test]
    fn a_backlog_says_so_once_a_second_and_an_unchanged_line_is_not_repeated() {
        let (_dir, l, s) = bound(None, None);
        let t0 = Instant::now();
        let noon = crate::clock::from_unix_seconds(1_772_445_600 + 2 * 3600 + 3 * 60);
        s.status(Activity::Working, 1, t0, noon);
        s.status(Activity::Working, 2, t0 + Duration::from_millis(500), noon);
        s.status(Activity::Working, 3, t0 + Duration::from_millis(1100), noon);
        s.status(Activity::Idle, 3, t0 + Duration::from_millis(1200), noon);
        s.status(Activity::Idle, 3, t0 + Duration::from_secs(60), noon);
        assert_eq!(
            received(&l),
            [
                "STATUS=working, 1 mail handled, last mail 12:03 UTC",
                "STATUS=working, 3 mails handled, last mail 12:03 UTC",
                "STATUS=idle, 3 mails handled, last mail 12:03 UTC",
            ]
        );
    }

    #[test]
    fn no_watchdog_unless_it_is_this_process_s() {
        let (_dir, l, s) = bound(Some("120000000"), Some("7"));
        assert_eq!(s.until_watchdog(Instant::now()), Duration::MAX);
        s.watchdog(Instant::now());
        assert!(received(&l).is_empty());
        let (_dir, _l, s) = bound(Some("120000000"), Some("42"));
        assert_eq!(s.until_watchdog(Instant::now()), Duration::ZERO);
        let (_dir, _l, s) = bound(Some("0"), None);
        assert_eq!(s.until_watchdog(Instant::now()), Duration::MAX);
    }

    #[test]
    fn without_notify_socket_nothing_is_sent_and_nothing_waits() {
        let s = Systemd::new(None, Some("1000000"), None, 42);
        assert!(s.socket.is_none());
        assert_eq!(s.until_watchdog(Instant::now()), Duration::MAX);
        s.watchdog(Instant::now());
        s.send("READY=1");
        let s = Systemd::new(Some(std::ffi::OsStr::new("vsock:2:1234")), None, None, 42);
        assert!(s.socket.is_none());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn an_abstract_socket_is_named_after_the_at_sign() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("autosvar-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let l = UnixDatagram::bind_addr(&addr).unwrap();
        l.set_nonblocking(true).unwrap();
        let s = Systemd::new(
            Some(std::ffi::OsStr::new(&format!("@{name}"))),
            None,
            None,
            42,
        );
        s.send("STATUS=hello");
        assert_eq!(received(&l), ["STATUS=hello"]);
    }
}
