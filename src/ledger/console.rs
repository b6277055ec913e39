//! The HR console's records, in the ledger's database: HR users (name and argon2id hash,
//! never a password), the audit log, every published version of the templates, and the
//! drafts not yet published. Only SQL lives here; the console decides who may do what.

use std::collections::BTreeMap;
use std::time::SystemTime;

use rusqlite::{params, OptionalExtension};

use super::{Ledger, LedgerError};
use crate::clock::{from_unix_seconds, unix_seconds};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS console_users (
    name     TEXT PRIMARY KEY,
    hash     TEXT NOT NULL,
    created  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS console_audit (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    user     TEXT NOT NULL,
    action   TEXT NOT NULL,
    detail   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS template_versions (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    user     TEXT NOT NULL,
    comment  TEXT NOT NULL,
    files    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS template_drafts (
    name     TEXT PRIMARY KEY,
    text     TEXT NOT NULL,
    base     TEXT NOT NULL,
    user     TEXT NOT NULL,
    at       INTEGER NOT NULL
);
";

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: SystemTime,
    pub user: String,
    pub action: String,
    pub detail: String,
}

/// A published set of templates: file name -> text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub id: i64,
    pub at: SystemTime,
    pub user: String,
    pub comment: String,
    pub files: BTreeMap<String, String>,
}

/// A saved, unpublished edit of one template. `base` is the digest of the file on disk when
/// the editor was opened ("" when there was no file): publishing over a file that has
/// changed since is a conflict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub name: String,
    pub text: String,
    pub base: String,
    pub user: String,
    pub at: SystemTime,
}

impl Ledger {
    /// The argon2id hash (PHC string) of an HR user's password.
    pub fn user_hash(&self, name: &str) -> Result<Option<String>, LedgerError> {
        Ok(self
            .conn
            .query_row(
                "SELECT hash FROM console_users WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Adds a user or sets a new password hash; `true` when the user is new.
    pub fn set_user(
        &mut self,
        name: &str,
        hash: &str,
        now: SystemTime,
    ) -> Result<bool, LedgerError> {
        let existed = self.user_hash(name)?.is_some();
        self.conn.execute(
            "INSERT INTO console_users (name, hash, created) VALUES (?1, ?2, ?3)
             ON CONFLICT(name) DO UPDATE SET hash = excluded.hash",
            params![name, hash, unix_seconds(now)],
        )?;
        Ok(!existed)
    }

    /// Removes a user; `true` when there was one.
    pub fn remove_user(&mut self, name: &str) -> Result<bool, LedgerError> {
        Ok(self
            .conn
            .execute("DELETE FROM console_users WHERE name = ?1", [name])?
            > 0)
    }

    /// Every HR user's name, sorted.
    pub fn users(&self) -> Result<Vec<String>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM console_users ORDER BY name")?;
        let names = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(names)
    }

    /// Writes one line to the audit log.
    pub fn audit(
        &mut self,
        now: SystemTime,
        user: &str,
        action: &str,
        detail: &str,
    ) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT INTO console_audit (at, user, action, detail) VALUES (?1, ?2, ?3, ?4)",
            params![unix_seconds(now), user, action, detail],
        )?;
        Ok(())
    }

