//! The DNS client of `amko verify-dns` and `amko demo`: sends A/AAAA queries (optionally with an
//! EDNS client subnet) over UDP, retries a query once its timeout passes, falls back to TCP when
//! the reply is truncated, and tallies the replies for the core's verdict. Messages are built and
//! parsed with hickory-proto; the sockets are tokio's.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use amko::dns_verify::verdict::THIS_HOST;
use amko::dns_verify::{RecordType, Reply, Tally};
use hickory_proto::op::{Edns, Message, Query};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use hickory_proto::rr::{Name, RData, RecordType as WireType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// Why queries could not be sent at all (a lost reply is a `Reply::NoReply`, not an error).
#[derive(Debug, thiserror::Error)]
pub enum DnsClientError {
    #[error("{fqdn:?} is not a valid DNS name: {reason}")]
    Name { fqdn: String, reason: String },
    #[error("cannot open a UDP socket towards {server}: {source}")]
    Socket {
        server: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot encode the query for {fqdn}: {reason}")]
    Encode { fqdn: String, reason: String },
}

/// Where and how to ask.
#[derive(Clone, Debug)]
pub struct Target {
    pub server: SocketAddr,
    /// Per attempt.
    pub timeout: Duration,
    /// Attempts after the first one, over UDP, before a query counts as unanswered.
    pub retries: u32,
    /// Queries in flight at once (each on its own socket).
    pub concurrency: usize,
}

/// One batch: `queries` questions for `fqdn`, spread over `client_subnets` EDNS client subnets
/// (0: none, the server sees this host's address).
#[derive(Clone, Debug)]
pub struct Batch {
    pub fqdn: String,
    pub record_type: RecordType,
    pub queries: u64,
    pub client_subnets: u32,
}

/// The client subnet of query `i` when `count` subnets rotate: `10.A.B.0/24` for subnet
/// `A * 256 + B`, so up to 65,536 distinct subnets.
pub fn client_subnet(i: u64, count: u32) -> Option<(Ipv4Addr, u8)> {
    if count == 0 {
        return None;
    }
    let n = (i % u64::from(count.min(65_536))) as u32;
    Some((Ipv4Addr::new(10, (n >> 8) as u8, (n & 0xff) as u8, 0), 24))
}

fn client_name(subnet: Option<(Ipv4Addr, u8)>) -> String {
    subnet.map_or_else(|| THIS_HOST.to_owned(), |(a, p)| format!("{a}/{p}"))
}

/// Sends the batch and tallies the replies.
pub async fn tally(target: &Target, batch: &Batch) -> Result<Tally, DnsClientError> {
    let name = Name::from_ascii(format!("{}.", batch.fqdn.trim_end_matches('.'))).map_err(|e| {
        DnsClientError::Name {
            fqdn: batch.fqdn.clone(),
            reason: e.to_string(),
        }
    })?;
    let next = Arc::new(AtomicU64::new(0));
    let workers = target
        .concurrency
        .clamp(1, 256)
        .min(batch.queries.max(1) as usize);
    let mut tasks = Vec::with_capacity(workers);
    for worker in 0..workers {
        let target = target.clone();
        let batch = batch.clone();
        let name = name.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let socket = bind(target.server).await?;
            let mut tally = Tally::default();
            // Query ids: distinct per worker, counting up.
            let mut id = (worker as u16).wrapping_mul(4099);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= batch.queries {
                    break;
                }
                id = id.wrapping_add(1);
                let subnet = client_subnet(i, batch.client_subnets);
                let reply = ask(&socket, &target, &name, batch.record_type, subnet, id).await?;
                tally.record(&client_name(subnet), &reply);
            }
            Ok::<_, DnsClientError>(tally)
        }));
    }
    let mut total = Tally::default();
    for task in tasks {
        let part = match task.await {
            Ok(part) => part?,
            // A worker cannot panic on a reply (parsing errors are replies); if the runtime
            // cancelled it, its queries are simply not counted.
            Err(_) => continue,
        };
        total.merge(part);
    }
    Ok(total)
}

