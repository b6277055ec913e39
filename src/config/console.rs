//! `[console]`: where the HR console listens and who it trusts. Validated here: a console
//! anywhere but loopback needs TLS (a certificate and key) or an explicit single-sign-on
//! proxy, because a password or session cookie must never cross a network in clear.
//! Nothing here opens a socket or reads a certificate.

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::checker::Checker;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawConsole {
    pub listen: Option<Spanned<String>>,
    pub idle_timeout: Option<Spanned<String>>,
    pub tls_cert: Option<Spanned<String>>,
    pub tls_key: Option<Spanned<String>>,
    pub trusted_header: Option<Spanned<String>>,
    pub trusted_proxy: Option<Spanned<String>>,
}

/// The HR console's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleConfig {
    pub listen: SocketAddr,
    /// A session unused this long ends (default 30 minutes).
    pub idle_timeout: Duration,
    /// Certificate chain and private key (PEM) when the console serves HTTPS itself.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Behind a single-sign-on proxy: the header naming the signed-in user, trusted only on
    /// connections from this one address.
    pub proxy: Option<TrustedProxy>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedProxy {
    pub header: String,
    pub from: IpAddr,
}

pub(super) fn console(
    c: &mut Checker<'_>,
    base: &Path,
    raw: Option<RawConsole>,
    header: Option<Range<usize>>,
) -> Option<ConsoleConfig> {
    let raw = raw?;
    let RawConsole {
        listen,
        idle_timeout,
        tls_cert,
        tls_key,
        trusted_header,
        trusted_proxy,
    } = raw;
    let Some(listen) = listen else {
        c.problem_hint(
            header,
            "console.listen",
            "is missing",
            "write listen = \"127.0.0.1:8025\", or remove [console] to turn the console off",
        );
        return None;
    };
    let addr: SocketAddr = match listen.get_ref().parse() {
        Ok(a) => a,
        Err(_) => {
            c.problem_hint(
                Some(listen.span()),
                "console.listen",
                format!("{:?} is not an address and port", listen.get_ref()),
                "write it like \"127.0.0.1:8025\"",
            );
            return None;
        }
    };
    let idle_timeout = c.duration(
        "console.idle-timeout",
        &idle_timeout,
        Duration::from_secs(30 * 60),
    );
    let tls = match (tls_cert, tls_key) {
        (Some(cert), Some(key)) => Some((
            c.input_path(base, cert.get_ref()),
            c.input_path(base, key.get_ref()),
        )),
        (None, None) => None,
        (Some(s), None) | (None, Some(s)) => {
            c.problem_hint(
                Some(s.span()),
                "console",
                "tls-cert and tls-key go together",
                "give both the certificate chain and its private key (PEM files)",
            );
            None
        }
    };
    let proxy = match (trusted_header, trusted_proxy) {
        (Some(h), Some(p)) => {
            let name = h.get_ref().trim();
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid {
                c.problem(
                    Some(h.span()),
                    "console.trusted-header",
                    format!("{:?} is not a header name", h.get_ref()),
                );
            }
            match p.get_ref().parse::<IpAddr>() {
                Ok(from) if valid => Some(TrustedProxy {
                    header: name.to_ascii_lowercase(),
                    from,
                }),
                Ok(_) => None,
                Err(_) => {
                    c.problem_hint(
                        Some(p.span()),
                        "console.trusted-proxy",
                        format!("{:?} is not an IP address", p.get_ref()),
                        "the one address the single-sign-on proxy connects from, like \"127.0.0.1\"",
                    );
                    None
                }
            }
        }
        (None, None) => None,
        (Some(s), None) | (None, Some(s)) => {
            c.problem_hint(
                Some(s.span()),
                "console",
                "trusted-header and trusted-proxy go together",
                "name the header the proxy sets (like \"X-Forwarded-Email\") and the address it connects from",
            );
            None
        }
    };
    if !addr.ip().is_loopback() && tls.is_none() && proxy.is_none() {
        c.problem_hint(
            Some(listen.span()),
            "console.listen",
            format!("{addr} is reachable from the network, and the console would send passwords and session cookies in clear"),
            "listen on 127.0.0.1, or set tls-cert and tls-key, or put it behind a single-sign-on proxy (trusted-header, trusted-proxy)",
        );
    }
    Some(ConsoleConfig {
        listen: addr,
        idle_timeout,
        tls,
        proxy,
    })
}
