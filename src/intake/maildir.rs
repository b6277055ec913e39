//! Maildir intake: the files in `<maildir>/new/`, oldest first, each read once it is
//! complete and never past a size limit.
//!
//! Files are only read, never moved or renamed: the ledger, not the folder, says what has
//! been handled, so the example Maildir in the repository stays as it is and a mail client
//! sharing the Maildir keeps its own view.
//!
//! A file is handed out only when it is complete: not empty, and either finished by its
//! writer as the watcher saw it (renamed into `new/`, as Maildir delivery does, or closed
//! after writing), or quiet, its size and modification time unchanged for [`SETTLE`] (a
//! minute, [`WRITER_QUIET`], when the watcher saw it written and not yet closed: a writer
//! that pauses). A file that is not complete yet is looked at again soon
//! ([`Maildir::next_look`]); one that changes while it is read is put back. A file that
//! cannot be read (permissions, vanished) is passed over and tried again at a later scan.
//! Intake must never hand out an empty or partial read: the pipeline would record it as
//! handled, under the wrong digest, and never look at the file again.
//!
//! At most `max-size` bytes of a file are read; of a larger file only the first
//! [`PARTIAL_BYTES`](super::PARTIAL_BYTES) (as IMAP fetches it), marked truncated. The
//! whole file is never read into memory.
//!
//! Watching: [`changes`] turns a file-system event into what it says about a file, and
//! ignores the events that reading causes (open, read, close after reading, access time):
//! reacting to those made every scan cause the next one. A periodic rescan is the fallback
//! (events can be lost, e.g. on network file systems).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind, RenameMode};

use super::{RawMail, FULL_FETCH_MAX, PARTIAL_BYTES};
use crate::types::Source;

/// How long a file written in place must stay unchanged before it is read.
pub const SETTLE: Duration = Duration::from_secs(1);
/// The same for a file the watcher saw written and not yet closed by its writer.
pub const WRITER_QUIET: Duration = Duration::from_secs(60);
/// The soonest a waiting file is looked at again.
const MIN_LOOK: Duration = Duration::from_millis(100);

/// Why the Maildir cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum MaildirError {
    #[error("cannot read Maildir folder {}", path.display())]
    ReadDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What a file-system event in `new/` says about a file there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Renamed into `new/` or closed by its writer: complete.
    Finished(String),
    /// Created or written to: its writer may still be at it.
    Writing(String),
    /// Events were lost: look at everything.
    Rescan,
}

/// What an event says, or nothing when it is no reason to look: opening, reading and
/// closing a file after reading (a scan's own reads cause these), metadata changes (the
/// access time a read sets), removals and renames away.
pub fn changes(event: &notify::Event) -> Vec<Change> {
    let names = || {
        event
            .paths
            .iter()
            .filter_map(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
    };
    if event.need_rescan() {
        return vec![Change::Rescan];
    }
    match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write))
        | EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Any)) => {
            names().map(Change::Finished).collect()
        }
        // [from, to]: only the new name is in new/.
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => names()
            .next_back()
            .map(Change::Finished)
            .into_iter()
            .collect(),
        EventKind::Create(_)
        | EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Any | ModifyKind::Other) => {
            names().map(Change::Writing).collect()
        }
        EventKind::Access(_)
        | EventKind::Modify(ModifyKind::Metadata(_) | ModifyKind::Name(_))
        | EventKind::Remove(_)
        | EventKind::Other
        | EventKind::Any => Vec::new(),
    }
}

/// A file not handed out yet, as the last look found it.
#[derive(Debug, Clone, Copy)]
struct Waiting {
    len: u64,
    modified: Option<SystemTime>,
    /// When a look first found it with this size and time.
    since: Instant,
    /// When it will have been quiet long enough, if it stays as it is (`None`: it is
    /// empty, only a change can make it mail).
    due: Option<Instant>,
}

/// What the watcher last said about a file's writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writer {
    /// Renamed in or closed since it was last written: complete.
    Finished,
    /// Written to and not closed yet.
    Writing,
}

