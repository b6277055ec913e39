//! IMAP intake: connect, log in, select the folder, list new UIDs, fetch mail, wait with
//! IDLE (or poll), and show outcomes where HR staff look (flags, keywords, Sent).
//!
//! Every network call has a timeout: async-imap has none of its own, and a dead connection
//! would otherwise hang a FETCH forever. IDLE is renewed every `idle-renew`, its start and
//! its DONE bounded by the timeout too, and the socket has TCP keepalive ([`crate::net`]),
//! so a connection that went silent is noticed. Mail is fetched with `BODY.PEEK[]`, so
//! `\Seen` is never set: HR staff still read the mail. This module only talks IMAP (and
//! logs when IDLE has begun); what to do with a mail is the pipeline's business, and the
//! order of things is the daemon's ([`crate::daemon`]).
//!
//! A batch's marks (Sent copies, flag STOREs) are written at once and then answered
//! ([`Imap::show`]): async-imap sends one command and waits, so those commands are written
//! to the stream here, with tags of their own, and every answer is read before anything
//! else is asked. It never pipelines a command whose literal needs the server's go-ahead
//! (no LITERAL+: one APPEND at a time), nor a move behind the flags it must carry.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use async_imap::types::{Flag, NameAttribute, UnsolicitedResponse};
use futures::TryStreamExt;
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::either::Either;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::config::{Auth, ImapConfig, Login, SecretError, Tls};
use crate::tls::{client_config, is_trust_error, TlsError};

/// A connection, plain (left) or TLS (right). (async-imap is generic over one stream
/// type; tokio-util's `Either` forwards reads and writes to whichever side it holds.)
pub type Stream = Either<TcpStream, Box<tokio_rustls::client::TlsStream<TcpStream>>>;

type Session = async_imap::Session<Stream>;
type Client = async_imap::Client<Stream>;

/// What went wrong talking IMAP.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("cannot connect to {host}:{port}")]
    Connect {
        host: String,
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS handshake with {host} failed (is the certificate trusted? see ca-file)")]
    Handshake {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS setup failed")]
    TlsSetup(#[from] TlsError),
    #[error("invalid server name {0:?} for TLS")]
    ServerName(String),
    #[error("cannot read the IMAP secret")]
    Secret(#[from] SecretError),
    #[error("login as {user} refused")]
    Login {
        user: String,
        #[source]
        source: async_imap::error::Error,
    },
    #[error("IMAP server {0} does not offer STARTTLS")]
    NoStartTls(String),
    #[error("{what} timed out after {secs} s")]
    Timeout { what: &'static str, secs: u64 },
    #[error("cannot select folder {folder}")]
    Select {
        folder: String,
        #[source]
        source: async_imap::error::Error,
    },
    #[error("folder {0} has no UIDVALIDITY")]
    NoUidValidity(String),
    #[error("IMAP {what} failed")]
    Command {
        what: &'static str,
        #[source]
        source: async_imap::error::Error,
    },
    #[error("not connected")]
    NotConnected,
}

impl ImapError {
    /// Trying again cannot help: wrong password, unreadable secret, bad CA file, a
    /// certificate the config does not trust, unknown folder. The daemon stops and says
    /// which (exit 78).
    pub fn is_fatal(&self) -> bool {
        match self {
            ImapError::Login { .. }
            | ImapError::TlsSetup(_)
            | ImapError::ServerName(_)
            | ImapError::Secret(_)
            | ImapError::NoStartTls(_)
            | ImapError::Select { .. } => true,
            // A connection cut mid-handshake is worth a retry; a refused certificate is not.
            ImapError::Handshake { source, .. } => is_trust_error(source),
            _ => false,
        }
    }
}

/// What SELECT told us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selected {
    pub uid_validity: u32,
    pub uid_next: u32,
    /// PERMANENTFLAGS has `\*`: custom keywords stick (Exchange: no).
    pub keywords: bool,
}

/// A message's place and size before fetching it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed {
    pub uid: u32,
    pub size: u32,
    /// INTERNALDATE, Unix seconds.
    pub arrived: Option<i64>,
    /// The mailbox shows it handled: `\Answered`, or one of autosvar's keywords.
    pub handled: bool,
}

/// How one IDLE ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Idled {
    /// The server reported something: look.
    Changed,
    /// Its period passed quietly: begin another.
    Renew,
    /// Shutdown was requested.
    Stop,
}

/// Whether a message's flags say it was answered or handled by autosvar.
fn shows_handled<'a>(mut flags: impl Iterator<Item = Flag<'a>>) -> bool {
    flags.any(|f| match f {
        Flag::Answered => true,
        Flag::Custom(k) => HANDLED_KEYWORDS.iter().any(|h| k.eq_ignore_ascii_case(h)),
        _ => false,
    })
}

/// The keywords autosvar sets where the folder keeps them: replied, forwarded to a desk,
/// skipped, set aside for a person.
pub const REPLIED: &str = "$AutosvarReplied";
pub const FORWARDED: &str = "$AutosvarForwarded";
pub const SKIPPED: &str = "$AutosvarSkipped";
pub const REVIEW: &str = "$AutosvarReview";

/// Any of these on a message says autosvar handled it.
pub const HANDLED_KEYWORDS: [&str; 4] = [REPLIED, FORWARDED, SKIPPED, REVIEW];

