//! The HR console: a web page served by the daemon itself, where HR staff edit the reply
//! templates (draft, preview, publish, history, restore), and see what autosvar did and
//! which mails need a person.
//!
//! Server-rendered pages over the same pure stages the CLI uses (a preview here is
//! `autosvar preview`), in Danish or English as the browser asks. It works without
//! JavaScript; `assets/console.js` only adds live preview.
//!
//! Security is structure, not checks sprinkled on handlers:
//! - every page but `/login` takes an [`auth::User`], the one extractor that yields a
//!   signed-in user (a handler cannot forget it);
//! - one middleware ([`security::guard`]) refuses every state-changing request without
//!   the session's CSRF token or from another origin, and sets the security headers (a
//!   Content-Security-Policy with no inline script) on every response;
//! - sessions are random tokens kept server-side, cookies `HttpOnly; SameSite=Strict`
//!   (`Secure` over TLS), ended after `idle-timeout`;
//! - every text that came from a mail or a file goes through minijinja's HTML escaping.
//!
//! The same listener serves `/metrics`, `/healthz` and `/readyz` ([`health`]) without a
//! session, for a scraper and a service manager on loopback.
//!
//! The console has its own connection to the ledger (SQLite in WAL mode lets it read beside
//! the daemon's writes). It publishes templates by writing the files in `responses/`
//! atomically and swapping the running daemon's set; it never sends mail itself. What
//! needs the mail (answer it, teach with it) is written to the ledger as a request that
//! the daemon carries out; the console rings the daemon's bell after writing one.

mod activity;
mod auth;
mod health;
mod https;
mod pages;
mod review;
mod samples;
mod security;
mod views;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use axum::response::{IntoResponse, Response};
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::classify::Classifier;
use crate::config::{Config, ConsoleConfig};
use crate::ledger::{Ledger, LedgerError};
use crate::render::Templates;

pub use auth::{clean_name as clean_user_name, hash_password};

/// What every request handler shares.
pub(crate) struct State {
    /// The running daemon's config: a reload (SIGHUP) stores its live keys here.
    config: Arc<ArcSwap<Config>>,
    settings: ConsoleConfig,
    /// The console's own connection to the ledger.
    ledger: Mutex<Ledger>,
    /// The running daemon's templates: publishing stores the new set here.
    templates: Arc<ArcSwap<Templates>>,
    /// For previews (the desk forward's redaction); rules only, no model. A reload stores
    /// the reloaded rules here.
    classifier: Arc<ArcSwap<Classifier>>,
    sessions: auth::Sessions,
    throttle: auth::Throttle,
    views: views::Views,
    /// Serialises publishing, so two publishes never interleave their file writes.
    publishing: tokio::sync::Mutex<()>,
    /// Rung after a request for the daemon is written (answer, teach): its wait ends.
    bell: crate::pipeline::Bell,
    /// The daemon's metrics and readiness (`/metrics`, `/readyz`); a publish refused is
    /// counted there.
    metrics: Arc<crate::metrics::Metrics>,
}

type Shared = Arc<State>;

/// A bound console, ready to serve.
pub struct Console {
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    state: Shared,
}

impl Console {
    /// Binds the console's address, reads its certificate (when it serves TLS itself) and
    /// opens its connection to the ledger. Done before the daemon starts, so a taken port
    /// or a bad certificate is a clear error at start-up.
    ///
    /// # Errors
    /// When the address cannot be bound, the certificate or key cannot be used, or the
    /// ledger cannot be opened.
    pub async fn bind(
        config: Arc<ArcSwap<Config>>,
        settings: ConsoleConfig,
        templates: Arc<ArcSwap<Templates>>,
        classifier: Arc<ArcSwap<Classifier>>,
        bell: crate::pipeline::Bell,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> anyhow::Result<Console> {
        let tls = match &settings.tls {
            Some((cert, key)) => Some(https::acceptor(cert, key)?),
            None => None,
        };
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .map_err(|e| anyhow::anyhow!("console: cannot listen on {}: {e}", settings.listen))?;
        let ledger = Ledger::open(&config.load().ledger)?;
        let state = Arc::new(State {
            views: views::Views::new(),
            sessions: auth::Sessions::new(settings.idle_timeout),
            throttle: auth::Throttle::default(),
            ledger: Mutex::new(ledger),
            templates,
            classifier,
            settings,
            config,
            publishing: tokio::sync::Mutex::new(()),
            bell,
            metrics,
        });
        Ok(Console {
            listener,
            tls,
            state,
        })
    }

    /// The address it listens on (the port, when the config said 0).
    ///
    /// # Errors
    /// Only if the socket has no local address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `stop` is cancelled.
    pub async fn serve(self, stop: CancellationToken) {
        let addr = self
            .local_addr()
            .map_or_else(|_| "?".into(), |a| a.to_string());
        if let Err(e) = pages::record_disk_version(&self.state).await {
            error!(error = ?e, "console: cannot record the templates on disk as a version");
        }
        if self.state.settings.proxy.is_none()
            && self
                .state
                .db(|l| l.users())
                .await
                .is_ok_and(|u| u.is_empty())
        {
            info!("the console has no users yet: create one with `autosvar user add NAME`");
        }
        let app =
            pages::router(self.state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let stopped = async move { stop.cancelled().await };
        let served = match self.tls {
            None => {
                info!("console listening on http://{addr}");
                axum::serve(self.listener, app)
                    .with_graceful_shutdown(stopped)
                    .await
            }
            Some(acceptor) => match https::TlsListener::new(self.listener, acceptor) {
                Ok(listener) => {
                    info!("console listening on https://{addr}");
                    use axum::serve::ListenerExt as _;
                    axum::serve(listener.tap_io(|_| {}), app)
                        .with_graceful_shutdown(stopped)
                        .await
                }
                Err(e) => Err(e),
            },
        };
        if let Err(e) = served {
            error!(error = %e, "console stopped");
        }
    }
}

impl State {
    /// Runs `f` on the console's ledger connection, off the async runtime.
    async fn db<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Ledger) -> Result<T, LedgerError> + Send + 'static,
    ) -> Result<T, Error> {
        let state = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut ledger = state
                .ledger
                .lock()
                .map_err(|_| Error::Internal("the ledger lock is poisoned".into()))?;
            f(&mut ledger).map_err(|e| Error::Internal(format!("{e:#}")))
        })
        .await
        .map_err(|e| Error::Internal(format!("ledger task: {e}")))?
    }

    fn responses_dir(&self) -> PathBuf {
        self.config.load().responses.clone()
    }
}

/// What a handler can fail with.
#[derive(Debug)]
pub(crate) enum Error {
    /// 404.
    NotFound,
    /// 500: logged in full, shown as a generic page.
    Internal(String),
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::Internal(e.to_string())
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        use axum::http::StatusCode;
        match self {
            Error::NotFound => (StatusCode::NOT_FOUND, "not found").into_response(),
            Error::Internal(m) => {
                error!(error = %m, "console request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "something went wrong; the details are in autosvar's log",
                )
                    .into_response()
            }
        }
    }
}