/// The time of a look: wall clock for file times, monotonic for how long a look lasts.
#[derive(Debug, Clone, Copy)]
struct Clock {
    wall: SystemTime,
    mono: Instant,
}

/// What one look at a file found.
enum Look {
    Ready(Vec<u8>, bool),
    Wait(Waiting, &'static str),
    /// Written to while it was read.
    Changed(Waiting),
    Failed(std::io::Error),
}

/// A Maildir watched for new mail.
pub struct Maildir {
    root: PathBuf,
    /// Files over this many bytes are read in part.
    max_size: u64,
    /// File names already handed out by this process.
    seen: HashSet<String>,
    /// Files not complete at the last look.
    waiting: HashMap<String, Waiting>,
    /// Files the watcher saw finished, or written and not yet closed, since last looked.
    writer: HashMap<String, Writer>,
    /// Files whose read failed (warned about once).
    failing: HashSet<String>,
    open: fn(&Path) -> std::io::Result<File>,
}

impl Maildir {
    /// A Maildir at `root` whose files are read whole up to
    /// [`FULL_FETCH_MAX`](super::FULL_FETCH_MAX) bytes (see [`Maildir::max_size`]).
    pub fn new(root: &Path) -> Maildir {
        Maildir {
            root: root.to_path_buf(),
            max_size: u64::from(FULL_FETCH_MAX),
            seen: HashSet::new(),
            waiting: HashMap::new(),
            writer: HashMap::new(),
            failing: HashSet::new(),
            open: |p| File::open(p),
        }
    }

    /// Files over `bytes` are read in part: their first [`PARTIAL_BYTES`] (or `bytes`, if
    /// less).
    #[must_use]
    pub fn max_size(mut self, bytes: u64) -> Maildir {
        self.max_size = bytes;
        self
    }

    /// The folder new mail arrives in.
    pub fn new_dir(&self) -> PathBuf {
        self.root.join("new")
    }

    pub fn label(&self) -> String {
        self.root.display().to_string()
    }

    /// Checks that `new/` exists and can be listed.
    ///
    /// # Errors
    /// When it cannot.
    pub fn check(&self) -> Result<usize, MaildirError> {
        let dir = self.new_dir();
        std::fs::read_dir(&dir)
            .map(|d| d.count())
            .map_err(|source| MaildirError::ReadDir { path: dir, source })
    }

    /// Takes note of what the watcher saw. Returns whether it is worth a scan now (a
    /// file written to and not finished is only noted: its close or its quiet time is).
    pub fn note(&mut self, change: Change) -> bool {
        match change {
            Change::Finished(name) => {
                if self.seen.contains(&name) {
                    self.writer.remove(&name);
                } else {
                    self.writer.insert(name, Writer::Finished);
                }
                true
            }
            Change::Writing(name) => {
                // Worth a look when nothing is known of it yet, or it was empty.
                let new = !self.seen.contains(&name)
                    && self.waiting.get(&name).is_none_or(|w| w.due.is_none());
                self.writer.insert(name, Writer::Writing);
                new
            }
            Change::Rescan => true,
        }
    }

    /// How soon a waiting file may be complete; `None` when none is (only empty files, if
    /// any, wait: a change to them is an event, or the periodic rescan finds it).
    pub fn next_look(&self) -> Option<Duration> {
        let now = Instant::now();
        self.waiting
            .values()
            .filter_map(|w| w.due)
            .map(|due| due.saturating_duration_since(now).max(MIN_LOOK))
            .min()
    }

    /// Names of the files still waiting to be complete.
    pub fn waiting(&self) -> Vec<String> {
        let mut v: Vec<String> = self.waiting.keys().cloned().collect();
        v.sort();
        v
    }

    /// Complete mail in `new/` not yet handed out, sorted by file name (Maildir names start
    /// with the delivery time). A file not complete yet waits (see [`Maildir::next_look`]);
    /// a file that vanishes or cannot be read is passed over and tried again at a later scan.
    ///
    /// # Errors
    /// When `new/` itself cannot be listed.
    pub fn scan(&mut self) -> Result<Vec<RawMail>, MaildirError> {
        self.scan_at(Clock {
            wall: crate::clock::now(),
            mono: Instant::now(),
        })
    }

