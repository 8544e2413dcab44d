//! Criterion benchmarks of the simulated GSLB DNS service: 10,000 A queries over UDP against a
//! running simulator (one client socket, one query in flight, so the figure is the per-query
//! round trip through decode, decision and encode), and 10,000 calls of the pure decision alone.
//! Issue 14 asks that 10,000 queries take well under 10 s; state the load average with the figure.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};
use serde_json::json;

use amko_sim::avi::dns::catalog::Catalog;
use amko_sim::avi::dns::decide::{GeoDb, HealthBook, QueryType, Question, Rotation, decide};
use amko_sim::avi::{AviSim, AviSimConfig, SeedFile, SeedObject};

const QUERIES: usize = 10_000;

fn shop() -> serde_json::Value {
    json!({"name": "shop", "domain_names": ["shop.example.com"], "ttl": 30, "groups": [
        {"name": "p10", "priority": 10, "algorithm": "GSLB_ALGORITHM_ROUND_ROBIN", "members": [
            {"ip": {"addr": "10.0.0.1", "type": "V4"}, "ratio": 1},
            {"ip": {"addr": "10.0.0.2", "type": "V4"}, "ratio": 3}]}]})
}

fn over_udp(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let (sim, socket) = runtime.block_on(async {
        let sim = AviSim::start(AviSimConfig {
            tls: false,
            rate_limit: None,
            seed: Some(SeedFile {
                tenants: vec![],
                objects: vec![SeedObject {
                    obj_type: "gslbservice".into(),
                    tenant: None,
                    body: shop(),
                }],
            }),
            ..AviSimConfig::default()
        })
        .await
        .expect("simulator starts");
        let socket = tokio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("client socket");
        socket
            .connect(sim.dns_addr().expect("DNS service"))
            .await
            .expect("connect");
        (sim, socket)
    });
    let mut query = Message::query();
    query.add_query(Query::query(
        Name::from_ascii("shop.example.com.").expect("name"),
        RecordType::A,
    ));
    let request = query.to_vec().expect("encoded query");
    let mut group = c.benchmark_group("dns");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("10000 A queries over UDP", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let mut reply = [0u8; 512];
                for _ in 0..QUERIES {
                    socket.send(&request).await.expect("send");
                    let n = tokio::time::timeout(Duration::from_secs(2), socket.recv(&mut reply))
                        .await
                        .expect("a reply within 2 s")
                        .expect("recv");
                    black_box(&reply[..n]);
                }
            })
        })
    });
    group.bench_function("10000 decisions (pure)", |b| {
        let body = shop();
        let body = body.as_object().expect("object");
        let catalog = Catalog::build([("gslbservice-1", body)], None);
        let health = HealthBook::default();
        let geo = GeoDb::default();
        let mut rotation = Rotation::default();
        let question = Question {
            name: "shop.example.com".into(),
            qtype: QueryType::A,
            source: IpAddr::V4(Ipv4Addr::LOCALHOST),
            client_subnet: None,
        };
        b.iter(|| {
            for _ in 0..QUERIES {
                black_box(decide(&catalog, &health, &geo, &mut rotation, &question));
            }
        })
    });
    group.finish();
    drop(sim);
}

criterion_group!(benches, over_udp);
criterion_main!(benches);
