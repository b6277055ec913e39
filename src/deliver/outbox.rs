//! The outbox transport: each message becomes `<outbox>/<id>.eml`, written atomically
//! (temporary file, then rename), so a crash leaves either the whole message or none.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::DeliverError;

/// A folder of sent messages.
pub struct Outbox {
    dir: PathBuf,
}

/// A file name from a Message-ID: safe characters only.
fn file_name(message_id: &str) -> String {
    let id: String = message_id
        .trim_matches(|c| c == '<' || c == '>')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{id}.eml")
}

impl Outbox {
    /// Opens (creating) the folder.
    ///
    /// # Errors
    /// When the folder cannot be created.
    pub fn open(dir: &Path) -> Result<Outbox, DeliverError> {
        crate::private::create_dir_all(dir).map_err(|source| DeliverError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(Outbox {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes one message, with an `X-Autosvar-Envelope-To` line first so the file says where
    /// it would have gone.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn write(&self, message_id: &str, to: &str, bytes: &[u8]) -> Result<(), DeliverError> {
        let path = self.dir.join(file_name(message_id));
        let tmp = self.dir.join(format!(".{}.tmp", file_name(message_id)));
        let err = |source| DeliverError::Write {
            path: path.clone(),
            source,
        };
        let mut f = crate::private::create_file(&tmp).map_err(err)?;
        f.write_all(format!("X-Autosvar-Envelope-To: {to}\r\n").as_bytes())
            .and_then(|()| f.write_all(bytes))
            .and_then(|()| f.sync_all())
            .map_err(err)?;
        std::fs::rename(&tmp, &path).map_err(err)?;
        Ok(())
    }

    pub fn contains(&self, message_id: &str) -> bool {
        self.dir.join(file_name(message_id)).exists()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_atomically_and_finds_it_again() {
        let dir = tempfile::tempdir().unwrap();
        let o = Outbox::open(&dir.path().join("out")).unwrap();
        assert!(!o.contains("<a/b@x>"));
        o.write("<a/b@x>", "bo@x", b"Subject: x\r\n\r\nhi\r\n")
            .unwrap();
        assert!(o.contains("<a/b@x>"));
        let names: Vec<_> = std::fs::read_dir(o.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["a_b@x.eml"]);
    }

    #[cfg(unix)]
    #[test]
    fn the_outbox_is_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let o = Outbox::open(&dir.path().join("var/out")).unwrap();
        o.write("<a@x>", "bo@x", b"Subject: x\r\n\r\nhi\r\n")
            .unwrap();
        assert_eq!(mode(&dir.path().join("var")), 0o700);
        assert_eq!(mode(o.dir()), 0o700);
        assert_eq!(mode(&o.dir().join("a@x.eml")), 0o600);
    }
}