async fn bind(server: SocketAddr) -> Result<UdpSocket, DnsClientError> {
    let local: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|source| DnsClientError::Socket { server, source })?;
    socket
        .connect(server)
        .await
        .map_err(|source| DnsClientError::Socket { server, source })?;
    Ok(socket)
}

fn query_bytes(
    name: &Name,
    record_type: RecordType,
    subnet: Option<(Ipv4Addr, u8)>,
    id: u16,
) -> Result<Vec<u8>, DnsClientError> {
    let wire_type = match record_type {
        RecordType::A => WireType::A,
        RecordType::Aaaa => WireType::AAAA,
    };
    let mut message = Message::query();
    message.metadata.id = id;
    message.metadata.recursion_desired = false;
    message.add_query(Query::query(name.clone(), wire_type));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    if let Some((addr, prefix)) = subnet {
        edns.options_mut()
            .insert(EdnsOption::Subnet(ClientSubnet::new(
                IpAddr::V4(addr),
                prefix,
                0,
            )));
    }
    message.set_edns(edns);
    message.to_vec().map_err(|e| DnsClientError::Encode {
        fqdn: name.to_string(),
        reason: e.to_string(),
    })
}

/// One query, with its retries and the TCP fallback.
async fn ask(
    socket: &UdpSocket,
    target: &Target,
    name: &Name,
    record_type: RecordType,
    subnet: Option<(Ipv4Addr, u8)>,
    id: u16,
) -> Result<Reply, DnsClientError> {
    let bytes = query_bytes(name, record_type, subnet, id)?;
    let mut buffer = vec![0u8; 65_535];
    for _ in 0..=target.retries {
        if socket.send(&bytes).await.is_err() {
            continue;
        }
        let deadline = tokio::time::Instant::now() + target.timeout;
        // Replies to earlier, timed-out attempts may still arrive: skip other ids.
        while let Ok(Ok(len)) = tokio::time::timeout_at(deadline, socket.recv(&mut buffer)).await {
            let Ok(message) = Message::from_vec(&buffer[..len]) else {
                continue;
            };
            if message.metadata.id != id {
                continue;
            }
            if message.metadata.truncation {
                return Ok(over_tcp(target, &bytes, id).await);
            }
            return Ok(reply_of(&message));
        }
    }
    Ok(Reply::NoReply)
}

/// The query again over TCP (two-byte length prefix, RFC 1035 §4.2.2).
async fn over_tcp(target: &Target, bytes: &[u8], id: u16) -> Reply {
    let exchange = async {
        let mut stream = TcpStream::connect(target.server).await.ok()?;
        let len = u16::try_from(bytes.len()).ok()?;
        let mut framed = len.to_be_bytes().to_vec();
        framed.extend_from_slice(bytes);
        stream.write_all(&framed).await.ok()?;
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await.ok()?;
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut body).await.ok()?;
        let message = Message::from_vec(&body).ok()?;
        (message.metadata.id == id).then(|| reply_of(&message))
    };
    tokio::time::timeout(target.timeout, exchange)
        .await
        .ok()
        .flatten()
        .unwrap_or(Reply::NoReply)
}

