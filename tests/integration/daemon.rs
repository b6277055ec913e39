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
