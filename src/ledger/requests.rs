//! The console's requests to the daemon, in the ledger: "answer this mail with CATEGORY"
//! and "teach: this mail is CATEGORY", each with who asked, when, and how it ended
//! (`pending`, then `done` or `refused` with why).
//!
//! The console has no mail connection: it only writes a request here, and the daemon,
//! which has the mail, carries it out. Exactly once is kept by the database, not by the
//! callers: a request to answer is refused, in the transaction that would write it, when
//! the mail's reply was sent, is waiting to be sent, may have gone out, or was asked for
//! already (a partial unique index allows one live answer request per mail); and the
//! daemon writes the reply through the same outgoing path as its own replies in one
//! transaction with the request's `done` ([`Ledger::record_requested_reply`]), checking
//! all of that again. Nothing here sends, reads a mail or knows a template.

use std::fmt;
use std::time::SystemTime;

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::{write_intent, Ledger, LedgerError, Pending, Record};
use crate::clock::{from_unix_seconds, unix_seconds};
use crate::types::{Category, DeskKey};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS requests (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    mail_key  TEXT NOT NULL,
    action    TEXT NOT NULL,
    category  TEXT NOT NULL,
    desk      TEXT,
    user      TEXT NOT NULL,
    at        INTEGER NOT NULL,
    state     TEXT NOT NULL,
    note      TEXT,
    finished  INTEGER
);
CREATE INDEX IF NOT EXISTS requests_pending ON requests(id) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS requests_mail ON requests(mail_key);
CREATE UNIQUE INDEX IF NOT EXISTS requests_one_answer ON requests(mail_key)
    WHERE action = 'answer' AND state != 'refused';
CREATE UNIQUE INDEX IF NOT EXISTS requests_one_forward ON requests(mail_key)
    WHERE action = 'forward' AND state != 'refused';
";

/// The longest note kept with a request.
const MAX_NOTE: usize = 500;

/// What a person asked the daemon to do with a mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestAction {
    /// Send the category's template as the reply (and, for `technical`, the desk forward).
    Answer,
    /// Save the mail's new text as a training example of the category, then retrain.
    Teach,
    /// Send a doubtful mail's held desk forward (to the desk a person chose): its sender
    /// already has the acknowledgement; the desk answers.
    Forward,
}

impl RequestAction {
    pub fn name(self) -> &'static str {
        match self {
            RequestAction::Answer => "answer",
            RequestAction::Teach => "teach",
            RequestAction::Forward => "forward",
        }
    }

    fn from_name(name: &str) -> Option<RequestAction> {
        match name {
            "answer" => Some(RequestAction::Answer),
            "teach" => Some(RequestAction::Teach),
            "forward" => Some(RequestAction::Forward),
            _ => None,
        }
    }
}

/// Where a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestState {
    /// Waiting for the daemon.
    Pending,
    /// Carried out (an answer: its messages are written and on their way, or sent).
    Done,
    /// Not carried out; the note says why.
    Refused,
}

impl RequestState {
    pub fn name(self) -> &'static str {
        match self {
            RequestState::Pending => "pending",
            RequestState::Done => "done",
            RequestState::Refused => "refused",
        }
    }

    fn from_name(name: &str) -> RequestState {
        match name {
            "pending" => RequestState::Pending,
            "done" => RequestState::Done,
            _ => RequestState::Refused,
        }
    }
}

/// One request, as the daemon carries it out and the console shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub id: i64,
    pub mail_key: String,
    pub action: RequestAction,
    pub category: Category,
    /// For `technical`: the desk a person chose (`None`: the classifier's).
    pub desk: Option<DeskKey>,
    pub user: String,
    pub at: SystemTime,
    pub state: RequestState,
    pub note: Option<String>,
    /// For an answer: whether its reply was delivered (the mail is `done`).
    pub delivered: bool,
}

