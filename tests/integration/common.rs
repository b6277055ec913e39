//! Shared helpers: paths, the shipped setup, fixture listing.

use std::path::{Path, PathBuf};

use autosvar::cli::Setup;
use autosvar::pipeline::Assessment;
use autosvar::render::compose;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixtures() -> PathBuf {
    root().join("tests/fixtures")
}

/// The shipped config, rules, model and templates, loaded once for all tests (training
/// the model reads every example mail).
pub fn setup() -> &'static Setup {
    static SETUP: std::sync::OnceLock<Setup> = std::sync::OnceLock::new();
    SETUP
        .get_or_init(|| Setup::load(&root().join("config.toml")).expect("the shipped config loads"))
}

/// The .eml files below `dir`, recursively, sorted. Fails if there are none: a suite that
/// finds no files must not pass.
pub fn emls(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in
            std::fs::read_dir(&d).unwrap_or_else(|e| panic!("cannot read {}: {e}", d.display()))
        {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "eml") {
                out.push(p);
            }
        }
    }
    out.sort();
    assert!(!out.is_empty(), "no .eml fixtures under {}", dir.display());
    out
}

/// Copies a folder tree.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// A temp folder holding the embedded default as shipped: config.toml, rules.toml,
/// responses/, training/ and demo/ (its example mails in demo/Maildir/new/).
pub fn embedded_default() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in ["config.toml", "rules.toml"] {
        std::fs::copy(root().join(f), dir.path().join(f)).unwrap();
    }
    for d in ["responses", "training", "demo"] {
        copy_tree(&root().join(d), &dir.path().join(d));
    }
    // The console on a free port: tests run side by side.
    let cfg = dir.path().join("config.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("listen = \"127.0.0.1:8025\""));
    std::fs::write(&cfg, text.replace("127.0.0.1:8025", "127.0.0.1:0")).unwrap();
    dir
}

/// As [`embedded_default`], with no mail waiting in demo/Maildir/new/.
pub fn empty_embedded_default() -> tempfile::TempDir {
    let dir = embedded_default();
    for e in std::fs::read_dir(dir.path().join("demo/Maildir/new")).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
    dir
}

/// A fixed clock for composed messages (golden files depend on it): Monday 2 March 2026,
/// 10:00 UTC.
pub fn now() -> std::time::SystemTime {
    autosvar::clock::from_unix_seconds(1_772_445_600)
}

/// The reply to an assessed mail, composed with the shipped setup at the fixed clock.
pub fn reply_to(a: &Assessment) -> Vec<u8> {
    let s = setup();
    compose::reply(&a.mail, &a.classification, &s.config, &s.templates, now())
        .unwrap()
        .bytes
}

/// The forward of an assessed mail (`raw` its bytes, all of them) to `desk`, a desk of the
/// shipped config, composed at the fixed clock.
pub fn forward_of(a: &Assessment, raw: &[u8], desk: &str) -> Vec<u8> {
    let s = setup();
    compose::forward(
        &a.mail,
        raw,
        false,
        &a.classification,
        &s.config.desks[desk],
        &s.config,
        &s.templates,
        &s.classifier,
        now(),
    )
    .unwrap()
    .bytes
}
