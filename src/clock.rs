//! The one place that reads the wall clock.
//!
//! Everything that needs "now" takes a `SystemTime` argument; the edges (the CLI and the
//! pipeline) call [`now`] once, so unit tests and golden files can pass a fixed time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The current wall-clock time.
#[allow(clippy::disallowed_methods)]
pub fn now() -> SystemTime {
    SystemTime::now()
}

/// Seconds since the Unix epoch (0 for times before it).
pub fn unix_seconds(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The inverse of [`unix_seconds`].
pub fn from_unix_seconds(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}
