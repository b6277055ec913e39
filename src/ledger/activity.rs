//! What autosvar did, read back for the HR console: the activity list (newest first, by
//! sender hash, category or outcome, a page at a time), one mail with its explanation and
//! the messages as sent, counts per day or week, and the mails that need a person.
//!
//! Read-only but for [`Ledger::mark_reviewed`]; meant for a [`Ledger`] the console opens
//! beside the daemon's (WAL: a reader never waits for the writer). Every list is a keyset
//! page (`first_seen DESC, key DESC`, never `OFFSET`) walked along an index, so a page costs
//! the same at 100,000 mails as at 100. It never returns a sender's address (the ledger has
//! only its hash) and never writes anything a mail decides.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, OptionalExtension};

use super::{Ledger, LedgerError};
use crate::clock::{from_unix_seconds, unix_seconds};
use crate::types::{Category, DeskKey, Language, MessageKind, SkipReason};

/// A confidence below this puts an answered mail in the review queue. The rules'
/// `min-confidence` (0.25 shipped) is where the classifier gives up and says `other`, which
/// is in the queue anyway; this catches the answers it was barely sure of.
pub const LOW_CONFIDENCE: f64 = 0.5;

/// The longest page any list returns.
pub const MAX_PAGE: u32 = 500;

/// The mails that need a person, as an SQL condition on `mails` (also the partial index's
/// `WHERE`, so it must stay one expression, written the same in both): not yet closed, and
/// set aside, sensitive, or answered as `other` or with a low confidence.
fn needs_review() -> String {
    format!(
        "reviewed IS NULL AND (state = 'set-aside' OR (state != 'failed' AND sensitive = 1)
         OR (state != 'failed' AND action = 'reply'
             AND (category = 'other' OR confidence < {LOW_CONFIDENCE:?})))"
    )
}

/// The partial index of the review queue (created by the ledger's migration).
pub(super) fn review_index() -> String {
    format!(
        "CREATE INDEX IF NOT EXISTS mails_review ON mails(first_seen, key) WHERE {};",
        needs_review()
    )
}

/// What became of a mail, as the console shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// Answered (and, with a desk, forwarded): every message delivered.
    Replied,
    /// Not answered, for a [`SkipReason`].
    Skipped,
    /// Left for a person.
    SetAside,
    /// Failed; will be tried again.
    Failed,
    /// Decided; its messages are not all delivered yet.
    Sending,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Replied,
        Outcome::Skipped,
        Outcome::SetAside,
        Outcome::Failed,
        Outcome::Sending,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Outcome::Replied => "replied",
            Outcome::Skipped => "skipped",
            Outcome::SetAside => "set-aside",
            Outcome::Failed => "failed",
            Outcome::Sending => "sending",
        }
    }

    pub fn from_name(name: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.name() == name)
    }

    /// From the stored state and action.
    fn of(state: &str, action: Option<&str>) -> Outcome {
        match (state, action) {
            ("sending", _) => Outcome::Sending,
            ("failed", _) => Outcome::Failed,
            ("done", Some("reply")) => Outcome::Replied,
            ("done", _) => Outcome::Skipped,
            _ => Outcome::SetAside,
        }
    }

    /// The SQL condition that selects it (on `state` and `action`, which an index holds).
    fn condition(self) -> &'static str {
        match self {
            Outcome::Replied => "state = 'done' AND action = 'reply'",
            Outcome::Skipped => "state = 'done' AND (action IS NULL OR action != 'reply')",
            Outcome::SetAside => "state = 'set-aside'",
            Outcome::Failed => "state = 'failed'",
            Outcome::Sending => "state = 'sending'",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a page ended: the next page starts after it. Shown as `SECONDS:KEY` (a query
/// parameter for the console; the key may hold any character but a NUL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityCursor {
    /// The last row's `first_seen`, in Unix seconds.
    pub at: i64,
    /// The last row's key.
    pub key: String,
}

impl fmt::Display for ActivityCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.at, self.key)
    }
}

impl FromStr for ActivityCursor {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (at, key) = s.split_once(':').ok_or("a cursor is SECONDS:KEY")?;
        let at = at.parse().map_err(|_| "a cursor starts with seconds")?;
        if key.is_empty() || key.len() > 2048 {
            return Err("a cursor's key is 1 to 2048 bytes");
        }
        Ok(ActivityCursor {
            at,
            key: key.to_string(),
        })
    }
}

