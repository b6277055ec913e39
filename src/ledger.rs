//! Ledger: what was done to every mail, in SQLite. The only module that contains SQL.
//!
//! A mail is known by its [`MailKey`]. Before anything is sent, the decision and the
//! outgoing messages are written in one transaction (state `sending`, messages in
//! `outgoing`); each message is deleted from `outgoing` once delivered, and the mail becomes
//! `done`. After a crash, what is still in `outgoing` is exactly what may not have gone out,
//! so a restart finishes it instead of answering again. A mail in the ledger is never
//! answered twice. A doubtful mail (`doubtful`: acknowledged, waiting for review) has its
//! desk forward held: it is not in `outgoing` until a person's request writes it
//! ([`Ledger::record_requested_forward`]), so no restart can send it. Only what is needed
//! is kept: the sender only as a hash (for the rate limit and to find a person's mails), the subject without CPR numbers, the classifier's short
//! explanation, and a copy of each message as sent (`sent`, the sender's address masked),
//! until the mail is pruned; never the mail's own bytes or body. Which bytes from which source were which mail is noted
//! (`read_before`: source, a digest of the bytes, the key), so a restart can tell a mail it
//! has finished from its bytes alone, without parsing it again.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{params, Connection, OptionalExtension, ToSql};
use sha2::{Digest, Sha256};

use crate::clock::{from_unix_seconds, unix_seconds};
use crate::parse::{hex, MailKey};
mod activity;
pub mod console;
mod requests;
mod status;
pub use activity::{
    ActivityCursor, ActivityQuery, ActivityRow, Bucket, CountRow, MailDetail, Outcome, SentMessage,
    LOW_CONFIDENCE, MAX_PAGE,
};
pub use requests::{Asked, Refusal, Request, RequestAction, RequestState};
pub use status::{Contact, LedgerStatus, TemplatesInUse};

use crate::types::{
    Action, Category, DeskKey, Language, MessageId, MessageKind, Outgoing, SkipReason, Source,
};

/// Errors from the ledger. All of them stop the daemon: without a ledger it cannot promise
/// "never twice".
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("cannot create ledger folder {}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create ledger file {} readable by this user only", path.display())]
    Private {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open ledger {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("ledger query failed")]
    Query(#[from] rusqlite::Error),
}

/// Where a mail is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Decided; outgoing messages written but not all delivered.
    Sending,
    /// Finished: answered, skipped, or set aside.
    Done,
    /// Failed this many times so far; will be tried again.
    Failed,
    /// Failed too often or could not be resolved: left for a human.
    SetAside,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Sending => "sending",
            State::Done => "done",
            State::Failed => "failed",
            State::SetAside => "set-aside",
        }
    }

    fn parse(s: &str) -> State {
        match s {
            "sending" => State::Sending,
            "done" => State::Done,
            "failed" => State::Failed,
            _ => State::SetAside,
        }
    }
}

/// What is recorded about a mail's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub key: String,
    /// Where it came from (an IMAP UID, a Maildir file).
    pub source: Source,
    pub action: Action,
    pub category: Option<Category>,
    pub desk: Option<DeskKey>,
    pub language: Option<Language>,
    pub sensitive: bool,
    pub confidence: Option<f64>,
    /// The classifier was not sure enough of `category` (below the rules' `review-below`):
    /// the reply was the short acknowledgement, the mail waits for review, and a technical
    /// guess's desk forward is held (never written to `outgoing`) until a person sends it.
    pub doubtful: bool,
    pub skip_reason: Option<SkipReason>,
    pub reply_id: Option<String>,
    pub forward_id: Option<String>,
    /// Hash of the lowercased reply address.
    pub sender_hash: Option<String>,
    /// The subject as the console shows it: CPR numbers already removed by the caller; the
    /// ledger strips control characters and cuts it to [`MAX_SUBJECT`] characters.
    pub subject: Option<String>,
    /// Why it was decided (`autosvar classify --explain`'s summary, no body text); cut to
    /// [`MAX_EXPLAIN`] bytes.
    pub explain: Option<String>,
    /// Never stored: the sender's own addresses (From, Reply-To). Every occurrence in the
    /// kept copy of a sent message is replaced by [`SENDER_MASK`].
    pub sender_addresses: Vec<String>,
}

/// The longest subject kept, in characters.
pub const MAX_SUBJECT: usize = 200;
/// The longest explanation kept, in bytes.
pub const MAX_EXPLAIN: usize = 4096;
/// What a sender's address is replaced with in the kept copy of a sent message.
pub const SENDER_MASK: &str = "[afsender]";

/// The typed values the ledger stores are stored as their names (`reply`, `forward`,
/// `pricing`, `rate-limited`, ...), the text they were stored as before they were typed, so
/// existing ledgers read the same and the SQL compares text.
macro_rules! stored_by_name {
    ($t:ty, $name:ident, $from:path, $what:literal) => {
        impl ToSql for $t {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.$name()))
            }
        }

        impl FromSql for $t {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let name = value.as_str()?;
                $from(name).ok_or_else(|| {
                    FromSqlError::Other(format!(concat!("unknown ", $what, " {:?}"), name).into())
                })
            }
        }
    };
}

stored_by_name!(MessageKind, name, MessageKind::from_name, "message kind");
stored_by_name!(Action, name, Action::from_name, "action");
stored_by_name!(Category, name, Category::from_name, "category");
stored_by_name!(SkipReason, as_str, SkipReason::from_name, "skip reason");
stored_by_name!(Language, code, Language::from_code, "language");

/// A source is stored as the text it shows (`mailbox/id`), as before it was typed.
impl ToSql for Source {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.to_string()))
    }
}

impl FromSql for Source {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        Ok(Source::from_stored(value.as_str()?))
    }
}

/// A desk key is stored as its text.
impl ToSql for DeskKey {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for DeskKey {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        Ok(DeskKey::from(value.as_str()?))
    }
}

/// A message written before delivery, deleted after: the composed [`Outgoing`] (its kind
/// stored as the text `reply` or `forward`, its recipient as `envelope_to`), the mail it
/// answers, and how far sending it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub message: Outgoing,
    pub mail_key: String,
    /// Sends started. Above zero after a crash means "in doubt": it may have gone out.
    pub attempts: u32,
    /// When the last send started.
    pub started: Option<SystemTime>,
}

/// A mail left for a person.
#[derive(Debug, Clone, PartialEq)]
pub struct SetAsideMail {
    pub key: String,
    pub source: Source,
    pub when: SystemTime,
    pub why: String,
}

/// A [`SetAsideMail`] from a row of `key, source, updated, COALESCE(error, '')`.
fn set_aside_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SetAsideMail> {
    Ok(SetAsideMail {
        key: r.get(0)?,
        source: r.get(1)?,
        when: from_unix_seconds(r.get(2)?),
        why: r.get(3)?,
    })
}

/// The ledger: one SQLite file.
pub struct Ledger {
    conn: Connection,
    /// What the mailbox shows of outcomes, journalled with each outcome (`None`: a Maildir,
    /// which shows nothing).
    marking: Option<Marking>,
    /// No mail was recorded in it when it was opened: a first start, or a lost ledger.
    was_new: bool,
}

/// What an IMAP mailbox shows of autosvar's outcomes, beside the flags it always gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Marking {
    /// Each delivered message is appended to the Sent folder (`sent-copy = "append"`).
    pub sent_copies: bool,
    /// Answered and skipped mails move to a folder per category (`category-folders`).
    pub category_folders: bool,
}

/// Something the mailbox must still be shown about a mail.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mark {
    /// `\Answered` (and `$AutosvarReplied`): its reply went out.
    Answered,
    /// `$AutosvarForwarded`: its desk forward went out.
    Forwarded,
    /// `\Flagged` (and `$AutosvarReview`): set aside for a person.
    Review,
    /// `$AutosvarSkipped`.
    Skipped,
    /// A copy of a delivered message for the Sent folder (the bytes ride along).
    SentCopy,
    /// Move to the category's folder, after its flags.
    Move(Category),
}

