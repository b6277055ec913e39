//! Secrets: where a password or token comes from, and how a server logs in.
//!
//! The config file names a source (`password-env`, `password-file`, `password-command`,
//! `token-command`); [`Auth::fetch`] reads it, into a [`SecretString`] whose `Debug` never
//! shows it, every time a connection is about to log in (so an access token is always
//! fresh). Files and commands are read off the async runtime and within a time limit; a
//! command that overruns is killed with its whole process group. This module never reads a
//! secret while validating, never puts one (or a command's output) into an error message,
//! and refuses a password written into `config.toml` itself.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use secrecy::zeroize::Zeroize;
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
    /// line a shell command prints, within `limit`. The file is read and the command run
    /// off the async runtime; a command still running at `limit` is killed.
    ///
    /// # Errors
    /// When the variable is unset, the file unreadable, the command fails or overruns, or
    /// the value is empty; the message names the source but never contains the secret.
    pub async fn resolve(&self, limit: Duration) -> Result<SecretString, SecretError> {
        let value = match self {
            PasswordSource::Env(var) => {
                std::env::var(var).map_err(|_| SecretError::Env(var.clone()))?
            }
            PasswordSource::File(path) => read_file(path, limit).await?,
            PasswordSource::Command(cmd) => run_command(cmd, limit).await?,
        };
        if value.is_empty() {
            return Err(SecretError::Empty(self.describe()));
        }
        Ok(SecretString::from(value))
    }

    /// Where the secret comes from, for messages: never the secret itself.
    pub fn describe(&self) -> String {
        match self {
            PasswordSource::Env(v) => format!("environment variable {v}"),
            PasswordSource::File(p) => format!("file {}", p.display()),
            PasswordSource::Command(c) => format!("command `{c}`"),
        }
    }
}

/// The first line of `text`; the rest, and the copy read, are wiped.
fn first_line(mut text: String) -> String {
    let line = text.lines().next().unwrap_or_default().to_string();
    text.zeroize();
    line
}

/// The first line of a file, read on a blocking thread.
async fn read_file(path: &Path, limit: Duration) -> Result<String, SecretError> {
    let owned = path.to_path_buf();
    let read = tokio::task::spawn_blocking(move || std::fs::read_to_string(owned));
    let file_error = |source| SecretError::File {
        path: path.to_path_buf(),
        source,
    };
    match tokio::time::timeout(limit, read).await {
        Ok(Ok(Ok(text))) => Ok(first_line(text)),
        Ok(Ok(Err(e))) => Err(file_error(e)),
        Ok(Err(join)) => Err(file_error(std::io::Error::other(join.to_string()))),
        Err(_) => Err(file_error(std::io::ErrorKind::TimedOut.into())),
    }
}

/// The first line a shell command prints on stdout. Its stdin is empty and its stderr is
/// dropped (a helper's chatter may hold a token); it runs in a process group of its own,
/// killed as a whole when it overruns `limit`.
async fn run_command(cmd: &str, limit: Duration) -> Result<String, SecretError> {
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| SecretError::Spawn {
            command: cmd.to_string(),
            source,
        })?;
    let group = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(rustix::process::Pid::from_raw);
    let out = match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(Ok(out)) => out,
        Ok(Err(source)) => {
            return Err(SecretError::Spawn {
                command: cmd.to_string(),
                source,
            })
        }
        Err(_) => {
            // The shell is killed on drop; this takes whatever it started with it.
            if let Some(group) = group {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            }
            return Err(SecretError::Timeout {
                command: cmd.to_string(),
                secs: limit.as_secs_f64(),
            });
        }
    };
    let mut stdout = out.stdout;
    let text = String::from_utf8_lossy(&stdout).into_owned();
    stdout.zeroize();
    if !out.status.success() {
        let mut text = text;
        text.zeroize();
        return Err(SecretError::Command {
            command: cmd.to_string(),
            status: out.status.to_string(),
        });
    }
    Ok(first_line(text))
}

