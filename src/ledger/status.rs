//! What `autosvar status` asks the ledger, from another process than the daemon's: the
//! daemon's last contact with the mailbox and the template set it uses (which the daemon
//! notes here, in `meta`, as they happen), what waits to be delivered, what is set aside,
//! and how big the ledger is.
//!
//! The daemon's notes are a few rows overwritten in place, never a log that grows. Nothing
//! here reads or returns a mail's content or a sender's address.

use std::time::SystemTime;

use rusqlite::params;

use super::{activity::OUTCOME_SQL, Ledger, LedgerError};
use crate::clock::{from_unix_seconds, unix_seconds};

/// The `meta` key of the last contact: `SECONDS\tWHAT`.
const CONTACT: &str = "status:contact";
/// The `meta` key of the template set in use: `DIGEST\tSECONDS` (when it was put to work).
const TEMPLATES: &str = "status:templates";

/// The daemon's last contact with the mailbox, as it noted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub at: SystemTime,
    /// What the contact was: `imap connected`, `imap wait ended`, `maildir scanned`.
    pub what: String,
}

/// The template set the daemon put to work last, as it noted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplatesInUse {
    /// [`crate::render::set_digest`] of its files.
    pub digest: String,
    /// When the daemon first noted it in use.
    pub since: SystemTime,
}

/// What the ledger says about the daemon's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerStatus {
    /// Messages written but not yet confirmed delivered.
    pub pending_messages: u64,
    /// Mails with such messages.
    pub pending_mails: u64,
    /// Mails set aside for a person.
    pub set_aside: u64,
    /// Mails waiting for review (the console's review list, `autosvar history --review`).
    pub review_waiting: u64,
    /// Of those, doubtful mails (acknowledged; a person answers).
    pub doubtful_waiting: u64,
    /// Of those, doubtful technical mails whose desk forward is held for a person.
    pub forwards_held: u64,
    /// Every mail the ledger holds.
    pub mails: u64,
    pub contact: Option<Contact>,
    pub templates: Option<TemplatesInUse>,
    /// Pages in use times the page size (the `-wal` file not counted).
    pub bytes: u64,
}

impl Ledger {
    /// Notes that the mailbox answered just now (`what`: see [`Contact::what`]) and which
    /// template set is in use (`templates`, its digest; the time it was first noted is kept
    /// while it stays the same). One commit.
    ///
    /// # Errors
    /// Only SQLite errors.
    pub fn note_contact(
        &mut self,
        at: SystemTime,
        what: &str,
        templates: &str,
    ) -> Result<(), LedgerError> {
        let now = unix_seconds(at);
        let tx = self.conn.transaction()?;
        tx.prepare_cached(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        )?
        .execute(params![CONTACT, format!("{now}\t{what}")])?;
        // Only a new set changes the row (and its time).
        tx.prepare_cached(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value
             WHERE substr(meta.value, 1, length(?3) + 1) != ?3 || char(9)",
        )?
        .execute(params![TEMPLATES, format!("{templates}\t{now}"), templates])?;
        tx.commit()?;
        Ok(())
    }