/// Which mails [`Ledger::activity`] lists; `None` is any.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActivityQuery {
    /// [`super::sender_hash`] of the address the person typed.
    pub sender_hash: Option<String>,
    pub category: Option<Category>,
    pub outcome: Option<Outcome>,
    /// Only mails after this one in the newest-first order (the last row of the page
    /// before).
    pub before: Option<ActivityCursor>,
    /// Rows wanted, 1 to [`MAX_PAGE`] (clamped).
    pub limit: u32,
}

/// One mail in a list.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityRow {
    pub key: String,
    /// When autosvar first had it.
    pub at: SystemTime,
    /// When its record last changed (decided, delivered, set aside).
    pub updated: SystemTime,
    /// `None`: never classified (it could not be read, or was recorded unread).
    pub category: Option<Category>,
    pub outcome: Outcome,
    pub skip_reason: Option<SkipReason>,
    pub desk: Option<DeskKey>,
    pub language: Option<Language>,
    pub confidence: Option<f64>,
    pub sensitive: bool,
    /// Without CPR numbers; `None` for mails recorded before the ledger kept subjects.
    pub subject: Option<String>,
    pub sender_hash: Option<String>,
    /// Why it was set aside or failed.
    pub why: Option<String>,
    /// When a person closed it in the review queue.
    pub reviewed: Option<SystemTime>,
}

impl ActivityRow {
    /// The cursor for the page after this row.
    pub fn cursor(&self) -> ActivityCursor {
        ActivityCursor {
            at: unix_seconds(self.at),
            key: self.key.clone(),
        }
    }
}

/// A message as autosvar sent it (the sender's address masked: [`super::SENDER_MASK`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    pub message_id: String,
    pub kind: MessageKind,
    /// When it was delivered; `None` while it waits.
    pub sent: Option<SystemTime>,
    pub bytes: Vec<u8>,
}

/// One mail, opened.
#[derive(Debug, Clone, PartialEq)]
pub struct MailDetail {
    pub row: ActivityRow,
    /// Why it was decided: `autosvar classify --explain`'s summary at decision time.
    pub explanation: Option<String>,
    /// The reply, then the forward.
    pub sent: Vec<SentMessage>,
}

/// How [`Ledger::counts`] groups mails by time (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// From midnight UTC.
    Day,
    /// From Monday midnight UTC.
    Week,
}

/// Mails of one category and outcome that arrived in one bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountRow {
    pub bucket_start: SystemTime,
    /// `None`: never classified.
    pub category: Option<Category>,
    pub outcome: Outcome,
    pub n: u64,
}

/// The columns of an [`ActivityRow`], in the order [`activity_row`] reads them.
const ROW_COLUMNS: &str = "key, first_seen, updated, category, state, action, skip_reason, desk,
    language, confidence, sensitive, subject, sender_hash, error, reviewed";

fn activity_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ActivityRow> {
    // Names a newer version wrote, unknown here, read as nothing rather than failing the page.
    let text = |i: usize| r.get::<_, Option<String>>(i);
    let state: String = r.get(4)?;
    let action = text(5)?;
    Ok(ActivityRow {
        key: r.get(0)?,
        at: from_unix_seconds(r.get(1)?),
        updated: from_unix_seconds(r.get(2)?),
        category: text(3)?.as_deref().and_then(Category::from_name),
        outcome: Outcome::of(&state, action.as_deref()),
        skip_reason: text(6)?.as_deref().and_then(SkipReason::from_name),
        desk: text(7)?.as_deref().map(DeskKey::from),
        language: text(8)?.as_deref().and_then(Language::from_code),
        confidence: r.get(9)?,
        sensitive: r.get(10)?,
        subject: text(11)?,
        sender_hash: text(12)?,
        why: text(13)?,
        reviewed: r.get::<_, Option<i64>>(14)?.map(from_unix_seconds),
    })
}

fn clamp(limit: u32) -> i64 {
    i64::from(limit.clamp(1, MAX_PAGE))
}

impl Ledger {
    /// Mails newest first (by when autosvar first had them), filtered, one page: pass the
    /// last row's [`ActivityRow::cursor`] as `before` for the next.
    ///
    /// # Errors
    /// Only SQLite errors.
    pub fn activity(&self, q: &ActivityQuery) -> Result<Vec<ActivityRow>, LedgerError> {
        let mut conditions: Vec<String> = Vec::new();
        let mut values: Vec<Value> = Vec::new();
        if let Some(h) = &q.sender_hash {
            values.push(Value::Text(h.clone()));
            conditions.push(format!("sender_hash = ?{}", values.len()));
        }
        if let Some(c) = q.category {
            values.push(Value::Text(c.name().into()));
            conditions.push(format!("category = ?{}", values.len()));
        }
        if let Some(o) = q.outcome {
            conditions.push(format!("({})", o.condition()));
        }
        self.page(conditions, values, q.before.as_ref(), q.limit)
    }