/// Why a secret could not be read. Every one of these is a configuration problem: the
/// daemon stops (exit 78) rather than retry.
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
    #[error("cannot run command `{command}`")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("command `{command}` failed ({status}; run it by hand to see its error output)")]
    Command { command: String, status: String },
    #[error("command `{command}` did not finish within {secs} s and was killed")]
    Timeout { command: String, secs: f64 },
    #[error("{0} gave an empty secret")]
    Empty(String),
}

/// A login with its secret in hand, read just before a connection uses it.
pub enum Login {
    Password {
        user: String,
        password: SecretString,
    },
    XOAuth2 {
        user: String,
        token: SecretString,
    },
}

impl Login {
    /// When an XOAUTH2 access token expires, for the metrics: the `exp` claim of a JWT
    /// (Microsoft 365's access tokens are JWTs), read without checking its signature (the
    /// server checks the token; this only reports). `None` for a password or an opaque
    /// token.
    pub fn expiry(&self) -> Option<std::time::SystemTime> {
        match self {
            Login::XOAuth2 { token, .. } => {
                use secrecy::ExposeSecret as _;
                jwt_expiry(token.expose_secret())
            }
            Login::Password { .. } => None,
        }
    }
}

/// The `exp` claim (Unix seconds) of a JWT's payload (RFC 7519 §4.1.4); `None` when
/// `token` is no JWT or has none. The decoded payload is dropped at once and never shown.
fn jwt_expiry(token: &str) -> Option<std::time::SystemTime> {
    let mut parts = token.trim().split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    let mut bytes = base64url(payload)?;
    let exp = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("exp")?.as_u64());
    bytes.zeroize();
    Some(std::time::UNIX_EPOCH + Duration::from_secs(exp?))
}

