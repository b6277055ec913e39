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
use crate::types::{Category, DeskKey, Language, MessageKind, SkipReason, Source};

/// A confidence below this puts an answered mail in the review queue. The rules'
/// `min-confidence` (0.25 shipped) is where the classifier gives up and says `other`, which
/// is in the queue anyway; this catches the answers it was barely sure of.
pub const LOW_CONFIDENCE: f64 = 0.5;

/// The longest page any list returns.
pub const MAX_PAGE: u32 = 500;

/// The mails that need a person, as an SQL condition on `mails` (also the partial index's
/// `WHERE`, so it must stay one expression, written the same in both): not yet closed, and
/// set aside, sensitive, doubtful (acknowledged, its forward held), or answered as `other`
/// or with a low confidence.
pub(super) fn needs_review() -> String {
    format!(
        "reviewed IS NULL AND (state = 'set-aside'
         OR (state != 'failed' AND (sensitive = 1 OR doubtful = 1))
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
}

/// A mail's [`Outcome`] name as SQL over `state` and `action`; an index holds it
/// (`mails_outcome_seen`), so a filter must use this very text.
pub(super) const OUTCOME_SQL: &str =
    "CASE WHEN state = 'done' AND action = 'reply' THEN 'replied' \
     WHEN state = 'done' THEN 'skipped' ELSE state END";

/// [`OUTCOME_SQL`] of a trigger's `NEW` or `OLD` row.
fn outcome_of(row: &str) -> String {
    format!(
        "CASE WHEN {row}.state = 'done' AND {row}.action = 'reply' THEN 'replied' \
         WHEN {row}.state = 'done' THEN 'skipped' ELSE {row}.state END"
    )
}

/// The SQL that keeps `tally` (mails per UTC day, category and outcome) equal to what
/// `mails` holds, through every insert, change and delete, so [`Ledger::counts`] reads a
/// few thousand rows instead of every mail. Run by the migration; fills the table from
/// `mails` when it is new (`fill`).
pub(super) fn tally_schema(fill: bool) -> String {
    let key = |row: &str| {
        format!(
            "{row}.first_seen - {row}.first_seen % 86400, COALESCE({row}.category, ''), {}",
            outcome_of(row)
        )
    };
    let add = |row: &str, n: i32| {
        format!(
            // Not `INSERT OR IGNORE`: the conflict clause of the statement that fired the
            // trigger (an upsert's) would override it.
            "INSERT INTO tally (day, category, outcome, n) SELECT {k}, 0
              WHERE NOT EXISTS (SELECT 1 FROM tally WHERE (day, category, outcome) = ({k}));
             UPDATE tally SET n = n + ({n})
              WHERE (day, category, outcome) = ({k});",
            k = key(row)
        )
    };
    let mut sql = format!(
        "CREATE TABLE IF NOT EXISTS tally (
            day      INTEGER NOT NULL,
            category TEXT NOT NULL,
            outcome  TEXT NOT NULL,
            n        INTEGER NOT NULL,
            PRIMARY KEY (day, category, outcome)
         ) WITHOUT ROWID;
         CREATE TRIGGER IF NOT EXISTS tally_insert AFTER INSERT ON mails BEGIN {} END;
         CREATE TRIGGER IF NOT EXISTS tally_update
            AFTER UPDATE OF first_seen, state, action, category ON mails BEGIN {} {} END;
         CREATE TRIGGER IF NOT EXISTS tally_delete AFTER DELETE ON mails BEGIN {} END;",
        add("NEW", 1),
        add("OLD", -1),
        add("NEW", 1),
        add("OLD", -1),
    );
    if fill {
        sql.push_str(&format!(
            "INSERT INTO tally (day, category, outcome, n)
             SELECT first_seen - first_seen % 86400 AS d, COALESCE(category, '') AS c,
                    {OUTCOME_SQL} AS o, COUNT(*)
             FROM mails GROUP BY d, c, o;"
        ));
    }
    sql
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
    /// Only the mails waiting for review ([`Ledger::review_queue`]'s).
    pub review: bool,
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
    /// Where it came from (an IMAP UID, a Maildir file).
    pub source: Source,
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
    /// The classifier was not sure of `category`: the sender got the short
    /// acknowledgement, and a technical guess's desk forward was held for a person.
    pub doubtful: bool,
    /// A desk forward was written for it (sent, or on its way).
    pub forwarded: bool,
    /// Waiting for a person: in [`Ledger::review_queue`].
    pub waiting_review: bool,
}