impl Mark {
    fn name(&self) -> String {
        match self {
            Mark::Answered => "answered".into(),
            Mark::Forwarded => "forwarded".into(),
            Mark::Review => "review".into(),
            Mark::Skipped => "skipped".into(),
            Mark::SentCopy => "sent-copy".into(),
            Mark::Move(c) => format!("move:{}", c.name()),
        }
    }

    fn from_name(name: &str) -> Option<Mark> {
        Some(match name {
            "answered" => Mark::Answered,
            "forwarded" => Mark::Forwarded,
            "review" => Mark::Review,
            "skipped" => Mark::Skipped,
            "sent-copy" => Mark::SentCopy,
            other => Mark::Move(Category::from_name(other.strip_prefix("move:")?)?),
        })
    }
}

/// A [`Mark`] not yet shown, with the mail it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unshown {
    pub id: i64,
    pub source: Source,
    pub mark: Mark,
    /// The message, for [`Mark::SentCopy`].
    pub bytes: Option<Vec<u8>>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS mails (
    key          TEXT PRIMARY KEY,
    source       TEXT NOT NULL,
    first_seen   INTEGER NOT NULL,
    updated      INTEGER NOT NULL,
    state        TEXT NOT NULL,
    action       TEXT,
    category     TEXT,
    desk         TEXT,
    language     TEXT,
    sensitive    INTEGER NOT NULL DEFAULT 0,
    confidence   REAL,
    skip_reason  TEXT,
    sender_hash  TEXT,
    reply_id     TEXT,
    forward_id   TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    error        TEXT,
    subject      TEXT,
    explanation  TEXT,
    reviewed     INTEGER,
    doubtful     INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS outgoing (
    message_id   TEXT PRIMARY KEY,
    mail_key     TEXT NOT NULL REFERENCES mails(key),
    kind         TEXT NOT NULL,
    envelope_to  TEXT NOT NULL,
    bytes        BLOB NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    started      INTEGER
);
CREATE TABLE IF NOT EXISTS unshown (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    source       TEXT NOT NULL,
    mark         TEXT NOT NULL,
    bytes        BLOB
);
CREATE TABLE IF NOT EXISTS sent (
    message_id   TEXT PRIMARY KEY,
    mail_key     TEXT NOT NULL,
    kind         TEXT NOT NULL,
    sent         INTEGER,
    bytes        BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS read_before (
    source   TEXT NOT NULL,
    digest   TEXT NOT NULL,
    mail_key TEXT NOT NULL,
    PRIMARY KEY (source, digest)
) WITHOUT ROWID;
";

/// Columns added since the first ledgers, added to an older file when it is opened (each
/// as the `CREATE TABLE` above has it).
const ADDED_COLUMNS: [(&str, &str); 4] = [
    ("subject", "TEXT"),
    ("explanation", "TEXT"),
    ("reviewed", "INTEGER"),
    ("doubtful", "INTEGER NOT NULL DEFAULT 0"),
];

/// The indexes, created after [`ADDED_COLUMNS`] exist. Newest first is `first_seen DESC,
/// key DESC`; every list the console shows walks one of these in that order and stops at
/// its page. `mails_review` holds only the mails that need a person
/// ([`activity::NEEDS_REVIEW`]).
const INDEXES: &str = "
CREATE INDEX IF NOT EXISTS mails_sender ON mails(sender_hash, category, updated);
CREATE INDEX IF NOT EXISTS mails_seen ON mails(first_seen, key, category, state, action);
CREATE INDEX IF NOT EXISTS mails_sender_seen ON mails(sender_hash, first_seen, key);
CREATE INDEX IF NOT EXISTS mails_category_seen ON mails(category, first_seen, key);
CREATE INDEX IF NOT EXISTS sent_mail ON sent(mail_key);
";

/// The schema version this code writes (`PRAGMA user_version`): 1 added the activity
/// columns, the `sent` table, the indexes and the `tally` of mails per day; 2 the
/// `doubtful` column, which the review queue's partial index (`mails_review`) now names
/// (the index of version 1 is dropped and made again).
const SCHEMA_VERSION: i64 = 2;

/// Brings a ledger of any earlier version to this one: tables, then missing columns, then
/// indexes, in one write transaction (the daemon and the console may open it at once).
fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    tx.execute_batch(SCHEMA)?;
    tx.execute_batch(console::SCHEMA)?;
    tx.execute_batch(requests::SCHEMA)?;
    let have: Vec<String> = tx
        .prepare("SELECT name FROM pragma_table_info('mails')")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for (name, kind) in ADDED_COLUMNS {
        if !have.iter().any(|h| h == name) {
            tx.execute_batch(&format!("ALTER TABLE mails ADD COLUMN {name} {kind};"))?;
        }
    }
    tx.execute_batch(INDEXES)?;
    tx.execute_batch(&format!(
        "CREATE INDEX IF NOT EXISTS mails_outcome_seen ON mails(({o}), first_seen, key);
         CREATE INDEX IF NOT EXISTS mails_category_outcome_seen
            ON mails(category, ({o}), first_seen, key);",
        o = activity::OUTCOME_SQL
    ))?;
    let tallied: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'tally')",
        [],
        |r| r.get(0),
    )?;
    tx.execute_batch(&activity::tally_schema(!tallied))?;
    if version < 2 {
        // Its `WHERE` did not know doubtful mails: made again below with the one it has now.
        tx.execute_batch("DROP INDEX IF EXISTS mails_review;")?;
    }
    tx.execute_batch(&activity::review_index())?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()
}

/// The meta key of the mail in hand (see [`Ledger::set_in_hand`]).
const IN_HAND: &str = "in-hand";
/// The meta key prefix counting the deaths with a mail in hand.
const SUSPECT: &str = "suspect:";

/// The hash the ledger keeps instead of a sender's address.
pub fn sender_hash(address: &str) -> String {
    let digest = Sha256::digest(address.trim().to_lowercase().as_bytes());
    hex(&digest[..16])
}

