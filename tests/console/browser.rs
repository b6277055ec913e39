//! A real browser for the console tests: Debian's chromium, headless, driven over WebDriver
//! (chromedriver on a free loopback port) with fantoccini, behind a blocking API.
//!
//! [`Tools::install`] runs tests/console/install (apt and npm, when missing); [`Driver`] is
//! the chromedriver process, killed by PID on drop; [`Browser`] is one session with a fresh
//! profile, so no test sees another's cookies. Every wait polls to a deadline; nothing
//! sleeps for a fixed time to let the page settle. Never reaches past 127.0.0.1.

use std::fmt::Write as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// How long a wait for the page polls before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Polls `f` until it gives `Some`, or fails the test after `deadline` saying `what`.
pub fn poll<T>(what: &str, deadline: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < deadline, "waited {deadline:?} for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Where tests/console/install put the browser, its driver and axe-core.
pub struct Tools {
    pub chromium: PathBuf,
    pub chromedriver: PathBuf,
    pub axe: PathBuf,
}

impl Tools {
    /// Installs what is missing (tests/console/install); fails, never skips, when it cannot.
    pub fn install() -> Tools {
        let out = Command::new(root().join("tests/console/install"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run tests/console/install");
        assert!(
            out.status.success(),
            "tests/console/install failed: chromium, chromedriver and axe-core are needed"
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let path = |key: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
                .map(PathBuf::from)
                .unwrap_or_else(|| panic!("tests/console/install printed no {key} line"))
        };
        Tools {
            chromium: path("chromium"),
            chromedriver: path("chromedriver"),
            axe: path("axe"),
        }
    }
}

/// The chromedriver process; killed (by its PID) when dropped.
pub struct Driver {
    child: Child,
    pub port: u16,
    chromium: PathBuf,
    axe: String,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Driver {
    pub fn start(tools: &Tools) -> Driver {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("chromedriver.log");
        let port = free_port();
        let child = Command::new(&tools.chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let mut driver = Driver {
            child,
            port,
            chromium: tools.chromium.clone(),
            axe: std::fs::read_to_string(&tools.axe).expect("read axe.min.js"),
            log,
            _dir: dir,
        };
        poll("chromedriver to listen", WAIT, || {
            if let Ok(Some(status)) = driver.child.try_wait() {
                panic!("chromedriver exited at start with {status}");
            }
            TcpStream::connect(("127.0.0.1", port)).ok()
        });
        driver
    }

    /// A new browser session with a fresh profile, asking for pages in `lang` first (the
    /// Accept-Language a person's browser sends: "en-GB", "da").
    pub fn browser(&self, lang: &str) -> Browser {
        Browser::start(self, lang)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// One axe-core finding: a rule the page breaks, on which elements.
#[derive(Debug, serde::Deserialize)]
pub struct Violation {
    pub id: String,
    pub impact: Option<String>,
    pub help: String,
    #[serde(rename = "helpUrl")]
    pub help_url: String,
    pub nodes: Vec<ViolationNode>,
}

#[derive(Debug, serde::Deserialize)]
pub struct ViolationNode {
    pub target: Value,
    #[serde(rename = "failureSummary", default)]
    pub failure_summary: Option<String>,
}

impl Violation {
    /// Serious and critical violations fail a test; minor and moderate are printed.
    pub fn is_blocking(&self) -> bool {
        matches!(self.impact.as_deref(), Some("serious" | "critical"))
    }
}

/// Readable lines for a list of violations: rule, impact, help, each element and why.
pub fn describe(violations: &[Violation]) -> String {
    let mut s = String::new();
    for v in violations {
        let _ = writeln!(
            s,
            "  [{}] {}: {} ({})",
            v.impact.as_deref().unwrap_or("?"),
            v.id,
            v.help,
            v.help_url
        );
        for n in &v.nodes {
            let _ = writeln!(s, "      at {}", n.target);
            if let Some(why) = &n.failure_summary {
                for line in why.lines() {
                    let _ = writeln!(s, "        {line}");
                }
            }
        }
    }
    s
}

/// One WebDriver session in headless chromium, with blocking helpers.
pub struct Browser {
    rt: tokio::runtime::Runtime,
    /// What [`Browser::open`] puts before a path: the console's `http://127.0.0.1:PORT`.
    base: std::cell::RefCell<String>,
    client: Option<Client>,
    axe: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start(driver: &Driver, lang: &str) -> Browser {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let profile = tempfile::tempdir().expect("profile dir");
        // The flags the machine notes require: no sandbox as root, and none of chromium's
        // own network traffic (the machine's network is closed; only 127.0.0.1 is used).
        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            "--disable-quic".to_string(),
            "--no-first-run".to_string(),
            "--disable-background-networking".to_string(),
            "--disable-component-update".to_string(),
            "--disable-sync".to_string(),
            "--disable-dev-shm-usage".to_string(),
            "--window-size=1280,900".to_string(),
            format!("--lang={lang}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": driver.chromium,
                "args": args,
                "prefs": { "intl": { "accept_languages": lang } },
            },
        });
        let caps = match caps {
            Value::Object(m) => m,
            _ => unreachable!("a JSON object"),
        };
        let url = format!("http://127.0.0.1:{}", driver.port);
        let client = rt
            .block_on(
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(caps)
                    .connect(&url),
            )
            .unwrap_or_else(|e| {
                let log = std::fs::read_to_string(&driver.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                panic!(
                    "no chromium session: {e}\nchromedriver log (last lines, newest first):\n{}",
                    tail.join("\n")
                )
            });
        rt.block_on(client.update_timeouts(TimeoutConfiguration::new(
            Some(Duration::from_secs(30)),
            Some(Duration::from_secs(30)),
            Some(Duration::ZERO),
        )))
        .expect("set timeouts");
        Browser {
            rt,
            base: std::cell::RefCell::new(String::new()),
            client: Some(client),
            axe: driver.axe.clone(),
            _profile: profile,
        }
    }

    fn c(&self) -> &Client {
        self.client
            .as_ref()
            .expect("the session is open until drop")
    }

    pub fn goto(&self, url: &str) {
        self.rt
            .block_on(self.c().goto(url))
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// The HTTP status of the page now shown (Navigation Timing's `responseStatus`; 0 for
    /// a page that came from no HTTP response).
    pub fn status(&self) -> u64 {
        self.js(
            "const n = performance.getEntriesByType('navigation')[0];
             return n ? n.responseStatus : 0;",
            vec![],
        )
        .as_u64()
        .unwrap_or(0)
    }

    /// Opens `path` and fails at once unless it answers 200 at that same path (no redirect,
    /// no error page), with a heading.
    pub fn open_page(&self, path: &str) {
        self.open(path);
        let (status, now) = (self.status(), self.path());
        assert!(
            status == 200 && now == path,
            "GET {path} answered {status} at {now}: {}",
            self.try_text("body")
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect::<String>()
        );
        self.wait_for("h1");
    }

    /// Makes [`Browser::open`] and [`Browser::login`] go to the server at `base`.
    pub fn set_base(&self, base: &str) {
        *self.base.borrow_mut() = base.trim_end_matches('/').to_string();
    }

    /// Opens `path` (`/templates`) on the server given to [`Browser::set_base`].
    pub fn open(&self, path: &str) {
        let url = format!("{}{path}", self.base.borrow());
        self.goto(&url);
    }

    /// Logs in through the `/login` form (mouse-free typing, then the submit button) and
    /// waits for the page it leads to, `/templates`.
    pub fn login(&self, user: &str, password: &str) {
        self.open("/login");
        self.fill("#user", user);
        self.fill("#password", password);
        self.click("button[type=submit]");
        self.wait_for_path("/templates");
        self.wait_for("h1");
    }

    pub fn url(&self) -> String {
        self.rt
            .block_on(self.c().current_url())
            .expect("current url")
            .to_string()
    }

    /// The path of the current URL (`/templates`), without query.
    pub fn path(&self) -> String {
        self.rt
            .block_on(self.c().current_url())
            .expect("current url")
            .path()
            .to_string()
    }

    pub fn title(&self) -> String {
        self.rt.block_on(self.c().title()).expect("title")
    }

    /// Whether an element matches the CSS selector now (no waiting).
    pub fn exists(&self, css: &str) -> bool {
        self.rt
            .block_on(self.c().find_all(Locator::Css(css)))
            .map(|v| !v.is_empty())
            .unwrap_or(false)
    }

    /// Waits until an element matches the CSS selector.
    pub fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        poll(
            &format!("an element {css:?} on {}", self.url()),
            WAIT,
            || {
                self.rt
                    .block_on(self.c().find_all(Locator::Css(css)))
                    .ok()?
                    .into_iter()
                    .next()
            },
        )
    }

    /// Waits until the current URL's path is `path`; on a timeout, says where the browser
    /// is instead and what that page says.
    pub fn wait_for_path(&self, path: &str) {
        let start = Instant::now();
        while self.path() != path {
            if start.elapsed() > WAIT {
                panic!(
                    "waited {WAIT:?} for the page {path}; the browser shows {} ({}): {}",
                    self.path(),
                    self.status(),
                    self.try_text("body")
                        .unwrap_or_default()
                        .chars()
                        .take(300)
                        .collect::<String>()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Waits until the current URL (path and query) contains `part`: the sign that a form's
    /// POST was answered and its redirect followed.
    pub fn wait_for_url_with(&self, part: &str) {
        poll(&format!("a URL with {part:?}"), WAIT, || {
            self.url().contains(part).then_some(())
        })
    }

    /// Waits until the element's text contains `want`; returns the whole text.
    pub fn wait_for_text(&self, css: &str, want: &str) -> String {
        poll(&format!("{want:?} in {css:?}"), WAIT, || {
            let t = self.try_text(css)?;
            t.contains(want).then_some(t)
        })
    }

    fn try_text(&self, css: &str) -> Option<String> {
        let el = self
            .rt
            .block_on(self.c().find_all(Locator::Css(css)))
            .ok()?
            .into_iter()
            .next()?;
        self.rt.block_on(el.text()).ok()
    }

    /// The visible texts of every element matching `css` now (no waiting).
    pub fn try_texts(&self, css: &str) -> Vec<String> {
        let els = self
            .rt
            .block_on(self.c().find_all(Locator::Css(css)))
            .unwrap_or_default();
        els.iter()
            .filter_map(|el| self.rt.block_on(el.text()).ok())
            .collect()
    }

    /// The visible text of the first element matching `css` (waits for it).
    pub fn text(&self, css: &str) -> String {
        let el = self.wait_for(css);
        self.rt.block_on(el.text()).expect("element text")
    }

    /// Replaces the value of a field with `text`, typed.
    pub fn fill(&self, css: &str, text: &str) {
        let el = self.wait_for(css);
        self.rt.block_on(el.clear()).expect("clear field");
        self.rt.block_on(el.send_keys(text)).expect("type in field");
    }

    /// Types `text` at the end of a field's value (WebDriver puts the caret at the end).
    pub fn append(&self, css: &str, text: &str) {
        let el = self.wait_for(css);
        self.rt.block_on(el.send_keys(text)).expect("type in field");
    }

    pub fn click(&self, css: &str) {
        let el = self.wait_for(css);
        self.rt
            .block_on(el.click())
            .unwrap_or_else(|e| panic!("click {css:?}: {e}"));
    }

    /// Runs JavaScript in the page (as WebDriver does: not subject to the page's CSP).
    pub fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.rt
            .block_on(self.c().execute(script, args))
            .unwrap_or_else(|e| panic!("script failed: {e}"))
    }

    // -- the keyboard ------------------------------------------------------------------

    /// Presses keys one after another on whatever has the focus, as a person would.
    pub fn press(&self, keys: &[Key]) {
        let chars: Vec<char> = keys.iter().map(|k| char::from(*k)).collect();
        self.key_chars(&chars);
    }

    /// Types text into whatever has the focus.
    pub fn type_text(&self, text: &str) {
        let chars: Vec<char> = text.chars().collect();
        self.key_chars(&chars);
    }

    fn key_chars(&self, chars: &[char]) {
        let mut seq = KeyActions::new("keyboard".to_string());
        for &c in chars {
            seq = seq
                .then(KeyAction::Down { value: c })
                .then(KeyAction::Up { value: c });
        }
        self.rt
            .block_on(self.c().perform_actions(seq))
            .expect("key actions");
        self.rt
            .block_on(self.c().release_actions())
            .expect("release keys");
    }

    /// Whether the focused element is the first one matching `css`.
    pub fn has_focus(&self, css: &str) -> bool {
        self.js(
            "const el = document.querySelector(arguments[0]);
             return el !== null && document.activeElement === el;",
            vec![json!(css)],
        ) == json!(true)
    }

    /// Presses Tab until the element matching `css` has the focus; fails after `max` presses
    /// (it cannot be reached with the keyboard, or not in a sensible order).
    pub fn tab_to(&self, css: &str, max: usize) {
        // An autofocus in a window that has not had the focus yet (a fresh headless
        // session) focuses the field without showing it: start from the top, with the
        // keyboard, as the user would.
        self.js(
            "if (!document.hasFocus() && document.activeElement) document.activeElement.blur();",
            vec![],
        );
        for _ in 0..max {
            if self.has_focus(css) {
                return;
            }
            self.press(&[Key::Tab]);
        }
        assert!(
            self.has_focus(css),
            "{css:?} not reached with {max} presses of Tab on {}; the focus is on {}",
            self.url(),
            self.js(
                "const a = document.activeElement;
                 return a ? a.outerHTML.slice(0, 200) : 'nothing';",
                vec![]
            )
        );
    }

    /// The page's language as it declares it (`<html lang>`), what a screen reader reads
    /// it in.
    pub fn page_lang(&self) -> String {
        self.js("return document.documentElement.lang;", vec![])
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Elements whose whole text is a program's word for nothing ("None", "null",
    /// "undefined", "NaN"): a value a template printed instead of leaving out.
    pub fn leaked_nothings(&self) -> Vec<String> {
        let found = self.js(
            "const words = ['None', 'null', 'undefined', 'NaN', 'Some(', 'Option<'];
             const out = [];
             for (const el of document.body.querySelectorAll('*')) {
               if (el.children.length > 0) continue;
               const t = (el.innerText || '').trim();
               if (words.some(w => t === w || (w.endsWith('(') || w.endsWith('<')) && t.includes(w)))
                 out.push(el.tagName.toLowerCase() + (el.className ? '.' + el.className : '')
                          + ': ' + t.slice(0, 60));
             }
             return out;",
            vec![],
        );
        serde_json::from_value(found).expect("a list of strings")
    }

    /// Fails unless the focused element shows that it has the focus (WCAG 2.4.7): an
    /// outline or a box shadow that it does not have once the focus has left it.
    pub fn assert_focus_visible(&self) {
        let seen = self.js(
            "const el = document.activeElement;
             if (!el || el === document.body) return 'nothing has the focus';
             const look = () => { const s = getComputedStyle(el);
               return [s.outlineStyle, s.outlineWidth, s.outlineColor, s.boxShadow,
                       s.borderColor, s.backgroundColor].join('|'); };
             const s = getComputedStyle(el);
             const ring = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0)
                          || s.boxShadow !== 'none';
             const focused = look();
             el.blur();
             const blurred = look();
             el.focus({ focusVisible: true });
             if (!ring && focused === blurred)
               return 'no visible focus on ' + el.outerHTML.slice(0, 120);
             return 'ok';",
            vec![],
        );
        assert_eq!(seen, json!("ok"), "on {}", self.url());
    }

    /// Walks the page with Tab from the top, as a keyboard user does: every element that
    /// takes the focus must show it ([`Browser::assert_focus_visible`]), and the walk must
    /// come out at the end (no element keeps the focus: no keyboard trap, WCAG 2.1.2).
    /// Returns a short description of each element in the order Tab reached them.
    pub fn tab_through(&self, max: usize) -> Vec<String> {
        self.js(
            "document.activeElement && document.activeElement.blur();",
            vec![],
        );
        let mut order: Vec<String> = Vec::new();
        for _ in 0..max {
            self.press(&[Key::Tab]);
            let here = self.js(
                "const a = document.activeElement;
                 if (!a || a === document.body) return null;
                 const label = (a.getAttribute('aria-label') || a.innerText || a.value
                                || a.name || a.id || '').trim().slice(0, 40);
                 return a.tagName.toLowerCase() + (a.id ? '#' + a.id : '') + ' ' + label;",
                vec![],
            );
            let Some(here) = here.as_str().map(str::to_string) else {
                return order; // past the last element: the focus left the page
            };
            assert!(
                order.last() != Some(&here),
                "Tab did not move on from {here} on {} (a keyboard trap); the order so far: {order:#?}",
                self.url()
            );
            if order.first() == Some(&here) {
                return order; // round again from the top
            }
            self.assert_focus_visible();
            order.push(here);
        }
        panic!(
            "{max} presses of Tab did not get through {}: {order:#?}",
            self.url()
        );
    }

    // -- axe-core and screenshots ------------------------------------------------------

    /// Runs axe-core (injected into the page) and returns every violation it finds.
    pub fn axe_violations(&self) -> Vec<Violation> {
        let present = self.js("return typeof window.axe === 'object';", vec![]);
        if present != json!(true) {
            // axe.min.js sets window.axe when run as a function body, as WebDriver runs it.
            self.js(&self.axe, vec![]);
        }
        let result = self
            .rt
            .block_on(self.c().execute_async(
                "const done = arguments[arguments.length - 1];
                 window.axe.run(document, { resultTypes: ['violations'] })
                   .then(r => done(JSON.stringify(r.violations)))
                   .catch(e => done('axe failed: ' + e));",
                vec![],
            ))
            .expect("run axe");
        let text = result.as_str().expect("axe returns a string");
        serde_json::from_str(text).unwrap_or_else(|_| panic!("{text}"))
    }

    /// Fails on any serious or critical axe-core violation on the current page, listing
    /// them; prints the minor and moderate ones.
    pub fn axe(&self) {
        let all = self.axe_violations();
        let (blocking, other): (Vec<Violation>, Vec<Violation>) =
            all.into_iter().partition(Violation::is_blocking);
        if !other.is_empty() {
            println!(
                "axe on {}: minor or moderate:\n{}",
                self.url(),
                describe(&other)
            );
        }
        assert!(
            blocking.is_empty(),
            "axe found {} serious or critical violation(s) on {}:\n{}",
            blocking.len(),
            self.url(),
            describe(&blocking)
        );
    }

    /// Saves a PNG of the viewport to `path` (its folder made when missing).
    pub fn screenshot(&self, path: &Path) {
        let png = self.rt.block_on(self.c().screenshot()).expect("screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot folder");
        }
        std::fs::write(path, png).expect("write screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            let _ = self.rt.block_on(c.close());
        }
    }
}

/// Where a failed test's screenshot goes: target/console-screenshots/<test>.png.
pub fn failure_screenshot(test: &str) -> PathBuf {
    root()
        .join("target/console-screenshots")
        .join(format!("{test}.png"))
}