    /// The newest `limit` lines of the audit log, newest first.
    pub fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, LedgerError> {
        let mut stmt = self.conn.prepare(
            "SELECT at, user, action, detail FROM console_audit ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt
            .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                Ok(AuditEntry {
                    at: from_unix_seconds(r.get(0)?),
                    user: r.get(1)?,
                    action: r.get(2)?,
                    detail: r.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Records a published set of templates; returns its version number.
    pub fn add_version(
        &mut self,
        now: SystemTime,
        user: &str,
        comment: &str,
        files: &BTreeMap<String, String>,
    ) -> Result<i64, LedgerError> {
        let json = serde_json::to_string(files).unwrap_or_else(|_| "{}".into());
        self.conn.execute(
            "INSERT INTO template_versions (at, user, comment, files) VALUES (?1, ?2, ?3, ?4)",
            params![unix_seconds(now), user, comment, json],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The newest `limit` versions, newest first, without their files.
    pub fn versions(&self, limit: usize) -> Result<Vec<Version>, LedgerError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, at, user, comment FROM template_versions ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt
            .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                Ok(Version {
                    id: r.get(0)?,
                    at: from_unix_seconds(r.get(1)?),
                    user: r.get(2)?,
                    comment: r.get(3)?,
                    files: BTreeMap::new(),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// One version with its files; `None` for an unknown number. `id = None`: the newest.
    pub fn version(&self, id: Option<i64>) -> Result<Option<Version>, LedgerError> {
        let row = self
            .conn
            .query_row(
                "SELECT id, at, user, comment, files FROM template_versions
                 WHERE ?1 IS NULL OR id = ?1 ORDER BY id DESC LIMIT 1",
                [id],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                    ))
                },
            )
            .optional()?;
        Ok(row.map(|(id, at, user, comment, files)| Version {
            id,
            at: from_unix_seconds(at),
            user,
            comment,
            files: serde_json::from_str(&files).unwrap_or_default(),
        }))
    }

    /// Saves (or replaces) the draft of one template.
    pub fn save_draft(&mut self, d: &Draft) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT INTO template_drafts (name, text, base, user, at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(name) DO UPDATE SET text = excluded.text, base = excluded.base,
             user = excluded.user, at = excluded.at",
            params![d.name, d.text, d.base, d.user, unix_seconds(d.at)],
        )?;
        Ok(())
    }

    /// Every draft, by template name.
    pub fn drafts(&self) -> Result<BTreeMap<String, Draft>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, text, base, user, at FROM template_drafts")?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Draft {
                    name: r.get(0)?,
                    text: r.get(1)?,
                    base: r.get(2)?,
                    user: r.get(3)?,
                    at: from_unix_seconds(r.get(4)?),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows.into_iter().map(|d| (d.name.clone(), d)).collect())
    }

    /// Drops the drafts of these templates (published, or thrown away).
    pub fn drop_drafts(&mut self, names: &[String]) -> Result<(), LedgerError> {
        let tx = self.conn.transaction()?;
        for n in names {
            tx.execute("DELETE FROM template_drafts WHERE name = ?1", [n])?;
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_versions_drafts_and_audit_round_trip() {
        let mut l = Ledger::in_memory().unwrap();
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        assert!(l.set_user("mette", "$argon2id$x", t).unwrap());
        assert!(!l.set_user("mette", "$argon2id$y", t).unwrap());
        assert_eq!(
            l.user_hash("mette").unwrap().as_deref(),
            Some("$argon2id$y")
        );
        assert_eq!(l.users().unwrap(), vec!["mette".to_string()]);
        let files = BTreeMap::from([("pricing.da.txt".to_string(), "Hej".to_string())]);
        let v1 = l.add_version(t, "mette", "first", &files).unwrap();
        let v2 = l.add_version(t, "mette", "", &BTreeMap::new()).unwrap();
        assert!(v2 > v1);
        assert_eq!(l.version(Some(v1)).unwrap().unwrap().files, files);
        assert_eq!(l.version(None).unwrap().unwrap().id, v2);
        assert_eq!(l.versions(10).unwrap().len(), 2);
        l.save_draft(&Draft {
            name: "pricing.da.txt".into(),
            text: "Hej igen".into(),
            base: "abc".into(),
            user: "mette".into(),
            at: t,
        })
        .unwrap();
        assert_eq!(l.drafts().unwrap()["pricing.da.txt"].text, "Hej igen");
        l.drop_drafts(&["pricing.da.txt".into()]).unwrap();
        assert!(l.drafts().unwrap().is_empty());
        l.audit(t, "mette", "login", "").unwrap();
        l.audit(t, "mette", "publish", "version 2").unwrap();
        let log = l.audit_log(10).unwrap();
        assert_eq!(log[0].action, "publish");
        assert!(l.remove_user("mette").unwrap());
        assert!(l.user_hash("mette").unwrap().is_none());
    }
}
