//! The Avi client and write execution against the simulated controller over verified HTTPS:
//! login and CSRF, re-login after the controller drops sessions, TLS verification, planned writes
//! in order with ownership, adoption after a lost create (409), re-creation after 404, paging of
//! owned state, and the rate budget keeping a burst free of 429s.

mod common;

use std::time::Duration;

use amko::avi::sync::{execute, load_state};
use amko::avi::{AviClient, AviConnection, AviErrorKind, RateBudget};
use amko::model::plan::{ControllerState, plan_gslb_service};
use amko::model::{GsInputs, build_gslb_service};
use amko::vocab::GsKey;
use amko_sim::avi::{AviSim, AviSimConfig, AviSimHandle, RateLimitConfig};
use common::fixtures;
use serde_json::json;

fn connection(sim: &AviSimHandle, ca: bool) -> AviConnection {
    AviConnection {
        base_url: sim.base_url().to_owned(),
        username: sim.username().to_owned(),
        password: sim.password().to_owned(),
        version: sim.version().to_owned(),
        tenant: "admin".to_owned(),
        ca_pem: ca.then(|| sim.ca_pem().unwrap_or_default().to_owned()),
        insecure_skip_verify: false,
        timeout: Duration::from_secs(10),
    }
}

async fn sim_without_rate_limit() -> AviSimHandle {
    AviSim::start(AviSimConfig {
        rate_limit: None,
        ..AviSimConfig::default()
    })
    .await
    .expect("simulator starts")
}

fn desired_for(fqdn_index: usize, clusters: usize) -> amko::model::DesiredGs {
    let members: Vec<_> = fixtures::members(clusters, fqdn_index + 1)
        .into_iter()
        .filter(|m| m.key.fqdn == fixtures::fqdn(fqdn_index))
        .collect();
    let key = amko::vocab::GsKey::clone(&members[0].key);
    let policy = fixtures::policy(clusters);
    let settings = fixtures::settings();
    let inputs = GsInputs {
        domain_names: vec![key.fqdn.clone()],
        key,
        members,
        policy: std::sync::Arc::new(policy),
        overrides: None,
    };
    build_gslb_service(&inputs, &settings, None).expect("members present")
}

async fn converge(
    client: &AviClient,
    state: &mut ControllerState,
    key: &GsKey,
    desired: Option<&amko::model::DesiredGs>,
) -> usize {
    let created_by = fixtures::settings().created_by;
    let plan = plan_gslb_service(key, desired, state, &created_by, &|_, _| false);
    assert!(plan.conflicts.is_empty(), "{:?}", plan.conflicts);
    for write in &plan.writes {
        execute(client, write, &created_by)
            .await
            .unwrap_or_else(|e| panic!("{} failed: {e}", write.describe()))
            .apply(state);
    }
    plan.writes.len()
}

#[tokio::test]
async fn tls_is_verified_against_the_given_ca() {
    let sim = sim_without_rate_limit().await;
    let verified = AviClient::new(connection(&sim, true)).expect("client");
    verified
        .login()
        .await
        .expect("login with the simulator's CA");
    let unverified = AviClient::new(connection(&sim, false)).expect("client");
    let err = unverified
        .login()
        .await
        .expect_err("system roots do not trust the simulator");
    assert_eq!(err.kind, AviErrorKind::Transport, "{err}");
    let mut bad = connection(&sim, true);
    bad.password = "wrong".into();
    let err = AviClient::new(bad)
        .expect("client")
        .login()
        .await
        .expect_err("bad password");
    assert_eq!(err.kind, AviErrorKind::InvalidCredentials, "{err}");
    sim.shutdown().await;
}