/// How waiting for new mail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The server reported a change (or the IDLE period ended): look again.
    Look,
    /// Shutdown was requested.
    Stop,
}

/// An IMAP connection to one folder.
pub struct Imap {
    config: ImapConfig,
    tls: Option<Arc<rustls::ClientConfig>>,
    session: Option<Session>,
    idle_supported: bool,
    /// LITERAL+ (RFC 7888): a message goes with its APPEND without waiting for the
    /// server's go-ahead, so APPENDs can be pipelined.
    literal_plus: bool,
    /// MULTIAPPEND (RFC 3502): many messages in one APPEND.
    multiappend: bool,
    /// New mail (EXISTS, RECENT) reported while autosvar's own pipelined commands were
    /// answered: [`Imap::wait`] looks at once, as for the unsolicited responses async-imap
    /// collects.
    news: bool,
    /// UID MOVE (RFC 6851).
    can_move: bool,
    /// Folders known to exist (created on first use).
    known_folders: HashSet<String>,
    sent_folder: Option<String>,
    /// When the XOAUTH2 token of the last login expires (a JWT's `exp`), for the metrics.
    token_expiry: Option<std::time::SystemTime>,
}

async fn timed<T, E>(
    what: &'static str,
    limit: Duration,
    fut: impl Future<Output = Result<T, E>>,
    map: impl FnOnce(E) -> ImapError,
) -> Result<T, ImapError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r.map_err(map),
        Err(_) => Err(ImapError::Timeout {
            what,
            secs: limit.as_secs(),
        }),
    }
}

/// An IMAP command within `limit`; its failure becomes [`ImapError::Command`] naming `what`.
async fn command<T>(
    what: &'static str,
    limit: Duration,
    fut: impl Future<Output = Result<T, async_imap::error::Error>>,
) -> Result<T, ImapError> {
    timed(what, limit, fut, |source| ImapError::Command {
        what,
        source,
    })
    .await
}

/// "1:3,5,9:10" from UIDs in any order.
pub fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        });
        i += 1;
    }
    parts.join(",")
}

/// One UID STORE of a batch's marks: these messages get these flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    pub uids: Vec<u32>,
    pub flags: Vec<&'static str>,
}

/// The commands that show a batch's marks, to be written at once, and their tags: the Sent
/// copies as one MULTIAPPEND (RFC 3502) or one APPEND each, every message a LITERAL+
/// literal (`{n+}`: sent without waiting for the server's go-ahead, so any bytes, UTF-8 or
/// not), then one `UID STORE +FLAGS.SILENT` per [`Store`]. `folder` is the Sent folder;
/// `None` leaves the copies out. Tags are `M1`, `M2` …, apart from async-imap's `A…`.
fn pipelined(
    folder: Option<&str>,
    sent: &[Vec<u8>],
    multiappend: bool,
    stores: &[Store],
) -> (Vec<u8>, Vec<String>) {
    let mut out = Vec::new();
    let mut tags = Vec::new();
    let mut tag = |out: &mut Vec<u8>| {
        let t = format!("M{}", tags.len() + 1);
        out.extend_from_slice(t.as_bytes());
        tags.push(t);
    };
    if let Some(folder) = folder.filter(|_| !sent.is_empty()) {
        let messages: Vec<&[Vec<u8>]> = if multiappend {
            vec![sent]
        } else {
            sent.chunks(1).collect()
        };
        for group in messages {
            tag(&mut out);
            out.extend_from_slice(format!(" APPEND {}", quote(folder)).as_bytes());
            for m in group {
                out.extend_from_slice(format!(" (\\Seen) {{{}+}}\r\n", m.len()).as_bytes());
                out.extend_from_slice(m);
            }
            out.extend_from_slice(b"\r\n");
        }
    }
    for s in stores
        .iter()
        .filter(|s| !s.uids.is_empty() && !s.flags.is_empty())
    {
        tag(&mut out);
        let line = format!(
            " UID STORE {} +FLAGS.SILENT ({})\r\n",
            uid_set(&s.uids),
            s.flags.join(" ")
        );
        out.extend_from_slice(line.as_bytes());
    }
    (out, tags)
}

/// Writes pipelined commands (`bytes`, from [`pipelined`]) and reads until each of `tags`
/// is answered. The first refusal is the error, returned once all are answered. `Ok(true)`:
/// the server reported new mail (EXISTS or RECENT) meanwhile.
async fn exchange(
    session: &mut Session,
    bytes: &[u8],
    mut tags: Vec<String>,
) -> Result<bool, async_imap::error::Error> {
    use async_imap::error::Error;
    use async_imap::imap_proto::{MailboxDatum, Response, Status};
    use tokio::io::AsyncWriteExt;
    let stream = session.get_mut();
    stream.write_all(bytes).await?;
    stream.flush().await?;
    let (mut news, mut refused) = (false, None);
    while !tags.is_empty() {
        let Some(response) = session.read_response().await? else {
            return Err(Error::ConnectionLost);
        };
        match response.parsed() {
            Response::Done {
                tag,
                status,
                outcome,
            } => {
                tags.retain(|t| *t != tag.0);
                let said = || {
                    let text = outcome.information.as_deref().unwrap_or_default();
                    format!("{}: {text}", tag.0)
                };
                match status {
                    Status::Ok => {}
                    Status::Bad => refused = refused.or_else(|| Some(Error::Bad(said()))),
                    _ => refused = refused.or_else(|| Some(Error::No(said()))),
                }
            }
            Response::MailboxData(MailboxDatum::Exists(_) | MailboxDatum::Recent(_)) => {
                news = true;
            }
            _ => {}
        }
    }
    refused.map_or(Ok(news), Err)
}

