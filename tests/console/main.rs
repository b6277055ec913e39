//! The HR console in a real browser: headless chromium driven over WebDriver, axe-core on
//! every page, the keyboard alone for what a person must be able to do.
//!
//! A custom harness (`harness = false`): chromedriver starts once for the run; each test
//! gets a fresh browser session (its own profile: no cookies from another test) and, when
//! it needs the console, either the run's shared daemon ([`shared`], for tests that only
//! look) or one of its own ([`own`], for tests that change something). Arguments that are not flags filter tests by name. A failed test
//! leaves a screenshot in target/console-screenshots/<test>.png. The last line is
//! "console: N passed, N failed". Needs root once, to install chromium (tests/console/install).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
mod daemon;

use std::time::{Duration, Instant};

use browser::{failure_screenshot, Browser, Driver, Tools};
use daemon::{Console, PASSWORD, USER};
use fantoccini::key::Key;

/// A test: its name, the language its browser asks for, and what it does.
struct Test {
    name: &'static str,
    lang: &'static str,
    run: fn(&Browser),
}

/// A test in a browser that asks for English.
fn en(name: &'static str, run: fn(&Browser)) -> Test {
    Test {
        name,
        lang: "en-GB",
        run,
    }
}

/// A test in a browser that asks for Danish (the console follows the browser's language).
fn da(name: &'static str, run: fn(&Browser)) -> Test {
    Test {
        name,
        lang: "da",
        run,
    }
}

/// Every page of the console, as a person reaches it after logging in. The template
/// editor is reached from the list (its name is whatever the first link says).
const PAGES: &[&str] = &["/templates", "/activity", "/review", "/audit", "/history"];

