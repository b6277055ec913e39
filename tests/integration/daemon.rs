//! The daemon in process: `autosvar::daemon::run` with its shutdown handed in as a future,
//! no signal and no child process. (Backoff and retry timing are unit-tested with paused
//! time in `src/daemon/backoff.rs`; IMAP and SMTP behaviour against real servers in
//! `tests/mail/`.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use autosvar::cli::Setup;
use autosvar::daemon::{self, Intake, Mode, Report};
use autosvar::deliver::Transport;
use autosvar::intake::maildir::Maildir;
use autosvar::ledger::Ledger;
use autosvar::pipeline::Pipeline;

use crate::common::empty_embedded_default;

fn pipeline(dir: &std::path::Path) -> Pipeline {
    let setup = Setup::load(&dir.join("config.toml")).unwrap();
    let config = Arc::new(setup.config);
    let ledger = Ledger::open(&config.ledger).unwrap();
    let transport = Transport::from_config(&config.delivery, &config.from.domain()).unwrap();
    Pipeline::new(
        config,
        setup.classifier,
        setup.templates,
        ledger,
        transport,
        false,
    )
}

fn files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_answers_mail_as_it_arrives_and_stops_when_its_shutdown_resolves() {
    let dir = empty_embedded_default();
    let mut pipeline = pipeline(dir.path());
    let maildir = dir.path().join("demo/Maildir");
    let outbox = dir.path().join("var/outbox");
    let intake = Intake::Maildir {
        maildir: Maildir::new(&maildir),
        // Only the watcher can wake the daemon within this test.
        poll_interval: Duration::from_secs(3600),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut report = Report::new(false);
    let run = daemon::run(&mut pipeline, intake, Mode::Watch, &mut report, async {
        let _ = stopped.await;
    });
    let arrive = async {
        // Written elsewhere, then renamed into new/, as a delivery agent does.
        let mail = "From: Ida Holm <ida.holm@example.test>\r\nTo: e-learning@example.test\r\n\
                    Subject: Pris\r\nMessage-ID: <daemon-1@example.test>\r\n\
                    Content-Type: text/plain; charset=utf-8\r\n\r\n\
                    Hvad koster en licens til Zoom?\r\n\r\nVenlig hilsen\r\nIda\r\n";
        std::fs::create_dir_all(maildir.join("tmp")).unwrap();
        std::fs::write(maildir.join("tmp/daemon-1"), mail).unwrap();
        std::fs::rename(maildir.join("tmp/daemon-1"), maildir.join("new/daemon-1")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while files(&outbox) == 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let answered = files(&outbox);
        stop.send(()).unwrap();
        answered
    };
    let (result, answered) =
        tokio::time::timeout(Duration::from_secs(60), async { tokio::join!(run, arrive) })
            .await
            .expect("the daemon returns once its shutdown resolves");
    result.unwrap();
    assert_eq!(answered, 1, "the reply is in the outbox");
    assert_eq!(
        report.counts().get("replied"),
        Some(&1),
        "{}",
        report.summary()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_handles_what_waits_and_returns_without_a_shutdown() {
    let dir = crate::common::embedded_default();
    let waiting = files(&dir.path().join("demo/Maildir/new"));
    assert!(waiting > 0, "the embedded default has demo mail");
    let mut pipeline = pipeline(dir.path());
    let intake = Intake::Maildir {
        maildir: Maildir::new(&dir.path().join("demo/Maildir")),
        poll_interval: Duration::from_secs(3600),
    };
    let mut report = Report::new(false);
    tokio::time::timeout(
        Duration::from_secs(60),
        daemon::run(
            &mut pipeline,
            intake,
            Mode::Once,
            &mut report,
            std::future::pending(),
        ),
    )
    .await
    .expect("--once returns by itself")
    .unwrap();
    assert_eq!(report.counts().values().sum::<usize>(), waiting);
}

/// The pipeline in process with every specific category doubtful (`review-below = 1.0`): an
/// English technical mail with a CPR number gets the English acknowledgement with the
/// sensitive notice that says it went to no one, no forward, and the ledger keeps the guess;
/// a resume sends nothing more; `--dry-run` says it would acknowledge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_doubtful_mail_gets_the_acknowledgement_in_its_language_and_no_forward() {
    use autosvar::classify::Category;
    use autosvar::intake::RawMail;
    use autosvar::pipeline::Outcome;
    use autosvar::types::Source;

    let dir = empty_embedded_default();
    let rules = dir.path().join("rules.toml");
    let text = std::fs::read_to_string(&rules).unwrap();
    let doubting: Vec<&str> = text
        .lines()
        .map(|l| {
            if l.starts_with("review-below = ") {
                "review-below = 1.0"
            } else {
                l
            }
        })
        .collect();
    assert_ne!(
        doubting.join("\n"),
        text.trim_end(),
        "review-below not found"
    );
    std::fs::write(&rules, doubting.join("\n")).unwrap();
    let raw = RawMail {
        source: Source::from_stored("maildir/doubt-en"),
        bytes: "From: Ann Lee <ann@regionh.example>\r\nTo: e-learning@example.test\r\n\
                Subject: Camera not working in Zoom\r\nMessage-ID: <doubt-en@regionh.example>\r\n\
                Content-Type: text/plain; charset=utf-8\r\n\r\n\
                My camera does not work in Zoom Meetings on my laptop, the video stays black. \
                My CPR number is 010190-1234 if you need it.\r\n"
            .as_bytes()
            .to_vec(),
        truncated: false,
        arrived: None,
    };
    let now = autosvar::clock::now();

    let mut dry = {
        let setup = Setup::load(&dir.path().join("config.toml")).unwrap();
        let config = Arc::new(setup.config);
        let transport = Transport::from_config(&config.delivery, &config.from.domain()).unwrap();
        Pipeline::new(
            config,
            setup.classifier,
            setup.templates,
            Ledger::in_memory().unwrap(),
            transport,
            true,
        )
    };
    let would = dry.process(&raw, now).await.unwrap();
    assert!(
        matches!(
            would,
            Outcome::WouldAcknowledge {
                guess: Category::Technical,
                held: Some(_)
            }
        ),
        "{would:?}"
    );

    let mut pipeline = pipeline(dir.path());
    let outcome = pipeline.process(&raw, now).await.unwrap();
    let Outcome::Acknowledged {
        guess: Category::Technical,
        held: Some(desk),
        ..
    } = &outcome
    else {
        panic!("{outcome:?}");
    };
    assert!(outcome
        .describe()
        .contains(&format!("forward to {desk} held")));
    let outbox = dir.path().join("var/outbox");
    let sent: Vec<String> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(sent.len(), 1, "the acknowledgement only: {sent:#?}");
    let ack = &sent[0];
    assert!(ack.contains("X-Autosvar-Category: other"), "{ack}");
    assert!(
        ack.contains("Thank you for your email. We have received it"),
        "{ack}"
    );
    assert!(
        ack.contains("We have not passed your email on to anyone"),
        "{ack}"
    );
    assert!(!ack.contains("010190"), "{ack}");
    // Nothing waits: a resume (a restart) sends nothing.
    assert!(!pipeline.has_pending().unwrap());
    let resumed = pipeline
        .resume_pending(now, &std::collections::HashSet::new(), None)
        .await
        .unwrap();
    assert_eq!(resumed, 0);
    assert_eq!(files(&outbox), 1);
    // Seen again: already done, nothing sent.
    assert_eq!(
        pipeline.process(&raw, now).await.unwrap(),
        Outcome::AlreadyDone
    );
    assert_eq!(files(&outbox), 1);
    drop(pipeline);
    let l = Ledger::open(&dir.path().join("var/autosvar.sqlite")).unwrap();
    let queue = l.review_queue(None, 10).unwrap();
    assert_eq!(queue.len(), 1);
    let row = &queue[0];
    assert!(
        row.doubtful && row.forward_held() && row.sensitive,
        "{row:?}"
    );
    assert_eq!(row.desk.as_ref(), Some(desk));
    assert!(
        row.confidence.is_some_and(|c| c > 0.0 && c < 1.0),
        "{row:?}"
    );
    let explained = l.mail(&row.key).unwrap().unwrap().explanation.unwrap();
    assert!(
        explained.contains("decision:   acknowledge (doubtful"),
        "{explained}"
    );
}