/// Why an answer is not (or no longer) wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The ledger has no such mail.
    UnknownMail,
    /// A reply to it was sent.
    Replied,
    /// A reply to it is written and waiting to be sent.
    ReplyPending,
    /// Its delivery was interrupted and nobody can tell whether the reply went out.
    InDoubt,
    /// Someone already asked for an answer that is pending or done.
    AlreadyAsked,
    /// A forward was asked for a mail that holds none: not doubtful, or not answered (yet).
    NotHeld,
    /// Its desk forward was already written (sent, or on its way), or asked for.
    Forwarded,
}

impl Refusal {
    /// A short name (the console's word key is `refused_` and this).
    pub fn name(self) -> &'static str {
        match self {
            Refusal::UnknownMail => "unknown",
            Refusal::Replied => "replied",
            Refusal::ReplyPending => "reply_pending",
            Refusal::InDoubt => "in_doubt",
            Refusal::AlreadyAsked => "already_asked",
            Refusal::NotHeld => "not_held",
            Refusal::Forwarded => "forwarded",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::UnknownMail => "the ledger has no such mail",
            Refusal::Replied => "a reply to this mail was already sent",
            Refusal::ReplyPending => "a reply to this mail is waiting to be sent",
            Refusal::InDoubt => {
                "a reply to this mail may have gone out (its delivery was interrupted)"
            }
            Refusal::AlreadyAsked => "an answer to this mail was already asked for",
            Refusal::NotHeld => "this mail has no desk forward held for a person",
            Refusal::Forwarded => "this mail's desk forward was already sent or asked for",
        })
    }
}

/// What became of asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// Written as pending, with this id.
    Queued(i64),
    Refused(Refusal),
}

/// Whether `key` may still get a reply: `Some(why not)`. `own` is a request that is
/// allowed to exist already (the one being carried out).
fn reply_refusal(
    tx: &rusqlite::Transaction<'_>,
    key: &str,
    own: Option<i64>,
) -> Result<Option<Refusal>, LedgerError> {
    let row: Option<(String, Option<String>, Option<String>)> = tx
        .query_row(
            "SELECT state, action, error FROM mails WHERE key = ?1",
            [key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((state, action, error)) = row else {
        return Ok(Some(Refusal::UnknownMail));
    };
    let replied_by_action = action.as_deref() == Some("reply");
    if replied_by_action && state == "done" {
        return Ok(Some(Refusal::Replied));
    }
    if replied_by_action && state == "sending" {
        return Ok(Some(Refusal::ReplyPending));
    }
    // The pipeline sets a mail aside with this reason when a send was cut and the Sent
    // folder cannot tell whether it went out.
    if replied_by_action
        && state == "set-aside"
        && error
            .as_deref()
            .is_some_and(|e| e.starts_with("delivery interrupted"))
    {
        return Ok(Some(Refusal::InDoubt));
    }
    let (waiting, sent): (bool, bool) = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM outgoing WHERE mail_key = ?1 AND kind = 'reply'),
                EXISTS (SELECT 1 FROM sent WHERE mail_key = ?1 AND kind = 'reply'
                        AND sent IS NOT NULL)",
        [key],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if sent {
        return Ok(Some(Refusal::Replied));
    }
    if waiting {
        return Ok(Some(Refusal::ReplyPending));
    }
    let asked: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM requests WHERE mail_key = ?1 AND action = 'answer'
                AND state != 'refused' AND id IS NOT ?2)",
        params![key, own],
        |r| r.get(0),
    )?;
    Ok(asked.then_some(Refusal::AlreadyAsked))
}

/// Whether a held desk forward may still be sent for `key`: `Some(why not)`. Held: the
/// mail is doubtful, its acknowledgement written (`done` or `sending`), and no forward was
/// written or asked for (`own`: the request being carried out).
fn forward_refusal(
    tx: &rusqlite::Transaction<'_>,
    key: &str,
    own: Option<i64>,
) -> Result<Option<Refusal>, LedgerError> {
    let row: Option<(String, Option<String>, bool, bool)> = tx
        .query_row(
            "SELECT state, action, doubtful, forward_id IS NOT NULL
                 OR EXISTS (SELECT 1 FROM sent WHERE mail_key = ?1 AND kind = 'forward')
             FROM mails WHERE key = ?1",
            [key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let Some((state, action, doubtful, forwarded)) = row else {
        return Ok(Some(Refusal::UnknownMail));
    };
    if forwarded {
        return Ok(Some(Refusal::Forwarded));
    }
    let answered =
        action.as_deref() == Some("reply") && matches!(state.as_str(), "done" | "sending");
    if !doubtful || !answered {
        return Ok(Some(Refusal::NotHeld));
    }
    let asked: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM requests WHERE mail_key = ?1 AND action = 'forward'
                AND state != 'refused' AND id IS NOT ?2)",
        params![key, own],
        |r| r.get(0),
    )?;
    Ok(asked.then_some(Refusal::Forwarded))
}

