//! `/metrics`, `/healthz` and `/readyz`: for a Prometheus scraper and a service manager on
//! loopback, so no session is asked for (no extractor of a user). They show only counts
//! and fixed words ([`crate::metrics`] never labels with an address, a subject or a
//! secret); the console's security headers are set on them as on every page. They never
//! change anything (the ledger check rolls its write back).

use axum::extract::State as AxState;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::Shared;

/// What Prometheus asks for and `prometheus_client` writes: OpenMetrics text.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn metrics(AxState(state): AxState<Shared>) -> Response {
    // The review list is the ledger's (the console may close a mail, the daemon add one):
    // counted now. A ledger that cannot answer leaves the last count.
    if let Ok(waiting) = state.db(|l| l.review_waiting()).await {
        state.metrics.review_waiting(waiting);
    }
    match state.metrics.encode() {
        Ok(text) => ([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response(),
        Err(_) => super::Error::Internal("cannot encode the metrics".into()).into_response(),
    }
}

/// Alive: the mail loop came round when it said it would (give or take
/// [`crate::metrics::LOOP_GRACE`]); otherwise 503 saying how late it is. A loop that waits
/// for mail without a bound, or has not begun its first round, is alive.
async fn healthz(AxState(state): AxState<Shared>) -> Response {
    match state.metrics.stuck() {
        None => (StatusCode::OK, "ok\n").into_response(),
        Some(late) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "loop: stuck, {} s late for its next round\n",
                late.as_secs()
            ),
        )
            .into_response(),
    }
}

/// Ready: the mailbox is logged in (or the Maildir read), SMTP answered last time (or was
/// not needed yet), and the ledger takes a write. Otherwise 503 with a line per failed
/// check, each starting with its name (`imap:`, `smtp:`, `ledger:`).
async fn readyz(AxState(state): AxState<Shared>) -> Response {
    let mut why = state.metrics.unready();
    if let Err(e) = state.db(|l| l.check_writable()).await {
        let detail = match e {
            super::Error::Internal(detail) => detail,
            super::Error::NotFound => "no ledger".into(),
        };
        why.push(format!("ledger: not writable: {detail}"));
    }
    if why.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        let mut text = why.join("\n");
        text.push('\n');
        (StatusCode::SERVICE_UNAVAILABLE, text).into_response()
    }
}
