//! SIGHUP reloads the config's live keys, the rules and the training examples (besides the
//! templates, see `cli::sighup_reloads_the_templates_and_the_daemon_goes_on`): the daemon
//! binary on a copy of the embedded default, its log read to a deadline.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::embedded_default;

/// A running `autosvar run`, killed if the test fails before it stops it.
struct Daemon {
    child: Child,
    dir: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Daemon {
    /// Starts the daemon in `dir` (with no mail waiting) and waits until it watches.
    fn start(dir: &Path) -> Daemon {
        let new = dir.join("demo/Maildir/new");
        for e in std::fs::read_dir(&new).unwrap() {
            std::fs::remove_file(e.unwrap().path()).unwrap();
        }
        let log = std::fs::File::create(dir.join("log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_autosvar"))
            .env_remove("RUST_LOG")
            .env_remove("AUTOSVAR_CONFIG")
            .current_dir(dir)
            .arg("run")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let d = Daemon {
            child,
            dir: dir.to_path_buf(),
        };
        d.wait_for("watching for new mail");
        d
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// Waits until the log has a line containing every one of `needles`; returns it.
    fn wait_for_line(&self, needles: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(l) = self
                .log()
                .lines()
                .find(|l| needles.iter().all(|n| l.contains(n)))
            {
                return l.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no line with {needles:?} within 30 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_for(&self, needle: &str) -> String {
        self.wait_for_line(&[needle])
    }

    /// Sends SIGHUP and waits for the reload to be checked (the parts are swapped in
    /// before the next mail); returns the log written since.
    fn hup(&self) -> String {
        let before = self.log().len();
        let ok = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let since = self.log().get(before..).unwrap_or_default().to_string();
            if since.contains("SIGHUP: reload checked") {
                return since;
            }
            assert!(Instant::now() < deadline, "no reload after SIGHUP: {since}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Delivers a mail into the Maildir as `name` (tmp/, then renamed into new/) and
    /// returns its "mail handled" line.
    fn mail(&self, name: &str, from: &str, text: &str) -> String {
        let mail = format!(
            "From: {from}\r\nTo: e-learning@example.test\r\nSubject: Et spørgsmål\r\n\
             Message-ID: <{name}@regionh.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
        );
        let tmp = self.dir.join("demo/Maildir/tmp").join(name);
        std::fs::write(&tmp, mail).unwrap();
        std::fs::rename(&tmp, self.dir.join("demo/Maildir/new").join(name)).unwrap();
        self.wait_for_line(&[&format!("source=demo/Maildir/{name} "), "mail handled"])
    }

    /// SIGTERM; the daemon must end with 0.
    fn stop(mut self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "exit status {status}\n{}", self.log());
    }
}

const CAULIFLOWER: &str = "Hej, hvordan gør jeg med blomkålsmødet i Zoom?";

/// A rules change applied by SIGHUP changes how the next mail is classified; a broken
/// rules file on the next SIGHUP is refused at its line, and the rules running (the
/// reloaded ones) still classify.
#[test]
fn sighup_applies_changed_rules_and_refuses_a_broken_file() {
    let dir = embedded_default();
    let d = Daemon::start(dir.path());
    let before = d.mail("m1", "Ida <ida@regionh.example>", CAULIFLOWER);
    assert!(before.contains("outcome=replied other"), "{before}");

    let rules = dir.path().join("rules.toml");
    let text = std::fs::read_to_string(&rules).unwrap();
    assert!(text.contains("\n[categories.pricing]\n"));
    // (review-below off: one taught word alone makes no confident answer, and this test
    // is about the reload, not about doubt.)
    let taught = text
        .replace(
            "\n[categories.pricing]\n",
            "\n[categories.pricing]\n\"blomkål*\" = 12\n",
        )
        .replace("review-below = 0.75", "review-below = 0.0");
    std::fs::write(&rules, &taught).unwrap();
    let log = d.hup();
    assert!(
        log.contains("rules reloaded: 2 lists changed (categories.pricing, settings.review-below)"),
        "{log}"
    );
    assert!(log.contains("config: unchanged"), "{log}");
    assert!(log.contains("training examples: unchanged"), "{log}");
    let after = d.mail("m2", "Ole <ole@regionh.example>", CAULIFLOWER);
    assert!(after.contains("outcome=replied pricing"), "{after}");

    // Broken: a pattern with no word in it, on a line of its own.
    let broken = taught.replace("\"blomkål*\" = 12\n", "\"blomkål*\" = 12\n\"*\" = 3\n");
    std::fs::write(&rules, &broken).unwrap();
    let line = broken
        .lines()
        .position(|l| l == "\"*\" = 3")
        .map(|i| i + 1)
        .unwrap();
    let log = d.hup();
    let refused = log
        .lines()
        .find(|l| l.contains("rules refused"))
        .unwrap_or_else(|| panic!("no refusal: {log}"));
    assert!(
        refused.contains(&format!("rules.toml:{line}:")),
        "{refused}"
    );
    assert!(!log.contains("rules reloaded"), "{log}");
    let still = d.mail("m3", "Bo <bo@regionh.example>", CAULIFLOWER);
    assert!(still.contains("outcome=replied pricing"), "{still}");
    d.stop();
}

/// A live key changed by SIGHUP takes effect with the next mail (an address added to
/// `own-addresses` is never answered again); a changed restart-only key is reported as
/// needing a restart, and the running value stays (the ledger is not moved). A broken
/// config is refused at its line and the running one kept; broken training examples are
/// refused, good ones trained on and swapped in.
#[test]
fn sighup_takes_live_config_keys_reports_restart_only_ones_and_refuses_broken_parts() {
    let dir = embedded_default();
    let d = Daemon::start(dir.path());
    let carl = "Carl <carl@regionh.example>";
    let first = d.mail("c1", carl, "Hvad koster en licens?");
    assert!(first.contains("outcome=replied pricing"), "{first}");

    let cfg = dir.path().join("config.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let changed = text
        .replace(
            "own-addresses = []",
            "own-addresses = [\"carl@regionh.example\"]",
        )
        .replace("var/autosvar.sqlite", "var/moved.sqlite");
    assert_ne!(changed, text);
    std::fs::write(&cfg, changed).unwrap();
    let log = d.hup();
    assert!(
        log.contains(
            "config: reply.own-addresses [e-learning@example.test] -> \
             [e-learning@example.test, carl@regionh.example]"
        ),
        "{log}"
    );
    assert!(
        log.contains("config: ledger.path changed: needs a restart"),
        "{log}"
    );
    assert!(
        !log.contains("moved.sqlite"),
        "a restart-only value is not shown: {log}"
    );
    assert!(log.contains("rules: unchanged"), "{log}");
    // Carl is one of ours now: the loop guard refuses him (before the rate limit would).
    let second = d.mail("c2", carl, "Og hvad koster to licenser?");
    assert!(second.contains("outcome=skipped loop"), "{second}");
    assert!(
        !dir.path().join("var/moved.sqlite").exists(),
        "the ledger moved without a restart"
    );

    // A broken config is refused at its line; the reloaded one (Carl is ours) stays.
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text.replace("period = \"1d\"", "period = \"soon\"")).unwrap();
    let line = text.lines().position(|l| l == "period = \"1d\"").unwrap() + 1;
    let log = d.hup();
    let refused = log
        .lines()
        .find(|l| l.contains("config.toml refused"))
        .unwrap_or_else(|| panic!("no refusal: {log}"));
    assert!(
        refused.contains(&format!("config.toml:{line}:")),
        "{refused}"
    );
    let third = d.mail("c3", carl, "Hvad koster tre licenser?");
    assert!(third.contains("outcome=skipped loop"), "{third}");

    // The training examples: a folder that is no category is refused, the model kept;
    // a new example is trained on and swapped in.
    let example = std::fs::read_dir(dir.path().join("training/pricing"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let stray = dir.path().join("training/nonsense");
    std::fs::create_dir(&stray).unwrap();
    std::fs::copy(&example, stray.join("x.eml")).unwrap();
    let log = d.hup();
    assert!(log.contains("training examples refused"), "{log}");
    std::fs::remove_dir_all(&stray).unwrap();
    std::fs::copy(&example, dir.path().join("training/pricing/again.eml")).unwrap();
    let log = d.hup();
    assert!(
        log.contains("training examples reloaded: model retrained"),
        "{log}"
    );
    d.wait_for("retrained model swapped in");
    d.stop();
}

/// In process: parts offered to the pipeline are swapped in before its next mail, not
/// before, and the console's copies (config and rules) follow them at the same moment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offered_parts_are_swapped_in_before_the_next_mail_and_the_console_follows() {
    use std::sync::Arc;

    use arc_swap::ArcSwap;
    use autosvar::classify::{Category, Classifier, Rules};
    use autosvar::cli::Setup;
    use autosvar::config::Config;
    use autosvar::deliver::Transport;
    use autosvar::intake::RawMail;
    use autosvar::ledger::Ledger;
    use autosvar::pipeline::{Followers, Outcome, Pipeline, Reloaded};
    use autosvar::types::{Language, Source};

    let dir = crate::common::empty_embedded_default();
    let cfg = dir.path().join("config.toml");
    let setup = Setup::load(&cfg).unwrap();
    let config = Arc::new(setup.config);
    let ledger = Ledger::open(&config.ledger).unwrap();
    let transport = Transport::from_config(&config.delivery, &config.from.domain()).unwrap();
    let rules_path = config.rules.clone();
    let mut pipeline = Pipeline::new(
        config.clone(),
        setup.classifier,
        setup.templates,
        ledger,
        transport,
        false,
    );
    let followers = Followers {
        config: Arc::new(ArcSwap::new(config)),
        rules: Arc::new(ArcSwap::from_pointee(Classifier::new(
            Rules::load(&rules_path).unwrap(),
            None,
        ))),
    };
    pipeline.keep_in_step(followers.clone());
    let raw = |name: &str, from: &str| {
        RawMail {
        source: Source::from_stored(&format!("maildir/{name}")),
        bytes: format!(
            "From: {from}\r\nTo: e-learning@example.test\r\nSubject: Et spørgsmål\r\n\
             Message-ID: <{name}@regionh.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
             {CAULIFLOWER}\r\n"
        )
        .into_bytes(),
        truncated: false,
        arrived: None,
    }
    };
    let category = |o: Outcome| match o {
        Outcome::Replied { category, .. } => category,
        other => panic!("{other:?}"),
    };
    let console_category = |f: &Followers| {
        let mail = autosvar::parse::parse(&raw("p", "ida@regionh.example").bytes, Language::Da);
        f.rules.load().classify(&mail).category
    };
    let now = autosvar::clock::now();
    let first = pipeline
        .process(&raw("i1", "ida@regionh.example"), now)
        .await;
    assert_eq!(category(first.unwrap()), Category::Other);

    let text = std::fs::read_to_string(&rules_path)
        .unwrap()
        .replace(
            "\n[categories.pricing]\n",
            "\n[categories.pricing]\n\"blomkål*\" = 12\n",
        )
        .replace("review-below = 0.75", "review-below = 0.0");
    let config_text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("period = \"1d\"", "period = \"2d\"");
    let reloader = pipeline.reloader();
    reloader.offer(
        reloader.begin_training(),
        Reloaded {
            config: Some(Arc::new(Config::parse(&cfg, &config_text).unwrap())),
            rules: Some(Rules::parse(&rules_path, &text).unwrap()),
            model: None,
        },
    );
    // Offered, not yet swapped: the console still has what the pipeline runs with.
    assert_eq!(console_category(&followers), Category::Other);
    assert_eq!(followers.config.load().period, Duration::from_secs(86_400));

    let second = pipeline
        .process(&raw("o2", "ole@regionh.example"), now)
        .await;
    assert_eq!(category(second.unwrap()), Category::Pricing);
    assert_eq!(pipeline.config().period, Duration::from_secs(2 * 86_400));
    assert_eq!(console_category(&followers), Category::Pricing);
    assert_eq!(
        followers.config.load().period,
        Duration::from_secs(2 * 86_400)
    );
}
