//! TCP to the mail servers: the keepalive every IMAP and SMTP socket gets, so that a
//! connection a NAT or firewall dropped without a reset is noticed by the kernel, and a
//! quiet one (an IMAP IDLE, a kept SMTP connection) is not dropped by them in the first place.
//!
//! Only socket options: this module never reads or writes a byte. A stall while data is
//! in flight is the protocol code's to notice (every IMAP and SMTP call has a timeout).

use std::io;
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};
use tokio::net::TcpStream;

/// The first keepalive probe goes out after this long without traffic: under the shortest
/// idle timeouts of common NATs and load balancers (60 s and more; Azure's: 4 minutes).
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
/// Then one probe every this long...
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// ...and after this many unanswered probes the kernel closes the connection: a silently
/// dead peer is noticed about 60 s after the last traffic, and the next read fails.
pub const KEEPALIVE_PROBES: u32 = 3;

/// Turns TCP keepalive on with [`KEEPALIVE_IDLE`], [`KEEPALIVE_INTERVAL`] and
/// [`KEEPALIVE_PROBES`] (the interval and count on Linux; elsewhere the system's).
///
/// # Errors
/// When the system refuses the socket option.
pub fn keepalive(tcp: &TcpStream) -> io::Result<()> {
    let params = TcpKeepalive::new().with_time(KEEPALIVE_IDLE);
    #[cfg(target_os = "linux")]
    let params = params
        .with_interval(KEEPALIVE_INTERVAL)
        .with_retries(KEEPALIVE_PROBES);
    SockRef::from(tcp).set_tcp_keepalive(&params)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The options are really on the socket, as the kernel reports them.
    #[tokio::test]
    async fn keepalive_is_set_on_the_socket() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let sock = SockRef::from(&tcp);
        assert!(!sock.keepalive().unwrap());
        keepalive(&tcp).unwrap();
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), KEEPALIVE_IDLE);
        #[cfg(target_os = "linux")]
        {
            assert_eq!(sock.tcp_keepalive_interval().unwrap(), KEEPALIVE_INTERVAL);
            assert_eq!(sock.tcp_keepalive_retries().unwrap(), KEEPALIVE_PROBES);
        }
    }
}
