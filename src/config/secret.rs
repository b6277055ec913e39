//! Secrets: where a password or token comes from, and how a server logs in.
//!
//! The config file names a source (`password-env`, `password-file`, `password-command`,
//! `token-command`); [`PasswordSource::resolve`] reads the value, into a
//! [`SecretString`] whose `Debug` never shows it, only when a connection needs it. This
//! module never reads a secret while validating, never puts one into an error message, and
//! refuses a password written into `config.toml` itself.

use std::ops::Range;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use toml::de::DeValue;
use toml::Spanned;

use super::checker::Checker;
use super::raw::{AuthMechanism, RawConnection};

/// Where a password or token comes from. The value itself is read only when needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    Env(String),
    File(PathBuf),
    Command(String),
}

impl PasswordSource {
    /// Reads the secret: an environment variable, the first line of a file, or the first
    /// line a shell command prints.
    ///
    /// # Errors
    /// When the variable is unset, the file unreadable, or the command fails; the message
    /// names the source but never contains the secret.
    pub fn resolve(&self) -> Result<SecretString, SecretError> {
        let value = match self {
            PasswordSource::Env(var) => {
                std::env::var(var).map_err(|_| SecretError::Env(var.clone()))?
            }
            PasswordSource::File(path) => std::fs::read_to_string(path)
                .map_err(|source| SecretError::File {
                    path: path.clone(),
                    source,
                })?
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
            PasswordSource::Command(cmd) => {
                let out = std::process::Command::new("sh")
                    .arg("-c")
                    .arg(cmd)
                    .stdin(std::process::Stdio::null())
                    .output()
                    .map_err(|source| SecretError::Spawn {
                        command: cmd.clone(),
                        source,
                    })?;
                if !out.status.success() {
                    return Err(SecretError::Command {
                        command: cmd.clone(),
                        status: out.status.to_string(),
                    });
                }
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string()
            }
        };
        if value.is_empty() {
            return Err(SecretError::Empty(self.describe()));
        }
        Ok(SecretString::from(value))
    }

    fn describe(&self) -> String {
        match self {
            PasswordSource::Env(v) => format!("environment variable {v}"),
            PasswordSource::File(p) => format!("file {}", p.display()),
            PasswordSource::Command(c) => format!("command `{c}`"),
        }
    }
}

/// Why a secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set")]
    Env(String),
    #[error("cannot read password file {}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot run password command `{command}`")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("password command `{command}` failed ({status})")]
    Command { command: String, status: String },
    #[error("{0} gave an empty secret")]
    Empty(String),
}

/// How to log in to a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// No login (a loopback relay that trusts its network).
    None,
    /// LOGIN / AUTH PLAIN with a password.
    Password {
        user: String,
        password: PasswordSource,
    },
    /// SASL XOAUTH2 with an access token printed by a command (Microsoft 365).
    XOAuth2 { user: String, token: PasswordSource },
}

/// Takes an inline `password` out of a server section, so that serde never sees it:
/// `password` is not a key of `[imap]` or `[smtp]`, and an unknown-key error would list it
/// among the valid ones. Returns where it was, for [`refuse_inline_password`].
pub(super) fn take_inline_password(value: &mut Spanned<DeValue<'_>>) -> Option<Range<usize>> {
    match value.get_mut() {
        DeValue::Table(table) => table.remove("password").map(|p| p.span()),
        _ => None,
    }
}

/// Reports a password written into the config file; the value is never repeated.
pub(super) fn refuse_inline_password(c: &mut Checker<'_>, section: &str, span: Range<usize>) {
    c.problem_hint(
        Some(span),
        &format!("{section}.password"),
        "passwords are not allowed in the config file",
        "use password-env, password-file or password-command",
    );
}

/// The password sources given (`password-env`, `password-file`, `password-command`), with
/// their places; more than one is a problem.
fn password_sources(
    c: &mut Checker<'_>,
    base: &Path,
    section: &str,
    raw: &RawConnection,
) -> Vec<(PasswordSource, Range<usize>)> {
    let sources: Vec<(PasswordSource, Range<usize>)> = [
        raw.password_env
            .as_ref()
            .map(|v| (PasswordSource::Env(v.get_ref().clone()), v.span())),
        raw.password_file
            .as_ref()
            .map(|v| (PasswordSource::File(c.path(base, v.get_ref())), v.span())),
        raw.password_command
            .as_ref()
            .map(|v| (PasswordSource::Command(v.get_ref().clone()), v.span())),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Some((_, second)) = sources.get(1) {
        c.problem(
            Some(second.clone()),
            &format!("{section}.password-*"),
            "give only one of password-env, password-file, password-command",
        );
    }
    sources
}

/// How the server in `section` logs in: no login, a password, or XOAUTH2 with a token.
pub(super) fn login(c: &mut Checker<'_>, base: &Path, section: &str, raw: &RawConnection) -> Auth {
    let sources = password_sources(c, base, section, raw);
    let user = raw.user.as_ref().map(|u| u.get_ref().clone());
    match raw.auth.as_ref().map(|a| (*a.get_ref(), a.span())) {
        Some((AuthMechanism::Xoauth2, aspan)) => match (user, &raw.token_command) {
            (Some(user), Some(cmd)) => Auth::XOAuth2 {
                user,
                token: PasswordSource::Command(cmd.get_ref().clone()),
            },
            _ => {
                c.problem(
                    Some(aspan),
                    &format!("{section}.auth"),
                    "xoauth2 needs user and token-command (a command that prints an access token)",
                );
                Auth::None
            }
        },
        Some((AuthMechanism::Password, _)) | None => match (user, sources.into_iter().next()) {
            (Some(user), Some((source, _))) => Auth::Password {
                user,
                password: source,
            },
            (None, None) => Auth::None,
            (Some(_), None) => {
                c.problem(
                    raw.user.as_ref().map(|u| u.span()),
                    &format!("{section}.user"),
                    "a user needs a password: set password-env, password-file or password-command",
                );
                Auth::None
            }
            (None, Some((_, s))) => {
                c.problem(
                    Some(s),
                    &format!("{section}.user"),
                    "a password is set but no user",
                );
                Auth::None
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_resolve_from_env_file_and_command() {
        use secrecy::ExposeSecret;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "s3cret\nignored\n").unwrap();
        assert_eq!(
            PasswordSource::File(f).resolve().unwrap().expose_secret(),
            "s3cret"
        );
        assert_eq!(
            PasswordSource::Command("echo tok".into())
                .resolve()
                .unwrap()
                .expose_secret(),
            "tok"
        );
        let e = PasswordSource::Env("AUTOSVAR_SURELY_UNSET_VAR".into())
            .resolve()
            .unwrap_err();
        assert!(e.to_string().contains("AUTOSVAR_SURELY_UNSET_VAR"));
        assert!(PasswordSource::Command("false".into()).resolve().is_err());
    }
}