fn main() {
    let tests: Vec<Test> = vec![
        // The harness itself, on pages of its own (file://): no console needed.
        en(
            "harness_renders_a_page_and_takes_a_screenshot",
            harness_renders_a_page_and_takes_a_screenshot,
        ),
        en(
            "harness_axe_fails_an_image_without_alt",
            harness_axe_fails_an_image_without_alt,
        ),
        en(
            "harness_axe_passes_an_accessible_page",
            harness_axe_passes_an_accessible_page,
        ),
        en(
            "harness_submits_a_form_with_the_keyboard_alone",
            harness_submits_a_form_with_the_keyboard_alone,
        ),
        en("harness_asks_for_the_language_given", |b| {
            harness_asks_for_the_language_given(b, "en-GB")
        }),
        da("harness_asks_for_the_language_given_da", |b| {
            harness_asks_for_the_language_given(b, "da")
        }),
        en("harness_rewrites_the_console_port", |_| {
            daemon::self_check_config_rewrite()
        }),
        // The console.
        en(
            "logs_in_with_the_keyboard_and_sees_the_templates",
            logs_in_with_the_keyboard_and_sees_the_templates,
        ),
        en(
            "a_page_without_a_session_goes_to_login",
            a_page_without_a_session_goes_to_login,
        ),
        en(
            "a_wrong_password_stays_on_login",
            a_wrong_password_stays_on_login,
        ),
        en("pages_declare_english", |b| {
            pages_declare_the_language(b, "en")
        }),
        da("pages_declare_danish", |b| {
            pages_declare_the_language(b, "da")
        }),
        en(
            "screenshots_of_the_templates_and_activity_pages",
            screenshots_of_the_templates_and_activity_pages,
        ),
        en("pages_print_no_none_or_null", pages_print_no_none_or_null),
        // Editing templates (each with a daemon of its own).
        en(
            "an_edit_shows_in_the_preview_before_it_is_saved",
            an_edit_shows_in_the_preview_before_it_is_saved,
        ),
        en(
            "a_broken_template_shows_the_error_at_its_line",
            a_broken_template_shows_the_error_at_its_line,
        ),
        en(
            "a_published_edit_is_in_the_next_reply",
            a_published_edit_is_in_the_next_reply,
        ),
        en(
            "restores_an_old_version_from_history",
            restores_an_old_version_from_history,
        ),
        // The review page (each with a daemon of its own that sets a mail aside).
        en(
            "answers_a_set_aside_mail_from_the_review_page",
            answers_a_set_aside_mail_from_the_review_page,
        ),
        en(
            "teaches_a_mail_and_sees_it_in_training",
            teaches_a_mail_and_sees_it_in_training,
        ),
        en(
            "sends_a_doubtful_mails_held_forward_and_marks_one_reviewed",
            sends_a_doubtful_mails_held_forward_and_marks_one_reviewed,
        ),
        // The keyboard alone, page by page: every focusable element shows its focus, and
        // Tab gets through the page.
        en("keyboard_login", |b| keyboard_logged_out(b, "/login")),
        en("keyboard_templates", |b| keyboard_page(b, "/templates")),
        en("keyboard_template_editor", keyboard_template_editor),
        en("keyboard_activity", |b| keyboard_page(b, "/activity")),
        en("keyboard_review", |b| keyboard_page(b, "/review")),
        en("keyboard_audit", |b| keyboard_page(b, "/audit")),
        en("keyboard_history", |b| keyboard_page(b, "/history")),
        // axe-core, page by page, in both languages: one line each.
        en("axe_login", |b| axe_logged_out(b, "/login")),
        en("axe_templates", |b| axe_page(b, "/templates")),
        en("axe_template_editor", axe_template_editor),
        en("axe_activity", |b| axe_page(b, "/activity")),
        en("axe_review", |b| axe_page(b, "/review")),
        en("axe_audit", |b| axe_page(b, "/audit")),
        en("axe_history", |b| axe_page(b, "/history")),
        da("axe_da_login", |b| axe_logged_out(b, "/login")),
        da("axe_da_templates", |b| axe_page(b, "/templates")),
        da("axe_da_template_editor", axe_template_editor),
        da("axe_da_activity", |b| axe_page(b, "/activity")),
        da("axe_da_review", |b| axe_page(b, "/review")),
        da("axe_da_audit", |b| axe_page(b, "/audit")),
        da("axe_da_history", |b| axe_page(b, "/history")),
    ];
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let selected: Vec<Test> = tests
        .into_iter()
        .filter(|t| filter.is_empty() || filter.iter().any(|f| t.name.contains(f.as_str())))
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
    for Test { name, lang, run } in selected {
        let start = Instant::now();
        let mut browser = None;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let b = browser.insert(driver.browser(lang));
            run(b);
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
                if let Some(log) = daemon::shared_log_tail() {
                    println!("  the shared daemon's log, last lines:\n{log}");
                }
            }
        }
    }
    daemon::stop_shared();
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
    // And axe() fails the test, naming the rule.
    let message = expect_failure("axe() on a critical violation", || b.axe());
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
    b.assert_focus_visible();
    b.type_text("alice");
    b.press(&[Key::Tab]);
    assert!(b.has_focus("#password"), "Tab did not move to the password");
    b.type_text("s3cret");
    b.press(&[Key::Enter]);
    b.wait_for_text("h1", "Done");
    let url = b.url();
    assert!(url.contains("user=alice&password=s3cret"), "{url}");

    // A field whose focus does not show fails the focus check.
    let hidden = form.replace(
        "</title>",
        "</title><style>input:focus { outline: none }</style>",
    );
    let dir = pages(&[("hidden.html", &hidden)]);
    b.goto(&file_url(&dir, "hidden.html"));
    b.tab_to("#user", 5);
    let message = expect_failure("the focus check on outline: none", || {
        b.assert_focus_visible()
    });
    assert!(message.contains("no visible focus"), "{message}");

    // Tab through the form: each stop in order, then out of the page.
    let dir = pages(&[("form.html", form)]);
    b.goto(&file_url(&dir, "form.html"));
    let order = b.tab_through(20);
    assert_eq!(
        order
            .iter()
            .map(|e| e.split(' ').next().unwrap_or(""))
            .collect::<Vec<_>>(),
        ["input#user", "input#password", "button"],
        "{order:?}"
    );
    // A field that keeps the focus on Tab is a keyboard trap.
    let trap = form.replace(
        r#"<input name="user" id="user">"#,
        r#"<input name="user" id="user" onkeydown="if (event.key === 'Tab') event.preventDefault()">"#,
    );
    let dir = pages(&[("trap.html", &trap)]);
    b.goto(&file_url(&dir, "trap.html"));
    let message = expect_failure("tab_through on a trap", || {
        b.tab_through(20);
    });
    assert!(message.contains("keyboard trap"), "{message}");
}