/// Base64url without padding (RFC 4648 §5), as JWTs use it.
fn base64url(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
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

impl Auth {
    /// Reads the secret for one login; `None` when the server needs no login. Called for
    /// every new connection, so a token command is asked each time (an access token lives
    /// about an hour at Microsoft 365; the command is where caching belongs).
    ///
    /// # Errors
    /// See [`PasswordSource::resolve`].
    pub async fn fetch(&self, limit: Duration) -> Result<Option<Login>, SecretError> {
        Ok(match self {
            Auth::None => None,
            Auth::Password { user, password } => Some(Login::Password {
                user: user.clone(),
                password: password.resolve(limit).await?,
            }),
            Auth::XOAuth2 { user, token } => Some(Login::XOAuth2 {
                user: user.clone(),
                token: token.resolve(limit).await?,
            }),
        })
    }

    /// The config key that names the secret's source (`password-env`, …, `token-command`).
    pub fn key(&self) -> Option<&'static str> {
        match self {
            Auth::None => None,
            Auth::Password { password, .. } => Some(match password {
                PasswordSource::Env(_) => "password-env",
                PasswordSource::File(_) => "password-file",
                PasswordSource::Command(_) => "password-command",
            }),
            Auth::XOAuth2 { .. } => Some("token-command"),
        }
    }

    /// What the secret is, for messages: "password" or "access token".
    pub fn kind(&self) -> Option<&'static str> {
        match self {
            Auth::None => None,
            Auth::Password { .. } => Some("password"),
            Auth::XOAuth2 { .. } => Some("access token"),
        }
    }
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
    #[test]
    fn a_jwt_access_token_tells_when_it_expires_and_an_opaque_one_does_not() {
        // {"alg":"none"} . {"aud":"https://outlook.office.com","exp":1796650000} . (no signature)
        let jwt = "eyJhbGciOiJub25lIn0.eyJhdWQiOiJodHRwczovL291dGxvb2sub2ZmaWNlLmNvbSIsImV4cCI6MTc5NjY1MDAwMH0.";
        assert_eq!(
            jwt_expiry(jwt),
            Some(std::time::UNIX_EPOCH + Duration::from_secs(1_796_650_000))
        );
        assert_eq!(jwt_expiry("EwBwA8l6BAAU-an-opaque-token"), None);
        assert_eq!(jwt_expiry("a.b!c.d"), None);
        assert_eq!(
            jwt_expiry("eyJhbGciOiJub25lIn0.eyJhdWQiOiJ4In0.x"),
            None,
            "no exp"
        );
    }

    use super::*;
    use secrecy::ExposeSecret;

    const LIMIT: Duration = Duration::from_secs(5);

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn secrets_resolve_from_env_file_and_command() {
        runtime().block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let f = dir.path().join("pw");
            std::fs::write(&f, "s3cret\nignored\n").unwrap();
            let got = PasswordSource::File(f).resolve(LIMIT).await.unwrap();
            assert_eq!(got.expose_secret(), "s3cret");
            let got = PasswordSource::Command("printf 'tok\\r\\nnext'".into())
                .resolve(LIMIT)
                .await
                .unwrap();
            assert_eq!(got.expose_secret(), "tok");
            let e = PasswordSource::Env("AUTOSVAR_SURELY_UNSET_VAR".into())
                .resolve(LIMIT)
                .await
                .unwrap_err();
            assert!(e.to_string().contains("AUTOSVAR_SURELY_UNSET_VAR"));
            let e = PasswordSource::File(dir.path().join("missing"))
                .resolve(LIMIT)
                .await
                .unwrap_err();
            assert!(matches!(e, SecretError::File { .. }), "{e}");
            let e = PasswordSource::Command("true".into())
                .resolve(LIMIT)
                .await
                .unwrap_err();
            assert!(matches!(e, SecretError::Empty(_)), "{e}");
        });
    }

    /// A failing command's output may be half a token: it never reaches the message.
    #[test]
    fn a_failing_command_is_reported_without_its_output() {
        let e = runtime()
            .block_on(
                PasswordSource::Command(
                    "printf '%s-%s\\n' leaked tok1; printf '%s-%s\\n' leaked tok2 >&2; exit 3"
                        .into(),
                )
                .resolve(LIMIT),
            )
            .unwrap_err();
        let text = format!("{e:#} {e:?}");
        assert!(matches!(e, SecretError::Command { .. }), "{text}");
        assert!(text.contains("exit status: 3"), "{text}");
        assert!(!text.contains("leaked-tok"), "{text}");
    }

    /// Whether a process is still running (a zombie has finished).
    fn running(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit(") ").next().map(|r| !r.starts_with(['Z', 'X'])))
            .unwrap_or(false)
    }

    /// A command that hangs is killed at the limit, with what it started (issue 11).
    #[test]
    fn a_hanging_command_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let cmd = format!("sleep 60 & echo $! > {}; wait", pidfile.display());
        let start = std::time::Instant::now();
        let e = runtime()
            .block_on(PasswordSource::Command(cmd).resolve(Duration::from_millis(300)))
            .unwrap_err();
        assert!(matches!(e, SecretError::Timeout { .. }), "{e}");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        let pid: u32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while running(pid) {
            assert!(
                std::time::Instant::now() < deadline,
                "the command's child {pid} is still running"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A slow command leaves the runtime free: a timer on the same (single) thread fires
    /// on time while it runs.
    #[test]
    fn a_slow_command_does_not_block_the_runtime() {
        runtime().block_on(async {
            let start = tokio::time::Instant::now();
            let slow = PasswordSource::Command("sleep 0.5; echo tok".into());
            let (got, ticked) = tokio::join!(slow.resolve(LIMIT), async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                start.elapsed()
            });
            assert_eq!(got.unwrap().expose_secret(), "tok");
            assert!(
                ticked < Duration::from_millis(300),
                "timer late: {ticked:?}"
            );
        });
    }
}
