//! The console's requests (answer, teach, forward), carried out by the daemon between mails: the
//! console writes a request to the ledger and rings the pipeline's bell; the wait for mail
//! ends, and here each pending request's mail is read again by its [`Source`] (the Maildir
//! file, or a UID FETCH in the selected IMAP folder while its UIDVALIDITY still matches)
//! and handed to [`Pipeline::carry_out`]. A mail that cannot be read again is refused with
//! why. A retrained model is swapped in here too. Never reads a mail's content itself.

use tracing::debug;

use super::Report;
use crate::clock::now;
use crate::intake::RawMail;
use crate::pipeline::{Done, Pipeline, PipelineError};
use crate::types::Source;

/// Carries out every pending request. `read` fetches a mail by its source: `Ok(Err(why))`
/// when it cannot be had (the request is refused with `why`), `Err` for what ends the
/// connection. Returns how many requests were finished.
///
/// # Errors
/// Ledger and delivery errors, and `read`'s.
pub(super) async fn carry_out<E: From<PipelineError>>(
    pipeline: &mut Pipeline,
    report: &mut Report,
    mut read: impl AsyncFnMut(&Source) -> Result<Result<RawMail, String>, E>,
) -> Result<usize, E> {
    pipeline.adopt_model();
    let pending = pipeline.pending_requests()?;
    if pending.is_empty() {
        return Ok(0);
    }
    debug!(
        requests = pending.len(),
        "carrying out the console's requests"
    );
    let mut finished = 0;
    for req in pending {
        let Some(source) = pipeline.source_of_request(&req)? else {
            pipeline.refuse_request(&req, "the ledger no longer has this mail", now())?;
            finished += 1;
            continue;
        };
        let done = match read(&source).await? {
            Ok(raw) => pipeline.carry_out(&req, &raw, now()).await?,
            Err(why) => pipeline.refuse_request(&req, &why, now())?,
        };
        if let Done::Answered(outcome) | Done::Forwarded(outcome) = &done {
            report.mail(&source, outcome);
        }
        finished += 1;
    }
    Ok(finished)
}
