//! Turns Nagle's algorithm off on PostgreSQL connections.
//!
//! The driver (sqlx 0.9) connects without `TCP_NODELAY` and offers no option
//! for it. Most exchanges are one write and one reply and do not notice, but
//! `COPY` writes its data and then its end marker: the small end marker waits
//! for the server to acknowledge the data, which the server delays by up to
//! 40 ms (delayed ACK). Measured on the bulk write path that stall was most of
//! a batch's time (see `docs/benchmarks.md`).
//!
//! A new connection asks the server for the client address it sees, finds
//! this process's socket with that local address among its open file
//! descriptors, and sets the option on it. When nothing matches (a Unix
//! socket, a proxy in between, no `/proc`) the connection is left as it was.

use std::{
    net::{IpAddr, SocketAddr},
    os::fd::{BorrowedFd, RawFd},
};

use sea_orm::sqlx::{self, PgConnection};

/// Sets `TCP_NODELAY` on `conn`'s socket if it can be found; never fails the
/// connection for it.
pub(crate) async fn set(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    let (addr, port): (Option<String>, Option<i32>) =
        sqlx::query_as("SELECT host(inet_client_addr()), inet_client_port()")
            .fetch_one(&mut *conn)
            .await?;
    let local = match (addr.and_then(|a| a.parse::<IpAddr>().ok()), port) {
        (Some(ip), Some(port)) => SocketAddr::new(ip, port as u16),
        _ => return Ok(()),
    };
    if !set_on_socket_at(local) {
        tracing::debug!(%local, "no socket found to set TCP_NODELAY on");
    }
    Ok(())
}

/// Sets the option on this process's TCP socket bound to `local`.
fn set_on_socket_at(local: SocketAddr) -> bool {
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return false;
    };
    for entry in fds.flatten() {
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<RawFd>().ok())
        else {
            continue;
        };
        if !is_socket {
            continue;
        }
        // SAFETY: `fd` was open in this process a moment ago and is only
        // borrowed for the two socket-option calls below. Were it closed and
        // its number reused meanwhile, the calls would query or set an option
        // on that other socket (or fail on a non-socket): harmless either way.
        #[allow(unsafe_code)]
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        let bound = socket.local_addr().ok().and_then(|a| a.as_socket());
        if bound.map(canonical) == Some(canonical(local)) {
            return socket.set_tcp_nodelay(true).is_ok();
        }
    }
    false
}

/// IPv4-mapped IPv6 addresses compared as IPv4.
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_sets_the_socket_bound_to_an_address() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
        let stream =
            std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        assert!(!stream.nodelay().expect("read option"));
        assert!(set_on_socket_at(stream.local_addr().expect("local")));
        assert!(stream.nodelay().expect("read option"));
        assert!(!set_on_socket_at("127.0.0.1:1".parse().expect("addr")));
    }
}
