//! Maildir intake: the files in `<maildir>/new/`, oldest first.
//!
//! Files are only read, never moved or renamed: the ledger, not the folder, says what has
//! been handled, so the example Maildir in the repository stays as it is and a mail client
//! sharing the Maildir keeps its own view. Watching uses file-system events with a periodic
//! rescan as a fallback (events can be lost, e.g. on network file systems).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::RawMail;

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

/// A Maildir watched for new mail.
pub struct Maildir {
    root: PathBuf,
    /// File names already handed out by this process.
    seen: HashSet<String>,
}

impl Maildir {
    pub fn new(root: &Path) -> Maildir {
        Maildir {
            root: root.to_path_buf(),
            seen: HashSet::new(),
        }
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

    /// Mail in `new/` not yet handed out, sorted by file name (Maildir names start with the
    /// delivery time). A file that vanishes or cannot be read is passed over and retried on
    /// the next scan.
    ///
    /// # Errors
    /// When `new/` itself cannot be listed.
    pub fn scan(&mut self) -> Result<Vec<RawMail>, MaildirError> {
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
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            match std::fs::read(dir.join(&name)) {
                Ok(bytes) => {
                    self.seen.insert(name.clone());
                    out.push(RawMail {
                        mailbox: self.label(),
                        id: name,
                        bytes,
                        truncated: false,
                    });
                }
                Err(e) => {
                    tracing::warn!(file = %name, error = %e, "cannot read mail file; will retry")
                }
            }
        }
        Ok(out)
    }

    /// Forgets a file so the next scan offers it again (after a transient failure).
    pub fn retry_later(&mut self, id: &str) {
        self.seen.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_new_files_once_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("new")).unwrap();
        std::fs::write(dir.path().join("new/2.eml"), b"b").unwrap();
        std::fs::write(dir.path().join("new/1.eml"), b"a").unwrap();
        std::fs::write(dir.path().join("new/.hidden"), b"x").unwrap();
        let mut m = Maildir::new(dir.path());
        let got: Vec<String> = m.scan().unwrap().into_iter().map(|r| r.id).collect();
        assert_eq!(got, ["1.eml", "2.eml"]);
        assert!(m.scan().unwrap().is_empty());
        m.retry_later("2.eml");
        assert_eq!(m.scan().unwrap().len(), 1);
    }

    #[test]
    fn missing_folder_is_an_error_naming_it() {
        let mut m = Maildir::new(Path::new("/nonexistent/maildir"));
        let e = m.scan().unwrap_err();
        assert!(e.to_string().contains("/nonexistent/maildir/new"));
    }
}