/// An IMAP quoted string (RFC 3501 §4.3).
fn quote(s: &str) -> String {
    let escaped = s.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

/// XOAUTH2 (Microsoft 365, Gmail): `user=U^Aauth=Bearer T^A^A`; an empty answer to the
/// error challenge that follows a refusal.
struct XOAuth2 {
    user: String,
    token: SecretString,
    sent: bool,
}

impl async_imap::Authenticator for &mut XOAuth2 {
    type Response = String;
    fn process(&mut self, _challenge: &[u8]) -> String {
        if self.sent {
            return String::new();
        }
        self.sent = true;
        format!(
            "user={}\x01auth=Bearer {}\x01\x01",
            self.user,
            self.token.expose_secret()
        )
    }
}

impl Imap {
    /// A client for `config`; nothing is connected yet.
    ///
    /// # Errors
    /// When the CA file is unusable.
    pub fn new(config: &ImapConfig) -> Result<Imap, ImapError> {
        let tls = match config.server.tls {
            Tls::None => None,
            _ => Some(client_config(config.server.ca_file.as_deref())?),
        };
        Ok(Imap {
            config: config.clone(),
            tls,
            session: None,
            idle_supported: false,
            literal_plus: false,
            multiappend: false,
            news: false,
            can_move: false,
            known_folders: HashSet::new(),
            sent_folder: config.sent_folder.clone(),
            token_expiry: None,
        })
    }

    fn limit(&self) -> Duration {
        self.config.server.timeout
    }

    /// A label for logs and the ledger: `user@host/folder`.
    pub fn label(&self) -> String {
        let user = match &self.config.server.auth {
            Auth::Password { user, .. } | Auth::XOAuth2 { user, .. } => user.as_str(),
            Auth::None => "",
        };
        format!("{user}@{}/{}", self.config.server.host, self.config.folder)
    }

    async fn tls_wrap(&self, tcp: TcpStream) -> Result<Stream, ImapError> {
        let host = self.config.server.host.clone();
        let config = self.tls.clone().ok_or(ImapError::NotConnected)?;
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|_| ImapError::ServerName(host.clone()))?;
        let connector = tokio_rustls::TlsConnector::from(config);
        let tls = timed(
            "TLS handshake",
            self.limit(),
            connector.connect(name, tcp),
            |source| ImapError::Handshake { host, source },
        )
        .await?;
        Ok(Either::Right(Box::new(tls)))
    }

    /// When the XOAUTH2 access token of the last login expires, when it says (a JWT).
    pub fn token_expiry(&self) -> Option<std::time::SystemTime> {
        self.token_expiry
    }

    /// Connects, logs in and selects the folder.
    ///
    /// # Errors
    /// See [`ImapError::is_fatal`] for which errors are worth a retry.
    pub async fn open(&mut self) -> Result<Selected, ImapError> {
        self.session = None;
        // The secret first: a slow token command must not keep a connection waiting.
        let login = self.config.server.auth.fetch(self.limit()).await?;
        self.token_expiry = login.as_ref().and_then(Login::expiry);
        let client = self.greeted().await?;
        let mut session = self.login(client, login).await?;
        let caps = command("CAPABILITY", self.limit(), session.capabilities()).await?;
        self.idle_supported = self.config.idle && caps.has_str("IDLE");
        self.literal_plus = caps.has_str("LITERAL+");
        self.multiappend = caps.has_str("MULTIAPPEND");
        self.news = false;
        self.can_move = caps.has_str("MOVE");
        let selected = self.select_folder(&mut session).await?;
        self.session = Some(session);
        if self.sent_folder.is_none() {
            self.sent_folder = self.find_sent().await?;
        }
        Ok(selected)
    }

    /// A connection that has had the server's greeting, over TLS unless `tls = "none"`.
    /// Implicit TLS wraps before the greeting; STARTTLS upgrades after it and gets none
    /// again (RFC 3501 §6.2.1).
    async fn greeted(&self) -> Result<Client, ImapError> {
        let s = &self.config.server;
        let (host, port) = (s.host.clone(), s.port);
        let tcp = timed(
            "connect",
            self.limit(),
            TcpStream::connect((host.as_str(), port)),
            |source| ImapError::Connect {
                host: host.clone(),
                port,
                source,
            },
        )
        .await?;
        let _ = tcp.set_nodelay(true);
        // An IDLE is quiet for minutes: keepalive keeps NATs from forgetting it and has the
        // kernel notice a peer that vanished without a reset.
        crate::net::keepalive(&tcp).map_err(|source| ImapError::Connect {
            host: host.clone(),
            port,
            source,
        })?;
        let first = match s.tls {
            Tls::Implicit => self.tls_wrap(tcp).await?,
            Tls::None | Tls::StartTls => Either::Left(tcp),
        };
        let mut client = async_imap::Client::new(first);
        command("greeting", self.limit(), async {
            client.read_response().await.map_err(Into::into)
        })
        .await?;
        if s.tls != Tls::StartTls {
            return Ok(client);
        }
        timed(
            "STARTTLS",
            self.limit(),
            client.run_command_and_check_ok("STARTTLS", None),
            |_| ImapError::NoStartTls(host.clone()),
        )
        .await?;
        let Either::Left(tcp) = client.into_inner() else {
            return Err(ImapError::NotConnected);
        };
        Ok(async_imap::Client::new(self.tls_wrap(tcp).await?))
    }

    /// Logs in with the password or XOAUTH2 token read for this connection (see
    /// [`Auth::fetch`]: a token is fetched anew for every connection).
    async fn login(&self, client: Client, login: Option<Login>) -> Result<Session, ImapError> {
        let limit = self.limit();
        let (user, attempt) = match login {
            Some(Login::Password { user, password }) => {
                let login = client.login(&user, password.expose_secret());
                let attempt = tokio::time::timeout(limit, login).await;
                (user, attempt)
            }
            Some(Login::XOAuth2 { user, token }) => {
                let mut auth = XOAuth2 {
                    user: user.clone(),
                    token,
                    sent: false,
                };
                let login = client.authenticate("XOAUTH2", &mut auth);
                (user, tokio::time::timeout(limit, login).await)
            }
            None => {
                return Err(ImapError::Login {
                    user: String::new(),
                    source: async_imap::error::Error::Bad("no credentials configured".into()),
                })
            }
        };
        match attempt {
            Ok(Ok(session)) => Ok(session),
            Ok(Err((source, _))) => Err(ImapError::Login { user, source }),
            Err(_) => Err(ImapError::Timeout {
                what: "login",
                secs: limit.as_secs(),
            }),
        }
    }

    /// Selects the configured folder: what its UIDs mean, where they stand, and whether
    /// keywords stick there.
    async fn select_folder(&self, session: &mut Session) -> Result<Selected, ImapError> {
        let folder = self.config.folder.clone();
        let mailbox = timed("SELECT", self.limit(), session.select(&folder), |source| {
            ImapError::Select {
                folder: folder.clone(),
                source,
            }
        })
        .await?;
        let uid_validity = mailbox
            .uid_validity
            .ok_or_else(|| ImapError::NoUidValidity(folder.clone()))?;
        let keywords = self.config.keywords
            && mailbox
                .permanent_flags
                .iter()
                .any(|f| matches!(f, Flag::MayCreate));
        Ok(Selected {
            uid_validity,
            uid_next: mailbox.uid_next.unwrap_or(0),
            keywords,
        })
    }

    fn session(&mut self) -> Result<&mut Session, ImapError> {
        self.session.as_mut().ok_or(ImapError::NotConnected)
    }

    /// The folder with SPECIAL-USE `\Sent` (RFC 6154), else one named "Sent".
    async fn find_sent(&mut self) -> Result<Option<String>, ImapError> {
        let limit = self.limit();
        let session = self.session()?;
        let names: Vec<_> = command("LIST", limit, async {
            session
                .list(Some(""), Some("*"))
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        let by_use = names
            .iter()
            .find(|n| {
                n.attributes()
                    .iter()
                    .any(|a| matches!(a, NameAttribute::Sent))
            })
            .map(|n| n.name().to_string());
        Ok(by_use.or_else(|| {
            names
                .iter()
                .map(|n| n.name().to_string())
                .find(|n| n.eq_ignore_ascii_case("sent") || n.eq_ignore_ascii_case("sent items"))
        }))
    }

    /// One UID FETCH, drained within `slack` times the timeout (bodies take longer).
    async fn uid_fetch(
        &mut self,
        what: &'static str,
        set: &str,
        query: &str,
        slack: u32,
    ) -> Result<Vec<async_imap::types::Fetch>, ImapError> {
        let limit = self.limit() * slack;
        let session = self.session()?;
        command(what, limit, async {
            session
                .uid_fetch(set, query)
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await
    }

    /// UIDs above `after`, with size and arrival time, ascending.
    ///
    /// # Errors
    /// On a lost connection or timeout.
    pub async fn list_after(&mut self, after: u32) -> Result<Vec<Listed>, ImapError> {
        let range = format!("{}:*", after.saturating_add(1));
        let fetched = self
            .uid_fetch(
                "UID FETCH",
                &range,
                "(UID RFC822.SIZE INTERNALDATE FLAGS)",
                1,
            )
            .await?;
        let mut out: Vec<Listed> = fetched
            .iter()
            .filter_map(|f| {
                let uid = f.uid?;
                // "n:*" always returns the highest message, even when it is below n.
                (uid > after).then(|| Listed {
                    uid,
                    size: f.size.unwrap_or(0),
                    arrived: f.internal_date().map(|d| d.timestamp()),
                    handled: shows_handled(f.flags()),
                })
            })
            .collect();
        out.sort_by_key(|l| l.uid);
        Ok(out)
    }

    /// How many messages of the folder show they were answered or handled by autosvar.
    ///
    /// # Errors
    /// On a lost connection or timeout.
    pub async fn count_handled(&mut self) -> Result<usize, ImapError> {
        let limit = self.limit();
        let session = self.session()?;
        let query = HANDLED_KEYWORDS
            .iter()
            .fold("ANSWERED".to_string(), |q, k| format!("OR {q} KEYWORD {k}"));
        let hits = command("UID SEARCH", limit, session.uid_search(query)).await?;
        Ok(hits.len())
    }

    /// The bytes of one message: all of it, or the first `max` bytes when it is larger
    /// (enough to classify; attachments come later in a MIME mail).
    ///
    /// # Errors
    /// On a lost connection or timeout. `Ok(None)`: the message is gone (expunged).
    pub async fn fetch(
        &mut self,
        uid: u32,
        max: Option<u32>,
    ) -> Result<Option<Vec<u8>>, ImapError> {
        let query = match max {
            Some(n) => format!("(UID BODY.PEEK[]<0.{n}>)"),
            None => "(UID BODY.PEEK[])".to_string(),
        };
        let fetched = self
            .uid_fetch("UID FETCH body", &uid.to_string(), &query, 1)
            .await?;
        Ok(fetched
            .into_iter()
            .find(|f| f.uid == Some(uid))
            .and_then(|f| f.body().map(<[u8]>::to_vec)))
    }

    /// Fetches several messages in one round trip: whole, or the first `max` bytes of
    /// each. Messages that are gone are left out.
    ///
    /// # Errors
    /// On a lost connection or timeout.
    pub async fn fetch_many(
        &mut self,
        uids: &[u32],
        max: Option<u32>,
    ) -> Result<Vec<(u32, Vec<u8>)>, ImapError> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let query = match max {
            Some(n) => format!("(UID BODY.PEEK[]<0.{n}>)"),
            None => "(UID BODY.PEEK[])".to_string(),
        };
        let fetched = self
            .uid_fetch("UID FETCH bodies", &uid_set(uids), &query, 4)
            .await?;
        let mut out: Vec<(u32, Vec<u8>)> = fetched
            .iter()
            .filter_map(|f| Some((f.uid?, f.body()?.to_vec())))
            .collect();
        out.sort_by_key(|(u, _)| *u);
        Ok(out)
    }

    /// Moves messages to `folder`, creating it on first use. Needs MOVE (RFC 6851); without
    /// it nothing is moved and `Ok(false)` says so.
    ///
    /// # Errors
    /// On a lost connection or timeout, or when the folder cannot be created.
    pub async fn move_to(&mut self, uids: &[u32], folder: &str) -> Result<bool, ImapError> {
        if uids.is_empty() {
            return Ok(true);
        }
        if !self.can_move {
            return Ok(false);
        }
        let limit = self.limit();
        let create = !self.known_folders.contains(folder);
        let session = self.session()?;
        if create {
            // "Already exists" is fine; any other problem shows up at MOVE.
            let _ = tokio::time::timeout(limit, session.create(folder)).await;
        }
        command("UID MOVE", limit, session.uid_mv(uid_set(uids), folder)).await?;
        self.known_folders.insert(folder.to_string());
        Ok(true)
    }

    pub fn sent_folder(&self) -> Option<&str> {
        self.sent_folder.as_deref()
    }

    /// Shows a batch's marks: appends the Sent copies to the Sent folder (marked `\Seen`)
    /// and adds flags to the intake folder's messages (`\Answered`, keywords; never
    /// `\Seen`), every command written at once and then each answer read: one round trip.
    /// Without LITERAL+ (RFC 7888) each Sent copy waits for the server's go-ahead, so those
    /// are one APPEND and one round trip each, and the flags one more.
    ///
    /// # Errors
    /// On a lost connection or timeout, or when the server refuses one of the commands
    /// (the others are still answered first: the connection stays in step).
    pub async fn show(&mut self, sent: &[Vec<u8>], stores: &[Store]) -> Result<(), ImapError> {
        let limit = self.limit() * 4;
        let folder = self.sent_folder.clone();
        let sent = if folder.is_some() { sent } else { &[] };
        let (pipelined_sent, one_by_one) = if self.literal_plus {
            (sent, &[][..])
        } else {
            (&[][..], sent)
        };
        let multiappend = self.multiappend;
        let session = self.session()?;
        if let Some(folder) = &folder {
            for m in one_by_one {
                command(
                    "APPEND",
                    limit,
                    session.append(folder, Some("(\\Seen)"), None, m),
                )
                .await?;
            }
        }
        let (bytes, tags) = pipelined(folder.as_deref(), pipelined_sent, multiappend, stores);
        if tags.is_empty() {
            return Ok(());
        }
        let news = command(
            "APPEND and UID STORE",
            limit,
            exchange(session, &bytes, tags),
        )
        .await?;
        self.news |= news;
        Ok(())
    }

    /// Which of these Message-IDs are in the Sent folder (read-only look, then the intake
    /// folder is selected again).
    ///
    /// # Errors
    /// On a lost connection or timeout.
    pub async fn in_sent(&mut self, ids: &[String]) -> Result<HashSet<String>, ImapError> {
        self.search_sent("Message-ID", ids).await
    }

    /// Which of these Message-IDs a message in the Sent folder answers (its `In-Reply-To`):
    /// the mailbox's own record of a reply, where the folder keeps no keywords.
    ///
    /// # Errors
    /// On a lost connection or timeout.
    pub async fn answered_in_sent(&mut self, ids: &[String]) -> Result<HashSet<String>, ImapError> {
        self.search_sent("In-Reply-To", ids).await
    }

    /// Which of `ids` appear in `header` of a message in the Sent folder.
    async fn search_sent(
        &mut self,
        header: &'static str,
        ids: &[String],
    ) -> Result<HashSet<String>, ImapError> {
        let mut found = HashSet::new();
        let Some(sent) = self.sent_folder.clone() else {
            return Ok(found);
        };
        if ids.is_empty() {
            return Ok(found);
        }
        let limit = self.limit();
        let folder = self.config.folder.clone();
        let session = self.session()?;
        command("EXAMINE", limit, session.examine(&sent)).await?;
        for id in ids {
            let id_clean: String = id
                .chars()
                .filter(|c| !matches!(c, '"' | '\\' | '\r' | '\n'))
                .collect();
            let hits = command(
                "UID SEARCH",
                limit,
                session.uid_search(format!("HEADER {header} \"{id_clean}\"")),
            )
            .await?;
            if !hits.is_empty() {
                found.insert(id.clone());
            }
        }
        timed("SELECT", limit, session.select(&folder), |source| {
            ImapError::Select {
                folder: folder.clone(),
                source,
            }
        })
        .await?;
        Ok(found)
    }

    /// Waits for new mail, at most `at_most`: IDLE where the server has it, else sleeps
    /// `poll-interval`. Returns early on shutdown.
    ///
    /// IDLE is ended and begun again every `idle-renew` (RFC 2177 asks for less than 29
    /// minutes; a few minutes is also under the idle timeouts of NATs), and the server must
    /// answer both IDLE (its continuation) and DONE within `timeout`: a connection that went
    /// silent is given up within `idle-renew` + `timeout`. When IDLE has begun it logs
    /// "waiting for new mail (IDLE)" at INFO, once per call (renewals at DEBUG).
    ///
    /// Polling needs no NOOP in between: the UID FETCH after each poll has the timeout.
    ///
    /// # Errors
    /// On a lost or silent connection (reconnect and carry on).
    pub async fn wait(
        &mut self,
        shutdown: &CancellationToken,
        bell: &tokio::sync::Notify,
        at_most: Duration,
    ) -> Result<Wake, ImapError> {
        if !self.idle_supported {
            return Ok(tokio::select! {
                _ = shutdown.cancelled() => Wake::Stop,
                () = bell.notified() => Wake::Look,
                _ = tokio::time::sleep(self.config.poll_interval.min(at_most)) => Wake::Look,
            });
        }
        let unsolicited = self.session()?.unsolicited_responses.clone();
        // Untagged EXISTS that came with the answer to another command (a STORE while the
        // last batch was shown, IDLE's own start, DONE) are not reported again inside IDLE.
        let news = || {
            let mut news = false;
            while let Ok(r) = unsolicited.try_recv() {
                news |= matches!(
                    r,
                    UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
                );
            }
            news
        };
        let reported = std::mem::take(&mut self.news);
        if news() || reported {
            return Ok(Wake::Look);
        }
        let deadline = Instant::now().checked_add(at_most);
        let mut first = true;
        loop {
            let left = deadline.map_or(Duration::MAX, |d| {
                d.saturating_duration_since(Instant::now())
            });
            if left.is_zero() {
                return Ok(Wake::Look);
            }
            let period = self.config.idle_renew.min(left);
            match self.idle(shutdown, bell, period, first, &news).await? {
                Idled::Renew => first = false,
                Idled::Changed => return Ok(Wake::Look),
                Idled::Stop => return Ok(Wake::Stop),
            }
        }
    }

    /// One IDLE, at most `period` long: begun (the server's continuation within the
    /// timeout), waited on, ended with DONE (its OK within the timeout). `news` says whether
    /// new mail was reported outside IDLE's wait.
    async fn idle(
        &mut self,
        shutdown: &CancellationToken,
        bell: &tokio::sync::Notify,
        period: Duration,
        first: bool,
        news: &impl Fn() -> bool,
    ) -> Result<Idled, ImapError> {
        let limit = self.limit();
        let session = self.session.take().ok_or(ImapError::NotConnected)?;
        let mut idle = session.idle();
        command("IDLE", limit, idle.init()).await?;
        if first {
            info!("waiting for new mail (IDLE)");
        } else {
            debug!("IDLE renewed");
        }
        let ended = if news() {
            Idled::Changed
        } else {
            let (fut, stop) = idle.wait_with_timeout(period);
            let ended = tokio::select! {
                r = fut => match r {
                    Ok(IdleResponse::Timeout) => Ok(Idled::Renew),
                    // New data, or the stream ended (DONE will tell).
                    Ok(_) => Ok(Idled::Changed),
                    Err(source) => Err(ImapError::Command { what: "IDLE", source }),
                },
                _ = shutdown.cancelled() => Ok(Idled::Stop),
                // The console asked for something: end IDLE and look.
                () = bell.notified() => Ok(Idled::Changed),
                // The server's keepalives ("* OK Still here") restart async-imap's own
                // timer: bound the whole IDLE here.
                _ = tokio::time::sleep(period) => Ok(Idled::Renew),
            };
            drop(stop);
            ended?
        };
        let session = timed("IDLE DONE", limit, idle.done(), |source| {
            ImapError::Command {
                what: "IDLE DONE",
                source,
            }
        })
        .await?;
        self.session = Some(session);
        Ok(match ended {
            Idled::Renew if news() => Idled::Changed,
            ended => ended,
        })
    }

    /// Logs out politely (bounded by the timeout); the connection is dropped either way.
    pub async fn logout(&mut self) {
        if let Some(mut s) = self.session.take() {
            let _ = tokio::time::timeout(Duration::from_secs(3), s.logout()).await;
        }
    }

    /// Drops the connection without a word (after an error).
    pub fn drop_connection(&mut self) {
        self.session = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_are_compact() {
        assert_eq!(uid_set(&[5, 1, 2, 3, 9, 10]), "1:3,5,9:10");
        assert_eq!(uid_set(&[7]), "7");
        assert_eq!(uid_set(&[]), "");
    }

    fn store(uids: &[u32], flags: &[&'static str]) -> Store {
        Store {
            uids: uids.to_vec(),
            flags: flags.to_vec(),
        }
    }

    #[test]
    fn a_batch_of_marks_is_one_write_with_literal_plus_and_any_bytes() {
        let latin1 = b"Subject: K\xf8benhavn\r\n\r\nhej\r\n".to_vec();
        let sent = vec![b"Subject: a\r\n\r\nx\r\n".to_vec(), latin1.clone()];
        let stores = [
            store(&[3, 1, 2], &["\\Answered", REPLIED]),
            store(&[9], &[FORWARDED]),
            store(&[], &[SKIPPED]),
            store(&[4], &[]),
        ];
        let (bytes, tags) = pipelined(Some("Sent"), &sent, true, &stores);
        assert_eq!(
            tags,
            ["M1", "M2", "M3"],
            "one MULTIAPPEND, two STOREs, empty ones left out"
        );
        let mut want = b"M1 APPEND \"Sent\" (\\Seen) {17+}\r\nSubject: a\r\n\r\nx\r\n".to_vec();
        want.extend_from_slice(format!(" (\\Seen) {{{}+}}\r\n", latin1.len()).as_bytes());
        want.extend_from_slice(&latin1);
        want.extend_from_slice(
            b"\r\nM2 UID STORE 1:3 +FLAGS.SILENT (\\Answered $AutosvarReplied)\r\n\
              M3 UID STORE 9 +FLAGS.SILENT ($AutosvarForwarded)\r\n",
        );
        assert_eq!(bytes, want);

        let (bytes, tags) = pipelined(Some("Sent"), &sent, false, &stores[..1]);
        assert_eq!(
            tags,
            ["M1", "M2", "M3"],
            "without MULTIAPPEND: an APPEND each"
        );
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(text.matches(" APPEND \"Sent\" (\\Seen) {").count(), 2);
        assert!(text.starts_with("M1 APPEND") && text.contains("\r\nM2 APPEND"));

        let (_, tags) = pipelined(None, &sent, true, &stores[1..2]);
        assert_eq!(tags, ["M1"], "no Sent folder: no copies");
        assert_eq!(pipelined(Some("Sent"), &[], true, &[]).1.len(), 0);
    }

    /// Reads one command, literals included (a synchronizing one gets its go-ahead).
    async fn read_command(
        r: &mut tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>,
        w: &mut tokio::net::tcp::OwnedWriteHalf,
    ) -> Option<Vec<u8>> {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
        let mut text = Vec::new();
        loop {
            let mut line = Vec::new();
            if r.read_until(b'\n', &mut line).await.ok()? == 0 {
                return None;
            }
            text.extend_from_slice(&line);
            let head = String::from_utf8_lossy(&line).trim_end().to_string();
            let Some(spec) = head.strip_suffix('}').and_then(|h| h.rsplit_once('{')) else {
                return Some(text);
            };
            let (n, plus) = match spec.1.strip_suffix('+') {
                Some(n) => (n, true),
                None => (spec.1, false),
            };
            if !plus {
                w.write_all(b"+ go ahead\r\n").await.ok()?;
            }
            let mut literal = vec![0; n.parse().ok()?];
            r.read_exact(&mut literal).await.ok()?;
            text.extend_from_slice(&literal);
        }
    }

    /// A scripted IMAP server for one connection: greets, logs in, offers `caps`, selects.
    /// Then, for each of `rounds` (how many commands it waits for), it answers nothing
    /// until all of them have arrived, so a client that waited for an answer in between
    /// would wait forever; the tag in `refuse` gets NO in the first round, and new mail is
    /// reported first.
    /// Returns what each round received.
    async fn scripted(
        listener: tokio::net::TcpListener,
        caps: &'static str,
        rounds: Vec<usize>,
        refuse: Option<&'static str>,
    ) -> Vec<Vec<Vec<u8>>> {
        use tokio::io::AsyncWriteExt;
        let Ok((tcp, _)) = listener.accept().await else {
            return Vec::new();
        };
        let (r, mut w) = tcp.into_split();
        let mut r = tokio::io::BufReader::new(r);
        let _ = w.write_all(b"* OK fake IMAP ready\r\n").await;
        let tag_of = |c: &[u8]| {
            let text = String::from_utf8_lossy(c).to_string();
            text.split(' ').next().unwrap_or_default().to_string()
        };
        for _ in 0..3 {
            let Some(c) = read_command(&mut r, &mut w).await else {
                return Vec::new();
            };
            let tag = tag_of(&c);
            let upper = String::from_utf8_lossy(&c).to_uppercase();
            let answer = if upper.contains(" CAPABILITY") {
                format!("* CAPABILITY IMAP4rev1 {caps}\r\n{tag} OK done\r\n")
            } else if upper.contains(" SELECT") {
                format!(
                    "* FLAGS (\\Answered \\Flagged)\r\n* 3 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n\
                     * OK [UIDNEXT 10] n\r\n* OK [PERMANENTFLAGS (\\Answered \\*)] p\r\n\
                     {tag} OK [READ-WRITE] done\r\n"
                )
            } else {
                format!("{tag} OK done\r\n")
            };
            let _ = w.write_all(answer.as_bytes()).await;
        }
        let mut received = Vec::new();
        for (i, n) in rounds.into_iter().enumerate() {
            let mut round = Vec::new();
            for _ in 0..n {
                let Some(c) = read_command(&mut r, &mut w).await else {
                    return received;
                };
                round.push(c);
            }
            let mut answer = "* 4 EXISTS\r\n".to_string();
            for c in &round {
                let tag = tag_of(c);
                let refused = i == 0 && refuse == Some(tag.as_str());
                let status = if refused { "NO [OVERQUOTA]" } else { "OK" };
                answer.push_str(&format!("{tag} {status} done\r\n"));
            }
            let _ = w.write_all(answer.as_bytes()).await;
            received.push(round);
        }
        received
    }

    async fn connected(port: u16) -> Imap {
        use crate::config::{PasswordSource, Server};
        let config = ImapConfig {
            server: Server {
                host: "127.0.0.1".into(),
                port,
                tls: Tls::None,
                auth: Auth::Password {
                    user: "hr".into(),
                    password: PasswordSource::Command("echo secret".into()),
                },
                ca_file: None,
                timeout: Duration::from_secs(5),
            },
            folder: "INBOX".into(),
            idle: true,
            idle_renew: Duration::from_secs(300),
            poll_interval: Duration::from_secs(60),
            max_age: Duration::from_secs(86400),
            sent_folder: Some("Sent".into()),
            keywords: true,
            category_folders: None,
            sent_copy: crate::config::SentCopy::Append,
            sent_copy_grace: Duration::from_secs(120),
            max_attempts: 5,
        };
        let mut imap = Imap::new(&config).unwrap();
        imap.open().await.unwrap();
        imap
    }

    #[tokio::test]
    async fn a_batch_of_marks_takes_one_round_trip() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        // A MULTIAPPEND of two copies and two STOREs: all three must arrive unanswered.
        let server = tokio::spawn(scripted(listener, "LITERAL+ MULTIAPPEND", vec![3], None));
        let mut imap = connected(port).await;
        let latin1 = b"Subject: K\xf8benhavn\r\n\r\nhej\r\n".to_vec();
        let sent = vec![b"Subject: a\r\n\r\nx\r\n".to_vec(), latin1.clone()];
        let stores = [store(&[1, 2], &["\\Answered"]), store(&[3], &[FORWARDED])];
        tokio::time::timeout(Duration::from_secs(10), imap.show(&sent, &stores))
            .await
            .expect("every command written before any answer is awaited")
            .unwrap();
        assert!(imap.news, "EXISTS among the answers is kept for wait()");
        let received = server.await.unwrap();
        let first = &received[0][0];
        assert!(
            first.windows(latin1.len()).any(|w| w == latin1),
            "non-UTF-8 copy sent as it is"
        );
    }

    #[tokio::test]
    async fn a_refused_mark_is_an_error_after_every_answer_is_read() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        // Without MULTIAPPEND: an APPEND each, the first refused; then one more STORE.
        let server = tokio::spawn(scripted(listener, "LITERAL+", vec![3, 1], Some("M1")));
        let mut imap = connected(port).await;
        let sent = vec![b"a\r\n".to_vec(), b"b\r\n".to_vec()];
        let stores = [store(&[1], &["\\Answered"])];
        let refused = tokio::time::timeout(Duration::from_secs(10), imap.show(&sent, &stores))
            .await
            .unwrap();
        assert!(
            matches!(refused, Err(ImapError::Command { .. })),
            "{refused:?}"
        );
        // The connection is still in step: the next batch's answer is its own.
        tokio::time::timeout(Duration::from_secs(10), imap.show(&[], &stores[..1]))
            .await
            .unwrap()
            .unwrap();
        let received = server.await.unwrap();
        assert_eq!(received.iter().map(Vec::len).collect::<Vec<_>>(), [3, 1]);
    }

    #[tokio::test]
    async fn without_literal_plus_each_copy_waits_for_its_go_ahead() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        // No LITERAL+: an APPEND and its answer per copy, then the STOREs together.
        let server = tokio::spawn(scripted(listener, "MULTIAPPEND", vec![1, 1, 2], None));
        let mut imap = connected(port).await;
        let sent = vec![b"a\r\n".to_vec(), b"b\r\n".to_vec()];
        let stores = [store(&[1], &["\\Answered"]), store(&[2], &[FORWARDED])];
        tokio::time::timeout(Duration::from_secs(10), imap.show(&sent, &stores))
            .await
            .unwrap()
            .unwrap();
        let received = server.await.unwrap();
        let text = |c: &Vec<u8>| String::from_utf8_lossy(c).to_string();
        assert!(text(&received[0][0]).contains("APPEND \"Sent\" (\\Seen) {3}"));
        assert!(text(&received[1][0]).contains("APPEND"));
        assert!(received[2].iter().all(|c| text(c).contains("UID STORE")));
    }

    #[test]
    fn folder_names_are_quoted() {
        assert_eq!(quote("Sent"), r#""Sent""#);
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
