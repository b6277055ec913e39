//! TLS client setup shared by IMAP and SMTP: certificate verification is always on.
//!
//! Trusted roots are the Mozilla set (webpki-roots), the system store, and the optional
//! `ca-file` from the config (a private CA). There is no switch to turn verification off.
//! [`is_trust_error`] tells a refused certificate (a setup problem) from a lost connection.

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

/// Whether a TLS failure came from TLS itself (rustls refused: an untrusted or invalid
/// certificate, no common protocol, a plain-text server on a TLS port) rather than from the
/// network. Retrying cannot mend the first kind. rustls errors reach us inside
/// `io::Error`s, whose `source()` skips the error they wrap, so each is opened by hand.
pub fn is_trust_error(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<rustls::Error>() {
            return true;
        }
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            if is_trust_error(inner) {
                return true;
            }
        }
        next = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustls_errors_are_trust_errors_and_network_errors_are_not() {
        let refused = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert!(is_trust_error(&refused));
        let wrapped = std::io::Error::other(refused);
        assert!(is_trust_error(&wrapped));
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(!is_trust_error(&reset));
        assert!(!is_trust_error(&std::io::Error::other("eof")));
    }
}
