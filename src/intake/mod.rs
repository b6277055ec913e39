//! Intake: where mail comes from, as [`RawMail`] (the mailbox, an id within it, the bytes).
//!
//! Intake only reads and reports; it never decides or sends. The Maildir source is the
//! embedded default; IMAP plugs in beside it.

pub mod imap;
pub mod maildir;

/// A mail as it arrived, before parsing.
#[derive(Debug, Clone)]
pub struct RawMail {
    /// The mailbox it came from (a Maildir path, an IMAP folder).
    pub mailbox: String,
    /// Its id within the mailbox (a Maildir file name, an IMAP UID).
    pub id: String,
    pub bytes: Vec<u8>,
    /// Only the start of a large mail was fetched (enough to classify it).
    pub truncated: bool,
}

impl RawMail {
    /// "mailbox/id", as logs and the ledger show it.
    pub fn source(&self) -> String {
        format!("{}/{}", self.mailbox, self.id)
    }
}
