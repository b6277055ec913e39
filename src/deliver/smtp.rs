//! SMTP delivery through lettre's protocol client, over connections this module opens: a
//! few kept open for the process's life (checked with NOOP when idle for a while, reopened
//! when broken), STARTTLS or implicit TLS with certificate checks always on, password or XOAUTH2,
//! and a configurable envelope sender (RFC 3834 §3.3's null sender `<>` by default;
//! Microsoft 365 needs the mailbox's own address).
//!
//! The password or token is read anew for every connection it opens, before the TCP
//! connect, and lives only as long as the login. A refused login or certificate is a
//! setup problem ([`DeliverError::is_fatal`]), a broken connection is not.
//!
//! At most `[smtp] max-connections` are open at once, idle ones included (a semaphore: a
//! send holds a permit from before its connection is taken until it is given back), and
//! messages start no faster than `max-rate` ([`super::throttle::Pacer`]); a throttling
//! reply holds every send back for a while.
//!
//! Why not lettre's pooled transport: it leaves Nagle's algorithm on, and the end of each
//! DATA then waits for the server's delayed ACK (40 ms a message here, capping throughput
//! near 20 mails/s). Opening the socket ourselves lets us set TCP_NODELAY, and TCP
//! keepalive ([`crate::net`]) on the connections kept between messages.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::commands::Auth as AuthCommand;
use lettre::transport::smtp::extension::ClientId;
use lettre::Address;
use secrecy::ExposeSecret;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};
use tracing::warn;

use super::throttle::Pacer;
use super::DeliverError;
use crate::config::{Login, SmtpConfig, Tls};
use crate::tls::is_trust_error;

/// A TLS stream lettre can drive (it wants `peer_addr`).
#[derive(Debug)]
struct TlsStream(tokio_rustls::client::TlsStream<TcpStream>);

impl AsyncRead for TlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for TlsStream {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

/// An SMTP client with one reusable connection.
pub struct Smtp {
    config: SmtpConfig,
    hello: ClientId,
    /// For STARTTLS (lettre's upgrade).
    starttls: Option<TlsParameters>,
    /// For implicit TLS (our own handshake).
    rustls: Option<Arc<rustls::ClientConfig>>,
    envelope_from: Option<Address>,
    /// Idle connections, with when each was last used; at most `max-connections`.
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    /// One permit per connection in use; with the idle ones never more than
    /// `max-connections` open (a send takes an idle one before it opens one).
    permits: Arc<Semaphore>,
    pacer: Pacer,
    /// When the XOAUTH2 token of the last login expires (a JWT's `exp`), for the metrics.
    token_expiry: std::sync::Mutex<Option<std::time::SystemTime>>,
}

/// A send's turn: its connection permit, and its moment under `max-rate` has come.
pub struct Turn {
    _permit: OwnedSemaphorePermit,
}
/// A connection idle for less than this is reused without a NOOP first.
const FRESH: Duration = Duration::from_secs(2);

fn setup(
    what: impl Into<String>,
    e: impl std::error::Error + Send + Sync + 'static,
) -> DeliverError {
    DeliverError::Setup {
        what: what.into(),
        source: Some(Box::new(e)),
    }
}

/// An error with its causes (the server's reply is the innermost).
fn reply_of(e: &DeliverError) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

impl Smtp {
    /// Prepares the client; nothing is connected (and no secret read) until the first
    /// message.
    ///
    /// # Errors
    /// When the CA file cannot be read, or an address is invalid.
    pub fn new(config: &SmtpConfig, hello: &str) -> Result<Smtp, DeliverError> {
        let s = &config.server;
        let (mut starttls, mut rustls_config) = (None, None);
        match s.tls {
            Tls::None => {}
            Tls::Implicit => {
                rustls_config = Some(
                    crate::tls::client_config(s.ca_file.as_deref())
                        .map_err(|e| setup("cannot set up TLS for SMTP", e))?,
                );
            }
            Tls::StartTls => {
                let mut params = TlsParameters::builder(s.host.clone());
                if let Some(ca) = &s.ca_file {
                    let pem = std::fs::read(ca)
                        .map_err(|e| setup(format!("cannot read CA file {}", ca.display()), e))?;
                    let cert = Certificate::from_pem(&pem).map_err(|e| {
                        setup(
                            format!("CA file {} is not a PEM certificate", ca.display()),
                            e,
                        )
                    })?;
                    params = params.add_root_certificate(cert);
                }
                starttls = Some(
                    params
                        .build_rustls()
                        .map_err(|e| setup("cannot set up TLS for SMTP", e))?,
                );
            }
        }
        let envelope_from = match &config.envelope_from {
            None => None,
            Some(a) => Some(
                a.parse::<Address>()
                    .map_err(|e| setup(format!("invalid envelope-from {a:?}"), e))?,
            ),
        };
        Ok(Smtp {
            config: config.clone(),
            hello: ClientId::Domain(hello.to_string()),
            starttls,
            rustls: rustls_config,
            envelope_from,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(config.max_connections.max(1))),
            pacer: Pacer::new(config.max_rate),
            token_expiry: std::sync::Mutex::new(None),
        })
    }