#[tokio::test]
async fn planned_writes_converge_and_a_second_pass_writes_nothing() {
    let sim = sim_without_rate_limit().await;
    let client = AviClient::new(connection(&sim, true)).expect("client");
    let mut state = ControllerState::default();
    let desired = desired_for(0, 4);
    let key = desired.key.clone();
    let writes = converge(&client, &mut state, &key, Some(&desired)).await;
    assert_eq!(
        writes,
        1 + desired.health_monitors.len(),
        "monitors then the GslbService"
    );

    // What the controller now holds, read back the way the operator reads it, is in sync.
    let created_by = fixtures::settings().created_by;
    let mut fresh = load_state(&client, &created_by, "admin")
        .await
        .expect("load");
    assert_eq!(fresh.gslb_services().len(), 1);
    assert_eq!(
        converge(&client, &mut fresh, &key, Some(&desired)).await,
        0,
        "in sync: no write"
    );

    // Members change: exactly one update.
    let changed = desired_for(0, 6);
    assert_eq!(converge(&client, &mut fresh, &key, Some(&changed)).await, 1);

    // Gone: the GslbService, then its managed monitors.
    let deletes = converge(&client, &mut fresh, &key, None).await;
    assert_eq!(deletes, 1 + changed.health_monitors.len());
    let audit = sim.control().audit_log();
    assert!(audit.iter().all(|e| e.status < 300), "{audit:?}");
    assert_eq!(
        sim.control().dump()["gslbservice"]
            .as_array()
            .map_or(0, Vec::len),
        0
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn lost_create_is_adopted_and_vanished_object_is_recreated() {
    let sim = sim_without_rate_limit().await;
    let client = AviClient::new(connection(&sim, true)).expect("client");
    let desired = desired_for(1, 3);
    let key = desired.key.clone();
    let mut state = ControllerState::default();
    converge(&client, &mut state, &key, Some(&desired)).await;
    // Forget the cache, as after a restart that lost the create's answer: the create gets a 409
    // and is turned into an update of our own object.
    let mut empty = ControllerState::default();
    let writes = converge(&client, &mut empty, &key, Some(&desired)).await;
    assert!(writes > 0);
    assert_eq!(empty.gslb_services().len(), 1, "adopted");

    // Someone deletes it behind our back: the update meets a 404 and re-creates it.
    let uuid = empty
        .gslb_services()
        .values()
        .next()
        .expect("gs")
        .uuid
        .clone();
    client
        .delete("gslbservice", &uuid, Some("admin"))
        .await
        .expect("out-of-band delete");
    let changed = desired_for(1, 5);
    assert_eq!(converge(&client, &mut empty, &key, Some(&changed)).await, 1);
    let dump = sim.control().dump();
    assert_eq!(dump["gslbservice"].as_array().map_or(0, Vec::len), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn sessions_expired_by_the_controller_are_renewed() {
    let sim = sim_without_rate_limit().await;
    let client = AviClient::new(connection(&sim, true)).expect("client");
    assert!(client.is_gslb_leader().await.expect("leader check"));
    assert!(sim.control().expire_sessions() >= 1);
    assert!(
        client
            .is_gslb_leader()
            .await
            .expect("re-login is transparent")
    );
    sim.control().set_follower(true).expect("follower mode");
    assert!(!client.is_gslb_leader().await.expect("leader check"));
    let body = json!({"name": "x.example.com", "groups": []});
    let err = client
        .create("gslbservice", &body, Some("admin"))
        .await
        .expect_err("follower refuses writes");
    assert_eq!(err.kind, AviErrorKind::NotLeader, "{err}");
    sim.shutdown().await;
}

#[tokio::test]
async fn the_budget_keeps_a_burst_under_the_controller_limit() {
    let limit = RateLimitConfig {
        rate_per_sec: 20.0,
        burst: 5,
        delay: false,
        ..RateLimitConfig::default()
    };
    let sim = AviSim::start(AviSimConfig {
        rate_limit: Some(limit),
        ..AviSimConfig::default()
    })
    .await
    .expect("simulator starts");
    // Without a budget, 30 quick reads overrun the controller.
    let eager = AviClient::new(connection(&sim, true)).expect("client");
    let mut limited = 0;
    for _ in 0..30 {
        if let Err(e) = eager.list("tenant", &[], Some("admin")).await
            && matches!(e.kind, AviErrorKind::RateLimited { .. })
        {
            limited += 1;
        }
    }
    assert!(limited > 0, "the simulator enforces its limit");
    tokio::time::sleep(Duration::from_millis(600)).await;
    // With a budget under the limit, the same burst draws no 429.
    let polite = AviClient::new(connection(&sim, true))
        .expect("client")
        .with_budget(RateBudget {
            per_second: 15.0,
            burst: 3,
        });
    for _ in 0..30 {
        polite
            .list("tenant", &[], Some("admin"))
            .await
            .expect("no 429 under budget");
    }
    sim.shutdown().await;
}

/// A controller address that redirects must not carry the credentials elsewhere: the login POST
/// (username and password in its body) answered with 307 would be re-sent to the new location.
#[tokio::test]
async fn credentials_do_not_follow_a_redirect() {
    use axum::Router;
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    use std::sync::{Arc, Mutex};

    let seen: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let elsewhere = {
        let seen = seen.clone();
        Router::new().fallback(move |body: String| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap_or_else(|p| p.into_inner()).push(body);
                StatusCode::OK
            }
        })
    };
    let elsewhere_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let target = format!(
        "http://{}/login",
        elsewhere_listener.local_addr().expect("address")
    );
    tokio::spawn(async move { axum::serve(elsewhere_listener, elsewhere).await });
    let redirecting = Router::new().fallback(move || {
        let target = target.clone();
        async move { (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, target)]).into_response() }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base_url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, redirecting).await });

    let client = AviClient::new(AviConnection {
        base_url,
        username: "admin".into(),
        password: "pl4nted-passw0rd".into(),
        version: "31.2.1".into(),
        tenant: "admin".into(),
        ca_pem: None,
        insecure_skip_verify: false,
        timeout: Duration::from_secs(5),
    })
    .expect("client");
    let err = client.login().await.expect_err("a redirect is no login");
    assert!(err.to_string().contains("307"), "{err}");
    let seen = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert!(seen.is_empty(), "the redirect target received: {seen:?}");
}

