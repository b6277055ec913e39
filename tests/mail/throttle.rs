//! Microsoft 365 as it is, played by Postfix: a submission port limited with anvil to 3
//! connections and 80 messages per 2 s from one client (over the limits it answers
//! `421 4.7.0 … too many connections` and `450 4.7.1 … too much mail`, as Exchange Online
//! answers `432 4.3.2`).

use std::collections::HashMap;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::{self, append, messages, question, wait_for, ImapOpts, Servers, Setup};

const WAIT: Duration = Duration::from_secs(30);
/// What the daemon logs for each throttling reply (deliver::smtp).
const TOO_FAST: &str = "the SMTP server says too fast";

/// Opens `n` connections to `port` and reads each greeting: while they are held, the
/// port's connection limit is used up.
fn hold_connections(port: u16, n: usize) -> Vec<TcpStream> {
    use std::io::{BufRead, BufReader};
    (0..n)
        .map(|_| {
            let c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            let mut greeting = String::new();
            BufReader::new(&c)
                .read_line(&mut greeting)
                .expect("greeting");
            assert!(greeting.starts_with("220"), "{greeting}");
            c
        })
        .collect()
}

fn log(setup: &Setup) -> String {
    std::fs::read_to_string(setup.log_path()).unwrap_or_default()
}

/// A 200-mail backlog behind `max-rate = "20/s"` and `max-connections = 3`, with
/// `max-attempts = 1` (one counted refusal would set a mail aside): the port first refuses
/// every connection (the test holds all 3), which must be waited out, uncounted; then the
/// backlog drains at the rate, never over the port's limits again; a mail that arrives
/// meanwhile is answered within 5 s, ahead of the backlog; every mail is answered exactly
/// once and none is set aside.
pub fn a_throttled_backlog_drains_at_its_rate_and_new_mail_goes_first(s: &Servers) {
    let hr = "hr-throttle@example.test";
    let n = 200;
    let rate = 20.0;
    let setup = Setup::new(
        s,
        hr,
        ImapOpts {
            port: s.imaps,
            tls: "implicit",
            ca: &s.ca,
            extra: "max-attempts = 1",
        },
        (s.throttled, "starttls"),
        "max-connections = 3\nmax-rate = \"20/s\"",
    );
    // Every reply lands in one mailbox: Dovecot folds "+detail", autosvar does not.
    let senders = "throttle@regionh.example";
    let mails: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let from = format!("throttle+{i}@regionh.example");
            let id = format!("throttle-{i}@regionh.example");
            question(&id, &from, hr, "Pris", "Hvad koster en licens?", "")
        })
        .collect();
    append(s, hr, "INBOX", &mails);

    let held = hold_connections(s.throttled, 3);
    let daemon = setup.spawn();
    daemon.wait_log(TOO_FAST, 1, WAIT);
    drop(held);

    // The first batch is through: every send after it keeps within the limits.
    daemon.wait_log("mail handled", 1, WAIT);
    let drain_began = Instant::now();
    let after_first = log(&setup).len();
    daemon.wait_log("mail handled", 40, WAIT);
    let late = "throttle-late@regionh.example";
    let asked = Instant::now();
    harness::ask_price(s, "throttle-late@regionh.example", late, hr);
    wait_for(
        s,
        late,
        "INBOX",
        "the late mail answered within 5 s",
        Duration::from_secs(5),
        |m| m.len() == 1,
    );
    let late_took = asked.elapsed();
    let answered_then = messages(s, senders, "INBOX").len();
    println!("    late mail answered in {late_took:.1?}, with {answered_then} of {n} backlog mails answered");
    assert!(
        answered_then < n,
        "the backlog was done before the late mail was answered: nothing was shown"
    );

    wait_for(
        s,
        senders,
        "INBOX",
        "every backlog mail answered",
        Duration::from_secs(90),
        |m| m.len() >= n,
    );
    let drain = drain_began.elapsed();
    daemon.stop(Duration::from_secs(10));
    s.wait_queue_empty(WAIT);

    // Exactly once: one reply to each mail, and nothing more.
    let replies = messages(s, senders, "INBOX");
    let mut per_mail: HashMap<String, usize> = HashMap::new();
    for r in &replies {
        *per_mail
            .entry(r.header("In-Reply-To").unwrap_or_default())
            .or_default() += 1;
    }
    assert_eq!(replies.len(), n, "one reply per mail");
    assert_eq!(per_mail.len(), n, "each mail answered: {per_mail:?}");
    assert_eq!(messages(s, late, "INBOX").len(), 1, "the late mail once");
    let inbox = messages(s, hr, "INBOX");
    assert_eq!(inbox.len(), n + 1);
    for m in &inbox {
        assert!(
            m.flags.iter().any(|f| f.contains("Answered"))
                && !m.flags.iter().any(|f| f.contains("Flagged")),
            "answered, not set aside: {:?}",
            m.flags
        );
    }
    let text = log(&setup);
    assert!(!text.contains("set-aside"), "nothing set aside:\n{text}");
    // Within the limits after the connections were given back: no throttling reply.
    let since = text.get(after_first..).unwrap_or_default();
    assert_eq!(
        since.matches(TOO_FAST).count(),
        0,
        "over the port's limits during the drain:\n{since}"
    );
    // At the rate: the mails after the first batch took at least what 20/s allows.
    let least = Duration::from_secs_f64((n - 20) as f64 / rate * 0.9);
    println!("    drained {n} mails in {drain:.1?} at max-rate 20/s");
    assert!(
        drain >= least,
        "faster than max-rate: {drain:?} < {least:?}"
    );
}