/// The browser asks for `lang`: the Accept-Language header a server sees (a one-request
/// server of the test's own on loopback echoes it), and `navigator.languages`.
fn harness_asks_for_the_language_given(b: &Browser, lang: &str) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut accept_language = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).expect("read request") == 0 || line == "\r\n" {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("accept-language") {
                    accept_language = v.trim().to_string();
                }
            }
        }
        let body = CLEAN_PAGE.replace("Rendered text", &accept_language);
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("respond");
        accept_language
    });
    b.goto(&format!("http://127.0.0.1:{port}/"));
    let header = server.join().expect("the server thread");
    assert!(header.starts_with(lang), "Accept-Language: {header:?}");
    assert_eq!(b.text("p"), header);
    assert_eq!(
        b.js("return navigator.languages[0];", vec![]),
        serde_json::json!(lang)
    );
}

/// Runs `f`, which must fail; returns its panic message (the panic not printed).
fn expect_failure(what: &str, f: impl FnOnce()) -> String {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    let failure = result
        .err()
        .unwrap_or_else(|| panic!("{what} did not fail"));
    failure
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| failure.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

// -- the console ---------------------------------------------------------------------------

/// Points the browser at the run's shared daemon: for tests that change nothing.
fn shared(b: &Browser) {
    b.set_base(&daemon::shared_url());
}

/// Starts a daemon of the test's own and points the browser at it: for tests that change
/// templates, the ledger, or the login throttle.
fn own(b: &Browser) -> Console {
    let c = Console::start();
    b.set_base(&c.url(""));
    c
}

fn logs_in_with_the_keyboard_and_sees_the_templates(b: &Browser) {
    shared(b);
    b.open("/login");
    b.wait_for("#user");
    b.tab_to("#user", 10);
    b.assert_focus_visible();
    b.type_text(USER);
    b.tab_to("#password", 3);
    b.assert_focus_visible();
    b.type_text(PASSWORD);
    b.tab_to("button[type=submit]", 3);
    b.assert_focus_visible();
    b.press(&[Key::Enter]);
    b.wait_for_path("/templates");
    let h1 = b.text("h1");
    assert!(!h1.trim().is_empty(), "the templates page has an empty h1");
    // The templates are listed: pricing (a shipped category) among them, each a link.
    b.wait_for("a[href^='/templates/']");
    b.wait_for_text("main", "pricing");
}

fn a_page_without_a_session_goes_to_login(b: &Browser) {
    shared(b);
    for page in PAGES.iter().copied().chain(["/templates/pricing.da"]) {
        b.open(page);
        // goto returns once the page has loaded, after the redirect.
        assert_eq!(
            (b.path(), b.status()),
            ("/login".to_string(), 200),
            "GET {page} without a session"
        );
        b.wait_for("#user");
    }
}

fn a_wrong_password_stays_on_login(b: &Browser) {
    // Its own: failed logins slow down later ones for the same user.
    let _c = own(b);
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

/// Every page says which language it is in (`<html lang>`), and it is the one the browser
/// asked for: a screen reader reads Danish text with Danish pronunciation.
fn pages_declare_the_language(b: &Browser, lang: &str) {
    shared(b);
    b.open("/login");
    b.wait_for("h1");
    assert!(
        b.page_lang().starts_with(lang),
        "/login: lang={:?}",
        b.page_lang()
    );
    b.login(USER, PASSWORD);
    for page in PAGES {
        b.open_page(page);
        assert!(
            b.page_lang().starts_with(lang),
            "{page}: lang={:?}",
            b.page_lang()
        );
    }
}

/// axe on a page that needs no session.
fn axe_logged_out(b: &Browser, page: &str) {
    shared(b);
    b.open(page);
    b.wait_for("h1");
    b.axe();
}

/// Logs in, opens `page`, runs axe.
fn axe_page(b: &Browser, page: &str) {
    shared(b);
    b.login(USER, PASSWORD);
    b.open_page(page);
    b.axe();
}

fn axe_template_editor(b: &Browser) {
    shared(b);
    b.login(USER, PASSWORD);
    b.click("a[href^='/templates/']");
    b.wait_for("textarea#text");
    b.wait_for("#preview");
    b.axe();
}

/// The README's pictures: target/console-screenshots/{templates,activity}.png, taken after
/// the daemon has answered the demo mails (so the activity page has rows).
fn screenshots_of_the_templates_and_activity_pages(b: &Browser) {
    let c = own(b);
    c.wait_outbox(1);
    b.login(USER, PASSWORD);
    for page in ["/templates", "/activity"] {
        b.open_page(page);
        let path = browser::root()
            .join("target/console-screenshots")
            .join(format!("{}.png", page.trim_start_matches('/')));
        b.screenshot(&path);
        assert!(std::fs::metadata(&path).expect("screenshot").len() > 1000);
        println!("  screenshot: {}", path.display());
    }
}

/// Tab through a page that needs no session.
fn keyboard_logged_out(b: &Browser, page: &str) {
    shared(b);
    b.open_page(page);
    let order = b.tab_through(200);
    assert!(!order.is_empty(), "nothing on {page} takes the focus");
}

/// Logs in, opens `page`, tabs through it. The first stop is the link that skips to the
/// content, when the page has one.
fn keyboard_page(b: &Browser, page: &str) {
    shared(b);
    b.login(USER, PASSWORD);
    b.open_page(page);
    let order = b.tab_through(300);
    assert!(order.len() > 1, "only {order:?} on {page} takes the focus");
}

fn keyboard_template_editor(b: &Browser) {
    shared(b);
    b.login(USER, PASSWORD);
    b.click("a[href^='/templates/']");
    b.wait_for("textarea#text");
    let order = b.tab_through(300);
    assert!(
        order.iter().any(|e| e.starts_with("textarea#text")),
        "Tab never reached the text: {order:#?}"
    );
    assert!(
        order.iter().any(|e| e.starts_with("button")),
        "Tab never reached a button: {order:#?}"
    );
}

/// No page shows "None", "null" or "undefined" where a template printed a missing value.
fn pages_print_no_none_or_null(b: &Browser) {
    shared(b);
    let mut found: Vec<String> = Vec::new();
    let mut look = |b: &Browser| {
        let page = b.path();
        found.extend(
            b.leaked_nothings()
                .into_iter()
                .map(|f| format!("{page} {f}")),
        );
    };
    b.open_page("/login");
    look(b);
    b.login(USER, PASSWORD);
    for page in PAGES {
        b.open_page(page);
        look(b);
    }
    b.open_page("/templates");
    b.click("a[href^='/templates/']");
    b.wait_for("textarea#text");
    look(b);
    assert!(found.is_empty(), "printed nothing-values: {found:#?}");
}

/// The Danish pricing reply, the template the editing tests change.
const PRICING_DA: &str = "/templates/pricing.da.txt";

fn an_edit_shows_in_the_preview_before_it_is_saved(b: &Browser) {
    let _c = own(b);
    b.login(USER, PASSWORD);
    b.open_page(PRICING_DA);
    let marker = "Prøvelinje fra browsertesten 4711";
    assert!(!b.text("#preview").contains(marker));
    b.append("#text", &format!("\n{marker}\n"));
    b.click("button[name=action][value=preview]");
    b.wait_for_text("#preview", marker);
    // Only a preview: the template list still says live, no draft.
    b.open_page("/templates");
    assert!(!b.exists(".badge.draft"), "a preview made a draft");
}

fn a_broken_template_shows_the_error_at_its_line(b: &Browser) {
    let _c = own(b);
    b.login(USER, PASSWORD);
    b.open_page(PRICING_DA);
    let text = b.js("return document.getElementById('text').value;", vec![]);
    let mut lines: Vec<String> = text
        .as_str()
        .expect("the text")
        .lines()
        .map(str::to_string)
        .collect();
    assert!(lines.len() >= 4, "{lines:?}");
    // An unclosed placeholder on line 3: the error must name line 3, not the end.
    lines[2] = "Pris: {{ price".to_string();
    b.fill("#text", &lines.join("\n"));
    b.click("button[name=action][value=preview]");
    b.wait_for(".problems a[href='#L3']");
    let problems = b.text(".problems");
    assert!(problems.contains('3'), "{problems}");
    assert!(b.exists("#L3.bad"), "line 3 not marked in the gutter");
    // The page with its errors is accessible too.
    b.axe();
}

fn a_published_edit_is_in_the_next_reply(b: &Browser) {
    let c = own(b);
    c.wait_outbox(1);
    b.login(USER, PASSWORD);
    b.open_page(PRICING_DA);
    let marker = "Udgivet fra browsertesten 4712";
    b.append("#text", &format!("\n{marker}\n"));
    b.click("button[name=action][value=publish]");
    // The editor page has a heading too: wait for the publish's own redirect, so the mail
    // below is not read before the new set is in use.
    b.wait_for_url_with("done=published");
    let mail = "From: Jens Test <jens.test@regionh.example>\r
To: E-learning <e-learning@example.test>\r
Subject: Hvad koster Zoom?\r
Date: Mon, 02 Mar 2026 10:00:00 +0100\r
Message-ID: <browser-publish-1@regionh.example>\r
MIME-Version: 1.0\r
Content-Type: text/plain; charset=utf-8\r
Content-Transfer-Encoding: 8bit\r
\r
Hej\r
\r
Hvad koster en Zoom-licens, og hvem betaler for den?\r
\r
Venlig hilsen\r
Jens\r
";
    c.deliver("browser-publish-1", mail);
    let reply = c.wait_outbox_with("browser-publish-1@regionh.example");
    assert!(
        reply.contains(marker),
        "the reply lacks the published text:\n{reply}"
    );
}

/// A mail to the e-learning desk from `id`@regionh.example, Message-ID `<id@regionh.example>`.
fn mail(id: &str, subject: &str, body: &str) -> String {
    format!(
        "From: Ida Test <ida-{id}@regionh.example>\r\nTo: E-learning <e-learning@example.test>\r\n\
         Subject: {subject}\r\nDate: Mon, 02 Mar 2026 10:00:00 +0100\r\n\
         Message-ID: <{id}@regionh.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    )
}

/// The outbox mails that reply to `<id@regionh.example>`.
fn replies_to(c: &Console, id: &str) -> Vec<String> {
    let want = format!("In-Reply-To: <{id}@regionh.example>");
    std::fs::read_dir(c.dir.path().join("var/outbox"))
        .into_iter()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter(|m| m.contains(&want))
        .collect()
}

fn restores_an_old_version_from_history(b: &Browser) {
    let c = own(b);
    c.wait_outbox(1);
    let file = c.dir.path().join("responses/pricing.da.txt");
    let original = std::fs::read_to_string(&file).expect("the shipped pricing.da.txt");
    b.login(USER, PASSWORD);
    b.open_page(PRICING_DA);
    let marker = "Udgivet og fortrudt i browsertesten 4713";
    b.append("#text", &format!("\n{marker}\n"));
    b.click("button[name=action][value=publish]");
    browser::poll(
        "the published edit on disk",
        Duration::from_secs(30),
        || {
            let now = std::fs::read_to_string(&file).ok()?;
            now.contains(marker).then_some(())
        },
    );

    b.open_page("/history");
    b.axe();
    // The newest version has no Restore button; the first one is the version before the
    // edit. Reached and pressed with the keyboard.
    let restore = "form[action$='/restore'] button";
    b.wait_for(restore);
    b.tab_to(restore, 60);
    b.assert_focus_visible();
    b.press(&[Key::Enter]);
    b.wait_for(".notice");
    assert_eq!(b.path(), "/history");
    b.axe();
    let now = std::fs::read_to_string(&file).expect("pricing.da.txt after the restore");
    assert_eq!(now, original, "the restore did not bring the original back");

    c.deliver(
        "browser-restore-1",
        &mail(
            "browser-restore-1",
            "Hvad koster Zoom?",
            "Hej\r\n\r\nHvad koster en Zoom-licens, og hvem betaler for den?\r\n\r\nVenlig hilsen\r\nIda",
        ),
    );
    let reply = c.wait_outbox_with("browser-restore-1@regionh.example");
    assert!(
        !reply.contains(marker),
        "the reply still has the undone text:\n{reply}"
    );
    assert!(
        reply.contains("X-Autosvar-Category: pricing"),
        "not the pricing reply:\n{reply}"
    );
}

/// The token that makes the test build's daemon panic on a mail, so it is set aside.
const SET_ASIDE: &str = "BROWSER-SET-ASIDE-TOKEN";

/// A daemon of the test's own that sets aside every mail holding [`SET_ASIDE`].
fn own_setting_aside(b: &Browser) -> Console {
    let c = Console::start_env(&[("AUTOSVAR_FAULT", &format!("panic:{SET_ASIDE}"))]);
    b.set_base(&c.url(""));
    c
}

/// Reloads /review until the mail set aside is on it; returns its number on the page (the
/// `n` of its forms' field ids). Its subject is unknown: the injected fault came before the
/// parse, so the row is found by its outcome (the demo mails are none of them set aside).
fn review_row(b: &Browser) -> u64 {
    let outcome = "set-aside";
    browser::poll(
        "the mail set aside on /review",
        Duration::from_secs(30),
        || {
            b.open_page("/review");
            b.js(
                "const items = [...document.querySelectorAll('li.review-mail')];
                 const i = items.findIndex(li => [...li.querySelectorAll('dd')]
                     .some(dd => dd.textContent.trim() === arguments[0]));
                 return i < 0 ? null : i + 1;",
                vec![serde_json::json!(outcome)],
            )
            .as_u64()
        },
    )
}

fn answers_a_set_aside_mail_from_the_review_page(b: &Browser) {
    let c = own_setting_aside(b);
    c.wait_outbox(1);
    b.login(USER, PASSWORD);
    c.deliver(
        "browser-review-1",
        &mail(
            "browser-review-1",
            "Licenspris til afdelingen",
            &format!("Hej, hvad koster en licens til vores afdeling? {SET_ASIDE}"),
        ),
    );
    let n = review_row(b);
    b.axe();
    assert!(
        replies_to(&c, "browser-review-1").is_empty(),
        "set aside, yet answered"
    );

    // Choose pricing with the keyboard: focus the select, type the option's name (pricing
    // is also the first option; the teach test types one that is not).
    let select = format!("#answer-{n}");
    b.tab_to(&select, 200);
    b.assert_focus_visible();
    b.type_text("pricing");
    assert_eq!(
        b.js(
            "return document.querySelector(arguments[0]).value;",
            vec![serde_json::json!(select)]
        ),
        serde_json::json!("pricing"),
        "typing did not choose pricing"
    );
    // A stale copy of the form, as a second tab open on the same page would hold it.
    let form = format!("li.review-mail:nth-of-type({n}) form[action='/review/answer']");
    let stale = b.js(
        "return document.querySelector(arguments[0]).outerHTML;",
        vec![serde_json::json!(form)],
    );
    let stale = stale.as_str().expect("the form's HTML").to_string();
    b.click(&format!("{form} button[type=submit]"));
    b.wait_for(".notice");
    b.axe();

    let reply = browser::poll("the reply in the outbox", Duration::from_secs(30), || {
        replies_to(&c, "browser-review-1").into_iter().next()
    });
    assert!(reply.contains("X-Autosvar-Category: pricing"), "{reply}");
    assert!(reply.contains("hvad Zoom Meetings koster"), "{reply}");
    // The page shows it sent (reloaded until the daemon has sent it), and the mail is gone
    // from the queue.
    browser::poll("the request shown as sent", Duration::from_secs(30), || {
        b.open_page("/review");
        b.try_texts(".request-state")
            .iter()
            .any(|s| s.trim() == "sent")
            .then_some(())
    });
    assert!(
        !b.try_texts("ul.review").concat().contains("set-aside"),
        "the answered mail is still in the queue"
    );

    // The second click, from the stale form: refused on the page, and still one reply.
    b.js(
        "document.querySelector('main').insertAdjacentHTML('beforeend', arguments[0]);",
        vec![serde_json::json!(stale)],
    );
    b.click("main > form[action='/review/answer'] button[type=submit]");
    b.wait_for(".problems[role=alert]");
    let refused = b.text(".problems[role=alert]");
    assert!(refused.contains("Refused"), "{refused}");
    b.axe();
    assert_eq!(
        b.try_texts(".request-row").len(),
        1,
        "a second request was written"
    );
    assert_eq!(
        replies_to(&c, "browser-review-1").len(),
        1,
        "a second reply"
    );
}

/// Reloads /review until a doubtful mail with `subject` is on it; returns its number on the
/// page (the `n` of its forms' field ids).
fn doubtful_row(b: &Browser, subject: &str) -> u64 {
    browser::poll(
        "the doubtful mail on /review",
        Duration::from_secs(30),
        || {
            b.open_page("/review");
            b.js(
                "const items = [...document.querySelectorAll('li.review-mail')];
                 const i = items.findIndex(li => li.classList.contains('doubtful')
                     && li.querySelector('h2').textContent.trim() === arguments[0]);
                 return i < 0 ? null : i + 1;",
                vec![serde_json::json!(subject)],
            )
            .as_u64()
        },
    )
}

/// The outbox mails that forward `<id@regionh.example>` to a desk.
fn forwards_of(c: &Console, id: &str) -> Vec<String> {
    std::fs::read_dir(c.dir.path().join("var/outbox"))
        .into_iter()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter(|m| m.contains("X-Autosvar-Desk:") && m.contains(&format!("{id}@regionh.example")))
        .collect()
}

/// With `review-below = 1.0` every specific category is doubtful: the sender gets the
/// acknowledgement, the review list shows the guess, and a person sends the held forward
/// (with the keyboard) or marks the mail reviewed.
fn sends_a_doubtful_mails_held_forward_and_marks_one_reviewed(b: &Browser) {
    let c = Console::start_with_rules(&[], |rules| {
        assert!(
            rules.contains("\nreview-below = "),
            "the shipped rules name review-below"
        );
        rules
            .lines()
            .map(|l| {
                if l.starts_with("review-below = ") {
                    "review-below = 1.0"
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    b.set_base(&c.url(""));
    c.wait_outbox(1);
    b.login(USER, PASSWORD);
    // A subject with markup: shown as text, never as HTML.
    let subject = "Kamera <b>virker</b> ikke & lyd";
    c.deliver(
        "browser-doubt-1",
        &mail(
            "browser-doubt-1",
            subject,
            "Hej, mit kamera virker ikke i Zoom Meetings på min pc, og lyden forsvinder.",
        ),
    );
    let n = doubtful_row(b, subject);
    b.axe();
    assert!(
        !b.exists("li.review-mail h2 b"),
        "the subject's markup was rendered"
    );
    let ack = browser::poll("the acknowledgement", Duration::from_secs(30), || {
        replies_to(&c, "browser-doubt-1").into_iter().next()
    });
    assert!(ack.contains("X-Autosvar-Category: other"), "{ack}");
    assert!(
        forwards_of(&c, "browser-doubt-1").is_empty(),
        "held, yet forwarded"
    );
    let row = format!("li.review-mail:nth-of-type({n})");
    let held = b.text(&format!("{row} dd.held"));
    assert!(
        b.text(&format!("{row} .doubtful-note"))
            .contains("Doubtful"),
        "no doubtful note"
    );

    // The forward form offers the guessed desk first; send it with the keyboard.
    let select = format!("#forward-desk-{n}");
    assert_eq!(
        b.js(
            "return document.querySelector(arguments[0]).value;",
            vec![serde_json::json!(select)]
        ),
        serde_json::json!(held.trim()),
        "the guessed desk is not preselected"
    );
    let button = format!("{row} form[action='/review/forward'] button[type=submit]");
    b.tab_to(&button, 300);
    b.assert_focus_visible();
    b.press(&[Key::Enter]);
    b.wait_for(".notice");
    b.axe();
    let forward = browser::poll("the forward in the outbox", Duration::from_secs(30), || {
        forwards_of(&c, "browser-doubt-1").into_iter().next()
    });
    assert!(
        forward.contains(&format!("X-Autosvar-Desk: {}", held.trim())),
        "{forward}"
    );
    browser::poll("the forward shown as sent", Duration::from_secs(30), || {
        b.open_page("/review");
        b.try_texts(".request-state")
            .iter()
            .any(|s| s.trim() == "sent")
            .then_some(())
    });
    assert!(
        !b.try_texts("ul.review h2")
            .iter()
            .any(|t| t.trim() == subject),
        "the forwarded mail is still in the list"
    );
    assert_eq!(forwards_of(&c, "browser-doubt-1").len(), 1);

    // Mark reviewed: the mail leaves the list, nothing is sent.
    let second = "Pris på en licens";
    c.deliver(
        "browser-doubt-2",
        &mail(
            "browser-doubt-2",
            second,
            "Hvad koster en licens til Zoom Meetings for vores afdeling?",
        ),
    );
    let n = doubtful_row(b, second);
    b.click(&format!(
        "li.review-mail:nth-of-type({n}) form[action='/review/reviewed'] button[type=submit]"
    ));
    b.wait_for(".notice");
    assert!(
        b.text(".notice").contains("reviewed"),
        "{}",
        b.text(".notice")
    );
    b.axe();
    assert!(
        !b.try_texts("ul.review h2")
            .iter()
            .any(|t| t.trim() == second),
        "the reviewed mail is still in the list"
    );
    assert!(forwards_of(&c, "browser-doubt-2").is_empty());
    assert_eq!(
        replies_to(&c, "browser-doubt-2").len(),
        1,
        "the acknowledgement only"
    );
}

fn teaches_a_mail_and_sees_it_in_training(b: &Browser) {
    let c = own_setting_aside(b);
    c.wait_outbox(1);
    b.login(USER, PASSWORD);
    c.deliver(
        "browser-teach-1",
        &mail(
            "browser-teach-1",
            "Faktura for licensen",
            &format!(
                "Hvem betaler fakturaen for licensen? Mit cpr-nummer er 010190-1234. {SET_ASIDE}"
            ),
        ),
    );
    let n = review_row(b);
    b.axe();
    let select = format!("#teach-{n}");
    b.tab_to(&select, 200);
    b.assert_focus_visible();
    b.type_text("terms");
    assert_eq!(
        b.js(
            "return document.querySelector(arguments[0]).value;",
            vec![serde_json::json!(select)]
        ),
        serde_json::json!("terms"),
        "typing did not choose terms"
    );
    // On to the Teach button of the same form, and press it.
    let teach =
        format!("li.review-mail:nth-of-type({n}) form[action='/review/teach'] button[type=submit]");
    b.tab_to(&teach, 5);
    b.assert_focus_visible();
    b.press(&[Key::Enter]);
    b.wait_for(".notice");
    b.axe();

    let dir = c.dir.path().join("training/terms");
    let example = browser::poll(
        "the taught example under training/terms/",
        Duration::from_secs(30),
        || {
            std::fs::read_dir(&dir).ok()?.find_map(|e| {
                let p = e.ok()?.path();
                let name = p.file_name()?.to_str()?.to_string();
                name.starts_with("taught-")
                    .then(|| std::fs::read_to_string(&p).ok())?
            })
        },
    );
    assert!(
        example.contains("Hvem betaler fakturaen for licensen?"),
        "{example}"
    );
    assert!(
        !example.contains("010190") && !example.contains("1234"),
        "the CPR number was saved: {example}"
    );
    assert!(
        !example.contains("ida-browser-teach-1"),
        "the sender address was saved: {example}"
    );
    assert!(
        replies_to(&c, "browser-teach-1").is_empty(),
        "teaching sent a reply"
    );
}