impl Ledger {
    /// Opens (creating if needed) the ledger at `path`.
    ///
    /// # Errors
    /// When the folder or file cannot be created or the schema cannot be applied.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::private::create_dir_all(dir).map_err(|source| LedgerError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        // Readable by autosvar's user only; SQLite gives its -wal and -shm files the mode
        // of the database file.
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            let file = PathBuf::from(file);
            let made = if suffix.is_empty() && !file.exists() {
                crate::private::create_file(&file).map(drop)
            } else {
                crate::private::restrict(&file)
            };
            made.map_err(|source| LedgerError::Private {
                path: file.clone(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|source| LedgerError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let open_err = |source| LedgerError::Open {
            path: path.to_path_buf(),
            source,
        };
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        // WAL + NORMAL: a commit survives a crash of this process (kill -9) without an
        // fsync per mail; only a power cut can lose the last commits (then a reply may be
        // sent again). FULL would cost a disk flush per mail.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(open_err)?;
        // A delivered message's body is overwritten when its row goes, not left in a free
        // page for anyone who copies the file.
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(open_err)?;
        let mut conn = conn;
        migrate(&mut conn).map_err(open_err)?;
        let was_new = conn
            .query_row(
                "SELECT NOT EXISTS (SELECT 1 FROM mails) AND NOT EXISTS (SELECT 1 FROM meta)",
                [],
                |r| r.get(0),
            )
            .map_err(open_err)?;
        Ok(Ledger {
            conn,
            marking: None,
            was_new,
        })
    }

    /// An in-memory ledger (for `classify` and tests).
    ///
    /// # Errors
    /// Only if SQLite cannot allocate.
    pub fn in_memory() -> Result<Ledger, LedgerError> {
        let mut conn = Connection::open_in_memory()?;
        migrate(&mut conn)?;
        Ok(Ledger {
            conn,
            marking: None,
            was_new: true,
        })
    }

    /// The state of a mail, if the ledger has it.
    pub fn state(&self, key: &MailKey) -> Result<Option<(State, u32)>, LedgerError> {
        Ok(self
            .conn
            .query_row(
                "SELECT state, attempts FROM mails WHERE key = ?1",
                [key.as_str()],
                |r| Ok((State::parse(&r.get::<_, String>(0)?), r.get::<_, u32>(1)?)),
            )
            .optional()?)
    }

    /// The state a ledger written before keys carried a digest recorded for this
    /// Message-ID, if the same sender (or an unknown one) was recorded with it: an upgrade
    /// never answers a mail again, and another sender's mail with a reused id is not
    /// mistaken for it.
    pub fn legacy_state(
        &self,
        message_id: &str,
        sender_hash: Option<&str>,
    ) -> Result<Option<State>, LedgerError> {
        Ok(self
            .conn
            .query_row(
                "SELECT state FROM mails
                 WHERE key = ?1 AND (sender_hash IS NULL OR ?2 IS NULL OR sender_hash = ?2)",
                params![message_id, sender_hash],
                |r| Ok(State::parse(&r.get::<_, String>(0)?)),
            )
            .optional()?)
    }

    /// When `sender_hash` last got a reply in `category`. A doubtful mail's
    /// acknowledgement is no reply in its guessed category: it does not count.
    pub fn last_reply(
        &self,
        sender_hash: &str,
        category: &str,
    ) -> Result<Option<SystemTime>, LedgerError> {
        let t: Option<i64> = self.conn.query_row(
            "SELECT MAX(updated) FROM mails
             WHERE sender_hash = ?1 AND category = ?2 AND action = ?3 AND doubtful = 0",
            params![sender_hash, category, Action::Reply],
            |r| r.get(0),
        )?;
        Ok(t.map(from_unix_seconds))
    }
}

/// [`Ledger::record_intent`]'s writes, in the caller's transaction: the mail `sending`,
/// each message in `outgoing`, and the copy kept for the console in `sent`.
fn write_intent(
    tx: &rusqlite::Transaction<'_>,
    r: &Record,
    outgoing: &[Pending],
    now: SystemTime,
) -> Result<(), LedgerError> {
    upsert(tx, r, State::Sending, unix_seconds(now))?;
    let addresses: Vec<&str> = r.sender_addresses.iter().map(String::as_str).collect();
    for o in outgoing {
        write_message(tx, o, &addresses)?;
    }
    Ok(())
}

/// One message in `outgoing`, and the copy kept for the console in `sent` without the
/// sender's `addresses` (nor, for a reply, the address it goes to); it counts as sent once
/// delivered.
fn write_message(
    tx: &rusqlite::Transaction<'_>,
    o: &Pending,
    addresses: &[&str],
) -> Result<(), LedgerError> {
    tx.execute(
        "INSERT OR REPLACE INTO outgoing (message_id, mail_key, kind, envelope_to, bytes)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            o.message.message_id.as_str(),
            o.mail_key,
            o.message.kind,
            o.message.to,
            o.message.bytes
        ],
    )?;
    let mut hide = addresses.to_vec();
    if o.message.kind == MessageKind::Reply {
        hide.push(&o.message.to);
    }
    tx.execute(
        "INSERT OR REPLACE INTO sent (message_id, mail_key, kind, sent, bytes)
         VALUES (?1, ?2, ?3, NULL, ?4)",
        params![
            o.message.message_id.as_str(),
            o.mail_key,
            o.message.kind,
            mask_addresses(&o.message.bytes, &hide)
        ],
    )?;
    Ok(())
}

fn upsert(
    tx: &rusqlite::Transaction<'_>,
    r: &Record,
    state: State,
    now: i64,
) -> Result<(), LedgerError> {
    tx.execute(
            "INSERT INTO mails (key, source, first_seen, updated, state, action, category, desk, language,
                                sensitive, confidence, skip_reason, sender_hash, reply_id, forward_id,
                                subject, explanation, doubtful)
             VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
             ON CONFLICT(key) DO UPDATE SET
                source = excluded.source, updated = excluded.updated, state = excluded.state,
                action = excluded.action, category = excluded.category, desk = excluded.desk,
                language = excluded.language, sensitive = excluded.sensitive,
                confidence = excluded.confidence, skip_reason = excluded.skip_reason,
                sender_hash = excluded.sender_hash, reply_id = excluded.reply_id,
                forward_id = excluded.forward_id, error = NULL, doubtful = excluded.doubtful,
                subject = COALESCE(excluded.subject, subject),
                explanation = COALESCE(excluded.explanation, explanation)",
            params![
                r.key,
                r.source,
                now,
                state.as_str(),
                r.action,
                r.category,
                r.desk,
                r.language,
                r.sensitive,
                r.confidence,
                r.skip_reason,
                r.sender_hash,
                r.reply_id,
                r.forward_id,
                r.subject.as_deref().map(kept_subject),
                r.explain.as_deref().map(kept_explanation),
                r.doubtful,
            ],
        )?;
    Ok(())
}

/// A subject as kept: one line, no control characters, at most [`MAX_SUBJECT`] characters.
fn kept_subject(subject: &str) -> String {
    let line: String = subject
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    cut_chars(line.trim(), MAX_SUBJECT)
}

/// An explanation as kept: lines, no other control characters, at most [`MAX_EXPLAIN`]
/// bytes (cut at a character boundary, ending in "…").
fn kept_explanation(explain: &str) -> String {
    let text: String = explain
        .chars()
        .filter(|c| *c == '\n' || !c.is_control())
        .collect();
    if text.len() <= MAX_EXPLAIN {
        return text;
    }
    let end = text
        .char_indices()
        .map(|(i, _)| i)
        .take_while(|i| *i <= MAX_EXPLAIN - '…'.len_utf8())
        .last()
        .unwrap_or(0);
    format!("{}…", &text[..end])
}

