//! Watching a folder: what the operating system reports about it (inotify on Linux),
//! translated into what the daemon cares about, on a bounded channel. Serves `responses/`
//! (reload templates) and a Maildir's `new/` (read new mail).
//!
//! A watcher is a help, never a promise: events can be lost (a full channel, a full inotify
//! queue), so every user of it also looks on its own from time to time. It never reads the
//! files itself.

use std::path::Path;

use tokio::sync::mpsc;
use tracing::warn;

use notify::Watcher as _;

/// A folder being watched; dropping it stops the watching. (Its fields are private: a task
/// that took only the receiver would drop the watcher, and hear nothing.)
pub struct Watch<T> {
    _watcher: notify::RecommendedWatcher,
    changes: mpsc::Receiver<T>,
}

impl<T> Watch<T> {
    /// The next change; `None` once the watcher has stopped.
    pub async fn next(&mut self) -> Option<T> {
        self.changes.recv().await
    }

    /// A change already waiting, if any.
    pub fn try_next(&mut self) -> Option<T> {
        self.changes.try_recv().ok()
    }
}

/// Watches `folder` (not its subfolders). `translate` turns each report into what matters
/// (nothing, for most); at most `capacity` wait unread, and the rest are dropped.
///
/// Returns `Ok(None)`, with a warning naming `what` is lost, when the folder cannot be
/// watched (it is gone, or the system's watch limit is reached).
///
/// # Errors
/// When no watcher can be started at all.
pub fn folder<T: Send + 'static>(
    folder: &Path,
    what: &'static str,
    capacity: usize,
    translate: impl Fn(notify::Result<notify::Event>) -> Vec<T> + Send + 'static,
) -> anyhow::Result<Option<Watch<T>>> {
    let (tx, changes) = mpsc::channel(capacity);
    let mut watcher = notify::recommended_watcher(move |res| {
        for change in translate(res) {
            // A full channel loses this report; the caller's own look finds what it said.
            let _ = tx.try_send(change);
        }
    })
    .map_err(|e| anyhow::Error::new(e).context(format!("cannot start the {what} watcher")))?;
    // Editors and mail servers write by rename: the folder is watched, not its files.
    if let Err(e) = watcher.watch(folder, notify::RecursiveMode::NonRecursive) {
        warn!(error = %e, folder = %folder.display(), "cannot watch the folder; {what} is looked at by polling only");
        return Ok(None);
    }
    Ok(Some(Watch {
        _watcher: watcher,
        changes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_new_file_is_reported_translated() {
        let dir = tempfile::tempdir().unwrap();
        let mut watch = folder(dir.path(), "test", 16, |res| match res {
            Ok(e) if e.kind.is_create() => e
                .paths
                .iter()
                .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        })
        .unwrap()
        .expect("a temp folder can be watched");
        std::fs::write(dir.path().join("hello"), b"x").unwrap();
        let got = tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await
            .expect("reported within the deadline");
        assert_eq!(got.as_deref(), Some("hello"));
    }

    #[tokio::test]
    async fn a_missing_folder_is_no_error_but_no_watch() {
        let dir = tempfile::tempdir().unwrap();
        let got = folder(&dir.path().join("gone"), "test", 1, |_| Vec::<()>::new()).unwrap();
        assert!(got.is_none());
    }
}