fn cut(note: &str) -> String {
    let line: String = note
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_NOTE)
        .collect();
    line.trim().to_string()
}

const COLUMNS: &str = "r.id, r.mail_key, r.action, r.category, r.desk, r.user, r.at, r.state,
    r.note, COALESCE(m.state = 'done' AND m.action = 'reply', 0)";

fn request_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<Request>> {
    let action: String = r.get(2)?;
    let category: String = r.get(3)?;
    // A row a newer version wrote, with names unknown here, is left out.
    let (Some(action), Some(category)) = (
        RequestAction::from_name(&action),
        Category::from_name(&category),
    ) else {
        return Ok(None);
    };
    Ok(Some(Request {
        id: r.get(0)?,
        mail_key: r.get(1)?,
        action,
        category,
        desk: r.get::<_, Option<String>>(4)?.as_deref().map(DeskKey::from),
        user: r.get(5)?,
        at: from_unix_seconds(r.get(6)?),
        state: RequestState::from_name(&r.get::<_, String>(7)?),
        note: r.get(8)?,
        delivered: r.get(9)?,
    }))
}

impl Ledger {
    /// Asks the daemon to answer mail `key` with `category`'s template: written as pending,
    /// or refused (and nothing written) when the mail has or may have a reply, or an answer
    /// was asked for already. One write transaction: two clicks cannot both pass.
    ///
    /// # Errors
    /// Only SQLite errors.
    pub fn ask_answer(
        &mut self,
        key: &str,
        category: Category,
        desk: Option<&DeskKey>,
        user: &str,
        now: SystemTime,
    ) -> Result<Asked, LedgerError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(why) = reply_refusal(&tx, key, None)? {
            return Ok(Asked::Refused(why));
        }
        let id = insert(&tx, key, RequestAction::Answer, category, desk, user, now)?;
        tx.commit()?;
        Ok(Asked::Queued(id))
    }

    /// Asks the daemon to save mail `key` as a training example of `category` (under
    /// `desk`, for `technical`) and retrain. Refused only for a mail the ledger does not
    /// know; teaching twice is harmless (the example's file name is a digest).
    ///
    /// # Errors
    /// Only SQLite errors.
    pub fn ask_teach(
        &mut self,
        key: &str,
        category: Category,
        desk: Option<&DeskKey>,
        user: &str,
        now: SystemTime,
    ) -> Result<Asked, LedgerError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let known: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM mails WHERE key = ?1)",
            [key],
            |r| r.get(0),
        )?;
        if !known {
            return Ok(Asked::Refused(Refusal::UnknownMail));
        }
        let id = insert(&tx, key, RequestAction::Teach, category, desk, user, now)?;
        tx.commit()?;
        Ok(Asked::Queued(id))
    }

    /// Asks the daemon to send doubtful mail `key`'s held desk forward to `desk`: written
    /// as pending, or refused (nothing written) when the mail holds no forward or its
    /// forward was written or asked for already. One write transaction.
    ///
    /// # Errors
    /// Only SQLite errors.
    pub fn ask_forward(
        &mut self,
        key: &str,
        desk: &DeskKey,
        user: &str,
        now: SystemTime,
    ) -> Result<Asked, LedgerError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(why) = forward_refusal(&tx, key, None)? {
            return Ok(Asked::Refused(why));
        }
        let id = insert(
            &tx,
            key,
            RequestAction::Forward,
            Category::Technical,
            Some(desk),
            user,
            now,
        )?;
        tx.commit()?;
        Ok(Asked::Queued(id))
    }

    /// The requests waiting for the daemon, oldest first.
    ///
    /// # Errors
    /// Only SQLite errors.
    pub fn pending_requests(&self) -> Result<Vec<Request>, LedgerError> {
        self.requests_where("r.state = 'pending'", "r.id", 100)
    }

    /// Whether any request waits (without reading them).
    ///
    /// # Errors
    /// Only SQLite errors.
    pub fn has_pending_requests(&self) -> Result<bool, LedgerError> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM requests WHERE state = 'pending')",
            [],
            |r| r.get(0),
        )?)
    }

    /// The latest requests, newest first (at most `limit`, up to 500).
    ///
    /// # Errors
    /// Only SQLite errors.
    pub fn recent_requests(&self, limit: u32) -> Result<Vec<Request>, LedgerError> {
        self.requests_where("1", "r.id DESC", limit.clamp(1, 500))
    }

    fn requests_where(
        &self,
        filter: &str,
        order: &str,
        limit: u32,
    ) -> Result<Vec<Request>, LedgerError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM requests r LEFT JOIN mails m ON m.key = r.mail_key
             WHERE {filter} ORDER BY {order} LIMIT ?1"
        ))?;
        let rows = stmt.query_map([limit], request_row)?;
        Ok(rows
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect())
    }

    /// A pending request is finished: `done` or `refused`, with a note (cut to one line of
    /// 500 characters). Returns whether it was pending.
    ///
    /// # Errors
    /// Only SQLite errors.
    pub fn finish_request(
        &mut self,
        id: i64,
        state: RequestState,
        note: &str,
        now: SystemTime,
    ) -> Result<bool, LedgerError> {
        Ok(self.conn.execute(
            "UPDATE requests SET state = ?2, note = ?3, finished = ?4
             WHERE id = ?1 AND state = 'pending'",
            params![id, state.name(), cut(note), unix_seconds(now)],
        )? > 0)
    }

    /// Carries out answer request `id`: in one transaction, checks again that the mail has
    /// no reply (sent, waiting, in doubt) and that the request is still pending, then
    /// records the reply and forward exactly as [`Ledger::record_intent`] does (the
    /// messages go out through the same delivery, with the same crash recovery), marks
    /// the request done and the mail reviewed. `Err(why)` (nothing written): refused, and
    /// the caller records that with [`Ledger::finish_request`].
    ///
    /// # Errors
    /// Only SQLite errors.
    pub fn record_requested_reply(
        &mut self,
        id: i64,
        r: &Record,
        outgoing: &[Pending],
        now: SystemTime,
    ) -> Result<Result<(), Refusal>, LedgerError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if !request_pending(&tx, id)? {
            return Ok(Err(Refusal::AlreadyAsked));
        }
        if let Some(why) = reply_refusal(&tx, &r.key, Some(id))? {
            return Ok(Err(why));
        }
        write_intent(&tx, r, outgoing, now)?;
        let t = unix_seconds(now);
        tx.execute(
            "UPDATE mails SET reviewed = COALESCE(reviewed, ?2) WHERE key = ?1",
            params![r.key, t],
        )?;
        tx.execute(
            "UPDATE requests SET state = 'done', note = ?2, finished = ?3 WHERE id = ?1",
            params![id, cut("reply written; it goes out as every reply does"), t],
        )?;
        tx.commit()?;
        Ok(Ok(()))
    }
}