/// A client of a hand-written controller at `app` (whose `/login` answers with a session), for
/// answers the simulator never gives.
async fn client_of_hostile_controller(app: axum::Router) -> AviClient {
    use axum::http::header;
    use axum::response::{AppendHeaders, IntoResponse};
    use axum::routing::post;

    let app = app.route(
        "/login",
        post(|| async {
            (
                AppendHeaders([
                    (header::SET_COOKIE, "csrftoken=t; Path=/"),
                    (header::SET_COOKIE, "sessionid=s; Path=/"),
                ]),
                "{}",
            )
                .into_response()
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base_url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    AviClient::new(AviConnection {
        base_url,
        username: "admin".into(),
        password: "admin".into(),
        version: "31.2.1".into(),
        tenant: "admin".into(),
        ca_pem: None,
        insecure_skip_verify: false,
        timeout: Duration::from_secs(5),
    })
    .expect("client")
}

/// A controller whose collection never ends (a `next` on every page, a count that cannot be
/// right) must not keep the client reading forever: paging stops with a classified error.
#[tokio::test]
async fn paging_stops_on_an_endless_or_inconsistent_collection() {
    use axum::routing::get;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    // (count, objects per page): short pages that claim a next one and a count no page reaches,
    // and full pages of a collection claiming more objects than any controller holds.
    for (count, per_page) in [(1_000_000_000_000u64, 1usize), (1_000_000_000, 200)] {
        let pages = Arc::new(AtomicUsize::new(0));
        let served = pages.clone();
        let app = axum::Router::new().route(
            "/api/gslbservice",
            get(move || {
                let served = served.clone();
                async move {
                    served.fetch_add(1, Ordering::SeqCst);
                    let results: Vec<serde_json::Value> = (0..per_page)
                        .map(|i| json!({"name": format!("gs-{i}")}))
                        .collect();
                    axum::Json(json!({
                        "count": count,
                        "next": "/api/gslbservice?page=2",
                        "results": results,
                    }))
                }
            }),
        );
        let client = client_of_hostile_controller(app).await;
        let listed = tokio::time::timeout(
            Duration::from_secs(30),
            client.list("gslbservice", &[], None),
        )
        .await
        .unwrap_or_else(|_| {
            panic!(
                "count {count}, {per_page} per page: still paging after 30 s ({} pages)",
                pages.load(Ordering::SeqCst)
            )
        });
        let err = listed.expect_err("an endless collection is an error");
        let read = pages.load(Ordering::SeqCst);
        assert_eq!(err.kind, AviErrorKind::BadResponse, "{err}");
        assert!(err.path.starts_with("/api/gslbservice"), "{err}");
        assert!((1..=5).contains(&read), "{read} pages read: {err}");
    }
}

/// A lookup by name takes only an object of that name and tenant, whatever else a controller that
/// ignores the filter sends back (the writer adopts what a lookup finds after a 409).
#[tokio::test]
async fn a_lookup_by_name_checks_the_name_and_tenant_it_gets() {
    use axum::routing::get;

    let tenant_ref = |t: &str| format!("https://ctrl/api/tenant/tenant-{t}#{t}");
    let results = json!([
        {"name": "other.example.com", "tenant_ref": tenant_ref("admin")},
        {"name": "wanted.example.com", "tenant_ref": tenant_ref("team-b")},
        {"name": "wanted.example.com", "tenant_ref": tenant_ref("admin"), "uuid": "gs-right"},
    ]);
    let app = axum::Router::new().route(
        "/api/gslbservice",
        get(move || {
            let results = results.clone();
            async move { axum::Json(json!({"count": 3, "results": results})) }
        }),
    );
    let client = client_of_hostile_controller(app).await;
    let found = client
        .get_by_name("gslbservice", "wanted.example.com", Some("admin"))
        .await
        .expect("lookup");
    assert_eq!(
        found.as_ref().and_then(|o| o["uuid"].as_str()),
        Some("gs-right"),
        "{found:?}"
    );
    let none = client
        .get_by_name("gslbservice", "missing.example.com", Some("admin"))
        .await
        .expect("lookup");
    assert_eq!(none, None);
}

/// An answer larger than any the controller sends is refused as a classified error once the cap
/// is passed, not read into memory whole; one that is not JSON is classified too.
#[tokio::test]
async fn oversized_and_non_json_answers_are_classified_errors() {
    use axum::body::Body;
    use axum::routing::get;

    let chunk = vec![b' '; 1 << 20];
    let app = axum::Router::new()
        .route(
            "/api/gslbservice",
            get(move || {
                let chunk = chunk.clone();
                async move {
                    // 256 MiB of blanks, streamed.
                    let stream = futures::stream::iter(
                        (0..256).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
                    );
                    Body::from_stream(stream)
                }
            }),
        )
        .route("/api/pool", get(|| async { "<html>not an API</html>" }));
    let client = client_of_hostile_controller(app).await;
    let err = client
        .call(reqwest::Method::GET, "/api/gslbservice", None, None)
        .await
        .expect_err("too large");
    assert_eq!(err.kind, AviErrorKind::BadResponse, "{err}");
    assert!(err.message.contains("larger than"), "{err}");
    let err = client
        .call(reqwest::Method::GET, "/api/pool", None, None)
        .await
        .expect_err("not JSON");
    assert_eq!(err.kind, AviErrorKind::BadResponse, "{err}");
}
