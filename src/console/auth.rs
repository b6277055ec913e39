//! Who is asking: HR users' passwords (argon2id), server-side sessions, the slowing down of
//! failed logins, and [`User`], the one extractor through which a page gets a signed-in user.
//!
//! A session token is 32 random bytes, sent once in a cookie and kept here only as its
//! SHA-256, so a memory dump holds no usable token. Behind a single-sign-on proxy the
//! configured header names the user, but only on connections from the configured proxy
//! address; from anywhere else the header is ignored. This module never logs a password or
//! a token.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use sha2::{Digest, Sha256};

use super::Shared;

/// The session cookie's name.
pub(super) const COOKIE: &str = "autosvar_session";
/// Sessions kept at most; past it the idle ones go first, then the oldest anonymous ones.
const MAX_SESSIONS: usize = 10_000;

/// Hashes a password with argon2id and a random salt (a PHC string for the ledger).
///
/// # Errors
/// When the OS gives no randomness.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?;
    Ok(hash.to_string())
}

/// A hash no password matches, verified for unknown users so that a wrong name takes as
/// long as a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("no user has this password").unwrap_or_default())
}

/// Does `password` match the stored hash (`None`: no such user)? Slow on purpose; call it
/// off the async runtime.
pub(super) fn verify(stored: Option<&str>, password: &str) -> bool {
    let known = stored.is_some();
    let hash = stored.unwrap_or_else(|| dummy_hash());
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    known && ok
}

/// 32 random bytes as hex.
pub(super) fn random_token() -> String {
    let mut b = [0u8; 32];
    // Without the OS's randomness no token can be trusted: an all-zero token would be
    // guessable, so this is the one place the console stops.
    if let Err(e) = getrandom::fill(&mut b) {
        tracing::error!(error = %e, "no randomness from the OS");
        std::process::abort();
    }
    crate::parse::hex(&b)
}

/// SHA-256 as hex.
pub(super) fn digest(token: &str) -> String {
    crate::parse::hex(&Sha256::digest(token.as_bytes()))
}

/// Compares two secrets in time that does not depend on where they differ.
pub(super) fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// One session: anonymous (the login form's) or a signed-in user's.
#[derive(Debug, Clone)]
pub(super) struct Session {
    pub user: Option<String>,
    pub csrf: String,
    last: Instant,
}

/// Server-side sessions, keyed by the SHA-256 of their token.
pub(super) struct Sessions {
    idle: Duration,
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    pub(super) fn new(idle: Duration) -> Sessions {
        Sessions {
            idle,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// A new session; returns its token (for the cookie) and the session.
    pub(super) fn create(&self, user: Option<String>) -> (String, Session) {
        let token = random_token();
        let session = Session {
            user,
            csrf: random_token(),
            last: Instant::now(),
        };
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= MAX_SESSIONS {
                let idle = self.idle;
                map.retain(|_, s| s.last.elapsed() < idle);
            }
            if map.len() >= MAX_SESSIONS {
                map.retain(|_, s| s.user.is_some());
            }
            map.insert(digest(&token), session.clone());
        }
        (token, session)
    }

    /// The session of this token, if it is live; its idle clock starts again.
    pub(super) fn get(&self, token: &str) -> Option<Session> {
        let mut map = self.map.lock().ok()?;
        let key = digest(token);
        let s = map.get_mut(&key)?;
        if s.last.elapsed() >= self.idle {
            map.remove(&key);
            return None;
        }
        s.last = Instant::now();
        Some(s.clone())
    }

    pub(super) fn remove(&self, token: &str) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(&digest(token));
        }
    }
}

/// Failed logins, per user name and per address: after [`FREE_FAILURES`], each attempt must
/// wait twice as long as the one before (1 s, 2 s, 4 s, ... at most a minute). Forgotten
/// after a quarter of an hour without failures, or at a successful login.
#[derive(Default)]
pub(super) struct Throttle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

const FREE_FAILURES: u32 = 3;
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
const MAX_WAIT: Duration = Duration::from_secs(60);

impl Throttle {
    fn keys(user: &str, peer: IpAddr) -> [String; 2] {
        [
            format!("user:{}", user.to_lowercase()),
            format!("addr:{peer}"),
        ]
    }

    /// How long this login must still wait, if at all.
    pub(super) fn wait(&self, user: &str, peer: IpAddr) -> Option<Duration> {
        let map = self.failures.lock().ok()?;
        Self::keys(user, peer)
            .iter()
            .filter_map(|k| map.get(k))
            .filter(|(n, _)| *n >= FREE_FAILURES)
            .filter_map(|(n, last)| {
                let shift = (n - FREE_FAILURES).min(6);
                let delay = (Duration::from_secs(1) * (1 << shift)).min(MAX_WAIT);
                delay.checked_sub(last.elapsed())
            })
            .max()
    }