impl ActivityRow {
    /// A doubtful technical guess whose desk forward is held for a person (not yet sent).
    pub fn forward_held(&self) -> bool {
        self.doubtful && self.category == Some(Category::Technical) && !self.forwarded
    }
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
fn row_columns() -> String {
    format!(
        "key, first_seen, updated, category, state, action, skip_reason, desk,
         language, confidence, sensitive, subject, sender_hash, error, reviewed, source,
         doubtful, forward_id IS NOT NULL, COALESCE(({}), 0)",
        needs_review()
    )
}

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
        source: r.get(15)?,
        doubtful: r.get(16)?,
        forwarded: r.get(17)?,
        waiting_review: r.get(18)?,
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
            values.push(Value::Text(o.name().into()));
            conditions.push(format!("{OUTCOME_SQL} = ?{}", values.len()));
        }
        if q.review {
            conditions.push(needs_review());
        }
        self.page(conditions, values, q.before.as_ref(), q.limit)
    }

    /// The mails that need a person, newest first, one page: set aside (flagged), sensitive,
    /// doubtful, or answered as `other` or below [`LOW_CONFIDENCE`]; until
    /// [`Ledger::mark_reviewed`].
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

    /// How many mails wait for review (what [`Ledger::review_queue`] pages through),
    /// counted along its partial index.
    ///
    /// # Errors
    /// Only SQLite errors.
    pub fn review_waiting(&self) -> Result<u64, LedgerError> {
        let n: i64 = self
            .conn
            .prepare_cached(&format!(
                "SELECT COUNT(*) FROM mails INDEXED BY mails_review WHERE {}",
                needs_review()
            ))?
            .query_row([], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
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
            "SELECT {} FROM mails {filter}
             ORDER BY first_seen DESC, key DESC LIMIT ?{}",
            row_columns(),
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
                "SELECT {}, explanation FROM mails WHERE key = ?1",
                row_columns()
            ))?
            .query_row([key], |r| {
                Ok((activity_row(r)?, r.get::<_, Option<String>>(19)?))
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

    /// How many mails of each category and outcome arrived in each day or week, from the
    /// start of the UTC day that holds `since`, oldest bucket first. Mails pruned from the
    /// ledger are not counted.
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
        let since = unix_seconds(since);
        let mut stmt = self.conn.prepare_cached(
            "SELECT day - (((day - ?2) % ?3) + ?3) % ?3 AS b, category, outcome, SUM(n)
             FROM tally WHERE day >= ?1 AND n > 0
             GROUP BY b, category, outcome",
        )?;
        let rows = stmt.query_map(params![since - since % DAY, offset, size], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        // (bucket, category, outcome); an outcome a newer version wrote counts as set aside.
        let mut merged: BTreeMap<(i64, Option<Category>, Outcome), u64> = BTreeMap::new();
        for row in rows {
            let (b, category, outcome, n) = row?;
            let category = Category::from_name(&category);
            let outcome = Outcome::from_name(&outcome).unwrap_or(Outcome::SetAside);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{sender_hash, Pending, Record, SENDER_MASK};
    use crate::types::{Action, MessageId, Outgoing, Source};

    fn at(secs: i64) -> SystemTime {
        from_unix_seconds(secs)
    }

    fn rec(key: &str, category: Category, sender: &str) -> Record {
        Record {
            key: key.into(),
            source: Source::from_stored(&format!("new/{key}")),
            action: Action::Reply,
            category: Some(category),
            desk: None,
            language: Some(Language::Da),
            sensitive: false,
            confidence: Some(0.9),
            doubtful: false,
            skip_reason: None,
            sender_hash: Some(sender_hash(sender)),
            reply_id: Some(format!("r-{key}")),
            forward_id: None,
            subject: Some(format!("subject of {key}")),
            explain: Some(format!("decision:   reply\ncategory:   {category}")),
            sender_addresses: vec![sender.into()],
        }
    }

    fn message(key: &str, kind: MessageKind, to: &str, bytes: &str) -> Pending {
        Pending {
            message: Outgoing {
                message_id: MessageId::from_stored(format!("{kind}-{key}")),
                kind,
                to: to.into(),
                bytes: bytes.as_bytes().to_vec(),
            },
            mail_key: key.into(),
            attempts: 0,
            started: None,
        }
    }

    /// A replied mail (reply delivered) at `t`.
    fn replied(l: &mut Ledger, key: &str, category: Category, sender: &str, t: i64) {
        let r = rec(key, category, sender);
        let reply = message(key, MessageKind::Reply, sender, "To: x\r\n\r\nsvar");
        l.record_intent(&r, &[reply], at(t)).unwrap();
        l.delivered(&format!("reply-{key}"), at(t), false).unwrap();
    }

    fn skipped(l: &mut Ledger, key: &str, sender: &str, t: i64) {
        let r = Record {
            action: Action::Skip,
            category: Some(Category::Other),
            skip_reason: Some(SkipReason::AutoReply),
            reply_id: None,
            ..rec(key, Category::Other, sender)
        };
        l.record_done(&r, at(t)).unwrap();
    }

    fn keys(rows: &[ActivityRow]) -> Vec<&str> {
        rows.iter().map(|r| r.key.as_str()).collect()
    }

    fn query(limit: u32) -> ActivityQuery {
        ActivityQuery {
            limit,
            ..ActivityQuery::default()
        }
    }

    #[test]
    fn activity_pages_newest_first_by_cursor_without_gaps_or_repeats() {
        let mut l = Ledger::in_memory().unwrap();
        // Two mails share a second: the key orders them.
        for (key, t) in [
            ("a", 10),
            ("b", 20),
            ("c", 20),
            ("d", 30),
            ("e", 40),
            ("f", 50),
        ] {
            replied(&mut l, key, Category::Pricing, "bo@x.example", t);
        }
        let mut seen = Vec::new();
        let mut q = query(4);
        loop {
            let page = l.activity(&q).unwrap();
            assert!(page.len() <= 4);
            let Some(last) = page.last() else { break };
            // The cursor survives the trip through a URL as text.
            q.before = Some(last.cursor().to_string().parse().unwrap());
            seen.extend(page.iter().map(|r| r.key.clone()));
        }
        assert_eq!(seen, ["f", "e", "d", "c", "b", "a"]);
        let first = &l.activity(&query(1)).unwrap()[0];
        assert_eq!(
            (first.at, first.outcome, first.category),
            (at(50), Outcome::Replied, Some(Category::Pricing))
        );
        assert_eq!(first.subject.as_deref(), Some("subject of f"));
        // A limit is clamped, never unbounded or zero.
        assert_eq!(l.activity(&query(0)).unwrap().len(), 1);
        assert!("x".parse::<ActivityCursor>().is_err());
        assert!("12:".parse::<ActivityCursor>().is_err());
        assert_eq!(
            "12:a:b".parse::<ActivityCursor>().unwrap(),
            ActivityCursor {
                at: 12,
                key: "a:b".into()
            }
        );
    }

    #[test]
    fn activity_filters_by_sender_category_and_outcome() {
        let mut l = Ledger::in_memory().unwrap();
        replied(&mut l, "p1", Category::Pricing, "bo@x.example", 1);
        replied(&mut l, "t1", Category::Technical, "eve@y.example", 2);
        skipped(&mut l, "s1", "Bo@X.example", 3);
        l.record_intent(
            &rec("a1", Category::Terms, "bo@x.example"),
            &[message("a1", MessageKind::Reply, "bo@x.example", "x")],
            at(4),
        )
        .unwrap();
        l.set_aside(
            &crate::parse::MailKey::from_stored("a1".into()),
            "refused",
            at(5),
        )
        .unwrap();
        let find = |q: ActivityQuery| -> Vec<String> {
            keys(&l.activity(&ActivityQuery { limit: 50, ..q }).unwrap())
                .into_iter()
                .map(String::from)
                .collect()
        };
        // Typed in another case, hashed the same way.
        let bo = Some(sender_hash(" BO@x.example "));
        assert_eq!(
            find(ActivityQuery {
                sender_hash: bo.clone(),
                ..query(0)
            }),
            ["a1", "s1", "p1"]
        );
        assert_eq!(
            find(ActivityQuery {
                sender_hash: bo,
                outcome: Some(Outcome::Replied),
                ..query(0)
            }),
            ["p1"]
        );
        assert_eq!(
            find(ActivityQuery {
                category: Some(Category::Technical),
                ..query(0)
            }),
            ["t1"]
        );
        assert_eq!(
            find(ActivityQuery {
                outcome: Some(Outcome::Skipped),
                ..query(0)
            }),
            ["s1"]
        );
        let aside = l
            .activity(&ActivityQuery {
                outcome: Some(Outcome::SetAside),
                ..query(5)
            })
            .unwrap();
        assert_eq!(keys(&aside), ["a1"]);
        assert_eq!(aside[0].why.as_deref(), Some("refused"));
        assert!(find(ActivityQuery {
            sender_hash: Some(sender_hash("nobody@x.example")),
            ..query(0)
        })
        .is_empty());
    }

    #[test]
    fn a_mail_opens_with_its_explanation_and_messages_as_sent_without_the_address() {
        let mut l = Ledger::in_memory().unwrap();
        let mut r = rec("m", Category::Technical, "bo@x.example");
        r.desk = Some("cimt".into());
        r.forward_id = Some("forward-m".into());
        // Reply-To differs from From: both are masked.
        r.sender_addresses = vec!["bo@x.example".into(), "Bo.Private@Home.example".into()];
        let reply = message(
            "m",
            MessageKind::Reply,
            "bo.private@home.example",
            "To: Bo <bo.private@home.example>\r\n\r\nHej Bo",
        );
        let forward = message(
            "m",
            MessageKind::Forward,
            "cimt@desk.example",
            "To: cimt@desk.example\r\nReply-To: BO.PRIVATE@HOME.EXAMPLE\r\n\r\nFrom: bo@x.example",
        );
        l.record_intent(&r, &[reply, forward], at(100)).unwrap();
        l.delivered("reply-m", at(101), false).unwrap();
        let d = l.mail("m").unwrap().unwrap();
        assert_eq!(d.row.outcome, Outcome::Sending);
        assert_eq!(
            d.explanation.as_deref(),
            Some("decision:   reply\ncategory:   technical")
        );
        assert_eq!(d.sent.len(), 2);
        assert_eq!(
            (d.sent[0].kind, d.sent[0].sent),
            (MessageKind::Reply, Some(at(101)))
        );
        assert_eq!(
            String::from_utf8_lossy(&d.sent[0].bytes),
            format!("To: Bo <{SENDER_MASK}>\r\n\r\nHej Bo")
        );
        // The desk's address stays: only the sender's are hidden.
        assert_eq!(
            String::from_utf8_lossy(&d.sent[1].bytes),
            format!("To: cimt@desk.example\r\nReply-To: {SENDER_MASK}\r\n\r\nFrom: {SENDER_MASK}")
        );
        assert_eq!(
            (d.sent[1].kind, d.sent[1].sent),
            (MessageKind::Forward, None)
        );
        l.delivered("forward-m", at(102), false).unwrap();
        let d = l.mail("m").unwrap().unwrap();
        assert_eq!(d.row.outcome, Outcome::Replied);
        assert_eq!(d.sent[1].sent, Some(at(102)));
        assert_eq!(d.row.desk.as_deref(), Some("cimt"));
        assert!(l.mail("nothing").unwrap().is_none());
    }

    #[test]
    fn a_message_never_sent_is_not_kept_and_a_pruned_mail_takes_its_messages() {
        let mut l = Ledger::in_memory().unwrap();
        let r = rec("n", Category::Pricing, "bo@x.example");
        l.record_intent(
            &r,
            &[message("n", MessageKind::Reply, "bo@x.example", "x")],
            at(1),
        )
        .unwrap();
        l.set_aside(
            &crate::parse::MailKey::from_stored("n".into()),
            "why",
            at(2),
        )
        .unwrap();
        assert!(l.mail("n").unwrap().unwrap().sent.is_empty());
        replied(&mut l, "old", Category::Pricing, "bo@x.example", 3);
        assert_eq!(l.mail("old").unwrap().unwrap().sent.len(), 1);
        l.prune(at(10)).unwrap();
        assert!(l.mail("old").unwrap().is_none());
        let left: u32 = l
            .conn
            .query_row("SELECT COUNT(*) FROM sent", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
    }

    #[test]
    fn counts_group_by_utc_day_and_monday_week_and_outcome() {
        let mut l = Ledger::in_memory().unwrap();
        const DAY: i64 = 86_400;
        // Monday 2 March 2026, 00:00 UTC.
        let monday = 1_772_409_600;
        replied(&mut l, "a", Category::Pricing, "a@x.example", monday + 10);
        replied(
            &mut l,
            "b",
            Category::Pricing,
            "b@x.example",
            monday + DAY - 1,
        );
        replied(&mut l, "c", Category::Pricing, "c@x.example", monday + DAY);
        skipped(&mut l, "d", "d@x.example", monday + 6 * DAY + 5);
        replied(
            &mut l,
            "e",
            Category::Terms,
            "e@x.example",
            monday + 7 * DAY,
        );
        replied(&mut l, "old", Category::Terms, "e@x.example", monday - 1);
        let row = |b: i64, c: Category, o: Outcome, n: u64| CountRow {
            bucket_start: at(b),
            category: Some(c),
            outcome: o,
            n,
        };
        assert_eq!(
            l.counts(at(monday), Bucket::Day).unwrap(),
            [
                row(monday, Category::Pricing, Outcome::Replied, 2),
                row(monday + DAY, Category::Pricing, Outcome::Replied, 1),
                row(monday + 6 * DAY, Category::Other, Outcome::Skipped, 1),
                row(monday + 7 * DAY, Category::Terms, Outcome::Replied, 1),
            ]
        );
        assert_eq!(
            l.counts(at(monday), Bucket::Week).unwrap(),
            [
                row(monday, Category::Pricing, Outcome::Replied, 3),
                row(monday, Category::Other, Outcome::Skipped, 1),
                row(monday + 7 * DAY, Category::Terms, Outcome::Replied, 1),
            ]
        );
        // The mail a second before Monday is in the week before.
        let all = l.counts(at(0), Bucket::Week).unwrap();
        assert_eq!(
            all[0],
            row(monday - 7 * DAY, Category::Terms, Outcome::Replied, 1)
        );
    }

    /// `tally` against a count of `mails` itself, after mails went through every change.
    #[test]
    fn the_tally_follows_every_change_of_a_mail() {
        let mut l = Ledger::in_memory().unwrap();
        let direct = |l: &Ledger| -> Vec<(i64, String, String, i64)> {
            let mut stmt = l
                .conn
                .prepare(&format!(
                    "SELECT first_seen - first_seen % 86400 AS d, COALESCE(category, '') AS c,
                            {OUTCOME_SQL} AS o, COUNT(*) FROM mails GROUP BY d, c, o ORDER BY d, c, o"
                ))
                .unwrap();
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .unwrap();
            rows.map(Result::unwrap).collect()
        };
        let tally = |l: &Ledger| -> Vec<(i64, String, String, i64)> {
            let mut stmt = l
                .conn
                .prepare("SELECT day, category, outcome, n FROM tally WHERE n != 0 ORDER BY day, category, outcome")
                .unwrap();
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .unwrap();
            rows.map(Result::unwrap).collect()
        };
        let day = 86_400;
        replied(&mut l, "a", Category::Pricing, "a@x.example", day + 1);
        l.record_intent(
            &rec("b", Category::Terms, "b@x.example"),
            &[message("b", MessageKind::Reply, "b@x.example", "x")],
            at(2 * day),
        )
        .unwrap();
        assert_eq!(tally(&l), direct(&l));
        let key = crate::parse::MailKey::from_stored("c".into());
        l.record_failure(&key, &Source::from_stored("new/c"), "e", at(3 * day))
            .unwrap();
        l.record_failure(&key, &Source::from_stored("new/c"), "e", at(3 * day))
            .unwrap();
        l.record_done(&rec("c", Category::Other, "c@x.example"), at(3 * day + 5))
            .unwrap();
        l.set_aside(
            &crate::parse::MailKey::from_stored("b".into()),
            "why",
            at(4 * day),
        )
        .unwrap();
        skipped(&mut l, "d", "d@x.example", 5 * day);
        assert_eq!(tally(&l), direct(&l));
        l.release("new/b").unwrap();
        l.prune(at(2 * day)).unwrap();
        assert_eq!(tally(&l), direct(&l));
        assert_eq!(
            l.counts(at(0), Bucket::Day)
                .unwrap()
                .iter()
                .map(|c| c.n)
                .sum::<u64>(),
            2
        );
    }

    #[test]
    fn the_review_queue_holds_what_needs_a_person_until_closed() {
        let mut l = Ledger::in_memory().unwrap();
        replied(&mut l, "sure", Category::Pricing, "a@x.example", 1);
        skipped(&mut l, "machine", "b@x.example", 2);
        replied(&mut l, "other", Category::Other, "c@x.example", 3);
        let mut unsure = rec("unsure", Category::Terms, "d@x.example");
        unsure.confidence = Some(LOW_CONFIDENCE - 0.01);
        l.record_done(&unsure, at(4)).unwrap();
        let mut cpr = rec("cpr", Category::Pricing, "e@x.example");
        cpr.sensitive = true;
        cpr.action = Action::Skip;
        l.record_done(&cpr, at(5)).unwrap();
        let key = crate::parse::MailKey::from_stored("aside".into());
        l.record_failure(&key, &Source::from_stored("new/9"), "boom", at(6))
            .unwrap();
        l.set_aside(&key, "boom", at(6)).unwrap();
        let failing = crate::parse::MailKey::from_stored("failing".into());
        l.record_failure(&failing, &Source::from_stored("new/10"), "later", at(7))
            .unwrap();
        let queue = l.review_queue(None, 50).unwrap();
        assert_eq!(keys(&queue), ["aside", "cpr", "unsure", "other"]);
        // Pages like the activity list.
        let second = l.review_queue(Some(&queue[1].cursor()), 2).unwrap();
        assert_eq!(keys(&second), ["unsure", "other"]);
        assert!(l.mark_reviewed("cpr", at(8)).unwrap());
        assert!(!l.mark_reviewed("cpr", at(9)).unwrap());
        assert_eq!(
            keys(&l.review_queue(None, 50).unwrap()),
            ["aside", "unsure", "other"]
        );
        let closed = l.mail("cpr").unwrap().unwrap().row;
        assert_eq!(closed.reviewed, Some(at(8)));
    }

    /// Every query the console makes walks an index in its order: no full scan of `mails`,
    /// no sort of all its rows.
    #[test]
    fn every_console_query_uses_an_index_in_its_order() {
        let l = Ledger::in_memory().unwrap();
        let plan = |sql: &str| -> String {
            let mut stmt = l
                .conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap();
            let rows = stmt.query_map([], |r| r.get::<_, String>(3)).unwrap();
            rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
        };
        let page = |filter: &str| {
            format!(
                "SELECT {} FROM mails WHERE {filter}
                 ORDER BY first_seen DESC, key DESC LIMIT 50",
                row_columns()
            )
        };
        let cursor = "(first_seen, key) < (5, 'k')";
        for (what, sql, index) in [
            ("newest", page("1"), "mails_seen"),
            ("page 2", page(cursor), "mails_seen"),
            (
                "sender",
                page(&format!("sender_hash = 'h' AND {cursor}")),
                "mails_sender_seen",
            ),
            (
                "category",
                page("category = 'terms'"),
                "mails_category_seen",
            ),
            (
                "set aside",
                page(&format!("{OUTCOME_SQL} = 'set-aside'")),
                "mails_outcome_seen",
            ),
            ("review", page(&needs_review()), "mails_review"),
            (
                "category and outcome",
                page(&format!("category = 'terms' AND {OUTCOME_SQL} = 'skipped'")),
                "mails_category_outcome_seen",
            ),
            (
                "counts",
                "SELECT day - day % 604800 AS b, category, outcome, SUM(n)
                 FROM tally WHERE day >= 5 AND n > 0 GROUP BY b, category, outcome"
                    .into(),
                "SEARCH tally USING PRIMARY KEY (day>?)",
            ),
        ] {
            let p = plan(&sql);
            assert!(p.contains(index), "{what}: {p}");
            if what != "counts" {
                assert!(!p.contains("TEMP B-TREE"), "{what} sorts: {p}");
            }
        }
    }
}