    /// When the XOAUTH2 access token of the last login expires, when it says (a JWT).
    pub fn token_expiry(&self) -> Option<std::time::SystemTime> {
        *self
            .token_expiry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What `max-rate` allows in a second (at least 1); `None` without a rate.
    pub fn per_second(&self) -> Option<usize> {
        self.config.max_rate.map(|r| r.per_second())
    }

    fn timeout(&self) -> Duration {
        self.config.server.timeout
    }

    /// Opens a connection: the secret, then TCP, TLS, EHLO, STARTTLS and login, bounded as
    /// a whole (a server that stops answering mid-handshake must not hang delivery).
    async fn connect(&self) -> Result<AsyncSmtpConnection, DeliverError> {
        let s = &self.config.server;
        // Read before connecting (and outside the handshake's bound): a slow token command
        // must not keep a server waiting. Its own limit is the timeout.
        let login = s.auth.fetch(self.timeout()).await.map_err(|e| {
            setup(
                format!("cannot read the secret for SMTP {}:{}", s.host, s.port),
                e,
            )
        })?;
        if let Some(at) = login.as_ref().and_then(Login::expiry) {
            *self
                .token_expiry
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(at);
        }
        tokio::time::timeout(self.timeout() * 2, self.open(login))
            .await
            .unwrap_or_else(|_| {
                Err(DeliverError::Connect {
                    what: format!("SMTP handshake with {}:{} timed out", s.host, s.port),
                    source: io::ErrorKind::TimedOut.into(),
                })
            })
    }

    async fn open(&self, login: Option<Login>) -> Result<AsyncSmtpConnection, DeliverError> {
        let s = &self.config.server;
        let transient = |what: &str, e: io::Error| DeliverError::Connect {
            what: format!("{what} {}:{}", s.host, s.port),
            source: e,
        };
        let tcp = tokio::time::timeout(
            self.timeout(),
            TcpStream::connect((s.host.as_str(), s.port)),
        )
        .await
        .map_err(|_| transient("timed out connecting to", io::ErrorKind::TimedOut.into()))?
        .map_err(|e| transient("cannot connect to", e))?;
        tcp.set_nodelay(true)
            .and_then(|()| crate::net::keepalive(&tcp))
            .map_err(|e| transient("cannot set up socket to", e))?;
        let smtp = |e| DeliverError::Smtp { source: e };
        let mut conn = match &self.rustls {
            Some(config) => {
                let name = rustls::pki_types::ServerName::try_from(s.host.clone())
                    .map_err(|e| setup(format!("invalid server name {:?}", s.host), e))?;
                let tls = tokio::time::timeout(
                    self.timeout(),
                    tokio_rustls::TlsConnector::from(config.clone()).connect(name, tcp),
                )
                .await
                .map_err(|_| {
                    transient(
                        "TLS handshake timed out with",
                        io::ErrorKind::TimedOut.into(),
                    )
                })?
                .map_err(|e| self.tls_failed(e))?;
                AsyncSmtpConnection::connect_with_transport(Box::new(TlsStream(tls)), &self.hello)
                    .await
                    .map_err(smtp)?
            }
            None => AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello)
                .await
                .map_err(smtp)?,
        };
        if let Some(params) = &self.starttls {
            if !conn.can_starttls() {
                return Err(DeliverError::Setup {
                    what: format!("SMTP server {}:{} does not offer STARTTLS", s.host, s.port),
                    source: None,
                });
            }
            conn.starttls(params.clone(), &self.hello)
                .await
                .map_err(|e| {
                    if is_trust_error(&e) {
                        self.tls_failed(io::Error::other(e))
                    } else {
                        smtp(e)
                    }
                })?;
        }
        if let Some(login) = login {
            self.authenticate(&mut conn, login).await?;
        }
        Ok(conn)
    }