/// Keeps the port's message limit used up from this client (127.0.0.1, as the daemon):
/// MAIL FROM and RSET until Postfix answers `450 4.7.1 … too much mail`, then a new
/// session (an error-free one: Postfix slows and ends sessions with many errors), until
/// `stop`. Counts the refusals it got.
struct Hammer {
    stop: Arc<AtomicBool>,
    refused: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Hammer {
    fn start(port: u16) -> Hammer {
        let stop = Arc::new(AtomicBool::new(false));
        let refused = Arc::new(AtomicUsize::new(0));
        let thread = std::thread::spawn({
            let (stop, refused) = (stop.clone(), refused.clone());
            move || {
                while !stop.load(Ordering::SeqCst) {
                    if hammer_session(port, &stop) {
                        refused.fetch_add(1, Ordering::SeqCst);
                        // Pacing this load generator, not waiting for anything: a refused
                        // client is not let in again before some 20 ms have passed.
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            }
        });
        Hammer {
            stop,
            refused,
            thread: Some(thread),
        }
    }

    fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }
}

impl Drop for Hammer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One SMTP session of [`Hammer`]: whether it ended with "too much mail".
fn hammer_session(port: u16, stop: &AtomicBool) -> bool {
    use std::io::{BufRead, BufReader, Write};
    let Ok(mut c) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let Ok(read) = c.try_clone() else {
        return false;
    };
    let mut lines = BufReader::new(read);
    let mut reply = |c: &mut TcpStream, command: &str| -> String {
        if !command.is_empty() && c.write_all(command.as_bytes()).is_err() {
            return String::new();
        }
        // The last line of a reply has a space after its code.
        let mut line = String::new();
        loop {
            line.clear();
            if lines.read_line(&mut line).unwrap_or(0) == 0 {
                return String::new();
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return line;
            }
        }
    };
    if !reply(&mut c, "").starts_with("220") || !reply(&mut c, "EHLO hammer\r\n").starts_with("250")
    {
        return false;
    }
    let mut too_much = false;
    while !stop.load(Ordering::SeqCst) {
        let r = reply(&mut c, "MAIL FROM:<hammer@outside.example>\r\n");
        if r.starts_with("250") {
            reply(&mut c, "RSET\r\n");
            continue;
        }
        too_much = r.contains("too much mail");
        break;
    }
    reply(&mut c, "QUIT\r\n");
    too_much
}

/// Postfix's own message limit, met: while the port answers `450 4.7.1 Error: too much
/// mail`, with `max-attempts = 1` and no `max-rate`, new mail is waited out and answered
/// once the limit lets it through, each once, none set aside.
pub fn too_much_mail_is_waited_out_without_counting_an_attempt(s: &Servers) {
    let hr = "hr-toomuch@example.test";
    let setup = Setup::new(
        s,
        hr,
        ImapOpts {
            port: s.imaps,
            tls: "implicit",
            ca: &s.ca,
            extra: "max-attempts = 1",
        },
        (s.throttled, "starttls"),
        "max-connections = 2",
    );
    let daemon = setup.spawn();
    daemon.wait_log("waiting for new mail (IDLE)", 1, WAIT);
    let hammer = Hammer::start(s.throttled);
    let start = Instant::now();
    while hammer.refused() == 0 {
        assert!(start.elapsed() < WAIT, "Postfix never said too much mail");
        std::thread::sleep(Duration::from_millis(10));
    }
    let n = 10;
    let senders = "toomuch@regionh.example";
    for i in 0..n {
        let from = format!("toomuch+{i}@regionh.example");
        let id = format!("toomuch-{i}@regionh.example");
        harness::smtp_send(
            s,
            &from,
            hr,
            &question(&id, &from, hr, "Pris", "Hvad koster en licens?", ""),
        );
    }
    daemon.wait_log("too much mail", 1, WAIT);
    drop(hammer);
    wait_for(s, senders, "INBOX", "every mail answered", WAIT, |m| {
        m.len() >= n
    });
    daemon.stop(Duration::from_secs(10));
    s.wait_queue_empty(WAIT);
    let replies = messages(s, senders, "INBOX");
    assert_eq!(replies.len(), n, "each answered once");
    let text = log(&setup);
    assert!(!text.contains("set-aside"), "nothing set aside:\n{text}");
    println!(
        "    {} throttling replies waited out",
        text.matches(TOO_FAST).count()
    );
}
