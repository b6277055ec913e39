//! The HR console in a real browser: headless chromium driven over WebDriver, axe-core on
//! every page, the keyboard alone for what a person must be able to do.
//!
//! A custom harness (`harness = false`): chromedriver starts once for the run; each test
//! gets a fresh browser session and, when it needs the console, its own daemon
//! ([`daemon::Console`]). Arguments that are not flags filter tests by name. A failed test
//! leaves a screenshot in target/console-screenshots/<test>.png. The last line is
//! "console: N passed, N failed". Needs root once, to install chromium (tests/console/install).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
mod daemon;

use std::time::Instant;

use browser::{failure_screenshot, Browser, Driver, Tools};
use daemon::{Console, PASSWORD, USER};
use fantoccini::key::Key;

type Test = (&'static str, fn(&Browser));

/// Every page of the console, as a person reaches it after logging in. The template
/// editor is reached from the list (its name is whatever the first link says).
const PAGES: &[&str] = &["/templates", "/activity", "/review", "/audit", "/history"];

fn main() {
    let tests: Vec<Test> = vec![
        // The harness itself, on pages of its own (file://): no console needed.
        (
            "harness_renders_a_page_and_takes_a_screenshot",
            harness_renders_a_page_and_takes_a_screenshot,
        ),
        (
            "harness_axe_fails_an_image_without_alt",
            harness_axe_fails_an_image_without_alt,
        ),
        (
            "harness_axe_passes_an_accessible_page",
            harness_axe_passes_an_accessible_page,
        ),
        (
            "harness_submits_a_form_with_the_keyboard_alone",
            harness_submits_a_form_with_the_keyboard_alone,
        ),
        ("harness_rewrites_the_console_port", |_| {
            daemon::self_check_config_rewrite()
        }),
        // The console.
        (
            "logs_in_with_the_keyboard_and_sees_the_templates",
            logs_in_with_the_keyboard_and_sees_the_templates,
        ),
        (
            "a_page_without_a_session_goes_to_login",
            a_page_without_a_session_goes_to_login,
        ),
        (
            "a_wrong_password_stays_on_login",
            a_wrong_password_stays_on_login,
        ),
        // axe-core, page by page: one line each.
        ("axe_login", |b| axe_logged_out(b, "/login")),
        ("axe_templates", |b| axe_page(b, "/templates")),
        ("axe_template_editor", axe_template_editor),
        ("axe_activity", |b| axe_page(b, "/activity")),
        ("axe_review", |b| axe_page(b, "/review")),
        ("axe_audit", |b| axe_page(b, "/audit")),
        ("axe_history", |b| axe_page(b, "/history")),
    ];
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let selected: Vec<Test> = tests
        .into_iter()
        .filter(|(name, _)| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str())))
        .collect();
    if selected.is_empty() {
        println!("\nconsole: 0 passed, 0 failed");
        return;
    }

    let run_start = Instant::now();
    let tools = Tools::install();
    let driver = Driver::start(&tools);
    println!(
        "chromedriver on 127.0.0.1:{} ({:.1} s with installs)",
        driver.port,
        run_start.elapsed().as_secs_f64()
    );
    let (mut passed, mut failed) = (0, 0);
    for (name, test) in selected {
        let start = Instant::now();
        let mut browser = None;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let b = browser.insert(driver.browser());
            test(b);
        }));
        match result {
            Ok(()) => {
                passed += 1;
                println!(
                    "test {name} ... ok ({:.1} s)",
                    start.elapsed().as_secs_f64()
                );
            }
            Err(_) => {
                failed += 1;
                println!("test {name} ... FAILED");
                if let Some(b) = &browser {
                    let shot = save_failure_screenshot(b, name);
                    println!("  screenshot: {shot}");
                }
            }
        }
    }
    drop(driver);
    println!(
        "\nconsole: {passed} passed, {failed} failed ({:.1} s)",
        run_start.elapsed().as_secs_f64()
    );
    std::process::exit(if failed == 0 { 0 } else { 1 });
}

/// Saves the page as a failed test left it; returns the path, or why there is none.
fn save_failure_screenshot(b: &Browser, test: &str) -> String {
    let path = failure_screenshot(test);
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.screenshot(&path))) {
        Ok(()) => path.display().to_string(),
        Err(_) => "none (the browser could not take one)".to_string(),
    }
}

// -- the harness on pages of its own -----------------------------------------------------

/// Writes `files` (name, HTML) to a fresh folder; returns it (the pages live while it does).
fn pages(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, html) in files {
        std::fs::write(dir.path().join(name), html).expect("write page");
    }
    dir
}

fn file_url(dir: &tempfile::TempDir, name: &str) -> String {
    format!("file://{}", dir.path().join(name).display())
}

const CLEAN_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Harness page</title></head>
<body><main><h1>Harness page</h1>
<p style="width: 600px; height: 300px; background: #036; color: #fff">Rendered text</p>
</main></body></html>"#;

