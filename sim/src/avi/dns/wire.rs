//! DNS wire format for the simulated DNS virtual service: decodes a query (hickory-proto), asks
//! the decision for an answer and encodes the reply, truncating UDP replies that do not fit the
//! client's buffer. Pure: bytes in, bytes out.

use std::net::IpAddr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};
use hickory_proto::rr::rdata::{A, AAAA, CNAME};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::decide::{Decision, QueryType, Question, Rdata};

/// How the query arrived: UDP replies must fit the client's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// Largest UDP payload we send even when a client offers more (the DNS flag day 2020 value).
const MAX_UDP_PAYLOAD: u16 = 1232;
/// Without EDNS a UDP reply must fit 512 bytes (RFC 1035).
const CLASSIC_UDP_PAYLOAD: u16 = 512;

fn encode(message: &Message) -> Option<Vec<u8>> {
    match message.to_vec() {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            tracing::warn!(error = %e, "cannot encode a DNS reply");
            None
        }
    }
}

fn error_reply(id: u16, op_code: OpCode, code: ResponseCode) -> Option<Vec<u8>> {
    encode(&Message::error_msg(id, op_code, code))
}

/// The reply to one request, or `None` when nothing should be sent (not a query, or the
/// decision drops it).
pub fn respond(
    request: &[u8],
    source: IpAddr,
    transport: Transport,
    answer: impl FnOnce(&Question) -> Decision,
) -> Option<Vec<u8>> {
    let request = match Message::from_vec(request) {
        Ok(message) => message,
        Err(e) => {
            tracing::debug!(%source, error = %e, "undecodable DNS query");
            // Answer FORMERR when at least the id can be read (RFC 1035 §4.1.1).
            let id = u16::from_be_bytes([*request.first()?, *request.get(1)?]);
            return error_reply(id, OpCode::Query, ResponseCode::FormErr);
        }
    };
    let meta = request.metadata;
    if meta.message_type != MessageType::Query {
        return None;
    }
    if meta.op_code != OpCode::Query {
        return error_reply(meta.id, meta.op_code, ResponseCode::NotImp);
    }
    let [query] = request.queries.as_slice() else {
        return error_reply(meta.id, meta.op_code, ResponseCode::FormErr);
    };
    let client_subnet = request
        .edns
        .as_ref()
        .and_then(|e| e.option(EdnsCode::Subnet))
        .and_then(|o| match o {
            EdnsOption::Subnet(subnet) => Some((subnet.addr(), subnet.source_prefix())),
            _ => None,
        });
    let question = Question {
        name: query.name().to_ascii(),
        qtype: match query.query_type() {
            RecordType::A => QueryType::A,
            RecordType::AAAA => QueryType::Aaaa,
            _ => QueryType::Other,
        },
        source,
        client_subnet,
    };
    let decision = if query.query_class() == DNSClass::IN {
        answer(&question)
    } else {
        Decision::Refused
    };

    let mut reply = Message::response(meta.id, OpCode::Query);
    reply.metadata.recursion_desired = meta.recursion_desired;
    reply.add_query(query.clone());
    match decision {
        Decision::Drop => return None,
        Decision::Refused => reply.metadata.response_code = ResponseCode::Refused,
        Decision::NxDomain => {
            reply.metadata.authoritative = true;
            reply.metadata.response_code = ResponseCode::NXDomain;
        }
        Decision::Answer {
            ttl,
            records,
            scope_prefix,
        } => {
            reply.metadata.authoritative = true;
            for rdata in records {
                let data = match rdata {
                    Rdata::Addr(IpAddr::V4(v4)) => RData::A(A(v4)),
                    Rdata::Addr(IpAddr::V6(v6)) => RData::AAAA(AAAA(v6)),
                    Rdata::Cname(target) => match Name::from_ascii(format!("{target}.")) {
                        Ok(name) => RData::CNAME(CNAME(name)),
                        Err(e) => {
                            tracing::warn!(%target, error = %e, "CNAME target is not a DNS name");
                            continue;
                        }
                    },
                };
                reply.add_answer(Record::from_rdata(query.name().clone(), ttl, data));
            }
            if let (Some(_), Some((addr, source_prefix))) = (&request.edns, client_subnet) {
                let mut out = Edns::new();
                out.options_mut()
                    .insert(EdnsOption::Subnet(ClientSubnet::new(
                        addr,
                        source_prefix,
                        scope_prefix.min(source_prefix),
                    )));
                reply.edns = Some(out);
            }
        }
    }
    if let Some(edns) = &request.edns {
        let out = reply.edns.get_or_insert_with(Edns::new);
        out.set_max_payload(MAX_UDP_PAYLOAD.min(edns.max_payload().max(CLASSIC_UDP_PAYLOAD)));
    }
    let bytes = encode(&reply)?;
    let limit = match (transport, &request.edns) {
        (Transport::Tcp, _) => usize::from(u16::MAX),
        (Transport::Udp, Some(edns)) => {
            usize::from(MAX_UDP_PAYLOAD.min(edns.max_payload().max(CLASSIC_UDP_PAYLOAD)))
        }
        (Transport::Udp, None) => usize::from(CLASSIC_UDP_PAYLOAD),
    };
    if bytes.len() > limit {
        return encode(&reply.truncate());
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;
    use std::net::Ipv4Addr;

    fn query(name: &str, qtype: RecordType, ecs: Option<&str>) -> Vec<u8> {
        let mut message = Message::query();
        message.metadata.id = 4242;
        message.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
        if let Some(subnet) = ecs {
            let mut edns = Edns::new();
            edns.options_mut()
                .insert(EdnsOption::Subnet(subnet.parse().unwrap()));
            message.edns = Some(edns);
        }
        message.to_vec().unwrap()
    }

    const SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn answers_carry_the_ttl_and_the_ecs_scope() {
        let mut seen = None;
        let bytes = respond(
            &query("Shop.example.com.", RecordType::A, Some("192.0.2.0/24")),
            SOURCE,
            Transport::Udp,
            |q| {
                seen = Some(q.clone());
                Decision::Answer {
                    ttl: 77,
                    records: vec![Rdata::Addr("10.0.0.1".parse().unwrap())],
                    scope_prefix: 16,
                }
            },
        )
        .unwrap();
        let seen = seen.unwrap();
        assert_eq!(seen.qtype, QueryType::A);
        assert_eq!(seen.client_subnet, Some(("192.0.2.0".parse().unwrap(), 24)));
        let reply = Message::from_vec(&bytes).unwrap();
        assert_eq!(reply.metadata.id, 4242);
        assert!(reply.metadata.authoritative);
        assert_eq!(reply.answers.len(), 1);
        assert_eq!(reply.answers[0].ttl, 77);
        let Some(EdnsOption::Subnet(ecs)) = reply.edns.as_ref().unwrap().option(EdnsCode::Subnet)
        else {
            panic!("no ECS option echoed");
        };
        assert_eq!((ecs.source_prefix(), ecs.scope_prefix()), (24, 16));
    }

    #[test]
    fn codes_drop_and_truncation() {
        let q = query("x.example.com.", RecordType::A, None);
        let code = |d: Decision| {
            respond(&q, SOURCE, Transport::Udp, |_| d)
                .map(|b| Message::from_vec(&b).unwrap().metadata.response_code)
        };
        assert_eq!(code(Decision::NxDomain), Some(ResponseCode::NXDomain));
        assert_eq!(code(Decision::Refused), Some(ResponseCode::Refused));
        assert_eq!(code(Decision::Drop), None);
        assert_eq!(
            respond(&[1, 2, 3], SOURCE, Transport::Udp, |_| Decision::Drop)
                .map(|b| Message::from_vec(&b).unwrap().metadata.response_code),
            Some(ResponseCode::FormErr)
        );
        let many: Vec<Rdata> = (0..60)
            .map(|i| Rdata::Addr(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i))))
            .collect();
        let big = |t| {
            let records = many.clone();
            Message::from_vec(
                &respond(&q, SOURCE, t, |_| Decision::Answer {
                    ttl: 1,
                    records,
                    scope_prefix: 0,
                })
                .unwrap(),
            )
            .unwrap()
        };
        let udp = big(Transport::Udp);
        assert!(udp.metadata.truncation && udp.answers.is_empty());
        let tcp = big(Transport::Tcp);
        assert!(!tcp.metadata.truncation && tcp.answers.len() == 60);
    }
}
