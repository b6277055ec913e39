//! Intake: where mail comes from, as [`RawMail`] (the mailbox, an id within it, the bytes).
//!
//! Intake only reads and reports; it never decides or sends. The Maildir source is the
//! embedded default; IMAP plugs in beside it.

pub mod imap;
pub mod maildir;

use crate::types::Source;

/// Mail larger than this (in bytes) is read on its first [`PARTIAL_BYTES`] only, and marked
/// [`RawMail::truncated`]: IMAP fetches that much, and it is the default of the Maildir's
/// `max-size`.
pub const FULL_FETCH_MAX: u32 = 1024 * 1024;
/// How much of a mail over the limit is read: enough to classify it.
pub const PARTIAL_BYTES: u32 = 256 * 1024;

/// A mail as it arrived, before parsing.
#[derive(Debug, Clone)]
pub struct RawMail {
    /// Where it came from: an IMAP UID in its folder, a Maildir file.
    pub source: Source,
    pub bytes: Vec<u8>,
    /// Only the start of a large mail was read (the first [`PARTIAL_BYTES`], enough to
    /// classify it).
    pub truncated: bool,
    /// When it arrived (IMAP INTERNALDATE, a Maildir file's mtime), for the reply latency
    /// metric; `None` when not known (a mail fetched again for a console request).
    pub arrived: Option<std::time::SystemTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_maildir_default_is_what_imap_fetches_whole() {
        assert_eq!(
            crate::config::MAILDIR_DEFAULT_MAX_SIZE,
            u64::from(FULL_FETCH_MAX)
        );
    }
}
