//! The binary as a newcomer uses it, on a copy of the embedded default.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common::{embedded_default, root};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_autosvar"));
    c.env_remove("RUST_LOG").env_remove("AUTOSVAR_CONFIG");
    c
}

fn run_in(dir: &Path, args: &[&str]) -> Output {
    bin().current_dir(dir).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn outbox(dir: &Path) -> Vec<PathBuf> {
    // Finished messages only: the outbox writes ".<name>.tmp" first, then renames.
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("var/outbox"))
        .map(|d| {
            d.map(|e| e.unwrap().path())
                .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn check_passes_on_the_shipped_config() {
    let dir = embedded_default();
    let o = run_in(dir.path(), &["check"]);
    assert!(
        o.status.success(),
        "{}{}",
        stdout(&o),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout(&o).contains("all checks passed"));
}

#[test]
fn run_once_answers_the_examples_once_and_then_sends_nothing() {
    let dir = embedded_default();
    let first = run_in(dir.path(), &["run", "--once"]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let lines = stdout(&first);
    assert_eq!(lines.lines().count(), 6, "{lines}");
    assert_eq!(lines.matches("\treplied ").count(), 4, "{lines}");
    assert_eq!(lines.matches("\tskipped ").count(), 2, "{lines}");
    let sent = outbox(dir.path());
    let replies = sent
        .iter()
        .filter(|p| p.to_str().unwrap().contains(".reply."))
        .count();
    let forwards = sent
        .iter()
        .filter(|p| p.to_str().unwrap().contains(".forward."))
        .count();
    assert_eq!((replies, forwards), (4, 2), "{sent:?}");

    let second = run_in(dir.path(), &["run", "--once"]);
    assert!(second.status.success());
    assert_eq!(outbox(dir.path()), sent, "the second run must send nothing");
    assert!(!stdout(&second).contains("replied"), "{}", stdout(&second));
}

#[test]
fn dry_run_records_and_sends_nothing() {
    let dir = embedded_default();
    let o = run_in(dir.path(), &["run", "--once", "--dry-run"]);
    assert!(o.status.success());
    assert_eq!(
        stdout(&o).matches("would-reply").count(),
        4,
        "{}",
        stdout(&o)
    );
    assert!(outbox(dir.path()).is_empty());
    let real = run_in(dir.path(), &["run", "--once"]);
    assert_eq!(stdout(&real).matches("\treplied ").count(), 4);
}

#[test]
fn a_bad_config_names_file_line_and_fix_and_exits_78() {
    let dir = embedded_default();
    let cfg = dir.path().join("config.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace("period = \"1d\"", "period = \"one day\"")
            .replace("\n[outbox]\n", "\n[outbox]\npaht = \"x\"\n"),
    )
    .unwrap();
    let o = run_in(dir.path(), &["run", "--once"]);
    assert_eq!(o.status.code(), Some(78));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("config.toml:") && err.contains("reply.period") && err.contains("\"30s\""),
        "{err}"
    );
    assert!(err.contains("paht"), "both problems in one pass: {err}");
    let o = run_in(dir.path(), &["check"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn a_broken_template_is_refused_with_its_line() {
    let dir = embedded_default();
    let tpl = dir.path().join("responses/pricing.da.txt");
    let text = std::fs::read_to_string(&tpl).unwrap();
    std::fs::write(&tpl, format!("{text}\n{{{{ fornavn }}}}\n")).unwrap();
    let o = run_in(dir.path(), &["check", "--offline"]);
    assert_eq!(o.status.code(), Some(1));
    let line = text.lines().count() + 2;
    let want = format!(
        "pricing.da.txt:{line}:1: unknown placeholder {{{{ fornavn }}}}; did you mean {{{{ first_name }}}}?"
    );
    assert!(stdout(&o).contains(&want), "want {want} in\n{}", stdout(&o));
    let o = run_in(dir.path(), &["run", "--once"]);
    assert_eq!(o.status.code(), Some(78), "a broken set never sends");
    assert!(outbox(dir.path()).is_empty());
}

/// HR's slips that are no reason to stop (issue 12): a Windows copy beside the templates and
/// a file saved with a byte-order mark are warnings; check passes and the daemon answers.
#[test]
fn a_copy_and_a_byte_order_mark_are_warnings_and_nothing_stops() {
    let dir = embedded_default();
    let responses = dir.path().join("responses");
    std::fs::copy(
        responses.join("pricing.da.txt"),
        responses.join("pricing.da - Kopi.txt"),
    )
    .unwrap();
    let terms = responses.join("terms.da.txt");
    let text = std::fs::read_to_string(&terms).unwrap();
    std::fs::write(&terms, format!("\u{feff}{text}")).unwrap();
    let o = run_in(dir.path(), &["check", "--offline"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("warning ")
            && out
                .contains("responses/pricing.da - Kopi.txt: not a template; the file is not used"),
        "{out}"
    );
    assert!(
        out.contains("responses/terms.da.txt:1: the file begins with an invisible byte-order mark"),
        "{out}"
    );
    assert!(!out.contains("problem "), "{out}");
    assert!(out.contains("all checks passed, 2 warning(s)"), "{out}");
    let o = run_in(dir.path(), &["run", "--once"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        stdout(&o).matches("\treplied ").count(),
        4,
        "{}",
        stdout(&o)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("template warning") && err.contains("Kopi"),
        "{err}"
    );
    for reply in outbox(dir.path()) {
        let bytes = std::fs::read(&reply).unwrap();
        assert!(
            !bytes.windows(3).any(|w| w == [0xEF, 0xBB, 0xBF]),
            "a byte-order mark went out in {}",
            reply.display()
        );
    }
}

/// `{ mailbox }` in single braces would go out as it stands: refused, with file and line.
#[test]
fn single_braces_are_refused_with_file_and_line() {
    let dir = embedded_default();
    let tpl = dir.path().join("responses/pricing.da.txt");
    let text = std::fs::read_to_string(&tpl).unwrap();
    std::fs::write(&tpl, format!("{text}\nSkriv til {{ mailbox }}.\n")).unwrap();
    let o = run_in(dir.path(), &["check", "--offline"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let line = text.lines().count() + 2;
    let want =
        format!("problem responses/pricing.da.txt:{line}:11: `{{ mailbox }}` is not a placeholder");
    assert!(stdout(&o).contains(&want), "want {want} in\n{}", stdout(&o));
    assert!(stdout(&o).contains("write {{ mailbox }}"), "{}", stdout(&o));
    let o = run_in(dir.path(), &["run", "--once"]);
    assert_eq!(o.status.code(), Some(78), "a broken set never sends");
    assert!(outbox(dir.path()).is_empty());
}

#[test]
fn classify_json_is_the_fixed_contract() {
    let dir = embedded_default();
    let o = run_in(dir.path(), &["classify", "--json", "demo/Maildir/new"]);
    assert!(o.status.success());
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    for v in &lines {
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            [
                "action",
                "category",
                "confidence",
                "desk",
                "file",
                "language",
                "sensitive",
                "skip_reason"
            ]
        );
    }
    let kuit = lines.iter().find(|v| v["desk"] == "kuit").unwrap();
    assert_eq!(kuit["category"], "technical");
    assert_eq!(kuit["language"], "en");
    let skipped: Vec<&str> = lines
        .iter()
        .filter(|v| v["action"] == "skip")
        .map(|v| v["skip_reason"].as_str().unwrap())
        .collect();
    assert_eq!(skipped, ["auto-reply", "list"]);
    assert!(lines.iter().any(|v| v["sensitive"] == true));
    // classify writes no ledger.
    assert!(!dir.path().join("var/autosvar.sqlite").exists());
}

#[test]
fn preview_prints_the_mail_that_would_be_sent() {
    let dir = embedded_default();
    let o = run_in(dir.path(), &["preview", "pricing", "--lang", "en"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    assert!(out.contains("Subject: Re: Zoom"), "{out}");
    assert!(out.contains("Auto-Submitted: auto-replied"));
    assert!(out.contains("40 minutes"), "{out}");
    let o = run_in(dir.path(), &["preview", "technical", "--desk", "kuit"]);
    assert!(stdout(&o).contains("forward to KU-IT"), "{}", stdout(&o));
    assert!(stdout(&o).contains("3532 3232"));
    assert!(outbox(dir.path()).is_empty());
}

/// The daemon answers a mail dropped into new/ while it runs, and stops on SIGTERM.
#[test]
fn watching_daemon_answers_new_mail_and_stops_on_sigterm() {
    let dir = embedded_default();
    let new = dir.path().join("demo/Maildir/new");
    for e in std::fs::read_dir(&new).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
    let mut child = bin()
        .current_dir(dir.path())
        .args(["run"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the daemon has opened its ledger (it is watching by then).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !dir.path().join("var/autosvar.sqlite").exists() {
        assert!(Instant::now() < deadline, "daemon did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mail = "From: Ida <ida@regionh.example>\r\nTo: e-learning@example.test\r\nSubject: Pris\r\nMessage-ID: <watch-1@regionh.example>\r\n\r\nHvad koster en enterprise-licens?\r\n";
    std::fs::write(dir.path().join("demo/Maildir/tmp/m1"), mail).unwrap();
    std::fs::rename(dir.path().join("demo/Maildir/tmp/m1"), new.join("m1")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while outbox(dir.path()).is_empty() {
        assert!(Instant::now() < deadline, "no reply within 20 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = Instant::now();
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "daemon did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status}");
    let reply = std::fs::read_to_string(&outbox(dir.path())[0]).unwrap();
    assert!(reply.contains("X-Autosvar-Category: pricing"), "{reply}");
}

fn drop_mail(dir: &Path, name: &str, mail: &str) {
    let tmp = dir.join("demo/Maildir/tmp").join(name);
    std::fs::write(&tmp, mail).unwrap();
    std::fs::rename(&tmp, dir.join("demo/Maildir/new").join(name)).unwrap();
}

fn empty_maildir(dir: &Path) {
    for e in std::fs::read_dir(dir.join("demo/Maildir/new")).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
}

fn mail(id: &str, from: &str, subject: &str, body: &str) -> String {
    format!("From: {from}\r\nTo: e-learning@example.test\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n")
}

fn wait_for_outbox(dir: &Path, n: usize) -> Vec<PathBuf> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let files = outbox(dir);
        if files.len() >= n {
            return files;
        }
        assert!(
            Instant::now() < deadline,
            "outbox has {} of {n} files after 20 s",
            files.len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// HR saves a broken template: it is refused and the old one keeps answering. Then HR saves
/// a good change: the next reply uses it, with no restart.
#[test]
fn template_changes_apply_without_restart_and_broken_ones_never_send() {
    let dir = embedded_default();
    empty_maildir(dir.path());
    let log = dir.path().join("daemon.log");
    let mut child = bin()
        .current_dir(dir.path())
        .args(["run"])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let wait_log = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains(what)
        {
            assert!(Instant::now() < deadline, "log never said {what:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_log("watching for new mail");
    let tpl = dir.path().join("responses/pricing.da.txt");
    let good = std::fs::read_to_string(&tpl).unwrap();
    // Broken: an undefined placeholder. Saved by rename, as editors do.
    let tmp = dir.path().join("responses/.pricing.tmp");
    std::fs::write(&tmp, format!("{good}\n{{{{ beloeb }}}}\n")).unwrap();
    std::fs::rename(&tmp, &tpl).unwrap();
    wait_log("pricing.da.txt");
    drop_mail(
        dir.path(),
        "a",
        &mail(
            "reload-1@x.example",
            "Bo <bo@regionh.example>",
            "Pris",
            "Hvad koster en enterprise-licens?",
        ),
    );
    let first = wait_for_outbox(dir.path(), 1);
    let text = std::fs::read_to_string(&first[0]).unwrap();
    assert!(
        text.contains("40 minutter") && !text.contains("beloeb"),
        "{text}"
    );

    std::fs::write(
        &tmp,
        good.replace("Tak for din mail", "NY TEKST: Tak for din mail"),
    )
    .unwrap();
    std::fs::rename(&tmp, &tpl).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 2;
    loop {
        // Each attempt is a new sender, so the rate limit does not apply.
        drop_mail(
            dir.path(),
            &format!("b{n}"),
            &mail(
                &format!("reload-{n}@x.example"),
                &format!("S{n} <s{n}@regionh.example>"),
                "Pris",
                "Hvad koster en enterprise-licens?",
            ),
        );
        let files = wait_for_outbox(dir.path(), n);
        let newest = files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .find(|t| t.contains(&format!("reload-{n}@x.example")));
        if newest.is_some_and(|t| t.contains("NY TEKST")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the saved template was never used"
        );
        n += 1;
    }
    // A backup copy saved beside the templates is logged, never refused.
    std::fs::write(dir.path().join("responses/pricing.da - Kopi.txt"), &good).unwrap();
    wait_log("template warning");
    wait_log("pricing.da - Kopi.txt: not a template");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        !logged
            .lines()
            .any(|l| l.contains("refused") && l.contains("Kopi")),
        "{logged}"
    );
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn one_reply_per_sender_and_category_per_period() {
    let dir = embedded_default();
    empty_maildir(dir.path());
    let from = "Ole <ole@regionh.example>";
    drop_mail(
        dir.path(),
        "1",
        &mail(
            "rl-1@x.example",
            from,
            "Pris",
            "Hvad koster en enterprise-licens?",
        ),
    );
    drop_mail(
        dir.path(),
        "2",
        &mail(
            "rl-2@x.example",
            from,
            "Pris igen",
            "Og hvad koster licensen pr. måned?",
        ),
    );
    drop_mail(
        dir.path(),
        "3",
        &mail(
            "rl-3@x.example",
            from,
            "Kamera",
            "Mit kamera virker ikke i Zoom på min pc.",
        ),
    );
    let o = run_in(dir.path(), &["run", "--once"]);
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].ends_with("replied pricing"), "{out}");
    assert!(lines[1].ends_with("skipped rate-limited"), "{out}");
    assert!(lines[2].ends_with("replied technical desk=cimt"), "{out}");
}

/// The floor on mail written by someone who had not seen the classifier
/// (tests/fixtures/blind/README.md).
#[test]
fn held_out_mail_meets_the_promised_floor() {
    for (set, mails) in [
        ("1-from-the-announcement", 150),
        ("2-from-the-announcement", 160),
        ("3-writers-one-by-one", 160),
        ("4-a-years-writers", 160),
        ("5-corpus-style", 160),
        ("6-corpus-style", 160),
    ] {
        held_out_set_meets_the_floor(set, mails);
    }
}

fn held_out_set_meets_the_floor(set: &str, mails: usize) {
    let dir = embedded_default();
    let blind = root().join("tests/fixtures/blind").join(set);
    let o = run_in(
        dir.path(),
        &[
            "eval",
            blind.to_str().unwrap(),
            "--min-accuracy",
            "0.94",
            "--min-macro-f1",
            "0.93",
            "--min-desk",
            "0.95",
            "--min-language",
            "0.98",
            "--min-reply-rate",
            "0.98",
            "--max-machine-replies",
            "0",
            "--min-sensitive-recall",
            "1",
            "--min-sensitive-precision",
            "0.9",
            // The careful answer at the shipped review-below (README: "What confidence
            // means").
            "--min-coverage",
            "0.9",
            "--max-risk",
            "0.05",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        stdout(&o),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout(&o).contains(&format!("{mails} mails")), "{set}");
}

#[test]
fn eval_reports_metrics_and_fails_below_a_threshold() {
    let dir = embedded_default();
    let labelled = root().join("tests/fixtures/labelled");
    let labelled = labelled.to_str().unwrap();
    let o = run_in(
        dir.path(),
        &[
            "eval",
            labelled,
            "--min-accuracy",
            "0.9",
            "--max-machine-replies",
            "0",
            "--min-sensitive-recall",
            "1",
        ],
    );
    let out = stdout(&o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for line in [
        "166 mails",
        "category accuracy",
        "macro-F1",
        "desk accuracy",
        "language accuracy",
        "reply/skip accuracy",
        "sensitive",
        "expected \\ predicted",
        "on mail from people",
        "calibration on the 141 mails from people",
        "review-below",
        "(rules)",
    ] {
        assert!(out.contains(line), "missing {line:?} in\n{out}");
    }
    // The careful answer's own thresholds fail the run too.
    let o = run_in(dir.path(), &["eval", labelled, "--max-risk", "0.001"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("risk"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = run_in(dir.path(), &["eval", labelled, "--min-accuracy", "0.999"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("accuracy"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = run_in(dir.path(), &["eval", labelled, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["mails"], 166);
    assert!(v["per_category"]["pricing"]["f1"].as_f64().unwrap() > 0.5);
    // At the rules' review-below, fewer wrong templates than answering everything.
    let at = |configured: bool| {
        v["answering"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["configured"] == configured && (configured || o["threshold"] == 0.0))
            .unwrap()
            .clone()
    };
    let (rules, all) = (at(true), at(false));
    assert_eq!(rules["threshold"], 0.75, "{rules}");
    assert!(
        rules["risk"].as_f64() < all["risk"].as_f64(),
        "{rules} {all}"
    );
    assert!(rules["coverage"].as_f64().unwrap() >= 0.9, "{rules}");
    assert_eq!(v["calibration"].as_array().unwrap().len(), 10);
}

/// Tools point a copy of the shipped config, kept elsewhere, at real servers: it must
/// still find the project's rules, templates and examples from the working folder.
#[test]
fn a_copy_of_the_config_elsewhere_still_finds_rules_and_templates() {
    let project = embedded_default();
    let elsewhere = tempfile::tempdir().unwrap();
    let copy = elsewhere.path().join("config.toml");
    std::fs::copy(project.path().join("config.toml"), &copy).unwrap();
    let o = run_in(
        project.path(),
        &["--config", copy.to_str().unwrap(), "check", "--offline"],
    );
    assert!(o.status.success(), "{}", stdout(&o));
    let o = run_in(
        project.path(),
        &["--config", copy.to_str().unwrap(), "run", "--once"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(stdout(&o).matches("\treplied ").count(), 4);
}

/// `eval --folds K` cross-validates the shipped training folder: every example is classified
/// once by a model that never saw it, and the floor holds there too.
#[test]
fn eval_cross_validates_the_training_folder() {
    let dir = embedded_default();
    fn count(p: &Path) -> usize {
        std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| {
                if p.is_dir() {
                    count(&p)
                } else {
                    usize::from(p.extension().is_some_and(|x| x == "eml"))
                }
            })
            .sum()
    }
    let examples = count(&dir.path().join("training"));
    let o = run_in(
        dir.path(),
        &[
            "eval",
            "--folds",
            "5",
            "--min-accuracy",
            "0.88",
            "--min-desk",
            "0.95",
        ],
    );
    let out = stdout(&o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.starts_with("cross-validated in 5 folds"), "{out}");
    assert!(out.contains(&format!("\n{examples} mails\n")), "{out}");
    // A fold that leaves a category without examples cannot train: a clear error.
    let tiny = dir.path().join("training-tiny");
    for c in ["pricing", "terms", "eligibility", "technical", "other"] {
        std::fs::create_dir_all(tiny.join(c)).unwrap();
        std::fs::copy(
            root().join("tests/fixtures/labelled/0001.eml"),
            tiny.join(c).join("one.eml"),
        )
        .unwrap();
    }
    let config = std::fs::read_to_string(dir.path().join("config.toml"))
        .unwrap()
        .replace("training = \"training\"", "training = \"training-tiny\"");
    std::fs::write(dir.path().join("config.toml"), config).unwrap();
    let o = run_in(dir.path(), &["eval", "--folds", "2"]);
    // 78: the configuration (here its training folder) is what must change.
    assert_eq!(o.status.code(), Some(78), "{}", stdout(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("leaves a category empty"), "{err}");
    assert!(err.contains("no examples for"), "{err}");
}

/// Sensitive data on the stress set (tests/fixtures/sensitive-stress/README.md): every way
/// of writing a CPR number, a Swedish or Norwegian identity number, a patient (named or
/// not, in six languages) and the writer's own or a relative's illness, and the numbers,
/// names and health words that are none of these.
#[test]
fn sensitive_stress_set_keeps_its_floor() {
    let dir = embedded_default();
    let set = root().join("tests/fixtures/sensitive-stress");
    let o = run_in(
        dir.path(),
        &[
            "eval",
            set.to_str().unwrap(),
            "--min-sensitive-recall",
            "0.97",
            "--min-sensitive-precision",
            "0.95",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        stdout(&o),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout(&o).contains("(92 sensitive)"));
}

/// SIGHUP reloads the templates and the daemon goes on (it used to end with 129): after the
/// SIGHUP's reload, the next reply carries a line added on disk; a broken set on SIGHUP is
/// refused and the daemon still runs, and SIGTERM still ends it with 0.
#[test]
fn sighup_reloads_the_templates_and_the_daemon_goes_on() {
    let dir = embedded_default();
    let new = dir.path().join("demo/Maildir/new");
    for e in std::fs::read_dir(&new).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
    let log = std::fs::File::create(dir.path().join("log")).unwrap();
    let mut child = bin()
        .current_dir(dir.path())
        .args(["run"])
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let read_log = || std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !read_log().contains("watching for new mail") {
        assert!(
            Instant::now() < deadline,
            "daemon did not start: {}",
            read_log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let file = dir.path().join("responses/pricing.da.txt");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{text}\nGenindlæst ved SIGHUP.\n")).unwrap();
    let pid = child.id().to_string();
    let hup = |done: &str| {
        let ok = Command::new("kill").args(["-HUP", &pid]).status().unwrap();
        assert!(ok.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        while !read_log().contains(done) {
            assert!(
                Instant::now() < deadline,
                "no {done:?} after SIGHUP: {}",
                read_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    hup("SIGHUP: templates reloaded");
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP ended the daemon"
    );
    let mail = "From: Ida <ida@regionh.example>\r\nTo: e-learning@example.test\r\nSubject: Pris\r\nMessage-ID: <hup-1@regionh.example>\r\n\r\nHvad koster en enterprise-licens?\r\n";
    std::fs::write(dir.path().join("demo/Maildir/tmp/m1"), mail).unwrap();
    std::fs::rename(dir.path().join("demo/Maildir/tmp/m1"), new.join("m1")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while outbox(dir.path()).is_empty() {
        assert!(Instant::now() < deadline, "no reply within 20 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let reply = std::fs::read_to_string(&outbox(dir.path())[0]).unwrap();
    assert!(
        reply.contains("Genindl=C3=A6st ved SIGHUP.") || reply.contains("Genindlæst ved SIGHUP."),
        "{reply}"
    );
    // A broken set on SIGHUP is refused and the daemon still runs.
    std::fs::write(&file, "{{ oops\n").unwrap();
    hup("SIGHUP: the templates were refused");
    assert!(
        child.try_wait().unwrap().is_none(),
        "a broken set on SIGHUP ended the daemon"
    );
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
}
