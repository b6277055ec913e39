//! Deliver: hands finished messages to a transport.
//!
//! Two transports behind one enum, as lettre puts its file and SMTP transports behind one
//! trait: [`Transport::Outbox`] writes each message as an `.eml` file (the embedded default,
//! and what `preview` shows), SMTP sends it. Errors say whether trying again can help.
//! [`throttle`] keeps SMTP within the server's limits (`max-connections`, `max-rate`) and
//! tells a throttling reply from a refusal. Delivery never decides anything and never
//! touches the ledger.

pub mod outbox;
pub mod smtp;
pub mod throttle;

use std::path::PathBuf;

use crate::config::DeliveryConfig;

/// Why a message was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}")]
    Setup {
        what: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    #[error("invalid recipient address {0:?}")]
    Recipient(String),
    #[error("{what}")]
    Connect {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}")]
    Tls {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("SMTP delivery failed")]
    Smtp {
        #[source]
        source: lettre::transport::smtp::Error,
    },
    /// AUTH was answered with a refusal (or the connection broke during it).
    #[error("{what}")]
    Login {
        what: String,
        #[source]
        source: lettre::transport::smtp::Error,
    },
}

impl DeliverError {
    /// Nothing about the message is wrong, the setup is: an untrusted certificate, a
    /// refused login, an unreadable secret or CA file. The daemon stops and says which
    /// (exit 78), and the message waits in the ledger.
    pub fn is_fatal(&self) -> bool {
        match self {
            DeliverError::Setup { .. } | DeliverError::Tls { .. } => true,
            // RFC 4954 §6: 5xx refuses the credentials; 454 is a temporary failure.
            DeliverError::Login { source, .. } => source.is_permanent(),
            DeliverError::Smtp { source } => source.status().is_some_and(|code| {
                // RFC 4954: 530 auth required, 534 mechanism too weak, 535 bad credentials,
                // 538 encryption required.
                matches!(u16::from(code), 530 | 534 | 535 | 538)
            }),
            _ => false,
        }
    }

    /// The server answered and refused this message (a 4xx or 5xx reply), as opposed to
    /// not being reachable or saying "too fast" ([`DeliverError::is_throttling`]): such
    /// failures count towards `max-attempts`.
    pub fn is_refusal(&self) -> bool {
        matches!(self, DeliverError::Smtp { source } if source.status().is_some())
            && !self.is_throttling()
    }

    /// The server said "too fast" (too many connections, too much mail: see
    /// [`throttle::is_throttling`]), at the greeting, at AUTH or for the message: wait and
    /// try again; never the message's fault.
    pub fn is_throttling(&self) -> bool {
        match self {
            DeliverError::Smtp { source } | DeliverError::Login { source, .. } => {
                source.status().is_some_and(|code| {
                    let text = std::error::Error::source(source)
                        .map(ToString::to_string)
                        .unwrap_or_default();
                    throttle::is_throttling(u16::from(code), &text)
                })
            }
            _ => false,
        }
    }

    /// The class of the failure, for the metrics.
    pub fn class(&self) -> SendFailure {
        if self.is_throttling() {
            return SendFailure::Throttled;
        }
        match self {
            DeliverError::Write { .. } => SendFailure::Write,
            DeliverError::Setup { .. } | DeliverError::Tls { .. } => SendFailure::Setup,
            DeliverError::Recipient(_) => SendFailure::Refused,
            DeliverError::Connect { .. } => SendFailure::Connection,
            DeliverError::Login { .. } => SendFailure::Login,
            DeliverError::Smtp { source } => match source.status() {
                None => SendFailure::Connection,
                Some(_) if self.is_fatal() => SendFailure::Login,
                Some(_) if source.is_permanent() => SendFailure::Refused,
                Some(_) => SendFailure::Temporary,
            },
        }
    }

    /// Trying again later may succeed: a 4xx reply (RFC 5321 §4.2.1), a lost or refused
    /// connection, a timeout, a full disk. A 5xx reply or a bad address is permanent.
    pub fn is_transient(&self) -> bool {
        match self {
            DeliverError::Write { .. } | DeliverError::Connect { .. } => true,
            DeliverError::Setup { .. } | DeliverError::Recipient(_) | DeliverError::Tls { .. } => {
                false
            }
            DeliverError::Smtp { source } | DeliverError::Login { source, .. } => {
                !source.is_permanent()
            }
        }
    }
}

/// Why a message was not delivered, in the words of `autosvar_send_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendFailure {
    /// A 5xx reply, or an address the server cannot take: the message is set aside.
    Refused,
    /// A 4xx reply other than throttling: counted towards `max-attempts`.
    Temporary,
    /// "Too fast" (see [`DeliverError::is_throttling`]): waited out, uncounted.
    Throttled,
    /// No answer: refused or lost connection, timeout.
    Connection,
    /// The login was refused.
    Login,
    /// TLS or the setup (certificate, secret): the daemon stops.
    Setup,
    /// The outbox folder could not be written.
    Write,
}