    /// The mails that need a person, newest first, one page: set aside (flagged), sensitive,
    /// or answered as `other` or below [`LOW_CONFIDENCE`]; until [`Ledger::mark_reviewed`].
    ///
    /// # Errors
    /// Only SQLite errors.
    pub fn review_queue(
        &self,
        before: Option<&ActivityCursor>,
        limit: u32,
    ) -> Result<Vec<ActivityRow>, LedgerError> {
        self.page(vec![needs_review()], Vec::new(), before, limit)
    }

    /// One page of rows meeting every condition (`values` bound as `?1`, `?2`, ...).
    fn page(
        &self,
        mut conditions: Vec<String>,
        mut values: Vec<Value>,
        before: Option<&ActivityCursor>,
        limit: u32,
    ) -> Result<Vec<ActivityRow>, LedgerError> {
        if let Some(c) = before {
            values.push(Value::Integer(c.at));
            values.push(Value::Text(c.key.clone()));
            conditions.push(format!(
                "(first_seen, key) < (?{}, ?{})",
                values.len() - 1,
                values.len()
            ));
        }
        values.push(Value::Integer(clamp(limit)));
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {ROW_COLUMNS} FROM mails {filter}
             ORDER BY first_seen DESC, key DESC LIMIT ?{}",
            values.len()
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(values), activity_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One mail by its key, with its explanation and the messages as sent (reply first).
    ///
    /// # Errors
    /// Only SQLite errors.
    pub fn mail(&self, key: &str) -> Result<Option<MailDetail>, LedgerError> {
        let found = self
            .conn
            .prepare_cached(&format!(
                "SELECT {ROW_COLUMNS}, explanation FROM mails WHERE key = ?1"
            ))?
            .query_row([key], |r| {
                Ok((activity_row(r)?, r.get::<_, Option<String>>(15)?))
            })
            .optional()?;
        let Some((row, explanation)) = found else {
            return Ok(None);
        };
        let mut stmt = self.conn.prepare_cached(
            "SELECT message_id, kind, sent, bytes FROM sent WHERE mail_key = ?1
             ORDER BY kind DESC, message_id",
        )?;
        let sent = stmt
            .query_map([key], |r| {
                Ok(SentMessage {
                    message_id: r.get(0)?,
                    kind: r.get(1)?,
                    sent: r.get::<_, Option<i64>>(2)?.map(from_unix_seconds),
                    bytes: r.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(Some(MailDetail {
            row,
            explanation,
            sent,
        }))
    }

    /// How many mails of each category and outcome arrived in each day or week since
    /// `since`, oldest bucket first.
    ///
    /// # Errors
    /// Only SQLite errors.
    pub fn counts(&self, since: SystemTime, bucket: Bucket) -> Result<Vec<CountRow>, LedgerError> {
        const DAY: i64 = 86_400;
        // 1970-01-01 was a Thursday: weeks start four days later, on Mondays.
        let (size, offset) = match bucket {
            Bucket::Day => (DAY, 0),
            Bucket::Week => (7 * DAY, 4 * DAY),
        };
        let mut stmt = self.conn.prepare_cached(
            "SELECT first_seen - (((first_seen - ?2) % ?3) + ?3) % ?3 AS b,
                    category, state, action, COUNT(*)
             FROM mails WHERE first_seen >= ?1
             GROUP BY b, category, state, action",
        )?;
        let rows = stmt.query_map(params![unix_seconds(since), offset, size], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?;
        // (bucket, category, outcome): several states and actions can be one outcome.
        let mut merged: BTreeMap<(i64, Option<Category>, Outcome), u64> = BTreeMap::new();
        for row in rows {
            let (b, category, state, action, n) = row?;
            let category = category.as_deref().and_then(Category::from_name);
            let outcome = Outcome::of(&state, action.as_deref());
            *merged.entry((b, category, outcome)).or_default() += u64::try_from(n).unwrap_or(0);
        }
        Ok(merged
            .into_iter()
            .map(|((b, category, outcome), n)| CountRow {
                bucket_start: from_unix_seconds(b),
                category,
                outcome,
                n,
            })
            .collect())
    }

    /// A person closed this mail in the review queue ("no answer needed", or answered by
    /// hand). Returns whether it was open.
    ///
    /// # Errors
    /// Only SQLite errors.
    pub fn mark_reviewed(&mut self, key: &str, now: SystemTime) -> Result<bool, LedgerError> {
        Ok(self.conn.execute(
            "UPDATE mails SET reviewed = ?2 WHERE key = ?1 AND reviewed IS NULL",
            params![key, unix_seconds(now)],
        )? > 0)
    }
}