impl Ledger {
    /// Carries out forward request `id`: in one transaction, checks again that the request
    /// is pending and the mail still holds its forward, then writes `forward` through the
    /// same outgoing path as every message (sent by the same delivery, with the same crash
    /// recovery), notes it as the mail's forward to `desk`, marks the mail reviewed and the
    /// request done. `addresses`: the sender's, masked in the kept copy. `Err(why)`
    /// (nothing written): refused.
    ///
    /// # Errors
    /// Only SQLite errors.
    pub fn record_requested_forward(
        &mut self,
        id: i64,
        forward: &Pending,
        desk: &DeskKey,
        addresses: &[&str],
        now: SystemTime,
    ) -> Result<Result<(), Refusal>, LedgerError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if !request_pending(&tx, id)? {
            return Ok(Err(Refusal::Forwarded));
        }
        if let Some(why) = forward_refusal(&tx, &forward.mail_key, Some(id))? {
            return Ok(Err(why));
        }
        super::write_message(&tx, forward, addresses)?;
        let t = unix_seconds(now);
        tx.execute(
            "UPDATE mails SET state = 'sending', updated = ?2, forward_id = ?3, desk = ?4,
                 reviewed = COALESCE(reviewed, ?2)
             WHERE key = ?1",
            params![
                forward.mail_key,
                t,
                forward.message.message_id.as_str(),
                desk
            ],
        )?;
        tx.execute(
            "UPDATE requests SET state = 'done', note = ?2, finished = ?3 WHERE id = ?1",
            params![
                id,
                cut(&format!(
                    "forward to {desk} written; it goes out as every forward does"
                )),
                t
            ],
        )?;
        tx.commit()?;
        Ok(Ok(()))
    }
}

