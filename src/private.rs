//! Private files: the ledger (with its journal files) and the outbox hold replies, desk
//! forwards and sender hashes, so they are created readable by autosvar's user only:
//! folders 0700 and files 0600, whatever the umask. Only what autosvar creates is made so;
//! an existing folder it did not create keeps its mode. Never used for files HR staff edit.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};

/// Creates `dir` and any missing parents, each new one 0700.
///
/// # Errors
/// As [`std::fs::create_dir_all`].
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder.create(dir)
}

/// Creates (or truncates) `path` for writing, 0600 if new.
///
/// # Errors
/// As [`File::create`].
pub fn create_file(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(path)
}

/// Makes an existing file 0600 (a ledger written by an older version); a missing file is
/// no error.
///
/// # Errors
/// When the mode cannot be changed.
pub fn restrict(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    match std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        other => return other,
    }
    Ok(())
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn folders_and_files_are_private_whatever_was_asked_before() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b");
        create_dir_all(&deep).unwrap();
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&deep), 0o700);
        let f = deep.join("f");
        create_file(&f).unwrap();
        assert_eq!(mode(&f), 0o600);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        restrict(&f).unwrap();
        assert_eq!(mode(&f), 0o600);
        restrict(&deep.join("missing")).unwrap();
    }
}
