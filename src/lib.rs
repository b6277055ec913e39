//! autosvar: an e-mail auto-responder for the Capital Region of Denmark's e-learning
//! mailbox. This comment is the architecture map; each module's own `//!` says what it may
//! and must never do.
//!
//! A mail flows through these stages, each a module, each handing a named type to the next:
//!
//! - [`intake`]: the Maildir (embedded default) or IMAP (IDLE or polling) ->
//!   [`intake::RawMail`]
//! - [`parse`]: bytes -> [`parse::Mail`] (sender, threading ids, machine-mail headers, the
//!   new text only, the language). Pure.
//! - [`decide`]: [`decide::guard`] refuses machine mail and loops before anything else
//!   (RFC 3834); [`decide::decide`] applies the per-sender rate limit. Pure.
//! - [`classify`]: `Mail` -> [`classify::Classification`] (category, desk, confidence,
//!   sensitive data), driven by the editable `rules.toml`. Pure.
//! - [`render`]: the HR-owned templates in `responses/`, checked by [`render::check`] (on
//!   disk or a draft in memory; problems in Danish and English at their line), and
//!   [`render::compose`], which builds the reply and the desk forward. Pure once loaded.
//! - [`ledger`]: SQLite; what was done to every mail, and (IMAP) what the mailbox must
//!   still be shown of it, journalled with each outcome; read back for the console
//!   (activity, one mail with its messages as sent, counts, the review queue); the
//!   console's requests to the daemon (answer, teach), refused there when a mail has or
//!   may have a reply. The only module with SQL.
//! - [`deliver`]: the outbox folder (embedded default) or SMTP; [`tls`]: certificate checks;
//!   [`net`]: TCP keepalive on the IMAP and SMTP sockets.
//! - [`pipeline`]: runs one mail through the stages in its tracing span; keeps each IMAP
//!   folder's place (UIDVALIDITY, last UID) in the ledger.
//! - [`daemon`]: the order of things around the pipeline: read, run, show the outcome in
//!   the mailbox, wait; reconnect and retry with backoff; reload templates (on a save),
//!   and on SIGHUP the config's live keys, the rules and the training too. Takes its
//!   shutdown as a future. Tells systemd (sd_notify) when it is ready, what it is doing,
//!   and that its loop still comes round (the watchdog).
//! - [`console`]: the HR console, a web page served by the daemon: templates (draft,
//!   preview, publish, history), what autosvar did, and the mails that need a person.
//!   Sits beside the CLI: it uses the stages, never the other way round. It sends no mail:
//!   "answer" and "teach" are ledger requests; it rings the pipeline's bell
//!   ([`pipeline::Bell`]) and the daemon carries them out ([`pipeline::Pipeline::carry_out`]),
//!   swapping in a retrained model between mails.
//! - [`metrics`]: the counters, histograms and readiness every part above reports to
//!   (one shared handle), served as `/metrics`, `/healthz` and `/readyz` by the console.
//! - [`eval`]: quality metrics against labelled mail, the arithmetic behind `autosvar eval`
//!   ([`cli::eval`] reads the mail and prints them).
//! - [`config`]: `config.toml`, validated once; [`cli`]: the subcommands (argument parsing
//!   and wiring only);
//!   [`log`]: what a log line may carry (bounded ids, masked reasons) and its format;
//!   [`shutdown`]: signals; [`clock`]: the one place that reads the time;
//!   [`diagnostic`]: a problem in an edited file (config, rules, templates) and its place;
//!   [`private`]: files only autosvar's user may read (ledger, outbox).
//!
//! Below every stage, importing none of them: [`types`], the domain types the stages hand
//! each other (`Address`, `Language`, `Category`, the desk keys (`DeskKey`), `MessageId`,
//! `MailKey`, `Source` (where a mail came from: an IMAP UID, a Maildir file), `MessageKind`,
//! `Action`, `SkipReason`, `Outgoing`, text folding).

pub mod classify;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod daemon;
pub mod decide;
pub mod deliver;
pub mod diagnostic;
pub mod eval;
pub mod intake;
pub mod ledger;
pub mod log;
pub mod metrics;
pub mod net;
pub mod parse;
pub mod pipeline;
pub mod private;
pub mod render;
pub mod shutdown;
pub mod tls;
pub mod types;