    /// A failed TLS handshake: refused by TLS itself (fatal), or cut by the network.
    fn tls_failed(&self, e: io::Error) -> DeliverError {
        let s = &self.config.server;
        if is_trust_error(&e) {
            DeliverError::Tls {
                what: format!(
                    "TLS handshake with {}:{} failed (is the certificate trusted? see ca-file)",
                    s.host, s.port
                ),
                source: e,
            }
        } else {
            DeliverError::Connect {
                what: format!("TLS handshake with {}:{} broken off", s.host, s.port),
                source: e,
            }
        }
    }

    /// AUTH PLAIN or LOGIN with a password, or XOAUTH2 with a token.
    async fn authenticate(
        &self,
        conn: &mut AsyncSmtpConnection,
        login: Login,
    ) -> Result<(), DeliverError> {
        let s = &self.config.server;
        let (user, secret, mechanisms) = match login {
            Login::Password { user, password } => {
                (user, password, &[Mechanism::Plain, Mechanism::Login][..])
            }
            Login::XOAuth2 { user, token } => (user, token, &[Mechanism::Xoauth2][..]),
        };
        let refused = |source| DeliverError::Login {
            what: format!("SMTP login as {user} to {}:{} refused", s.host, s.port),
            source,
        };
        if !mechanisms
            .iter()
            .any(|m| conn.server_info().supports_auth_mechanism(*m))
        {
            let names: Vec<String> = mechanisms.iter().map(ToString::to_string).collect();
            return Err(DeliverError::Setup {
                what: format!(
                    "SMTP server {}:{} offers no AUTH {}",
                    s.host,
                    s.port,
                    names.join(" or ")
                ),
                source: None,
            });
        }
        let credentials = Credentials::new(user.clone(), secret.expose_secret().to_string());
        if mechanisms != [Mechanism::Xoauth2] {
            return conn
                .auth(mechanisms, &credentials)
                .await
                .map(drop)
                .map_err(refused);
        }
        // XOAUTH2 by hand: a refused token is answered with a 334 error challenge that
        // wants an empty line before the final 535 (lettre would give up at the 334).
        let first = AuthCommand::new(Mechanism::Xoauth2, credentials, None).map_err(refused)?;
        let response = conn.command(first).await.map_err(refused)?;
        if response.has_code(334) {
            conn.command("\r\n").await.map_err(refused)?;
        }
        Ok(())
    }