fn insert(
    tx: &rusqlite::Transaction<'_>,
    key: &str,
    action: RequestAction,
    category: Category,
    desk: Option<&DeskKey>,
    user: &str,
    now: SystemTime,
) -> Result<i64, LedgerError> {
    tx.execute(
        "INSERT INTO requests (mail_key, action, category, desk, user, at, state)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending')",
        params![
            key,
            action.name(),
            category.name(),
            desk.map(DeskKey::as_str),
            user,
            unix_seconds(now)
        ],
    )?;
    Ok(tx.last_insert_rowid())
}

/// Whether request `id` is still pending (read inside the transaction that carries it out).
fn request_pending(tx: &rusqlite::Transaction<'_>, id: i64) -> Result<bool, LedgerError> {
    Ok(tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM requests WHERE id = ?1 AND state = 'pending')",
        [id],
        |row| row.get(0),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{sender_hash, State};
    use crate::parse::MailKey;
    use crate::types::{Action, MessageId, MessageKind, Outgoing, SkipReason, Source};

    fn at(secs: i64) -> SystemTime {
        from_unix_seconds(secs)
    }

    fn record(key: &str, action: Action) -> Record {
        Record {
            key: key.into(),
            source: Source::from_stored(&format!("demo/Maildir/{key}")),
            action,
            category: Some(Category::Other),
            desk: None,
            language: None,
            sensitive: false,
            confidence: Some(0.2),
            doubtful: false,
            skip_reason: None,
            reply_id: None,
            forward_id: None,
            sender_hash: Some(sender_hash("ida@regionh.example")),
            subject: Some("Zoom?".into()),
            explain: None,
            sender_addresses: vec!["ida@regionh.example".into()],
        }
    }

    fn reply(key: &str, id: &str) -> Pending {
        Pending {
            message: Outgoing {
                message_id: MessageId::from_stored(id.into()),
                kind: MessageKind::Reply,
                to: "ida@regionh.example".into(),
                bytes: b"To: ida@regionh.example\r\n\r\npris".to_vec(),
            },
            mail_key: key.into(),
            attempts: 0,
            started: None,
        }
    }

    /// A mail set aside for a person (as the pipeline leaves one it could not read).
    fn set_aside(l: &mut Ledger, key: &str) {
        let k = MailKey::from_stored(key.into());
        let source = Source::from_stored(&format!("demo/Maildir/{key}"));
        l.record_failure(&k, &source, "internal error", at(10))
            .unwrap();
        l.set_aside(&k, "internal error", at(10)).unwrap();
    }

    fn queued(a: Asked) -> i64 {
        match a {
            Asked::Queued(id) => id,
            Asked::Refused(why) => panic!("refused: {why}"),
        }
    }

    fn forward(key: &str, id: &str) -> Pending {
        Pending {
            message: Outgoing {
                message_id: MessageId::from_stored(id.into()),
                kind: MessageKind::Forward,
                to: "cimt@desk.example".into(),
                bytes: b"To: cimt@desk.example\r\nReply-To: ida@regionh.example\r\n\r\nZoom?"
                    .to_vec(),
            },
            mail_key: key.into(),
            attempts: 0,
            started: None,
        }
    }

    #[test]
    fn a_held_forward_is_sent_once_for_a_doubtful_mail_only() {
        let mut l = Ledger::in_memory().unwrap();
        let cimt = DeskKey::from("cimt");
        // A doubtful technical mail, acknowledged (the reply delivered), its guess recorded.
        let doubtful = Record {
            action: Action::Reply,
            category: Some(Category::Technical),
            desk: Some(cimt.clone()),
            confidence: Some(0.7),
            doubtful: true,
            reply_id: Some("ack".into()),
            ..record("d1", Action::Reply)
        };
        l.record_intent(&doubtful, &[reply("d1", "ack")], at(10))
            .unwrap();
        l.delivered("ack", at(11), false).unwrap();
        // Flagged for review even at a confidence the queue would not catch otherwise.
        let queue = l.review_queue(None, 10).unwrap();
        assert_eq!(queue.len(), 1);
        assert!(queue[0].doubtful && queue[0].waiting_review && queue[0].forward_held());
        assert_eq!(l.review_waiting().unwrap(), 1);
        let s = l.status().unwrap();
        assert_eq!(
            (s.review_waiting, s.doubtful_waiting, s.forwards_held),
            (1, 1, 1)
        );
        // Nothing is waiting to be sent: the forward is held, not pending.
        assert!(l.pending().unwrap().is_empty());
        // A confident mail holds no forward; neither does an unknown one.
        let sure = Record {
            category: Some(Category::Technical),
            confidence: Some(0.9),
            reply_id: Some("r-s1".into()),
            ..record("s1", Action::Reply)
        };
        l.record_intent(&sure, &[reply("s1", "r-s1")], at(12))
            .unwrap();
        l.delivered("r-s1", at(12), false).unwrap();
        assert_eq!(
            l.ask_forward("s1", &cimt, "mette", at(13)).unwrap(),
            Asked::Refused(Refusal::NotHeld)
        );
        assert_eq!(
            l.ask_forward("nope", &cimt, "mette", at(13)).unwrap(),
            Asked::Refused(Refusal::UnknownMail)
        );

        let kuit = DeskKey::from("kuit");
        let id = queued(l.ask_forward("d1", &kuit, "mette", at(20)).unwrap());
        assert_eq!(
            l.ask_forward("d1", &cimt, "jens", at(21)).unwrap(),
            Asked::Refused(Refusal::Forwarded)
        );
        let req = &l.pending_requests().unwrap()[0];
        assert_eq!(
            (req.action, req.desk.as_ref()),
            (RequestAction::Forward, Some(&kuit))
        );
        l.record_requested_forward(
            id,
            &forward("d1", "f1"),
            &kuit,
            &["ida@regionh.example"],
            at(30),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            l.state(&MailKey::from_stored("d1".into())).unwrap(),
            Some((State::Sending, 0))
        );
        let pending = l.pending().unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].message.kind, MessageKind::Forward);
        // Carried out again: refused, nothing added.
        assert_eq!(
            l.record_requested_forward(id, &forward("d1", "f2"), &kuit, &[], at(31))
                .unwrap(),
            Err(Refusal::Forwarded)
        );
        assert_eq!(l.pending().unwrap().len(), 1);
        l.delivered("f1", at(32), false).unwrap();
        let d = l.mail("d1").unwrap().unwrap();
        assert_eq!(d.row.outcome, crate::ledger::Outcome::Replied);
        assert!(d.row.forwarded && !d.row.forward_held() && !d.row.waiting_review);
        assert_eq!(d.row.desk, Some(kuit.clone()));
        // The kept copy hides the sender's address.
        let kept = d
            .sent
            .iter()
            .find(|m| m.kind == MessageKind::Forward)
            .unwrap();
        assert!(!String::from_utf8_lossy(&kept.bytes).contains("ida@regionh.example"));
        // Sent: a later ask is refused, and the queue is empty.
        assert_eq!(
            l.ask_forward("d1", &cimt, "jens", at(40)).unwrap(),
            Asked::Refused(Refusal::Forwarded)
        );
        assert!(l
            .review_queue(None, 10)
            .unwrap()
            .iter()
            .all(|r| r.key != "d1"));
        // The acknowledgement is no pricing/technical reply for the rate limit.
        assert_eq!(
            l.last_reply(&sender_hash("ida@regionh.example"), "technical")
                .unwrap(),
            Some(at(12))
        );
    }

    #[test]
    fn a_second_answer_for_the_same_mail_is_refused() {
        let mut l = Ledger::in_memory().unwrap();
        set_aside(&mut l, "m1");
        let id = queued(
            l.ask_answer("m1", Category::Pricing, None, "mette", at(20))
                .unwrap(),
        );
        assert_eq!(
            l.ask_answer("m1", Category::Terms, None, "jens", at(21))
                .unwrap(),
            Asked::Refused(Refusal::AlreadyAsked)
        );
        let pending = l.pending_requests().unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].id, id);
        assert_eq!(pending[0].category, Category::Pricing);
        assert_eq!(pending[0].user, "mette");

        // Carried out: the reply is recorded as any reply, the mail closed.
        let r = Record {
            action: Action::Reply,
            category: Some(Category::Pricing),
            reply_id: Some("r1".into()),
            ..record("m1", Action::Reply)
        };
        l.record_requested_reply(id, &r, &[reply("m1", "r1")], at(30))
            .unwrap()
            .unwrap();
        assert_eq!(
            l.state(&MailKey::from_stored("m1".into())).unwrap(),
            Some((State::Sending, 1))
        );
        assert_eq!(l.pending().unwrap().len(), 1);
        assert!(l.pending_requests().unwrap().is_empty());
        assert!(l.review_queue(None, 10).unwrap().is_empty());
        // Carried out again (a second daemon, a replayed request): refused, nothing added.
        assert_eq!(
            l.record_requested_reply(id, &r, &[reply("m1", "r2")], at(31))
                .unwrap(),
            Err(Refusal::AlreadyAsked)
        );
        assert_eq!(l.pending().unwrap().len(), 1);
        // Waiting to be sent, then sent: refused, with the reason of the moment.
        assert_eq!(
            l.ask_answer("m1", Category::Pricing, None, "jens", at(32))
                .unwrap(),
            Asked::Refused(Refusal::ReplyPending)
        );
        l.delivered("r1", at(33), false).unwrap();
        assert_eq!(
            l.ask_answer("m1", Category::Pricing, None, "jens", at(34))
                .unwrap(),
            Asked::Refused(Refusal::Replied)
        );
        let recent = l.recent_requests(10).unwrap();
        assert_eq!(recent.len(), 1);
        assert_eq!(recent[0].state, RequestState::Done);
        assert!(recent[0].delivered);
    }

    #[test]
    fn an_answer_is_refused_when_the_mail_was_replied_to() {
        let mut l = Ledger::in_memory().unwrap();
        // Answered by the pipeline itself (as `other`, low confidence: in the queue).
        let r = Record {
            reply_id: Some("p1".into()),
            ..record("m2", Action::Reply)
        };
        l.record_intent(&r, &[reply("m2", "p1")], at(5)).unwrap();
        assert_eq!(
            l.ask_answer("m2", Category::Pricing, None, "mette", at(6))
                .unwrap(),
            Asked::Refused(Refusal::ReplyPending)
        );
        l.delivered("p1", at(7), false).unwrap();
        assert_eq!(l.review_queue(None, 10).unwrap().len(), 1);
        assert_eq!(
            l.ask_answer("m2", Category::Pricing, None, "mette", at(8))
                .unwrap(),
            Asked::Refused(Refusal::Replied)
        );
        assert!(l.pending_requests().unwrap().is_empty());
        assert_eq!(
            l.ask_answer("nope", Category::Pricing, None, "mette", at(8))
                .unwrap(),
            Asked::Refused(Refusal::UnknownMail)
        );
    }

    #[test]
    fn a_reply_the_pipeline_wrote_meanwhile_refuses_the_request() {
        let mut l = Ledger::in_memory().unwrap();
        set_aside(&mut l, "m3");
        let id = queued(
            l.ask_answer("m3", Category::Pricing, None, "mette", at(20))
                .unwrap(),
        );
        // Released and answered by the pipeline before the daemon took the request.
        let own = Record {
            reply_id: Some("p3".into()),
            ..record("m3", Action::Reply)
        };
        l.record_intent(&own, &[reply("m3", "p3")], at(21)).unwrap();
        let asked = Record {
            category: Some(Category::Pricing),
            ..record("m3", Action::Reply)
        };
        let got = l
            .record_requested_reply(id, &asked, &[reply("m3", "x3")], at(22))
            .unwrap();
        assert_eq!(got, Err(Refusal::ReplyPending));
        assert!(l
            .finish_request(
                id,
                RequestState::Refused,
                &got.unwrap_err().to_string(),
                at(22)
            )
            .unwrap());
        assert_eq!(
            l.pending().unwrap().len(),
            1,
            "only the pipeline's own reply"
        );
        let req = &l.recent_requests(5).unwrap()[0];
        assert_eq!(req.state, RequestState::Refused);
        assert!(req.note.as_deref().unwrap().contains("waiting to be sent"));
        // Once refused, another person may ask again (and is refused for the reply).
        assert_eq!(
            l.ask_answer("m3", Category::Pricing, None, "jens", at(23))
                .unwrap(),
            Asked::Refused(Refusal::ReplyPending)
        );
    }

    #[test]
    fn a_reply_in_doubt_is_never_sent_by_hand() {
        let mut l = Ledger::in_memory().unwrap();
        let r = Record {
            reply_id: Some("d1".into()),
            ..record("m4", Action::Reply)
        };
        l.record_intent(&r, &[reply("m4", "d1")], at(5)).unwrap();
        l.set_aside(
            &MailKey::from_stored("m4".into()),
            "delivery interrupted; may or may not have been sent",
            at(6),
        )
        .unwrap();
        assert_eq!(
            l.ask_answer("m4", Category::Pricing, None, "mette", at(7))
                .unwrap(),
            Asked::Refused(Refusal::InDoubt)
        );
    }

    #[test]
    fn teaching_is_queued_for_a_known_mail_and_any_skip_can_be_answered() {
        let mut l = Ledger::in_memory().unwrap();
        let skipped = Record {
            skip_reason: Some(SkipReason::RateLimited),
            sensitive: true,
            ..record("m5", Action::Skip)
        };
        l.record_done(&skipped, at(5)).unwrap();
        let t = queued(
            l.ask_teach(
                "m5",
                Category::Technical,
                Some(&DeskKey::from("kuit")),
                "mette",
                at(6),
            )
            .unwrap(),
        );
        let a = queued(
            l.ask_answer("m5", Category::Terms, None, "mette", at(7))
                .unwrap(),
        );
        let pending = l.pending_requests().unwrap();
        assert_eq!(
            pending.iter().map(|r| (r.id, r.action)).collect::<Vec<_>>(),
            [(t, RequestAction::Teach), (a, RequestAction::Answer)]
        );
        assert_eq!(pending[0].desk, Some(DeskKey::from("kuit")));
        assert!(l.has_pending_requests().unwrap());
        assert!(l
            .finish_request(t, RequestState::Done, "saved\nas x", at(8))
            .unwrap());
        assert!(!l
            .finish_request(t, RequestState::Refused, "", at(9))
            .unwrap());
        assert_eq!(
            l.recent_requests(5).unwrap()[1].note.as_deref(),
            Some("saved as x")
        );
        assert_eq!(
            l.ask_teach("nope", Category::Pricing, None, "mette", at(8))
                .unwrap(),
            Asked::Refused(Refusal::UnknownMail)
        );
    }
}
