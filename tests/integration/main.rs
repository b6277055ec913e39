//! One integration test binary (ripgrep keeps link time short the same way).
//!
//! - `fixtures`: every fixture folder under tests/fixtures, each file's path holding its answer
//! - `golden`: rendered replies and forwards compared byte for byte with tests/golden/
//! - `outgoing`: every composed message decoded: no CPR number, header lines in bounds
//! - `ask`: `history`, `status`, `release --json` on a `run --once` ledger; JSON logs
//! - `activity`: what the ledger keeps for the console (no CPR number, no address in clear)
//! - `cli`: the `autosvar` binary on a copy of the embedded default
//! - `console`: the HR console over HTTP on the running daemon
//! - `review`: the console's review page: answer (exactly once), close, teach, on the daemon
//! - `corpora`: public bounce and mail collections (fetched by tests/corpora/fetch): no
//!   machine mail answered, no file panics or hangs
//! - `metrics`: `/metrics`, `/healthz`, `/readyz` on the running daemon's console (Maildir)
//! - `maildir`: Maildir intake through the binary (files written in place, idle, size)
//! - `reload`: SIGHUP reloads the config's live keys and the rules through the binary
//! - `secrets`: unreadable passwords and failing token commands: `check` lists them, `run`
//!   exits 78
//! - `systemd`: `contrib/install` into a temporary root, `check` on the result, the unit
//!   verified; sd_notify (READY, STATUS, WATCHDOG, STOPPING) on a socket the test binds

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod activity;
mod ask;
mod cli;
mod common;
mod console;
mod corpora;
mod daemon;
mod fixtures;
mod golden;
mod hostile;
mod maildir;
mod metrics;
mod outgoing;
mod quality;
mod reload;
mod review;
mod secrets;
mod systemd;
mod xoauth2;