/// At most `max` characters of `text`, the last an "…" when it was cut.
pub(crate) fn cut_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `bytes` with every occurrence of each address (ASCII case ignored) replaced by
/// [`SENDER_MASK`]. Only what looks like an address (it has an `@`) is masked.
pub fn mask_addresses(bytes: &[u8], addresses: &[&str]) -> Vec<u8> {
    let needles: Vec<Vec<u8>> = addresses
        .iter()
        .map(|a| a.trim().to_ascii_lowercase().into_bytes())
        .filter(|a| a.len() >= 3 && a.contains(&b'@'))
        .collect();
    if needles.is_empty() {
        return bytes.to_vec();
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    'outer: while i < bytes.len() {
        for n in &needles {
            if bytes.len() - i >= n.len()
                && bytes[i].to_ascii_lowercase() == n[0]
                && bytes[i..i + n.len()].eq_ignore_ascii_case(n)
            {
                out.extend_from_slice(SENDER_MASK.as_bytes());
                i += n.len();
                continue 'outer;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// Notes a mark the mailbox must still show.
fn journal(
    tx: &rusqlite::Transaction<'_>,
    source: &Source,
    mark: &Mark,
    bytes: Option<&[u8]>,
) -> Result<(), LedgerError> {
    tx.execute(
        "INSERT INTO unshown (source, mark, bytes) VALUES (?1, ?2, ?3)",
        params![source, mark.name(), bytes],
    )?;
    Ok(())
}

/// The marks of a delivered message: its flag, its Sent copy, and (its mail now finished)
/// the move to the category's folder.
fn journal_delivery(
    tx: &rusqlite::Transaction<'_>,
    marking: Marking,
    key: &str,
    kind: MessageKind,
    sent_copy: Option<&[u8]>,
    finished: bool,
) -> Result<(), LedgerError> {
    let (source, category, doubtful): (Source, Option<Category>, bool) = tx.query_row(
        "SELECT source, category, doubtful FROM mails WHERE key = ?1",
        [key],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let flag = match kind {
        MessageKind::Reply => Mark::Answered,
        MessageKind::Forward => Mark::Forwarded,
    };
    journal(tx, &source, &flag, None)?;
    if let Some(bytes) = sent_copy {
        journal(tx, &source, &Mark::SentCopy, Some(bytes))?;
    }
    // A doubtful mail stays where a person sees it (flagged), not in its guess's folder.
    if let Some(category) = category.filter(|_| finished && marking.category_folders && !doubtful) {
        journal(tx, &source, &Mark::Move(category), None)?;
    }
    Ok(())
}

impl Ledger {
    /// No mail was recorded in it when it was opened (a first start, or a lost ledger).
    pub fn was_new(&self) -> bool {
        self.was_new
    }

    /// Journals what the mailbox must be shown of each outcome from now on (see
    /// [`Ledger::unshown`]); `None` journals nothing.
    pub fn set_marking(&mut self, marking: Option<Marking>) {
        self.marking = marking;
    }

    /// Journals that a set-aside mail is to be flagged (again: the process may have
    /// stopped before the mailbox showed it).
    pub fn show_again(&mut self, source: &Source) -> Result<(), LedgerError> {
        if self.marking.is_none() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        journal(&tx, source, &Mark::Review, None)?;
        tx.commit()?;
        Ok(())
    }

    /// What the mailbox has not been shown yet, oldest first.
    pub fn unshown(&self) -> Result<Vec<Unshown>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, source, mark, bytes FROM unshown ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Source>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<Vec<u8>>>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, source, mark, bytes) = row?;
            // A mark of a newer version is left for it.
            let Some(mark) = Mark::from_name(&mark) else {
                continue;
            };
            out.push(Unshown {
                id,
                source,
                mark,
                bytes,
            });
        }
        Ok(out)
    }

    /// The mailbox shows these now (or they are for a folder that is gone).
    pub fn shown(&mut self, ids: &[i64]) -> Result<(), LedgerError> {
        let tx = self.conn.transaction()?;
        for id in ids {
            tx.execute("DELETE FROM unshown WHERE id = ?1", [id])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Records a finished outcome that sends nothing (a skip).
    pub fn record_done(&mut self, r: &Record, now: SystemTime) -> Result<(), LedgerError> {
        let tx = self.conn.transaction()?;
        upsert(&tx, r, State::Done, unix_seconds(now))?;
        // A mail the mailbox already shows handled needs no mark.
        let shown = r.skip_reason == Some(SkipReason::AlreadyHandled);
        if let Some(m) = self.marking.filter(|_| r.action == Action::Skip && !shown) {
            journal(&tx, &r.source, &Mark::Skipped, None)?;
            if m.category_folders {
                let category = r.category.unwrap_or(Category::Other);
                journal(&tx, &r.source, &Mark::Move(category), None)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Notes what is known about a mail that was not decided (it failed or was set aside
    /// before its outcome was recorded): category, desk, language, confidence, sensitive
    /// flag, sender hash, subject and explanation, for the console; its state, action and
    /// messages stay as they are. Nothing happens when the ledger has no such mail.
    pub fn describe(&mut self, r: &Record) -> Result<(), LedgerError> {
        self.conn.execute(
            "UPDATE mails SET category = ?2, desk = ?3, language = ?4, sensitive = ?5,
                confidence = ?6, sender_hash = COALESCE(?7, sender_hash),
                subject = COALESCE(?8, subject), explanation = COALESCE(?9, explanation),
                doubtful = ?10
             WHERE key = ?1",
            params![
                r.key,
                r.category,
                r.desk,
                r.language,
                r.sensitive,
                r.confidence,
                r.sender_hash,
                r.subject.as_deref().map(kept_subject),
                r.explain.as_deref().map(kept_explanation),
                r.doubtful,
            ],
        )?;
        Ok(())
    }

    /// Records the decision and every message to send, atomically, before sending.
    pub fn record_intent(
        &mut self,
        r: &Record,
        outgoing: &[Pending],
        now: SystemTime,
    ) -> Result<(), LedgerError> {
        let tx = self.conn.transaction()?;
        write_intent(&tx, r, outgoing, now)?;
        if r.doubtful && self.marking.is_some() {
            // Waiting for a person, as a set-aside mail is: the mailbox shows it flagged.
            journal(&tx, &r.source, &Mark::Review, None)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Marks one outgoing message delivered; the mail is done when none remain. With
    /// marking on, what the mailbox must show of it is journalled in the same transaction
    /// (`sent_copy`: the Sent folder does not have it yet).
    pub fn delivered(
        &mut self,
        message_id: &str,
        now: SystemTime,
        sent_copy: bool,
    ) -> Result<(), LedgerError> {
        // The message's bytes are read only when they are journalled for the Sent folder.
        let copy = sent_copy && self.marking.is_some_and(|m| m.sent_copies);
        let tx = self.conn.transaction()?;
        let row: Option<(String, MessageKind, Option<Vec<u8>>)> = tx
            .query_row(
                "SELECT mail_key, kind, CASE WHEN ?2 THEN bytes END FROM outgoing
                 WHERE message_id = ?1",
                params![message_id, copy],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        tx.execute("DELETE FROM outgoing WHERE message_id = ?1", [message_id])?;
        tx.execute(
            "UPDATE sent SET sent = ?2 WHERE message_id = ?1 AND sent IS NULL",
            params![message_id, unix_seconds(now)],
        )?;
        if let Some((key, kind, bytes)) = row {
            let finished = tx.execute(
                "UPDATE mails SET state = 'done', updated = ?2
                 WHERE key = ?1 AND NOT EXISTS (SELECT 1 FROM outgoing WHERE mail_key = ?1)",
                params![key, unix_seconds(now)],
            )? > 0;
            if let Some(m) = self.marking {
                journal_delivery(&tx, m, &key, kind, bytes.as_deref(), finished)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Notes that a send of this message starts now (committed before the first byte).
    pub fn begin_send(&mut self, message_id: &str, now: SystemTime) -> Result<(), LedgerError> {
        self.conn.execute(
            "UPDATE outgoing SET attempts = attempts + 1, started = ?2 WHERE message_id = ?1",
            params![message_id, unix_seconds(now)],
        )?;
        Ok(())
    }

    /// The server refused or never got the message: it is certainly not sent.
    pub fn send_failed(&mut self, message_id: &str) -> Result<(), LedgerError> {
        self.conn.execute(
            "UPDATE outgoing SET attempts = 0 WHERE message_id = ?1",
            [message_id],
        )?;
        Ok(())
    }

    /// The source a mail was recorded with.
    pub fn source_of(&self, key: &str) -> Result<Option<Source>, LedgerError> {
        Ok(self
            .conn
            .query_row("SELECT source FROM mails WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// The Message-IDs of messages whose send started and was never confirmed (without
    /// reading the messages).
    pub fn in_doubt(&self) -> Result<Vec<String>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT message_id FROM outgoing WHERE attempts > 0")?;
        let ids = stmt.query_map([], |r| r.get(0))?;
        Ok(ids.collect::<Result<_, _>>()?)
    }

    /// Whether any message waits to be delivered (without reading them).
    pub fn has_pending(&self) -> Result<bool, LedgerError> {
        Ok(self
            .conn
            .query_row("SELECT EXISTS (SELECT 1 FROM outgoing)", [], |r| r.get(0))?)
    }

    /// Messages written but not yet confirmed delivered, oldest mail first.
    pub fn pending(&self) -> Result<Vec<Pending>, LedgerError> {
        let mut stmt = self.conn.prepare(
            "SELECT o.message_id, o.mail_key, o.kind, o.envelope_to, o.bytes, o.attempts, o.started
             FROM outgoing o JOIN mails m ON m.key = o.mail_key
             ORDER BY m.first_seen, o.kind DESC",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Pending {
                message: Outgoing {
                    message_id: MessageId::from_stored(r.get(0)?),
                    kind: r.get(2)?,
                    to: r.get(3)?,
                    bytes: r.get(4)?,
                },
                mail_key: r.get(1)?,
                attempts: r.get(5)?,
                started: r.get::<_, Option<i64>>(6)?.map(from_unix_seconds),
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Counts a failed attempt; returns the number of attempts so far.
    pub fn record_failure(
        &mut self,
        key: &MailKey,
        source: &Source,
        error: &str,
        now: SystemTime,
    ) -> Result<u32, LedgerError> {
        let now = unix_seconds(now);
        self.conn.execute(
            "INSERT INTO mails (key, source, first_seen, updated, state, attempts, error)
             VALUES (?1, ?2, ?3, ?3, 'failed', 1, ?4)
             ON CONFLICT(key) DO UPDATE SET attempts = attempts + 1, updated = ?3, error = ?4,
                 state = CASE WHEN state = 'sending' THEN 'sending' ELSE 'failed' END",
            params![key.as_str(), source, now, error],
        )?;
        Ok(self.conn.query_row(
            "SELECT attempts FROM mails WHERE key = ?1",
            [key.as_str()],
            |r| r.get(0),
        )?)
    }

    /// Sets a mail aside for a human; its outgoing messages are dropped unsent.
    pub fn set_aside(
        &mut self,
        key: &MailKey,
        why: &str,
        now: SystemTime,
    ) -> Result<(), LedgerError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE mails SET state = 'set-aside', error = ?2, updated = ?3 WHERE key = ?1",
            params![key.as_str(), why, unix_seconds(now)],
        )?;
        tx.execute("DELETE FROM outgoing WHERE mail_key = ?1", [key.as_str()])?;
        tx.execute(
            "DELETE FROM sent WHERE mail_key = ?1 AND sent IS NULL",
            [key.as_str()],
        )?;
        if self.marking.is_some() {
            let source: Option<Source> = tx
                .query_row(
                    "SELECT source FROM mails WHERE key = ?1",
                    [key.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(source) = source {
                journal(&tx, &source, &Mark::Review, None)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Deletes finished entries last updated before `cutoff`; returns how many. Mail still
    /// in flight, set aside for a person, or doubtful and not yet reviewed (its forward may
    /// still be sent) is kept. What [`Ledger::finish_reading`] noted of a
    /// mail the ledger no longer has goes too.
    pub fn prune(&mut self, cutoff: SystemTime) -> Result<usize, LedgerError> {
        let pruned = self.conn.execute(
            "DELETE FROM mails WHERE state = 'done' AND updated < ?1
               AND NOT (doubtful = 1 AND reviewed IS NULL)
               AND NOT EXISTS (SELECT 1 FROM outgoing WHERE mail_key = mails.key)",
            [unix_seconds(cutoff)],
        )?;
        self.conn.execute(
            "DELETE FROM read_before
             WHERE NOT EXISTS (SELECT 1 FROM mails WHERE key = read_before.mail_key)",
            [],
        )?;
        self.conn.execute(
            "DELETE FROM sent WHERE NOT EXISTS (SELECT 1 FROM mails WHERE key = sent.mail_key)",
            [],
        )?;
        Ok(pruned)
    }

    /// Notes, before any work on it starts, which mail is in hand: if the process dies
    /// while it is (a panic that escaped, out of memory, an abort, a kill), the next start
    /// finds the note in [`Ledger::take_in_hand`].
    pub fn set_in_hand(&self, source: &Source, digest: &str) -> Result<(), LedgerError> {
        self.set_meta(IN_HAND, &format!("{digest}\t{source}"))
    }

    /// The work on the mail in hand (`digest`) ended, whatever its outcome: the note goes,
    /// and so does any count of deaths with it in hand.
    pub fn clear_in_hand(&self, digest: &str) -> Result<(), LedgerError> {
        self.conn.execute(
            "DELETE FROM meta WHERE key IN (?1, ?2)",
            params![IN_HAND, format!("{SUSPECT}{digest}")],
        )?;
        Ok(())
    }

    /// The mail that was in hand when the process last stopped without finishing it, as
    /// (digest, source, how many starts found it so); the note is cleared and the count
    /// kept, so a mail that kills the process every time is recognised and set aside.
    pub fn take_in_hand(&mut self) -> Result<Option<(String, String, u32)>, LedgerError> {
        let Some(note) = self.meta(IN_HAND)? else {
            return Ok(None);
        };
        let (digest, source) = note.split_once('\t').unwrap_or((note.as_str(), ""));
        let (digest, source) = (digest.to_string(), source.to_string());
        let count_key = format!("{SUSPECT}{digest}");
        let count = self
            .meta(&count_key)?
            .and_then(|c| c.parse::<u32>().ok())
            .unwrap_or(0)
            + 1;
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![count_key, count.to_string()],
        )?;
        tx.execute("DELETE FROM meta WHERE key = ?1", [IN_HAND])?;
        tx.commit()?;
        Ok(Some((digest, source, count)))
    }

    /// The digests of the mails the process died with in hand at least `deaths` times (see
    /// [`Ledger::take_in_hand`]): one query, so a pipeline can know them without asking the
    /// ledger about every mail.
    pub fn suspects(&self, deaths: u32) -> Result<Vec<String>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT key, value FROM meta WHERE substr(key, 1, length(?1)) = ?1")?;
        let rows = stmt.query_map([SUSPECT], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut found = Vec::new();
        for row in rows {
            let (key, value) = row?;
            if value.parse::<u32>().is_ok_and(|c| c >= deaths) {
                found.push(key[SUSPECT.len()..].to_string());
            }
        }
        Ok(found)
    }

    /// How many times the process died while this mail (by digest of its bytes) was in
    /// hand.
    pub fn suspect_count(&self, digest: &str) -> Result<u32, LedgerError> {
        Ok(self
            .meta(&format!("{SUSPECT}{digest}"))?
            .and_then(|c| c.parse().ok())
            .unwrap_or(0))
    }

    /// Mails set aside for a person, newest first: (key, source, when, why).
    pub fn set_aside_mails(&self) -> Result<Vec<SetAsideMail>, LedgerError> {
        let mut stmt = self.conn.prepare(
            "SELECT key, source, updated, COALESCE(error, '') FROM mails
             WHERE state = 'set-aside' ORDER BY updated DESC, key",
        )?;
        let rows = stmt.query_map([], set_aside_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The key of the mail whose key or source is `selector` (the newest, should a source
    /// name more than one).
    pub fn key_of(&self, selector: &str) -> Result<Option<String>, LedgerError> {
        Ok(self
            .conn
            .query_row(
                "SELECT key FROM mails WHERE key = ?1 OR source = ?1
                 ORDER BY key = ?1 DESC, first_seen DESC LIMIT 1",
                [selector],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Forgets set-aside mails whose key or source is `selector`, and any count of deaths
    /// with them in hand, so autosvar reads them as new the next time it sees them. Returns
    /// what was released. Mail that was answered is never released.
    pub fn release(&mut self, selector: &str) -> Result<Vec<SetAsideMail>, LedgerError> {
        let tx = self.conn.transaction()?;
        let found = {
            let mut stmt = tx.prepare(
                "SELECT key, source, updated, COALESCE(error, '') FROM mails
                 WHERE state = 'set-aside' AND (key = ?1 OR source = ?1)
                 ORDER BY updated DESC, key",
            )?;
            let rows = stmt.query_map([selector], set_aside_row)?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        for m in &found {
            tx.execute(
                "DELETE FROM mails WHERE key = ?1 AND state = 'set-aside'",
                [&m.key],
            )?;
            tx.execute("DELETE FROM sent WHERE mail_key = ?1", [&m.key])?;
            tx.execute(
                "DELETE FROM meta WHERE key = ?1",
                [format!("{SUSPECT}{}", m.key)],
            )?;
        }
        tx.commit()?;
        Ok(found)
    }

    /// A value kept between runs (e.g. an IMAP folder's UIDVALIDITY).
    pub fn meta(&self, key: &str) -> Result<Option<String>, LedgerError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), LedgerError> {
        set_meta_on(&self.conn, key, value)
    }

    /// Whether the ledger takes a write now (for `/readyz`): a write to `meta` in a
    /// transaction that is rolled back, so nothing is kept.
    ///
    /// # Errors
    /// When the file is read-only, the disk refuses, or the write lock is not had within
    /// the busy timeout.
    pub fn check_writable(&mut self) -> Result<(), LedgerError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        set_meta_on(&tx, "readyz", "writable")?;
        tx.rollback()?;
        Ok(())
    }

    /// The work on the mail in hand (`digest`, read from `source`) ended: as
    /// [`Ledger::clear_in_hand`], and, when the bytes could be read, a note that they are
    /// the mail `key`, so that [`Ledger::read_before`] can answer for them the next time
    /// without their being parsed. One commit. The note is only a cache: a missing one
    /// costs a parse, never a wrong answer.
    pub fn finish_reading(
        &mut self,
        source: &Source,
        digest: &str,
        key: Option<&MailKey>,
    ) -> Result<(), LedgerError> {
        // Prepared once: this runs for every mail.
        let tx = self.conn.transaction()?;
        tx.prepare_cached("DELETE FROM meta WHERE key IN (?1, ?2)")?
            .execute(params![IN_HAND, format!("{SUSPECT}{digest}")])?;
        if let Some(key) = key {
            tx.prepare_cached(
                "INSERT INTO read_before (source, digest, mail_key) VALUES (?1, ?2, ?3)
                 ON CONFLICT(source, digest) DO UPDATE SET mail_key = excluded.mail_key",
            )?
            .execute(params![source, digest, key.as_str()])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The mail these very bytes (`digest`) from this very `source` were read as before,
    /// and its state, when the ledger has it: asked before a mail is parsed.
    pub fn read_before(
        &self,
        source: &Source,
        digest: &str,
    ) -> Result<Option<(MailKey, State)>, LedgerError> {
        // Prepared once: this runs for every mail.
        Ok(self
            .conn
            .prepare_cached(
                "SELECT m.key, m.state FROM read_before r JOIN mails m ON m.key = r.mail_key
                 WHERE r.source = ?1 AND r.digest = ?2",
            )?
            .query_row(params![source, digest], |r| {
                Ok((
                    MailKey::from_stored(r.get(0)?),
                    State::parse(&r.get::<_, String>(1)?),
                ))
            })
            .optional()?)
    }
}

/// Sets a `meta` key on `conn` (the ledger's connection, or a transaction on it).
fn set_meta_on(conn: &Connection, key: &str, value: &str) -> Result<(), LedgerError> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(key: &str) -> Record {
        Record {
            key: key.into(),
            source: Source::from_stored("new/1"),
            action: Action::Reply,
            category: Some(Category::Pricing),
            desk: None,
            language: None,
            sensitive: false,
            confidence: None,
            doubtful: false,
            skip_reason: None,
            sender_hash: Some(sender_hash("Bo@X.example")),
            reply_id: Some(format!("r-{key}")),
            forward_id: None,
            subject: None,
            explain: None,
            sender_addresses: Vec::new(),
        }
    }

    fn out(key: &str) -> Pending {
        Pending {
            message: Outgoing {
                message_id: MessageId::from_stored(format!("r-{key}")),
                kind: MessageKind::Reply,
                to: "bo@x.example".into(),
                bytes: b"mail".to_vec(),
            },
            mail_key: key.into(),
            attempts: 0,
            started: None,
        }
    }

    /// The schema of the ledgers written before version 1, as they were.
    const SCHEMA_V0: &str = "
CREATE TABLE IF NOT EXISTS mails (
    key          TEXT PRIMARY KEY,
    source       TEXT NOT NULL,
    first_seen   INTEGER NOT NULL,
    updated      INTEGER NOT NULL,
    state        TEXT NOT NULL,
    action       TEXT,
    category     TEXT,
    desk         TEXT,
    language     TEXT,
    sensitive    INTEGER NOT NULL DEFAULT 0,
    confidence   REAL,
    skip_reason  TEXT,
    sender_hash  TEXT,
    reply_id     TEXT,
    forward_id   TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    error        TEXT
);
CREATE INDEX IF NOT EXISTS mails_sender ON mails(sender_hash, category, updated);
CREATE TABLE IF NOT EXISTS outgoing (
    message_id   TEXT PRIMARY KEY,
    mail_key     TEXT NOT NULL REFERENCES mails(key),
    kind         TEXT NOT NULL,
    envelope_to  TEXT NOT NULL,
    bytes        BLOB NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    started      INTEGER
);
CREATE TABLE IF NOT EXISTS unshown (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    source       TEXT NOT NULL,
    mark         TEXT NOT NULL,
    bytes        BLOB
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS read_before (
    source   TEXT NOT NULL,
    digest   TEXT NOT NULL,
    mail_key TEXT NOT NULL,
    PRIMARY KEY (source, digest)
) WITHOUT ROWID;
";

    #[test]
    fn an_old_ledger_is_migrated_when_opened_and_keeps_its_mails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite");
        {
            let old = Connection::open(&path).unwrap();
            old.execute_batch(SCHEMA_V0).unwrap();
            old.execute(
                "INSERT INTO mails (key, source, first_seen, updated, state, action, category,
                                    sender_hash, reply_id)
                 VALUES ('old@x', 'new/1', 100, 100, 'done', 'reply', 'pricing', ?1, 'r-old')",
                [sender_hash("bo@x.example")],
            )
            .unwrap();
            old.execute(
                "INSERT INTO outgoing (message_id, mail_key, kind, envelope_to, bytes)
                 VALUES ('f-old', 'old@x', 'forward', 'desk@x', x'00')",
                [],
            )
            .unwrap();
        }
        for round in 0..2 {
            // Twice: the migration is idempotent.
            let mut l = Ledger::open(&path).unwrap();
            let version: i64 = l
                .conn
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .unwrap();
            assert_eq!(version, SCHEMA_VERSION);
            let rows = l
                .activity(&ActivityQuery {
                    limit: 10,
                    ..ActivityQuery::default()
                })
                .unwrap();
            // The tally of mails per day is filled from the old mails too.
            let counted = l.counts(from_unix_seconds(0), Bucket::Day).unwrap();
            assert_eq!(
                (counted[0].bucket_start, counted[0].category, counted[0].n),
                (
                    from_unix_seconds(0),
                    Some(Category::Pricing),
                    1 + round as u64
                )
            );
            let oldest = rows.last().unwrap();
            assert_eq!(
                (oldest.key.as_str(), oldest.subject.as_deref()),
                ("old@x", None)
            );
            assert_eq!(l.pending().unwrap().len(), 1 - round);
            // What was sending before the upgrade is delivered after it.
            l.delivered("f-old", from_unix_seconds(200), false).unwrap();
            let mut r = rec("new");
            r.subject = Some("Pris?".into());
            l.record_done(&r, from_unix_seconds(300)).unwrap();
            assert_eq!(
                l.mail("new").unwrap().unwrap().row.subject.as_deref(),
                Some("Pris?")
            );
        }
    }

    #[test]
    fn a_version_1_ledger_gets_the_doubtful_column_and_a_review_index_that_knows_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.sqlite");
        {
            let mut l = Ledger::open(&path).unwrap();
            l.record_done(&rec("old"), from_unix_seconds(100)).unwrap();
            // Back to version 1: no `doubtful`, the review index of then.
            l.conn
                .execute_batch(
                    "DROP INDEX mails_review;
                     ALTER TABLE mails DROP COLUMN doubtful;
                     CREATE INDEX mails_review ON mails(first_seen, key) WHERE reviewed IS NULL
                        AND (state = 'set-aside' OR (state != 'failed' AND sensitive = 1));
                     PRAGMA user_version = 1;",
                )
                .unwrap();
        }
        let mut l = Ledger::open(&path).unwrap();
        let mut r = rec("doubtful");
        r.doubtful = true;
        r.confidence = Some(0.9);
        l.record_intent(&r, &[out("doubtful")], from_unix_seconds(200))
            .unwrap();
        let queue = l.review_queue(None, 10).unwrap();
        assert_eq!(queue.len(), 1, "{queue:#?}");
        assert!(queue[0].doubtful);
        assert!(!l.mail("old").unwrap().unwrap().row.doubtful);
        let plan: String = l
            .conn
            .query_row(
                &format!(
                    "EXPLAIN QUERY PLAN SELECT key FROM mails WHERE {}
                     ORDER BY first_seen DESC, key DESC",
                    activity::needs_review()
                ),
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("mails_review"), "{plan}");
    }

    #[test]
    fn a_subject_and_explanation_are_kept_on_one_line_and_bounded() {
        let mut l = Ledger::in_memory().unwrap();
        let mut r = rec("s");
        r.subject = Some(format!("\u{1b}[31mRed\r\nBcc: x{}", "é".repeat(500)));
        r.explain = Some(format!("a\nb\u{7}{}", "ø".repeat(MAX_EXPLAIN)));
        l.record_done(&r, from_unix_seconds(1)).unwrap();
        let d = l.mail("s").unwrap().unwrap();
        let subject = d.row.subject.unwrap();
        assert!(
            subject.starts_with(" [31mRed  Bcc: x") || subject.starts_with("[31mRed  Bcc: x"),
            "{subject}"
        );
        assert!(!subject.chars().any(char::is_control));
        assert_eq!(subject.chars().count(), MAX_SUBJECT);
        assert!(subject.ends_with('…'));
        let explanation = d.explanation.unwrap();
        assert!(explanation.starts_with("a\nb"));
        assert!(!explanation.contains('\u{7}'));
        assert!(explanation.len() <= MAX_EXPLAIN);
        assert!(explanation.ends_with('…'));
    }

    #[test]
    fn mask_addresses_hides_every_spelling_of_the_sender_only() {
        assert_eq!(
            mask_addresses(
                b"To: <Bo@X.example>, bo@x.example; ann@x.example",
                &["bo@x.example"]
            ),
            b"To: <[afsender]>, [afsender]; ann@x.example"
        );
        // Only what looks like an address is masked.
        assert_eq!(mask_addresses(b"a b", &["", "a"]), b"a b");
        assert_eq!(mask_addresses(b"", &["bo@x"]), b"");
    }

    #[test]
    fn a_record_s_typed_fields_are_stored_as_their_names() {
        let mut l = Ledger::in_memory().unwrap();
        let skipped = Record {
            action: Action::Skip,
            category: Some(Category::Technical),
            skip_reason: Some(SkipReason::RateLimited),
            desk: Some("kuit".into()),
            language: Some(Language::En),
            ..rec("s")
        };
        l.record_done(&skipped, from_unix_seconds(1)).unwrap();
        let language: (String, Language) = l
            .conn
            .query_row(
                "SELECT language, language FROM mails WHERE key = 's'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(language, ("en".into(), Language::En));
        let stored: (String, String, String, String) = l
            .conn
            .query_row(
                "SELECT action, category, skip_reason, desk FROM mails WHERE key = 's'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(
            stored,
            (
                "skip".into(),
                "technical".into(),
                "rate-limited".into(),
                "kuit".into()
            )
        );
        let typed: (Action, Category, SkipReason, DeskKey) = l
            .conn
            .query_row(
                "SELECT action, category, skip_reason, desk FROM mails WHERE key = 's'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(
            typed,
            (
                Action::Skip,
                Category::Technical,
                SkipReason::RateLimited,
                DeskKey::from("kuit")
            )
        );
    }

    #[test]
    fn a_message_kind_is_stored_as_its_name_and_read_back() {
        let mut l = Ledger::in_memory().unwrap();
        let mut forward = out("k");
        forward.message.message_id = MessageId::from_stored("f-k".into());
        forward.message.kind = MessageKind::Forward;
        l.record_intent(&rec("k"), &[out("k"), forward], from_unix_seconds(1))
            .unwrap();
        let stored: Vec<String> = l
            .conn
            .prepare("SELECT kind FROM outgoing ORDER BY kind")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(stored, ["forward", "reply"]);
        let kinds: Vec<MessageKind> = l
            .pending()
            .unwrap()
            .iter()
            .map(|o| o.message.kind)
            .collect();
        assert_eq!(kinds, [MessageKind::Reply, MessageKind::Forward]);
    }

    #[test]
    fn a_mail_in_hand_when_the_process_died_is_counted_until_handled() {
        let mut l = Ledger::in_memory().unwrap();
        assert_eq!(l.take_in_hand().unwrap(), None);
        for death in 1..=2 {
            l.set_in_hand(&Source::from_stored("INBOX/7"), "sha256:ab")
                .unwrap();
            // The process dies here; the next start finds the note.
            assert_eq!(
                l.take_in_hand().unwrap(),
                Some(("sha256:ab".into(), "INBOX/7".into(), death))
            );
            assert_eq!(l.take_in_hand().unwrap(), None);
            assert_eq!(l.suspect_count("sha256:ab").unwrap(), death);
            assert_eq!(l.suspects(death).unwrap(), ["sha256:ab"]);
            assert!(l.suspects(death + 1).unwrap().is_empty());
        }
        // Handled at last: note and count go.
        l.set_in_hand(&Source::from_stored("INBOX/7"), "sha256:ab")
            .unwrap();
        l.clear_in_hand("sha256:ab").unwrap();
        assert_eq!(l.take_in_hand().unwrap(), None);
        assert_eq!(l.suspect_count("sha256:ab").unwrap(), 0);
    }

    #[test]
    fn set_aside_mail_is_listed_and_released_but_answered_mail_never() {
        let mut l = Ledger::in_memory().unwrap();
        let now = from_unix_seconds(5);
        let key = MailKey::from_stored("sha256:ff".into());
        l.record_failure(&key, &Source::from_stored("INBOX/9"), "internal error", now)
            .unwrap();
        l.set_aside(&key, "internal error", now).unwrap();
        l.record_done(&rec("done@x"), now).unwrap();
        let listed = l.set_aside_mails().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(
            (
                listed[0].source.to_string().as_str(),
                listed[0].why.as_str()
            ),
            ("INBOX/9", "internal error")
        );
        assert!(l.release("done@x").unwrap().is_empty());
        assert_eq!(l.release("INBOX/9").unwrap().len(), 1);
        assert_eq!(l.state(&key).unwrap(), None);
        assert!(l
            .state(&MailKey::from_stored("done@x".into()))
            .unwrap()
            .is_some());
    }

    #[test]
    fn a_legacy_key_counts_only_for_its_own_sender() {
        let mut l = Ledger::in_memory().unwrap();
        l.record_done(&rec("id@x"), from_unix_seconds(1)).unwrap();
        let bo = sender_hash("Bo@X.example");
        assert_eq!(
            l.legacy_state("id@x", Some(&bo)).unwrap(),
            Some(State::Done)
        );
        assert_eq!(l.legacy_state("id@x", None).unwrap(), Some(State::Done));
        let eve = sender_hash("eve@x.example");
        assert_eq!(l.legacy_state("id@x", Some(&eve)).unwrap(), None);
        assert_eq!(l.legacy_state("other@x", Some(&bo)).unwrap(), None);
    }

    #[test]
    fn intent_then_delivery_finishes_a_mail() {
        let mut l = Ledger::in_memory().unwrap();
        let now = from_unix_seconds(1000);
        let key = MailKey::from_stored("a".into());
        assert_eq!(l.state(&key).unwrap(), None);
        l.record_intent(&rec("a"), &[out("a")], now).unwrap();
        assert_eq!(l.state(&key).unwrap(), Some((State::Sending, 0)));
        assert_eq!(l.pending().unwrap().len(), 1);
        l.begin_send("r-a", now).unwrap();
        assert_eq!(l.pending().unwrap()[0].attempts, 1);
        l.send_failed("r-a").unwrap();
        assert_eq!(l.pending().unwrap()[0].attempts, 0);
        l.delivered("r-a", now, true).unwrap();
        assert_eq!(l.state(&key).unwrap(), Some((State::Done, 0)));
        assert!(l.pending().unwrap().is_empty());
    }

    #[test]
    fn last_reply_is_per_sender_and_category() {
        let mut l = Ledger::in_memory().unwrap();
        l.record_intent(&rec("a"), &[out("a")], from_unix_seconds(1000))
            .unwrap();
        let h = sender_hash("bo@x.example");
        assert_eq!(
            l.last_reply(&h, "pricing").unwrap(),
            Some(from_unix_seconds(1000))
        );
        assert_eq!(l.last_reply(&h, "terms").unwrap(), None);
        assert_eq!(
            l.last_reply(&sender_hash("other@x"), "pricing").unwrap(),
            None
        );
    }

    #[test]
    fn failures_count_up_and_set_aside_drops_outgoing() {
        let mut l = Ledger::in_memory().unwrap();
        let key = MailKey::from_stored("b".into());
        let now = from_unix_seconds(5);
        assert_eq!(
            l.record_failure(&key, &Source::from_stored("new/2"), "boom", now)
                .unwrap(),
            1
        );
        assert_eq!(
            l.record_failure(&key, &Source::from_stored("new/2"), "boom", now)
                .unwrap(),
            2
        );
        l.record_intent(&rec("b"), &[out("b")], now).unwrap();
        l.set_aside(&key, "gave up", now).unwrap();
        assert_eq!(l.state(&key).unwrap().map(|s| s.0), Some(State::SetAside));
        assert!(l.pending().unwrap().is_empty());
    }

    #[test]
    fn prune_deletes_only_old_finished_entries() {
        let mut l = Ledger::in_memory().unwrap();
        l.record_done(&rec("old"), from_unix_seconds(100)).unwrap();
        l.record_done(&rec("new"), from_unix_seconds(10_000))
            .unwrap();
        l.record_intent(&rec("flight"), &[out("flight")], from_unix_seconds(100))
            .unwrap();
        assert_eq!(l.prune(from_unix_seconds(5_000)).unwrap(), 1);
        assert_eq!(l.state(&MailKey::from_stored("old".into())).unwrap(), None);
        assert!(l
            .state(&MailKey::from_stored("new".into()))
            .unwrap()
            .is_some());
        assert!(l
            .state(&MailKey::from_stored("flight".into()))
            .unwrap()
            .is_some());
        // A doubtful mail is kept until a person reviewed it (its forward may be sent).
        let mut doubtful = rec("doubtful");
        doubtful.doubtful = true;
        l.record_done(&doubtful, from_unix_seconds(100)).unwrap();
        assert_eq!(l.prune(from_unix_seconds(5_000)).unwrap(), 0);
        assert!(l.mark_reviewed("doubtful", from_unix_seconds(200)).unwrap());
        assert_eq!(l.prune(from_unix_seconds(5_000)).unwrap(), 1);
    }

    #[test]
    fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/ledger.sqlite");
        {
            let mut l = Ledger::open(&path).unwrap();
            l.record_done(&rec("c"), from_unix_seconds(1)).unwrap();
            l.set_meta("uidvalidity", "42").unwrap();
        }
        let l = Ledger::open(&path).unwrap();
        assert_eq!(
            l.state(&MailKey::from_stored("c".into()))
                .unwrap()
                .map(|s| s.0),
            Some(State::Done)
        );
        assert_eq!(l.meta("uidvalidity").unwrap().as_deref(), Some("42"));
    }

    #[test]
    fn each_outcome_journals_what_the_mailbox_must_show_until_it_is_shown() {
        let now = crate::clock::from_unix_seconds(1_800_000_000);
        let mut l = Ledger::in_memory().unwrap();
        // Without marking (a Maildir), nothing is journalled.
        l.record_intent(&rec("m"), &[out("m")], now).unwrap();
        l.delivered("r-m", now, true).unwrap();
        assert!(l.unshown().unwrap().is_empty());

        l.set_marking(Some(Marking {
            sent_copies: true,
            category_folders: true,
        }));
        let forward = Pending {
            message: Outgoing {
                message_id: MessageId::from_stored("f-a".into()),
                kind: MessageKind::Forward,
                ..out("a").message
            },
            ..out("a")
        };
        l.record_intent(&rec("a"), &[out("a"), forward], now)
            .unwrap();
        l.delivered("r-a", now, true).unwrap();
        let marks = |l: &Ledger| -> Vec<Mark> {
            l.unshown().unwrap().into_iter().map(|u| u.mark).collect()
        };
        // The mail waits for its forward: flagged and copied, not moved yet.
        assert_eq!(marks(&l), [Mark::Answered, Mark::SentCopy]);
        let copy = &l.unshown().unwrap()[1];
        assert_eq!(copy.bytes.as_deref(), Some(&b"mail"[..]));
        assert_eq!(copy.source, Source::from_stored("new/1"));
        // Found in Sent after a restart: no second copy.
        l.delivered("f-a", now, false).unwrap();
        assert_eq!(
            marks(&l)[2..],
            [Mark::Forwarded, Mark::Move(Category::Pricing)]
        );

        let ids: Vec<i64> = l.unshown().unwrap().iter().map(|u| u.id).collect();
        l.shown(&ids).unwrap();
        assert!(l.unshown().unwrap().is_empty());

        let mut skip = rec("s");
        skip.action = Action::Skip;
        skip.category = None;
        l.record_done(&skip, now).unwrap();
        assert_eq!(marks(&l), [Mark::Skipped, Mark::Move(Category::Other)]);

        l.record_intent(&rec("x"), &[out("x")], now).unwrap();
        l.set_aside(&MailKey::from_stored("x".into()), "why", now)
            .unwrap();
        assert_eq!(marks(&l)[2..], [Mark::Review]);
        l.show_again(&Source::from_stored("new/1")).unwrap();
        assert_eq!(marks(&l)[3..], [Mark::Review]);
    }

    #[cfg(unix)]
    #[test]
    fn the_ledger_is_private_and_keeps_a_sent_body_only_until_its_mail_is_pruned() {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("var/ledger.sqlite");
        let now = crate::clock::from_unix_seconds(1_800_000_000);
        let mut l = Ledger::open(&path).unwrap();
        let body =
            b"To: Bo <BO@x.example>\r\nSubject: x\r\n\r\nQUITE-UNIQUE-BODY-TEXT-4711".repeat(20);
        let mut o = out("a");
        o.message.bytes = body.clone();
        l.record_intent(&rec("a"), &[o], now).unwrap();
        l.delivered("r-a", now, false).unwrap();
        let checkpoint = |l: &Ledger| {
            l.conn
                .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
                .unwrap()
        };
        checkpoint(&l);
        assert_eq!(mode(&dir.path().join("var")), 0o700);
        for f in ["ledger.sqlite", "ledger.sqlite-wal", "ledger.sqlite-shm"] {
            assert_eq!(mode(&dir.path().join("var").join(f)), 0o600, "{f}");
        }
        let files = || -> Vec<u8> {
            ["ledger.sqlite", "ledger.sqlite-wal"]
                .iter()
                .flat_map(|f| std::fs::read(dir.path().join("var").join(f)).unwrap_or_default())
                .collect()
        };
        let holds = |bytes: &[u8], needle: &[u8]| {
            bytes
                .windows(needle.len())
                .any(|w| w.eq_ignore_ascii_case(needle))
        };
        // Kept for the console as sent, but for the recipient's address.
        let kept = files();
        assert!(holds(&kept, b"QUITE-UNIQUE-BODY-TEXT-4711"));
        assert!(
            !holds(&kept, b"bo@x.example"),
            "the address is kept in clear"
        );
        // Pruned with its mail, and overwritten (secure_delete), not left in a free page.
        assert_eq!(l.prune(now + std::time::Duration::from_secs(1)).unwrap(), 1);
        checkpoint(&l);
        drop(l);
        assert!(
            !holds(&files(), b"QUITE-UNIQUE-BODY-TEXT-4711"),
            "a pruned body lingers"
        );
        // A ledger an older version left readable by all is made private when opened.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let _l = Ledger::open(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn bytes_read_before_are_known_until_their_mail_is_pruned() {
        let mut l = Ledger::in_memory().unwrap();
        let key = MailKey::from_stored("a@x#1".into());
        assert_eq!(
            l.read_before(&Source::from_stored("new/1"), "sha256:aa")
                .unwrap(),
            None
        );
        l.set_in_hand(&Source::from_stored("new/1"), "sha256:aa")
            .unwrap();
        l.finish_reading(&Source::from_stored("new/1"), "sha256:aa", Some(&key))
            .unwrap();
        assert_eq!(l.meta(IN_HAND).unwrap(), None);
        // Noted, but the ledger has no record of the mail: nothing is known.
        assert_eq!(
            l.read_before(&Source::from_stored("new/1"), "sha256:aa")
                .unwrap(),
            None
        );
        l.record_done(&rec("a@x#1"), from_unix_seconds(10)).unwrap();
        assert_eq!(
            l.read_before(&Source::from_stored("new/1"), "sha256:aa")
                .unwrap(),
            Some((key.clone(), State::Done))
        );
        // Other bytes, or the same bytes from elsewhere, are not these.
        assert_eq!(
            l.read_before(&Source::from_stored("new/1"), "sha256:bb")
                .unwrap(),
            None
        );
        assert_eq!(
            l.read_before(&Source::from_stored("new/2"), "sha256:aa")
                .unwrap(),
            None
        );
        l.prune(from_unix_seconds(20)).unwrap();
        assert_eq!(
            l.read_before(&Source::from_stored("new/1"), "sha256:aa")
                .unwrap(),
            None
        );
        let left: u32 = l
            .conn
            .query_row("SELECT COUNT(*) FROM read_before", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
    }
}
