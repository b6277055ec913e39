//! Public collections of machine mail: no machine mail is answered, no file panics or hangs.
//!
//! tests/corpora/fetch downloads flufl.bounce's test messages (PyPI sdist, pinned) and
//! installs CPython's email test data (Debian `libpython3.11-testsuite`) when missing, like
//! tests/servers/mailserver installs the mail servers. A collection that cannot be had fails
//! the test: it is never skipped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use autosvar::decide::SkipReason;
use autosvar::pipeline::assess;

use crate::common::{root, setup};

/// How long one file may take through parse, guard and classify (a debug build).
const PER_FILE: Duration = Duration::from_secs(20);

/// flufl.bounce's messages are all machine mail but these (name, why).
const FLUFL_PERSONS: &[(&str, &str)] = &[(
    "groupwise_03.txt",
    "a person's reply about a booking; flufl.bounce's own tests: 'Not a bounce'",
)];

/// CPython's msg_*.txt are mostly a person's mail (MIME shapes); these are machine mail,
/// judged by their headers and content types (name, why).
const CPYTHON_MACHINE: &[(&str, &str)] = &[
    (
        "msg_02.txt",
        "Mailman digest: X-Mailman-Version, From ...-request@",
    ),
    (
        "msg_05.txt",
        "multipart/report; report-type=delivery-status",
    ),
    (
        "msg_16.txt",
        "DSN: Return-Path <>, postmaster, multipart/report via a list",
    ),
    (
        "msg_25.txt",
        "DSN from MAILER-DAEMON, Auto-Submitted: auto-generated",
    ),
    (
        "msg_32.txt",
        "list mail: Sender owner-freebsd-isp@, Precedence: bulk",
    ),
    (
        "msg_33.txt",
        "list mail: Sender owner-freebsd-isp@, Precedence: bulk",
    ),
    (
        "msg_42.txt",
        "bounce: 'Mail Delivery Subsystem' with the returned message/rfc822",
    ),
    (
        "msg_43.txt",
        "DSN from 'MAILER DAEMON <>', multipart/report",
    ),
];

/// Runs tests/corpora/fetch; the folder of each collection by name.
fn fetch() -> Vec<(String, PathBuf)> {
    let out = Command::new(root().join("tests/corpora/fetch"))
        .output()
        .expect("run tests/corpora/fetch");
    assert!(
        out.status.success(),
        "fetching the public collections failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (name, dir) = l.split_once(' ').expect("'name dir' lines");
            (name.to_string(), PathBuf::from(dir))
        })
        .collect()
}

fn files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.starts_with(prefix) && name.ends_with(".txt")
        })
        .collect();
    out.sort();
    out
}

/// The guard's verdict on one file, on its own thread, within [`PER_FILE`]: Err says the
/// file panicked or hung.
fn guard_of(path: &Path) -> Result<Option<SkipReason>, String> {
    let bytes = std::fs::read(path).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let s = setup();
        let a = assess(&bytes, &s.config, &s.classifier);
        let _ = tx.send(a.guard);
    });
    match rx.recv_timeout(PER_FILE) {
        Ok(g) => Ok(g),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(format!("hung over {PER_FILE:?}")),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err("panicked".into()),
    }
}

#[test]
fn no_machine_mail_in_the_public_collections_is_answered() {
    setup();
    let collections = fetch();
    assert_eq!(collections.len(), 2, "{collections:?}");
    let mut wrong = Vec::new();
    for (name, dir) in &collections {
        let (list, machine_is_listed) = match name.as_str() {
            "flufl" => (files(dir, ""), false),
            "cpython" => (files(dir, "msg_"), true),
            other => panic!("unknown collection {other}"),
        };
        let names: Vec<&str> = list
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap())
            .collect();
        let listed: &[(&str, &str)] = if machine_is_listed {
            CPYTHON_MACHINE
        } else {
            FLUFL_PERSONS
        };
        for (f, _) in listed {
            assert!(names.contains(f), "{name}: {f} is listed but missing");
        }
        let (mut machine, mut answered) = (0, 0);
        for (path, file) in list.iter().zip(&names) {
            let is_machine = listed.iter().any(|(f, _)| f == file) == machine_is_listed;
            match guard_of(path) {
                Err(e) => wrong.push(format!("{name}/{file}: {e}")),
                Ok(g) if is_machine => {
                    machine += 1;
                    if g.is_none() {
                        answered += 1;
                        wrong.push(format!("{name}/{file}: machine mail answered"));
                    }
                }
                Ok(_) => {}
            }
        }
        eprintln!(
            "{name}: {} files, {machine} machine mail, {answered} answered",
            list.len()
        );
        let floor = if machine_is_listed { 40 } else { 100 };
        assert!(
            list.len() >= floor,
            "{name}: only {} files in {}",
            list.len(),
            dir.display()
        );
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