    fn scan_at(&mut self, now: Clock) -> Result<Vec<RawMail>, MaildirError> {
        let dir = self.new_dir();
        let entries = std::fs::read_dir(&dir).map_err(|source| MaildirError::ReadDir {
            path: dir.clone(),
            source,
        })?;
        let mut names: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.') && !self.seen.contains(n))
            .collect();
        names.sort();
        // Forget what the watcher said about files no longer there.
        let present: HashSet<&String> = names.iter().collect();
        self.waiting.retain(|n, _| present.contains(n));
        self.writer.retain(|n, _| present.contains(n));
        self.failing.retain(|n| present.contains(n));
        let mut out = Vec::new();
        for name in names {
            match self.look(&dir.join(&name), &name, now) {
                Look::Ready(bytes, truncated) => {
                    self.waiting.remove(&name);
                    self.writer.remove(&name);
                    self.failing.remove(&name);
                    self.seen.insert(name.clone());
                    if truncated {
                        tracing::info!(file = %name, max_size = self.max_size, read = bytes.len(), "mail file over max-size; only its start is read");
                    }
                    let arrived = std::fs::metadata(dir.join(&name))
                        .and_then(|m| m.modified())
                        .ok();
                    out.push(RawMail {
                        source: Source::File {
                            mailbox: self.label(),
                            name,
                        },
                        bytes,
                        truncated,
                        arrived,
                    });
                }
                Look::Wait(w, why) => {
                    tracing::debug!(file = %name, why, "mail file not complete; will look again");
                    self.waiting.insert(name, w);
                }
                Look::Changed(w) => {
                    tracing::debug!(file = %name, "mail file changed while read; will look again");
                    // Whatever the watcher said, it is still being written.
                    if self.writer.get(&name) == Some(&Writer::Finished) {
                        self.writer.remove(&name);
                    }
                    self.waiting.insert(name, w);
                }
                Look::Failed(e) => {
                    self.waiting.remove(&name);
                    if self.failing.insert(name.clone()) {
                        tracing::warn!(file = %name, error = %e, "cannot read mail file; will retry");
                    } else {
                        tracing::debug!(file = %name, error = %e, "cannot read mail file; will retry");
                    }
                }
            }
        }
        tracing::debug!(
            handed_out = out.len(),
            waiting = self.waiting.len(),
            "scanned Maildir"
        );
        Ok(out)
    }