    pub(super) fn failed(&self, user: &str, peer: IpAddr) {
        if let Ok(mut map) = self.failures.lock() {
            if map.len() > 10_000 {
                map.retain(|_, (_, last)| last.elapsed() < FORGET_AFTER);
            }
            for k in Self::keys(user, peer) {
                let e = map.entry(k).or_insert((0, Instant::now()));
                if e.1.elapsed() >= FORGET_AFTER {
                    e.0 = 0;
                }
                e.0 += 1;
                e.1 = Instant::now();
            }
        }
    }

    pub(super) fn succeeded(&self, user: &str, peer: IpAddr) {
        if let Ok(mut map) = self.failures.lock() {
            for k in Self::keys(user, peer) {
                map.remove(&k);
            }
        }
    }
}

/// Who the request is from, as the security middleware found it (in the request's
/// extensions for every handler).
#[derive(Debug, Clone)]
pub(super) struct Identity {
    /// The session's token, when the request has a live session.
    pub token: Option<String>,
    pub session: Option<Session>,
    pub peer: IpAddr,
}

/// A signed-in HR user, with the CSRF token their forms carry. Taking this as an argument
/// is how a page requires a sign-in: without one the browser is sent to `/login`.
#[derive(Debug, Clone)]
pub(super) struct User {
    pub name: String,
    pub csrf: String,
}

impl FromRequestParts<Shared> for User {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &Shared) -> Result<User, Response> {
        let session = parts
            .extensions
            .get::<Identity>()
            .and_then(|i| i.session.clone());
        match session {
            Some(Session {
                user: Some(name),
                csrf,
                ..
            }) => Ok(User { name, csrf }),
            _ => Err(Redirect::to("/login").into_response()),
        }
    }
}

/// A user name as typed or sent by a proxy: trimmed, printable, at most 200 characters.
pub fn clean_name(name: &str) -> Option<String> {
    let name = name.trim();
    let ok =
        !name.is_empty() && name.chars().count() <= 200 && name.chars().all(|c| !c.is_control());
    ok.then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_hash_and_nothing_else() {
        let h = hash_password("korrekt hest batteri").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify(Some(&h), "korrekt hest batteri"));
        assert!(!verify(Some(&h), "korrekt hest"));
        assert!(!verify(None, "korrekt hest batteri"));
        assert!(!verify(Some("not a hash"), "x"));
        assert_ne!(h, hash_password("korrekt hest batteri").unwrap(), "salted");
    }

    #[test]
    fn sessions_end_after_the_idle_time_and_tokens_are_not_kept() {
        let s = Sessions::new(Duration::from_secs(3600));
        let (token, session) = s.create(Some("mette".into()));
        assert_eq!(token.len(), 64);
        assert!(
            !s.map.lock().unwrap().contains_key(&token),
            "only the digest is kept"
        );
        assert_eq!(s.get(&token).unwrap().csrf, session.csrf);
        assert!(s.get("unknown").is_none());
        s.remove(&token);
        assert!(s.get(&token).is_none());
        // Idle for longer than the timeout (here: any time at all): gone, and forgotten.
        let s = Sessions::new(Duration::ZERO);
        let (token, _) = s.create(Some("mette".into()));
        assert!(s.get(&token).is_none());
        assert!(s.map.lock().unwrap().is_empty());
    }

    #[test]
    fn failed_logins_slow_down_per_user_and_per_address() {
        let t = Throttle::default();
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        for _ in 0..FREE_FAILURES {
            assert!(t.wait("mette", a).is_none());
            t.failed("mette", a);
        }
        assert!(t.wait("mette", a).is_some());
        assert!(t.wait("Mette", b).is_some(), "the same user from elsewhere");
        assert!(
            t.wait("jens", a).is_some(),
            "another user from the same address"
        );
        assert!(t.wait("jens", b).is_none());
        t.succeeded("mette", a);
        assert!(t.wait("mette", a).is_none());
    }

    #[test]
    fn each_further_failure_doubles_the_wait_up_to_a_minute() {
        let t = Throttle::default();
        let a: IpAddr = [127, 0, 0, 3].into();
        let mut waits = Vec::new();
        for _ in 0..12 {
            t.failed("jens", a);
            waits.push(t.wait("jens", a).unwrap_or_default());
        }
        let s = Duration::from_secs;
        assert_eq!(waits[1], Duration::ZERO, "two failures cost nothing");
        for (n, max) in [(2, s(1)), (3, s(2)), (4, s(4)), (5, s(8)), (11, s(60))] {
            assert!(
                waits[n] <= max && waits[n] > max - s(1) / 2,
                "after {} failures: {:?}",
                n + 1,
                waits[n]
            );
        }
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
    }
}
