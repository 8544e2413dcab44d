//! The sockets of the simulated DNS virtual service: one UDP socket and one TCP listener on the
//! same port. A thin shell: every message goes through `wire::respond` with the shared book.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::{JoinHandle, JoinSet};

use super::DnsBook;
use super::wire::{Transport, respond};
use crate::avi::state::SimState;

/// A TCP client that sends nothing for this long is disconnected (RFC 7766 suggests seconds).
const TCP_IDLE: Duration = Duration::from_secs(10);
/// Attempts at finding a port free for both UDP and TCP when the port is picked at random.
const BIND_ATTEMPTS: usize = 20;

/// The bound sockets, before serving.
pub struct Sockets {
    udp: UdpSocket,
    tcp: TcpListener,
    addr: SocketAddr,
}

impl Sockets {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Binds UDP first, then TCP on the same port (retrying with a new port when `listen` asks for
/// any port and the TCP side is taken).
pub async fn bind(listen: SocketAddr) -> std::io::Result<Sockets> {
    let mut last_error = None;
    for _ in 0..BIND_ATTEMPTS {
        let udp = UdpSocket::bind(listen).await?;
        let addr = udp.local_addr()?;
        match TcpListener::bind(addr).await {
            Ok(tcp) => return Ok(Sockets { udp, tcp, addr }),
            Err(e) if listen.port() == 0 => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or_else(|| std::io::Error::other("no free DNS port")))
}

/// Starts both loops; abort the handles to stop them.
pub fn serve(sockets: Sockets, state: Arc<SimState>) -> Vec<JoinHandle<()>> {
    let Sockets { udp, tcp, .. } = sockets;
    vec![
        tokio::spawn(serve_udp(udp, Arc::clone(&state))),
        tokio::spawn(serve_tcp(tcp, state)),
    ]
}

fn answer(
    book: &DnsBook,
    state: &SimState,
    request: &[u8],
    peer: SocketAddr,
    transport: Transport,
) -> Option<Vec<u8>> {
    let catalog = book.catalog(&state.ctrl);
    respond(request, peer.ip(), transport, |question| {
        book.decide(&catalog, question)
    })
}

async fn serve_udp(socket: UdpSocket, state: Arc<SimState>) {
    let mut buf = vec![0u8; 65535];
    loop {
        let (len, peer) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(e) => {
                // ICMP errors from earlier replies surface here on some systems; keep serving.
                tracing::debug!(error = %e, "DNS UDP receive failed");
                continue;
            }
        };
        let Some(reply) = answer(&state.dns, &state, &buf[..len], peer, Transport::Udp) else {
            continue;
        };
        if let Err(e) = socket.send_to(&reply, peer).await {
            tracing::debug!(%peer, error = %e, "DNS UDP send failed");
        }
    }
}

async fn serve_tcp(listener: TcpListener, state: Arc<SimState>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(serve_tcp_connection(stream, peer, Arc::clone(&state)));
                }
                Err(e) => tracing::warn!(error = %e, "DNS TCP accept failed"),
            },
        }
    }
}

/// RFC 1035 §4.2.2 framing: a two-byte length before each message; several queries per
/// connection.
async fn serve_tcp_connection(mut stream: TcpStream, peer: SocketAddr, state: Arc<SimState>) {
    let _ = stream.set_nodelay(true);
    loop {
        let mut len = [0u8; 2];
        match tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) | Err(_) => return,
        }
        let mut request = vec![0u8; usize::from(u16::from_be_bytes(len))];
        match tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut request)).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) | Err(_) => return,
        }
        let Some(reply) = answer(&state.dns, &state, &request, peer, Transport::Tcp) else {
            continue;
        };
        let Ok(reply_len) = u16::try_from(reply.len()) else {
            tracing::warn!(%peer, bytes = reply.len(), "DNS reply too large for TCP framing");
            return;
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&reply_len.to_be_bytes());
        framed.extend_from_slice(&reply);
        if stream.write_all(&framed).await.is_err() {
            return;
        }
    }
}