fn harness_renders_a_page_and_takes_a_screenshot(b: &Browser) {
    let dir = pages(&[("clean.html", CLEAN_PAGE)]);
    b.goto(&file_url(&dir, "clean.html"));
    assert_eq!(b.title(), "Harness page");
    assert_eq!(b.text("h1"), "Harness page");
    // Laid out, not only parsed: the box has the size its style gives it.
    let size = b.js(
        "const r = document.querySelector('p').getBoundingClientRect();
         return [r.width, r.height];",
        vec![],
    );
    assert_eq!(size, serde_json::json!([600, 300]), "layout");

    let shot = dir.path().join("shot.png");
    b.screenshot(&shot);
    let png = std::fs::read(&shot).expect("read screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // IHDR: width and height, big-endian, at bytes 16..24.
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert!(width >= 600 && height >= 300, "screenshot {width}x{height}");
    // The failure path writes where main says it does.
    let path = save_failure_screenshot(b, "harness-self-test");
    assert_eq!(
        path,
        failure_screenshot("harness-self-test")
            .display()
            .to_string()
    );
    assert!(std::fs::metadata(&path).expect("failure screenshot").len() > 1000);
    std::fs::remove_file(&path).expect("remove self-test screenshot");
}

fn harness_axe_fails_an_image_without_alt(b: &Browser) {
    let page = CLEAN_PAGE.replace(
        "</main>",
        r#"<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" width="20" height="20"></main>"#,
    );
    let dir = pages(&[("img.html", &page)]);
    b.goto(&file_url(&dir, "img.html"));
    let violations = b.axe_violations();
    let alt = violations
        .iter()
        .find(|v| v.id == "image-alt")
        .unwrap_or_else(|| panic!("axe missed the image without alt:\n{violations:?}"));
    assert_eq!(alt.impact.as_deref(), Some("critical"));
    assert_eq!(alt.nodes.len(), 1);
    assert!(
        alt.nodes[0].target.to_string().contains("img"),
        "{:?}",
        alt.nodes
    );
    // And axe() fails the test, naming the rule (its expected panic not printed).
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let failure = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.axe()));
    std::panic::set_hook(hook);
    let failure = failure.expect_err("axe() passed a page with a critical violation");
    let message = failure
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("image-alt"), "{message}");
}

fn harness_axe_passes_an_accessible_page(b: &Browser) {
    let dir = pages(&[("clean.html", CLEAN_PAGE)]);
    b.goto(&file_url(&dir, "clean.html"));
    b.axe();
}

fn harness_submits_a_form_with_the_keyboard_alone(b: &Browser) {
    let form = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Log in</title></head>
<body><main><h1>Log in</h1>
<form action="done.html" method="get">
<label for="user">User</label> <input name="user" id="user">
<label for="password">Password</label> <input type="password" name="password" id="password">
<button type="submit">Log in</button>
</form></main></body></html>"#;
    let done = CLEAN_PAGE.replace("Harness page", "Done");
    let dir = pages(&[("form.html", form), ("done.html", &done)]);
    b.goto(&file_url(&dir, "form.html"));
    b.tab_to("#user", 5);
    b.type_text("alice");
    b.press(&[Key::Tab]);
    assert!(b.has_focus("#password"), "Tab did not move to the password");
    b.type_text("s3cret");
    b.press(&[Key::Enter]);
    b.wait_for_text("h1", "Done");
    let url = b.url();
    assert!(url.contains("user=alice&password=s3cret"), "{url}");
}

// -- the console ---------------------------------------------------------------------------

/// Starts the daemon with the console, and points the browser at it.
fn console(b: &Browser) -> Console {
    let c = Console::start();
    b.set_base(&c.url(""));
    c
}

fn logs_in_with_the_keyboard_and_sees_the_templates(b: &Browser) {
    let _c = console(b);
    b.open("/login");
    b.wait_for("#user");
    b.tab_to("#user", 10);
    b.type_text(USER);
    b.tab_to("#password", 3);
    b.type_text(PASSWORD);
    b.press(&[Key::Enter]);
    b.wait_for_path("/templates");
    let h1 = b.text("h1");
    assert!(!h1.trim().is_empty(), "the templates page has an empty h1");
    // The templates are listed: pricing (a shipped category) among them, each a link.
    b.wait_for("a[href^='/templates/']");
    b.wait_for_text("main", "pricing");
}

fn a_page_without_a_session_goes_to_login(b: &Browser) {
    let _c = console(b);
    for page in PAGES.iter().copied().chain(["/templates/pricing.da"]) {
        b.open(page);
        b.wait_for_path("/login");
        b.wait_for("#user");
    }
}

fn a_wrong_password_stays_on_login(b: &Browser) {
    let _c = console(b);
    b.open("/login");
    b.fill("#user", USER);
    b.fill("#password", "not the password");
    b.click("button[type=submit]");
    // Refused: still the login form, and the templates were never shown.
    b.wait_for("#password");
    assert_eq!(b.path(), "/login");
    assert!(
        !b.exists("a[href^='/templates/']"),
        "a template link after a refused login"
    );
    b.open("/templates");
    b.wait_for_path("/login");
}

/// axe on a page that needs no session.
fn axe_logged_out(b: &Browser, page: &str) {
    let _c = console(b);
    b.open(page);
    b.wait_for("h1");
    b.axe();
}

/// Logs in, opens `page`, runs axe.
fn axe_page(b: &Browser, page: &str) {
    let _c = console(b);
    b.login(USER, PASSWORD);
    b.open(page);
    b.wait_for_path(page);
    b.wait_for("h1");
    b.axe();
}

fn axe_template_editor(b: &Browser) {
    let _c = console(b);
    b.login(USER, PASSWORD);
    b.click("a[href^='/templates/']");
    b.wait_for("textarea#text");
    b.wait_for("#preview");
    b.axe();
}