    /// Looks at one file: reads it when complete.
    fn look(&self, path: &Path, name: &str, now: Clock) -> Look {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) => return Look::Failed(e),
        };
        let (len, modified) = (meta.len(), meta.modified().ok());
        let since = match self.waiting.get(name) {
            Some(w) if w.len == len && w.modified == modified => w.since,
            _ => now.mono,
        };
        let waiting = |left: Option<Duration>| Waiting {
            len,
            modified,
            since,
            due: left.map(|l| now.mono + l),
        };
        if len == 0 {
            return Look::Wait(waiting(None), "empty");
        }
        let needed = match self.writer.get(name) {
            Some(Writer::Finished) => Duration::ZERO,
            Some(Writer::Writing) => WRITER_QUIET,
            None => SETTLE,
        };
        // Unchanged for as long as its time says, or as long as looks have seen it so (a
        // time in the future, or set back by the writer, does not count).
        let by_time = modified
            .and_then(|m| now.wall.duration_since(m).ok())
            .unwrap_or_default();
        let quiet = by_time.max(now.mono.saturating_duration_since(since));
        if quiet < needed {
            return Look::Wait(waiting(Some(needed - quiet)), "being written");
        }
        let file = match (self.open)(path) {
            Ok(f) => f,
            Err(e) => return Look::Failed(e),
        };
        let truncated = len > self.max_size;
        let limit = if truncated {
            u64::from(PARTIAL_BYTES).min(self.max_size)
        } else {
            self.max_size
        };
        let expected = len.min(limit);
        let mut bytes = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
        let mut file = file.take(limit);
        if let Err(e) = file.read_to_end(&mut bytes) {
            return Look::Failed(e);
        }
        // Written to while it was read: wait until it is quiet again.
        let after = file.into_inner().metadata().ok();
        let unchanged = after.is_some_and(|m| m.len() == len && m.modified().ok() == modified);
        if !unchanged || bytes.len() as u64 != expected {
            return Look::Changed(Waiting {
                len,
                modified,
                since: now.mono,
                due: Some(now.mono + SETTLE),
            });
        }
        Look::Ready(bytes, truncated)
    }

    /// The mail file `name` of `new/` read again, bounded as a scan reads it (for a
    /// request from the console about a mail handled before). `Ok(None)`: no such file
    /// (gone, or a name that is no plain file name).
    ///
    /// # Errors
    /// When the file is there but cannot be read.
    pub fn read_again(&self, name: &str) -> std::io::Result<Option<RawMail>> {
        let plain = !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\', '\0']);
        if !plain {
            return Ok(None);
        }
        let file = match (self.open)(&self.new_dir().join(name)) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        let truncated = len > self.max_size;
        let limit = if truncated {
            u64::from(PARTIAL_BYTES).min(self.max_size)
        } else {
            self.max_size
        };
        let mut bytes = Vec::new();
        file.take(limit).read_to_end(&mut bytes)?;
        Ok(Some(RawMail {
            source: Source::File {
                mailbox: self.label(),
                name: name.to_string(),
            },
            bytes,
            truncated,
            arrived: None,
        }))
    }

    /// Forgets a file so the next scan offers it again (after a transient failure).
    pub fn retry_later(&mut self, id: &str) {
        self.seen.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    const MAX: u64 = 1024 * 1024;

    fn maildir() -> (tempfile::TempDir, Maildir) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("new")).unwrap();
        let m = Maildir::new(dir.path()).max_size(MAX);
        (dir, m)
    }

    /// `secs` from now.
    fn at(secs: u64) -> Clock {
        let d = Duration::from_secs(secs);
        Clock {
            wall: crate::clock::now() + d,
            mono: Instant::now() + d,
        }
    }

    /// The moment a file was just written, however slow the test machine: the wall clock
    /// is set back so a file's time never makes it look quiet.
    fn as_written() -> Clock {
        Clock {
            wall: crate::clock::now() - Duration::from_secs(60),
            mono: Instant::now(),
        }
    }

    fn ids(v: Vec<RawMail>) -> Vec<String> {
        v.into_iter()
            .filter_map(|r| r.source.file_name().map(str::to_string))
            .collect()
    }

    /// Sets a file's modification time `secs` into the past.
    fn age(path: &Path, secs: u64) {
        let t = crate::clock::now() - Duration::from_secs(secs);
        File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(t)
            .unwrap();
    }

    #[test]
    fn scans_new_files_once_in_name_order() {
        let (dir, mut m) = maildir();
        std::fs::write(dir.path().join("new/2.eml"), b"b").unwrap();
        std::fs::write(dir.path().join("new/1.eml"), b"a").unwrap();
        std::fs::write(dir.path().join("new/.hidden"), b"x").unwrap();
        let got = ids(m.scan_at(at(5)).unwrap());
        assert_eq!(got, ["1.eml", "2.eml"]);
        assert!(m.scan_at(at(5)).unwrap().is_empty());
        m.retry_later("2.eml");
        assert_eq!(m.scan_at(at(5)).unwrap().len(), 1);
    }

    #[test]
    fn missing_folder_is_an_error_naming_it() {
        let mut m = Maildir::new(Path::new("/nonexistent/maildir"));
        let e = m.scan().unwrap_err();
        assert!(e.to_string().contains("/nonexistent/maildir/new"));
    }

    #[test]
    fn an_empty_file_is_never_handed_out() {
        let (dir, mut m) = maildir();
        let f = dir.path().join("new/empty");
        std::fs::write(&f, b"").unwrap();
        age(&f, 3600);
        assert!(m.scan_at(at(0)).unwrap().is_empty());
        assert!(m.scan_at(at(3600)).unwrap().is_empty());
        assert_eq!(m.waiting(), ["empty"]);
        // Nothing to wait for: only a change to it can make it mail.
        assert_eq!(m.next_look(), None);
        // Finished by its writer, still empty: still not mail.
        assert!(m.note(Change::Finished("empty".into())));
        assert!(m.scan_at(at(3600)).unwrap().is_empty());
        std::fs::write(&f, b"Subject: x\r\n\r\nhej\r\n").unwrap();
        age(&f, 10);
        let got = m.scan_at(at(0)).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].bytes, b"Subject: x\r\n\r\nhej\r\n");
    }

    #[test]
    fn a_file_growing_between_scans_waits_until_it_is_stable() {
        let (dir, mut m) = maildir();
        let f = dir.path().join("new/b.eml");
        let mut w = File::create(&f).unwrap();
        w.write_all(b"From: a@b.example\r\nSubject: Pris\r\n")
            .unwrap();
        assert!(
            m.scan_at(as_written()).unwrap().is_empty(),
            "read while just written"
        );
        assert_eq!(m.waiting(), ["b.eml"]);
        let soon = m.next_look().unwrap();
        assert!(soon <= SETTLE && soon >= MIN_LOOK, "{soon:?}");
        w.write_all(b"\r\nHvad koster det?\r\n").unwrap();
        // Grown since the last look: unchanged for no time at all.
        assert!(
            m.scan_at(as_written()).unwrap().is_empty(),
            "read while growing"
        );
        drop(w);
        let got = m.scan_at(at(2)).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].bytes,
            b"From: a@b.example\r\nSubject: Pris\r\n\r\nHvad koster det?\r\n"
        );
        assert!(m.waiting().is_empty());
    }

    #[test]
    fn a_time_in_the_future_still_settles_by_looks() {
        let (dir, mut m) = maildir();
        let f = dir.path().join("new/future");
        std::fs::write(&f, b"Subject: x\r\n\r\nhej\r\n").unwrap();
        File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(crate::clock::now() + Duration::from_secs(86_400))
            .unwrap();
        assert!(m.scan_at(at(0)).unwrap().is_empty());
        assert_eq!(m.scan_at(at(2)).unwrap().len(), 1);
    }

    #[test]
    fn a_renamed_in_file_is_read_at_once() {
        let (dir, mut m) = maildir();
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        std::fs::write(dir.path().join("tmp/m1"), b"Subject: x\r\n\r\nhej\r\n").unwrap();
        std::fs::rename(dir.path().join("tmp/m1"), dir.path().join("new/m1")).unwrap();
        assert!(m.note(Change::Finished("m1".into())));
        assert_eq!(ids(m.scan_at(at(0)).unwrap()), ["m1"]);
    }

    #[test]
    fn a_file_seen_written_and_not_closed_waits_for_its_close() {
        let (dir, mut m) = maildir();
        let f = dir.path().join("new/slow");
        std::fs::write(&f, b"From: a@b.example\r\n").unwrap();
        assert!(m.note(Change::Writing("slow".into())));
        // A writer that pauses longer than SETTLE is not read half-way.
        assert!(m.scan_at(at(5)).unwrap().is_empty());
        assert!(!m.note(Change::Writing("slow".into())), "already waiting");
        std::fs::write(&f, b"From: a@b.example\r\n\r\nhej\r\n").unwrap();
        assert!(m.note(Change::Finished("slow".into())));
        let got = m.scan_at(at(0)).unwrap();
        assert_eq!(got[0].bytes, b"From: a@b.example\r\n\r\nhej\r\n");
        // A lost close: read after WRITER_QUIET.
        std::fs::write(dir.path().join("new/lost"), b"x").unwrap();
        m.note(Change::Writing("lost".into()));
        assert!(m.scan_at(at(30)).unwrap().is_empty());
        assert_eq!(ids(m.scan_at(at(61)).unwrap()), ["lost"]);
    }

    #[test]
    fn a_failed_read_is_retried_and_never_handed_out() {
        let (dir, mut m) = maildir();
        let f = dir.path().join("new/locked");
        std::fs::write(&f, b"Subject: x\r\n\r\nhej\r\n").unwrap();
        m.open = |_| Err(std::io::ErrorKind::PermissionDenied.into());
        assert!(m.scan_at(at(5)).unwrap().is_empty());
        assert!(m.scan_at(at(5)).unwrap().is_empty());
        m.open = |p| File::open(p);
        let got = m.scan_at(at(5)).unwrap();
        assert_eq!(ids(got), ["locked"]);
    }

    #[test]
    fn a_file_over_max_size_is_read_in_part_and_marked_truncated() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("new")).unwrap();
        let big = vec![b'a'; 2 * 1024 * 1024];
        std::fs::write(dir.path().join("new/big"), &big).unwrap();
        std::fs::write(dir.path().join("new/small"), &big[..1000]).unwrap();
        std::fs::write(dir.path().join("new/edge"), &big[..MAX as usize]).unwrap();
        let mut m = Maildir::new(dir.path()).max_size(MAX);
        let got = m.scan_at(at(5)).unwrap();
        let by: HashMap<&str, &RawMail> = got
            .iter()
            .filter_map(|r| Some((r.source.file_name()?, r)))
            .collect();
        assert_eq!(by["big"].bytes.len(), PARTIAL_BYTES as usize);
        assert!(by["big"].truncated);
        assert_eq!(by["edge"].bytes.len(), MAX as usize);
        assert!(!by["edge"].truncated);
        assert_eq!(by["small"].bytes.len(), 1000);
        assert!(!by["small"].truncated);
        // A limit below PARTIAL_BYTES is never exceeded.
        std::fs::write(dir.path().join("new/big2"), &big).unwrap();
        let mut m = Maildir::new(dir.path()).max_size(64 * 1024);
        let got = m.scan_at(at(5)).unwrap();
        assert!(got.iter().all(|r| r.bytes.len() <= 64 * 1024));
    }

    #[test]
    fn reads_and_metadata_changes_are_no_reason_to_look() {
        use notify::event::{CreateKind, DataChange, MetadataKind, RemoveKind};
        let ev = |kind, paths: &[&str]| {
            let mut e = notify::Event::new(kind);
            for p in paths {
                e = e.add_path(PathBuf::from(p));
            }
            e
        };
        for kind in [
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            EventKind::Access(AccessKind::Read),
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            EventKind::Access(AccessKind::Any),
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any)),
            EventKind::Modify(ModifyKind::Name(RenameMode::From)),
            EventKind::Remove(RemoveKind::File),
            EventKind::Other,
        ] {
            assert_eq!(changes(&ev(kind, &["/m/new/a"])), [], "{kind:?}");
            assert_eq!(
                changes(&ev(kind, &["/m/new"])),
                [],
                "{kind:?} on the folder"
            );
        }
        let fin = |n: &str| Change::Finished(n.into());
        let writing = |n: &str| Change::Writing(n.into());
        let cases = [
            (EventKind::Create(CreateKind::File), writing("a")),
            (
                EventKind::Modify(ModifyKind::Data(DataChange::Any)),
                writing("a"),
            ),
            (
                EventKind::Access(AccessKind::Close(AccessMode::Write)),
                fin("a"),
            ),
            (
                EventKind::Modify(ModifyKind::Name(RenameMode::To)),
                fin("a"),
            ),
        ];
        for (kind, want) in cases {
            assert_eq!(changes(&ev(kind, &["/m/new/a"])), [want], "{kind:?}");
        }
        let both = ev(
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
            &["/m/new/old", "/m/new/b"],
        );
        assert_eq!(changes(&both), [fin("b")]);
        let overflow = notify::Event::new(EventKind::Other).set_flag(notify::event::Flag::Rescan);
        assert_eq!(changes(&overflow), [Change::Rescan]);
    }
}