    /// What `autosvar status` shows from the ledger.
    ///
    /// # Errors
    /// Only SQLite errors.
    pub fn status(&self) -> Result<LedgerStatus, LedgerError> {
        let (pending_messages, pending_mails) = self.conn.query_row(
            "SELECT COUNT(*), COUNT(DISTINCT mail_key) FROM outgoing",
            [],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
        )?;
        let set_aside: i64 = self.conn.query_row(
            &format!("SELECT COUNT(*) FROM mails WHERE {OUTCOME_SQL} = 'set-aside'"),
            [],
            |r| r.get(0),
        )?;
        let (review_waiting, doubtful_waiting, forwards_held): (i64, i64, i64) =
            self.conn.query_row(
                &format!(
                    "SELECT COUNT(*), COALESCE(SUM(doubtful), 0),
                        COALESCE(SUM(doubtful = 1 AND category = 'technical'
                                     AND forward_id IS NULL), 0)
                     FROM mails WHERE {}",
                    super::activity::needs_review()
                ),
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
        let mails: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM mails", [], |r| r.get(0))?;
        let bytes: i64 = self.conn.query_row(
            "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
            [],
            |r| r.get(0),
        )?;
        let contact = self.meta(CONTACT)?.and_then(|v| {
            let (at, what) = v.split_once('\t')?;
            Some(Contact {
                at: from_unix_seconds(at.parse().ok()?),
                what: what.to_string(),
            })
        });
        let templates = self.meta(TEMPLATES)?.and_then(|v| {
            let (digest, since) = v.split_once('\t')?;
            Some(TemplatesInUse {
                digest: digest.to_string(),
                since: from_unix_seconds(since.parse().ok()?),
            })
        });
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(LedgerStatus {
            pending_messages: count(pending_messages),
            pending_mails: count(pending_mails),
            set_aside: count(set_aside),
            review_waiting: count(review_waiting),
            doubtful_waiting: count(doubtful_waiting),
            forwards_held: count(forwards_held),
            mails: count(mails),
            contact,
            templates,
            bytes: count(bytes),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{sender_hash, Pending, Record};
    use crate::parse::MailKey;
    use crate::types::{Action, Category, Language, MessageId, MessageKind, Outgoing, Source};

    fn at(secs: i64) -> SystemTime {
        from_unix_seconds(secs)
    }

    fn rec(key: &str) -> Record {
        Record {
            key: key.into(),
            source: Source::from_stored(&format!("new/{key}")),
            action: Action::Reply,
            category: Some(Category::Pricing),
            desk: None,
            language: Some(Language::Da),
            sensitive: false,
            confidence: Some(0.9),
            doubtful: false,
            skip_reason: None,
            sender_hash: Some(sender_hash("bo@x.example")),
            reply_id: Some(format!("r-{key}")),
            forward_id: None,
            subject: None,
            explain: None,
            sender_addresses: vec!["bo@x.example".into()],
        }
    }

    fn reply(key: &str) -> Pending {
        Pending {
            message: Outgoing {
                message_id: MessageId::from_stored(format!("r-{key}")),
                kind: MessageKind::Reply,
                to: "bo@x.example".into(),
                bytes: b"To: bo@x.example\r\n\r\nHej".to_vec(),
            },
            mail_key: key.into(),
            attempts: 0,
            started: None,
        }
    }

    #[test]
    fn status_counts_pending_and_set_aside_and_reads_the_daemons_notes() {
        let mut l = Ledger::in_memory().unwrap();
        let empty = l.status().unwrap();
        assert_eq!(
            (empty.pending_messages, empty.set_aside, empty.mails),
            (0, 0, 0)
        );
        assert!(empty.contact.is_none() && empty.templates.is_none());
        assert!(empty.bytes > 0);

        l.record_intent(&rec("a"), &[reply("a")], at(10)).unwrap();
        l.record_intent(&rec("b"), &[reply("b")], at(11)).unwrap();
        l.record_intent(&rec("c"), &[reply("c")], at(12)).unwrap();
        l.delivered("r-c", at(13), false).unwrap();
        l.set_aside(&MailKey::from_stored("b".into()), "refused", at(14))
            .unwrap();
        let s = l.status().unwrap();
        assert_eq!(
            (s.pending_messages, s.pending_mails, s.set_aside, s.mails),
            (1, 1, 1, 3)
        );

        l.note_contact(at(100), "imap connected", "d1").unwrap();
        l.note_contact(at(200), "imap wait ended", "d1").unwrap();
        let s = l.status().unwrap();
        assert_eq!(
            s.contact,
            Some(Contact {
                at: at(200),
                what: "imap wait ended".into()
            })
        );
        // The same set keeps the time it was first noted; a new one starts its own.
        assert_eq!(
            s.templates,
            Some(TemplatesInUse {
                digest: "d1".into(),
                since: at(100)
            })
        );
        l.note_contact(at(300), "maildir scanned", "d2").unwrap();
        assert_eq!(
            l.status().unwrap().templates,
            Some(TemplatesInUse {
                digest: "d2".into(),
                since: at(300)
            })
        );
        // A digest that begins another's is still another set.
        l.note_contact(at(400), "maildir scanned", "d").unwrap();
        assert_eq!(l.status().unwrap().templates.unwrap().since, at(400));
    }
}
