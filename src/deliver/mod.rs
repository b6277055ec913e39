//! Deliver: hands finished messages to a transport.
//!
//! Two transports behind one enum, as lettre puts its file and SMTP transports behind one
//! trait: [`Transport::Outbox`] writes each message as an `.eml` file (the embedded default,
//! and what `preview` shows), SMTP sends it. Errors say whether trying again can help.
//! Delivery never decides anything and never touches the ledger.

pub mod outbox;
pub mod smtp;

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
    /// not being reachable: such failures count towards `max-attempts`.
    pub fn is_refusal(&self) -> bool {
        matches!(self, DeliverError::Smtp { source } if source.status().is_some())
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

    /// Delivers one message to `to`.
    ///
    /// # Errors
    /// See [`DeliverError::is_transient`] for what to do next.
    pub async fn send(&self, message_id: &str, to: &str, bytes: &[u8]) -> Result<(), DeliverError> {
        match self {
            Transport::Outbox(o) => o.write(message_id, to, bytes),
            Transport::Smtp(s) => s.send(to, bytes).await,
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