fn reply_of(message: &Message) -> Reply {
    let rcode = format!("{:?}", message.metadata.response_code).to_uppercase();
    let mut records = Vec::new();
    let mut cname = false;
    for record in &message.answers {
        match &record.data {
            RData::A(a) => records.push((IpAddr::V4(a.0), record.ttl)),
            RData::AAAA(a) => records.push((IpAddr::V6(a.0), record.ttl)),
            RData::CNAME(_) => cname = true,
            _ => {}
        }
    }
    Reply::Answer {
        rcode,
        records,
        cname,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_subnets_rotate_over_distinct_slash_24s() {
        assert_eq!(client_subnet(5, 0), None);
        assert_eq!(client_subnet(0, 4), Some((Ipv4Addr::new(10, 0, 0, 0), 24)));
        assert_eq!(client_subnet(5, 4), Some((Ipv4Addr::new(10, 0, 1, 0), 24)));
        assert_eq!(
            client_subnet(300, 1000),
            Some((Ipv4Addr::new(10, 1, 44, 0), 24))
        );
        assert_eq!(client_name(None), THIS_HOST);
        assert_eq!(client_name(client_subnet(1, 2)), "10.0.1.0/24");
    }

    #[test]
    fn a_query_carries_its_name_type_and_client_subnet() {
        let name = Name::from_ascii("shop.example.com.").expect("name");
        let bytes = query_bytes(&name, RecordType::Aaaa, client_subnet(3, 8), 77).expect("encodes");
        let message = Message::from_vec(&bytes).expect("decodes");
        assert_eq!(message.metadata.id, 77);
        assert_eq!(message.queries[0].query_type, WireType::AAAA);
        assert_eq!(message.queries[0].name, name);
        let edns = message.edns.as_ref().expect("edns");
        let Some(EdnsOption::Subnet(subnet)) =
            edns.option(hickory_proto::rr::rdata::opt::EdnsCode::Subnet)
        else {
            panic!("no client subnet: {edns:?}")
        };
        assert_eq!(subnet.addr(), IpAddr::V4(Ipv4Addr::new(10, 0, 3, 0)));
        assert_eq!(subnet.source_prefix(), 24);
    }

    /// A server that truncates every UDP reply and answers over TCP: the client must fall back.
    #[tokio::test]
    async fn a_truncated_udp_reply_is_asked_again_over_tcp() {
        use hickory_proto::op::{MessageType, OpCode};
        use hickory_proto::rr::Record;
        use hickory_proto::rr::rdata::A;

        let udp = UdpSocket::bind("127.0.0.1:0").await.expect("udp");
        let server = udp.local_addr().expect("addr");
        let tcp = tokio::net::TcpListener::bind(server)
            .await
            .expect("tcp on the same port");
        let answer = |query: &Message, truncated: bool| {
            let mut reply = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
            reply.add_queries(query.queries.clone());
            reply.metadata.truncation = truncated;
            if !truncated {
                reply.add_answer(Record::from_rdata(
                    query.queries[0].name.clone(),
                    42,
                    RData::A(A::new(192, 0, 2, 7)),
                ));
            }
            reply.to_vec().expect("encodes")
        };
        tokio::spawn(async move {
            let mut buffer = vec![0u8; 4096];
            while let Ok((len, peer)) = udp.recv_from(&mut buffer).await {
                if let Ok(query) = Message::from_vec(&buffer[..len]) {
                    let _ = udp.send_to(&answer(&query, true), peer).await;
                }
            }
        });
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = tcp.accept().await {
                let mut len = [0u8; 2];
                if stream.read_exact(&mut len).await.is_err() {
                    continue;
                }
                let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
                if stream.read_exact(&mut body).await.is_err() {
                    continue;
                }
                let Ok(query) = Message::from_vec(&body) else {
                    continue;
                };
                let reply = answer(&query, false);
                let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&reply);
                let _ = stream.write_all(&framed).await;
            }
        });
        let target = Target {
            server,
            timeout: Duration::from_secs(5),
            retries: 0,
            concurrency: 2,
        };
        let batch = Batch {
            fqdn: "big.example.com".to_owned(),
            record_type: RecordType::A,
            queries: 6,
            client_subnets: 0,
        };
        let tally = tally(&target, &batch).await.expect("sent");
        assert_eq!(tally.queries, 6);
        assert_eq!(tally.no_reply, 0, "{tally:?}");
        assert_eq!(
            tally.first.get(&"192.0.2.7".parse::<IpAddr>().expect("ip")),
            Some(&6)
        );
        assert_eq!(tally.ttls.get(&42), Some(&6));
    }
}