impl SendFailure {
    pub const ALL: [SendFailure; 7] = [
        SendFailure::Refused,
        SendFailure::Temporary,
        SendFailure::Throttled,
        SendFailure::Connection,
        SendFailure::Login,
        SendFailure::Setup,
        SendFailure::Write,
    ];

    /// The metric's label.
    pub fn name(self) -> &'static str {
        match self {
            SendFailure::Refused => "refused",
            SendFailure::Temporary => "temporary",
            SendFailure::Throttled => "throttled",
            SendFailure::Connection => "connection",
            SendFailure::Login => "login",
            SendFailure::Setup => "setup",
            SendFailure::Write => "write",
        }
    }

    /// The server gave no answer: SMTP is not ready until an exchange succeeds.
    pub fn unanswered(self) -> bool {
        matches!(self, SendFailure::Connection | SendFailure::Setup)
    }
}

/// A send's turn ([`Transport::turn`]): for SMTP, a connection permit whose moment under
/// the rate has come.
pub struct Turn(Option<smtp::Turn>);

/// A way of delivering messages.
pub enum Transport {
    Outbox(outbox::Outbox),
    Smtp(Box<smtp::Smtp>),
}

impl Transport {
    /// Builds the configured transport. Must run inside the Tokio runtime (the SMTP pool).
    ///
    /// # Errors
    /// When the outbox folder cannot be created or SMTP cannot be set up.
    pub fn from_config(config: &DeliveryConfig, hello: &str) -> Result<Transport, DeliverError> {
        match config {
            DeliveryConfig::Outbox { path } => Ok(Transport::Outbox(outbox::Outbox::open(path)?)),
            DeliveryConfig::Smtp(s) => Ok(Transport::Smtp(Box::new(smtp::Smtp::new(s, hello)?))),
        }
    }

    /// Delivers one message to `to` when its turn comes ([`Transport::turn`]).
    ///
    /// # Errors
    /// See [`DeliverError::is_transient`] for what to do next.
    pub async fn send(&self, message_id: &str, to: &str, bytes: &[u8]) -> Result<(), DeliverError> {
        let turn = self.turn().await?;
        self.send_in_turn(turn, message_id, to, bytes).await
    }

    /// Waits until a message may go out: SMTP's connection limit and rate (and any hold
    /// after a throttling reply); the outbox at once.
    ///
    /// # Errors
    /// Never in practice.
    pub async fn turn(&self) -> Result<Turn, DeliverError> {
        match self {
            Transport::Outbox(_) => Ok(Turn(None)),
            Transport::Smtp(s) => Ok(Turn(Some(s.turn().await?))),
        }
    }

    /// Delivers one message in the turn [`Transport::turn`] gave.
    ///
    /// # Errors
    /// See [`DeliverError::is_transient`] and [`DeliverError::is_throttling`].
    pub async fn send_in_turn(
        &self,
        turn: Turn,
        message_id: &str,
        to: &str,
        bytes: &[u8],
    ) -> Result<(), DeliverError> {
        match (self, turn.0) {
            (Transport::Smtp(s), Some(turn)) => s.send(turn, to, bytes).await,
            (Transport::Smtp(s), None) => {
                let turn = s.turn().await?;
                s.send(turn, to, bytes).await
            }
            (Transport::Outbox(o), _) => o.write(message_id, to, bytes),
        }
    }

    /// How many mails to take on at a time so that mail arriving meanwhile waits about a
    /// second for its turn: the messages `max-rate` allows in one second; `None` without
    /// a rate (as fast as the server takes them).
    pub fn per_second(&self) -> Option<usize> {
        match self {
            Transport::Smtp(s) => s.per_second(),
            Transport::Outbox(_) => None,
        }
    }

    /// When the SMTP login's XOAUTH2 access token expires, when it says (a JWT).
    pub fn token_expiry(&self) -> Option<std::time::SystemTime> {
        match self {
            Transport::Smtp(s) => s.token_expiry(),
            Transport::Outbox(_) => None,
        }
    }

    /// Ends cleanly (QUIT to the SMTP server).
    pub async fn close(&self) {
        if let Transport::Smtp(s) = self {
            s.close().await;
        }
    }

    /// Whether the transport itself can tell that a message went out (the outbox can; SMTP
    /// cannot, the Sent folder has to tell).
    pub fn knows_sent(&self, message_id: &str) -> Option<bool> {
        match self {
            Transport::Outbox(o) => Some(o.contains(message_id)),
            Transport::Smtp(_) => None,
        }
    }
}