    /// An idle connection that still works, else a new one.
    async fn connection(&self) -> Result<AsyncSmtpConnection, DeliverError> {
        loop {
            let kept = self.idle.lock().await.pop();
            let Some((mut c, used)) = kept else {
                return self.connect().await;
            };
            if used.elapsed() < FRESH && !c.has_broken() {
                return Ok(c);
            }
            if tokio::time::timeout(self.timeout(), c.test_connected())
                .await
                .unwrap_or(false)
            {
                return Ok(c);
            }
            c.abort().await;
        }
    }

    async fn release(&self, mut c: AsyncSmtpConnection) {
        let mut idle = self.idle.lock().await;
        if idle.len() < self.config.max_connections && !c.has_broken() {
            idle.push((c, Instant::now()));
        } else {
            drop(idle);
            c.abort().await;
        }
    }

    /// Waits for a free connection (`max-connections`), then for the next moment
    /// `max-rate` allows (and any hold a throttling reply set).
    ///
    /// # Errors
    /// Never in practice (the semaphore is never closed).
    pub async fn turn(&self) -> Result<Turn, DeliverError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| setup("the SMTP connection limit was closed", e))?;
        self.pacer.turn().await;
        Ok(Turn { _permit: permit })
    }

    /// Sends prepared bytes to one recipient in its turn. A throttling reply holds every
    /// send back ([`Pacer::throttled`]) before it is returned.
    ///
    /// # Errors
    /// `is_transient()` on the error tells whether to retry, `is_throttling()` whether
    /// only the pace was wrong.
    pub async fn send(&self, turn: Turn, to: &str, bytes: &[u8]) -> Result<(), DeliverError> {
        let sent = self.send_on(to, bytes).await;
        drop(turn);
        match &sent {
            Ok(()) => self.pacer.succeeded(),
            Err(e) if e.is_throttling() => {
                let wait = self.pacer.throttled();
                warn!(reply = %reply_of(e), wait = ?wait, "the SMTP server says too fast: every send waits, the message is tried again");
            }
            Err(_) => {}
        }
        sent
    }

    async fn send_on(&self, to: &str, bytes: &[u8]) -> Result<(), DeliverError> {
        let rcpt: Address = to
            .parse()
            .map_err(|_| DeliverError::Recipient(to.to_string()))?;
        let envelope = Envelope::new(self.envelope_from.clone(), vec![rcpt])
            .map_err(|_| DeliverError::Recipient(to.to_string()))?;
        let mut conn = self.connection().await?;
        let sent = tokio::time::timeout(self.timeout() * 4, conn.send(&envelope, bytes)).await;
        match sent {
            Ok(Ok(_)) => {
                self.release(conn).await;
                Ok(())
            }
            Ok(Err(e)) => {
                if !conn.has_broken() && e.is_permanent() {
                    // A refused message leaves a usable connection.
                    self.release(conn).await;
                } else {
                    conn.abort().await;
                }
                Err(DeliverError::Smtp { source: e })
            }
            Err(_) => {
                conn.abort().await;
                Err(DeliverError::Connect {
                    what: format!(
                        "SMTP send to {}:{} timed out",
                        self.config.server.host, self.config.server.port
                    ),
                    source: io::ErrorKind::TimedOut.into(),
                })
            }
        }
    }

    /// Reads the secret, connects (TLS trust checked), logs in if configured, says NOOP:
    /// for `autosvar check`.
    ///
    /// # Errors
    /// When the server cannot be reached or refuses.
    pub async fn test_connection(&self) -> Result<(), DeliverError> {
        let mut conn = self.connect().await?;
        let ok = conn.test_connected().await;
        let _ = conn.quit().await;
        if ok {
            Ok(())
        } else {
            Err(DeliverError::Setup {
                what: "SMTP server did not answer NOOP".into(),
                source: None,
            })
        }
    }

    /// Says QUIT on the kept connections (clean shutdown).
    pub async fn close(&self) {
        let idle = std::mem::take(&mut *self.idle.lock().await);
        for (mut c, _) in idle {
            let _ = tokio::time::timeout(Duration::from_secs(2), c.quit()).await;
        }
    }
}
