//! New mail first: while a backlog drains behind `[smtp] max-rate`, a mail that arrives
//! now is answered before the rest of the backlog (the person who just wrote gets the fast
//! answer; the backlog keeps draining at the allowed rate).
//!
//! With a rate, the backlog is taken on in small batches (what the rate sends in about a
//! second), and between two of them the folder is asked for mail newer than any listed;
//! such mail is fetched, decided, delivered and shown at once. The folder's place (its last
//! handled UID) is not moved past the backlog for it: when the backlog is done and the
//! folder is listed again, the mailbox (`\Answered`) and the ledger say it was handled,
//! and it is never answered twice. Without a rate nothing here changes the order.

use std::collections::HashMap;

use super::{batches, fetch_batch, Listed, Session, SessionError};
use crate::clock::now;
use crate::pipeline::Cursor;

/// `batches` cut smaller still, to `per_second` mails each (`None`: as they are).
pub(super) fn paced(batches: Vec<&[Listed]>, per_second: Option<usize>) -> Vec<&[Listed]> {
    let Some(n) = per_second else {
        return batches;
    };
    batches
        .into_iter()
        .flat_map(|b| b.chunks(n.max(1)))
        .collect()
}

impl Session<'_> {
    /// Between two batches of a backlog that drains behind a rate: answers mail newer than
    /// `newest` (the highest UID listed or answered ahead so far), and moves `newest` on.
    pub(super) async fn answer_newer_first(
        &mut self,
        newest: &mut u32,
    ) -> Result<(), SessionError> {
        if self.pipeline.per_second().is_none() || self.shutdown.is_cancelled() {
            return Ok(());
        }
        let newer = self.imap.list_after(*newest).await?;
        let Some(last) = newer.last() else {
            return Ok(());
        };
        *newest = last.uid;
        tracing::info!(
            mails = newer.len(),
            "new mail answered ahead of the backlog"
        );
        // Arrived after autosvar first saw the folder: never "old". Its own cursor, so
        // the folder's place stays behind the backlog.
        let mut ahead = Cursor {
            last_uid: 0,
            first_start: false,
        };
        for batch in batches(&newer) {
            let bodies: HashMap<u32, (Vec<u8>, bool)> = fetch_batch(self.imap, batch).await?;
            let (decided, prepared) = self.decide(batch, bodies, &mut ahead).await?;
            let delivered = self.pipeline.deliver(prepared, now()).await?;
            self.show(decided, delivered).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_cuts_batches_to_what_it_sends_in_a_second() {
        let listed: Vec<Listed> = (1..=10)
            .map(|uid| Listed {
                uid,
                size: 100,
                arrived: None,
                handled: false,
            })
            .collect();
        let whole = vec![&listed[..7], &listed[7..]];
        let sizes = |b: &[&[Listed]]| b.iter().map(|b| b.len()).collect::<Vec<_>>();
        assert_eq!(sizes(&paced(whole.clone(), None)), [7, 3]);
        assert_eq!(sizes(&paced(whole.clone(), Some(3))), [3, 3, 1, 3]);
        assert_eq!(sizes(&paced(whole.clone(), Some(1))), [1; 10]);
        let uids: Vec<u32> = paced(whole, Some(4))
            .concat()
            .iter()
            .map(|l| l.uid)
            .collect();
        assert_eq!(uids, (1..=10).collect::<Vec<_>>(), "order kept");
    }
}
