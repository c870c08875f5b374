//! `sesame healthcheck`: asks the running server on this machine whether it is ready, for a
//! container `HEALTHCHECK` in an image that has no shell and no HTTP client.
//!
//! It sends `GET /readyz` over plain HTTP/1.1 to the configured `listen` address (a wildcard
//! address is reached through loopback) and succeeds only on a `200` status line.

use super::CliError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long the whole check may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The status line and headers are all we read.
const MAX_RESPONSE_HEAD: usize = 4096;

/// The address to connect to for a server bound to `listen`.
pub(crate) fn target(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// The status code of an HTTP/1.x response head, if it has a well-formed status line.
pub(crate) fn status_code(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\r' || b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.splitn(3, ' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

/// Runs the check against the server bound to `listen`.
pub(crate) async fn healthcheck(listen: SocketAddr) -> Result<(), CliError> {
    let target = target(listen);
    let status = tokio::time::timeout(TIMEOUT, readyz_status(target))
        .await
        .map_err(|_| CliError::Runtime(format!("no answer from {target} within {TIMEOUT:?}")))?
        .map_err(|e| CliError::Runtime(format!("GET http://{target}/readyz failed: {e}")))?;
    match status {
        Some(200) => Ok(()),
        Some(code) => Err(CliError::Runtime(format!(
            "http://{target}/readyz answered {code}: not ready"
        ))),
        None => Err(CliError::Runtime(format!(
            "http://{target}/readyz did not answer HTTP"
        ))),
    }
}

async fn readyz_status(target: SocketAddr) -> std::io::Result<Option<u16>> {
    let mut stream = TcpStream::connect(target).await?;
    let request = format!(
        "GET /readyz HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\nAccept: */*\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 512];
    while head.len() < MAX_RESPONSE_HEAD && !head.windows(2).any(|w| w == b"\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(status_code(&head))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_listen_addresses_are_reached_through_loopback() {
        let v4: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert_eq!(target(v4), "127.0.0.1:8080".parse().unwrap());
        let v6: SocketAddr = "[::]:8443".parse().unwrap();
        assert_eq!(target(v6), "[::1]:8443".parse().unwrap());
        let exact: SocketAddr = "10.1.2.3:80".parse().unwrap();
        assert_eq!(target(exact), exact);
    }

    #[test]
    fn status_line_is_parsed_strictly() {
        assert_eq!(status_code(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(
            status_code(b"HTTP/1.0 503 Service Unavailable\r\n\r\n"),
            Some(503)
        );
        assert_eq!(status_code(b"HTTP/1.1 200\r\n"), Some(200));
        assert_eq!(status_code(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(status_code(b"HTTP/1.1 20 OK\r\n"), None);
        assert_eq!(status_code(b""), None);
    }
}
