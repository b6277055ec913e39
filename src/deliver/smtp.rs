//! SMTP delivery through lettre: one pooled transport for the process's life, STARTTLS or
//! implicit TLS with certificate checks always on, password or XOAUTH2, and a configurable
//! envelope sender (RFC 3834 §3.3's null sender `<>` by default; Microsoft 365 needs the
//! mailbox's own address).

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls as LettreTls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::ExposeSecret;

use super::DeliverError;
use crate::config::{Auth, SmtpConfig, Tls};

/// A pooled SMTP transport.
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    envelope_from: Option<Address>,
}

impl Smtp {
    /// Builds the transport (no connection yet; the pool connects on first use).
    /// Must run inside the Tokio runtime.
    ///
    /// # Errors
    /// When the CA file or a secret cannot be read, or an address is invalid.
    pub fn new(config: &SmtpConfig, hello: &str) -> Result<Smtp, DeliverError> {
        let s = &config.server;
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host)
            .port(s.port)
            .timeout(Some(s.timeout))
            .hello_name(ClientId::Domain(hello.to_string()));
        if s.tls != Tls::None {
            let mut params = TlsParameters::builder(s.host.clone());
            if let Some(ca) = &s.ca_file {
                let pem = std::fs::read(ca).map_err(|source| DeliverError::Setup {
                    what: format!("cannot read CA file {}", ca.display()),
                    source: Some(Box::new(source)),
                })?;
                let cert = Certificate::from_pem(&pem).map_err(|e| DeliverError::Setup {
                    what: format!("CA file {} is not a PEM certificate", ca.display()),
                    source: Some(Box::new(e)),
                })?;
                params = params.add_root_certificate(cert);
            }
            let params = params.build_rustls().map_err(|e| DeliverError::Setup {
                what: "cannot set up TLS for SMTP".into(),
                source: Some(Box::new(e)),
            })?;
            b = b.tls(match s.tls {
                Tls::Implicit => LettreTls::Wrapper(params),
                _ => LettreTls::Required(params),
            });
        }
        match &s.auth {
            Auth::None => {}
            Auth::Password { user, password } => {
                let secret = password.resolve().map_err(|e| DeliverError::Setup {
                    what: "cannot read the SMTP password".into(),
                    source: Some(Box::new(e)),
                })?;
                b = b
                    .credentials(Credentials::new(
                        user.clone(),
                        secret.expose_secret().to_string(),
                    ))
                    .authentication(vec![Mechanism::Plain, Mechanism::Login]);
            }
            Auth::XOAuth2 { user, token } => {
                let secret = token.resolve().map_err(|e| DeliverError::Setup {
                    what: "cannot get an SMTP access token".into(),
                    source: Some(Box::new(e)),
                })?;
                b = b
                    .credentials(Credentials::new(
                        user.clone(),
                        secret.expose_secret().to_string(),
                    ))
                    .authentication(vec![Mechanism::Xoauth2]);
            }
        }
        let envelope_from = match &config.envelope_from {
            None => None,
            Some(a) => Some(a.parse::<Address>().map_err(|e| DeliverError::Setup {
                what: format!("invalid envelope-from {a:?}"),
                source: Some(Box::new(e)),
            })?),
        };
        Ok(Smtp {
            transport: b.build(),
            envelope_from,
        })
    }

    /// Sends prepared bytes to one recipient.
    ///
    /// # Errors
    /// [`DeliverError::Smtp`]; `is_transient()` tells whether to retry.
    pub async fn send(&self, to: &str, bytes: &[u8]) -> Result<(), DeliverError> {
        let rcpt: Address = to
            .parse()
            .map_err(|_| DeliverError::Recipient(to.to_string()))?;
        let envelope = Envelope::new(self.envelope_from.clone(), vec![rcpt])
            .map_err(|_| DeliverError::Recipient(to.to_string()))?;
        self.transport
            .send_raw(&envelope, bytes)
            .await
            .map(|_| ())
            .map_err(|source| DeliverError::Smtp { source })
    }

    /// Connects, says EHLO and NOOP: for `autosvar check`.
    ///
    /// # Errors
    /// When the server cannot be reached or refuses.
    pub async fn test_connection(&self) -> Result<(), DeliverError> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(DeliverError::Setup {
                what: "SMTP server did not answer NOOP".into(),
                source: None,
            }),
            Err(source) => Err(DeliverError::Smtp { source }),
        }
    }
}
