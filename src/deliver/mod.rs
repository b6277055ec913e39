//! Deliver: hands finished messages to a transport.
//!
//! Two transports behind one enum, as lettre puts its file and SMTP transports behind one
//! trait: [`Transport::Outbox`] writes each message as an `.eml` file (the embedded default,
//! and what `preview` shows), SMTP sends it. Errors say whether trying again can help.
//! Delivery never decides anything and never touches the ledger.

pub mod outbox;

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
    #[error("SMTP delivery is not available in this build")]
    Unsupported,
}

impl DeliverError {
    /// Trying again later may succeed (RFC 5321 §4.2.1 4xx, lost connections, a full disk).
    pub fn is_transient(&self) -> bool {
        match self {
            DeliverError::Write { .. } => true,
            DeliverError::Unsupported => false,
        }
    }
}

/// A way of delivering messages.
pub enum Transport {
    Outbox(outbox::Outbox),
}

impl Transport {
    /// Builds the configured transport.
    ///
    /// # Errors
    /// When the outbox folder cannot be created.
    pub fn from_config(config: &DeliveryConfig) -> Result<Transport, DeliverError> {
        match config {
            DeliveryConfig::Outbox { path } => Ok(Transport::Outbox(outbox::Outbox::open(path)?)),
            DeliveryConfig::Smtp(_) => Err(DeliverError::Unsupported),
        }
    }

    /// Delivers one message to `to`.
    ///
    /// # Errors
    /// See [`DeliverError::is_transient`] for what to do next.
    pub async fn send(&self, message_id: &str, to: &str, bytes: &[u8]) -> Result<(), DeliverError> {
        match self {
            Transport::Outbox(o) => o.write(message_id, to, bytes),
        }
    }

    /// Whether a message with this id is known to have gone out (used after a crash).
    pub async fn was_sent(&self, message_id: &str) -> Result<bool, DeliverError> {
        match self {
            Transport::Outbox(o) => Ok(o.contains(message_id)),
        }
    }
}
