//! TLS client setup shared by IMAP and SMTP: certificate verification is always on.
//!
//! Trusted roots are the Mozilla set (webpki-roots), the system store, and the optional
//! `ca-file` from the config (a private CA). There is no switch to turn verification off.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

/// Why a TLS client cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read CA file {}", path.display())]
    CaFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("CA file {} holds no usable PEM certificate", path.display())]
    NoCertificate { path: PathBuf },
    #[error("cannot set up TLS")]
    Setup(#[from] rustls::Error),
}

/// The PEM certificates of a CA file, as DER.
///
/// # Errors
/// When the file cannot be read or holds no certificate.
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::CaFile {
        path: path.to_path_buf(),
        source,
    })?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// A rustls client config trusting the public roots plus `ca_file`.
///
/// # Errors
/// When the CA file is unusable.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A broken system certificate is skipped, not fatal: the others still count.
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        for cert in read_ca_file(path)? {
            roots.add(cert)?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
