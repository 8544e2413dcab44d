//! The Avi simulator's REST API driven with reqwest (cookie jar, verified TLS): sessions and
//! CSRF/Referer enforcement, 404/409/412/429 paths, validation, filters, paging, leader and
//! maintenance modes, faults, and the counters and write audit.

use std::time::Duration;

use amko_sim::avi::{
    AviSim, AviSimConfig, AviSimHandle, FaultUpdate, RateLimitConfig, RateLimitScope,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

/// A logged-in client that sends what the SDKs send.
struct Avi {
    http: reqwest::Client,
    base: String,
    version: String,
    csrf: String,
    tenant: Option<String>,
}

struct Answer {
    status: StatusCode,
    text: String,
    headers: reqwest::header::HeaderMap,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The answer has `status` and its error names `needle`.
    fn assert_refused(&self, status: StatusCode, needle: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        assert!(self.error().contains(needle), "{}", self.text);
    }
}

/// The JSON body of the answer to `request`, which must arrive.
async fn json_of(request: reqwest::RequestBuilder) -> Value {
    request
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("a JSON body")
}

fn client_for(sim: &AviSimHandle) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(30));
    if let Some(pem) = sim.ca_pem() {
        let ca = reqwest::Certificate::from_pem(pem.as_bytes()).expect("CA PEM parses");
        builder = builder.tls_certs_only([ca]);
    }
    builder.build().expect("client builds")
}

impl Avi {
    async fn login(sim: &AviSimHandle) -> Avi {
        let http = client_for(sim);
        let rsp = http
            .post(format!("{}/login", sim.base_url()))
            .json(&json!({"username": sim.username(), "password": sim.password()}))
            .send()
            .await
            .expect("login request");
        assert_eq!(rsp.status(), StatusCode::OK);
        let csrf = rsp
            .cookies()
            .find(|c| c.name() == "csrftoken")
            .map(|c| c.value().to_string())
            .expect("csrftoken cookie");
        let body: Value = rsp.json().await.expect("login JSON");
        assert_eq!(body["session_cookie_name"], "avi-sessionid");
        Avi {
            http,
            base: sim.base_url().to_string(),
            version: sim.version().to_string(),
            csrf,
            tenant: None,
        }
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut builder = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("X-Avi-Version", &self.version)
            .header("X-CSRFToken", &self.csrf)
            .header("Referer", &self.base);
        if let Some(tenant) = &self.tenant {
            builder = builder.header("X-Avi-Tenant", tenant);
        }
        builder
    }

    /// A request with explicit CSRF token, Referer and version (reqwest appends, never replaces,
    /// headers, so tests that need odd values build the request here).
    fn custom(
        &self,
        method: Method,
        path: &str,
        csrf: &str,
        referer: &str,
        version: &str,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("X-Avi-Version", version)
            .header("X-CSRFToken", csrf)
            .header("Referer", referer)
    }

    async fn send(&self, builder: reqwest::RequestBuilder) -> Answer {
        let rsp = builder.send().await.expect("request sent");
        let status = rsp.status();
        let headers = rsp.headers().clone();
        let text = rsp.text().await.expect("body read");
        Answer {
            status,
            text,
            headers,
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(self.request(Method::GET, path)).await
    }

    async fn post(&self, path: &str, body: &Value) -> Answer {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    async fn put(&self, path: &str, body: &Value) -> Answer {
        self.send(self.request(Method::PUT, path).json(body)).await
    }

    async fn delete(&self, path: &str) -> Answer {
        self.send(self.request(Method::DELETE, path)).await
    }
}

async fn start(config: AviSimConfig) -> AviSimHandle {
    AviSim::start(AviSimConfig {
        rate_limit: None,
        ..config
    })
    .await
    .expect("simulator starts")
}

fn gs(name: &str, fqdn: &str) -> Value {
    json!({
        "name": name,
        "domain_names": [fqdn],
        "created_by": "api-test",
        "groups": [{"name": "p10", "priority": 10,
                    "members": [{"ip": {"addr": "10.0.0.1", "type": "V4"}, "ratio": 1}]}],
    })
}

#[tokio::test]
async fn tls_is_verified_against_the_written_ca() {
    let sim = start(AviSimConfig::default()).await;
    let ca_file = sim.ca_file().expect("CA file").to_path_buf();
    let pem = std::fs::read(&ca_file).expect("CA file readable");
    let trusting = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).expect("PEM")])
        .build()
        .expect("client");
    let ok = trusting
        .get(format!("{}/api/cluster/status", sim.base_url()))
        .send()
        .await
        .expect("verified TLS works");
    assert_eq!(ok.status(), StatusCode::OK);
    // localhost is in the certificate as well.
    let by_name = trusting
        .get(format!(
            "https://localhost:{}/api/cluster/status",
            sim.local_addr().port()
        ))
        .send()
        .await
        .expect("localhost matches the certificate");
    assert_eq!(by_name.status(), StatusCode::OK);

    let default_roots = reqwest::Client::builder().build().expect("client");
    let refused = default_roots
        .get(format!("{}/api/cluster/status", sim.base_url()))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a client without the simulator's CA must not connect"
    );
    sim.shutdown().await;
    assert!(
        !ca_file.exists(),
        "shutdown removes the generated CA directory"
    );
}

#[tokio::test]
async fn sessions_csrf_referer_and_basic_auth() {
    let sim = start(AviSimConfig::default()).await;
    let http = client_for(&sim);
    let base = sim.base_url().to_string();

    let bad = http
        .post(format!("{base}/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("username={}&password=wrong", sim.username()))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    assert!(bad.text().await.unwrap().contains("Invalid credentials"));

    let anonymous = http
        .get(format!("{base}/api/gslbservice"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let avi = Avi::login(&sim).await;
    let listed = avi.get("/api/healthmonitor?page_size=1").await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.headers["avi_api_version"], sim.version());
    let renewed: Vec<_> = listed.headers.get_all("set-cookie").iter().collect();
    assert!(
        renewed
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("avi-sessionid=")),
        "authenticated responses renew the session cookie"
    );

    // Writes without the CSRF header, with a wrong one, or without Referer are refused with the
    // recorded plain-text body.
    let body = json!({"name": "t1"});
    let no_csrf = avi
        .http
        .post(format!("{base}/api/tenant"))
        .header("Referer", &base)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        no_csrf.text().await.unwrap(),
        "CSRF token missing or incorrect."
    );
    let wrong = avi
        .send(
            avi.custom(Method::POST, "/api/tenant", "nope", &base, sim.version())
                .json(&body),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.text, "CSRF token missing or incorrect.");
    let no_referer = avi
        .http
        .post(format!("{base}/api/tenant"))
        .header("X-CSRFToken", &avi.csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(no_referer.status(), StatusCode::UNAUTHORIZED);
    assert!(no_referer.text().await.unwrap().contains("Referer"));
    let foreign_referer = avi
        .send(
            avi.custom(
                Method::POST,
                "/api/tenant",
                &avi.csrf,
                "https://evil.example.com/",
                sim.version(),
            )
            .json(&body),
        )
        .await;
    assert_eq!(foreign_referer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        avi.post("/api/tenant", &body).await.status,
        StatusCode::CREATED
    );

    // A newer API version than the controller's is refused.
    let newer = avi
        .send(avi.custom(Method::GET, "/api/tenant", &avi.csrf, &base, "99.1.1"))
        .await;
    newer.assert_refused(StatusCode::BAD_REQUEST, "Invalid version");

    // Idle timeout: a session unused for longer than the timeout answers 401; login again works.
    sim.control().set_idle_timeout(Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(
        avi.get("/api/tenant").await.status,
        StatusCode::UNAUTHORIZED
    );
    sim.control().set_idle_timeout(Duration::from_secs(900));
    let again = Avi::login(&sim).await;
    assert_eq!(again.get("/api/tenant").await.status, StatusCode::OK);

    // Logout ends the session.
    assert_eq!(
        again.post("/logout", &json!({})).await.status,
        StatusCode::OK
    );
    assert_eq!(
        again.get("/api/tenant").await.status,
        StatusCode::UNAUTHORIZED
    );

    // Basic auth only when enabled; no CSRF needed then.
    let basic = || {
        reqwest::Client::builder()
            .tls_certs_only([
                reqwest::Certificate::from_pem(sim.ca_pem().unwrap().as_bytes()).unwrap(),
            ])
            .build()
            .unwrap()
            .post(format!("{base}/api/tenant"))
            .basic_auth(sim.username(), Some(sim.password()))
            .json(&json!({"name": "basic-tenant"}))
    };
    assert_eq!(
        basic().send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    sim.control().set_basic_auth(true);
    assert_eq!(basic().send().await.unwrap().status(), StatusCode::CREATED);
    sim.shutdown().await;
}

#[tokio::test]
async fn writes_conflicts_preconditions_and_deletes() {
    let sim = start(AviSimConfig::default()).await;
    let avi = Avi::login(&sim).await;

    let hm = avi
        .post(
            "/api/healthmonitor",
            &json!({"name": "hm-a", "type": "HEALTH_MONITOR_TCP", "is_federated": true, "monitor_port": 8080}),
        )
        .await;
    assert_eq!(hm.status, StatusCode::CREATED, "{}", hm.text);
    let hm = hm.json();
    let hm_uuid = hm["uuid"].as_str().unwrap().to_string();

    let mut body = gs("gs-a", "a.example.com");
    body["health_monitor_refs"] = json!(["/api/healthmonitor?name=hm-a"]);
    let created = avi.post("/api/gslbservice/", &body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let location = created.headers["location"].to_str().unwrap().to_string();
    let created = created.json();
    assert_eq!(location, created["url"].as_str().unwrap());
    assert!(location.ends_with("#gs-a"));
    assert_eq!(
        created["tenant_ref"],
        format!("{}/api/tenant/admin#admin", sim.base_url())
    );
    assert_eq!(created["configpb_attributes"]["version"], 1);
    let uuid = created["uuid"].as_str().unwrap().to_string();

    // 409: same name in the same tenant.
    let dup = avi
        .post("/api/gslbservice", &gs("gs-a", "other.example.com"))
        .await;
    dup.assert_refused(StatusCode::CONFLICT, "already exists");
    let dup_hm = avi
        .post(
            "/api/healthmonitor",
            &json!({"name": "hm-a", "type": "HEALTH_MONITOR_TCP"}),
        )
        .await;
    dup_hm.assert_refused(
        StatusCode::CONFLICT,
        "Health monitor with this Name and Tenant ref already exists",
    );

    // 412: PUT with a stale _last_modified; accepted without one.
    let current = avi.get(&format!("/api/gslbservice/{uuid}")).await.json();
    let mut edit = current.clone();
    edit["ttl"] = json!(10);
    let first = avi.put(&format!("/api/gslbservice/{uuid}"), &edit).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.json()["configpb_attributes"]["version"], 2);
    edit["ttl"] = json!(20);
    let stale = avi.put(&format!("/api/gslbservice/{uuid}"), &edit).await;
    stale.assert_refused(
        StatusCode::PRECONDITION_FAILED,
        "Need to reload object data GslbService",
    );
    edit.as_object_mut().unwrap().remove("_last_modified");
    let blind = avi.put(&format!("/api/gslbservice/{uuid}"), &edit).await;
    assert_eq!(blind.status, StatusCode::OK);
    assert_eq!(blind.json()["ttl"], 20);

    // PUT is a full replacement: leaving a field out brings its default back.
    let mut shrunk = blind.json();
    shrunk.as_object_mut().unwrap().remove("ttl");
    shrunk.as_object_mut().unwrap().remove("wildcard_match");
    let replaced = avi
        .put(&format!("/api/gslbservice/{uuid}"), &shrunk)
        .await
        .json();
    assert!(replaced.get("ttl").is_none());
    assert_eq!(replaced["wildcard_match"], false);

    // PATCH with a stale stamp inside the op, then a good one.
    let patch_stale = avi
        .send(
            avi.request(Method::PATCH, &format!("/api/gslbservice/{uuid}"))
                .json(&json!({"replace": {"description": "x", "_last_modified": "1"}})),
        )
        .await;
    assert_eq!(patch_stale.status, StatusCode::PRECONDITION_FAILED);
    let patched = avi
        .send(
            avi.request(Method::PATCH, &format!("/api/gslbservice/{uuid}"))
                .json(&json!({"add": {"groups": [{"name": "p20", "priority": 20,
                    "members": [{"ip": {"addr": "10.0.0.2", "type": "V4"}}]}]}})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(patched.json()["groups"].as_array().unwrap().len(), 2);

    // 404s.
    let missing = avi.get("/api/gslbservice/gslbservice-nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error(), "GslbService object not found!");
    assert_eq!(
        avi.delete("/api/gslbservice/gslbservice-nope").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(avi.get("/api/pool").await.status, StatusCode::NOT_FOUND);

    // Deleting a monitor still referenced fails; a system monitor can never be deleted.
    let in_use = avi.delete(&format!("/api/healthmonitor/{hm_uuid}")).await;
    assert_eq!(in_use.status, StatusCode::BAD_REQUEST);
    assert!(in_use.error().contains("referred by"), "{}", in_use.text);
    assert!(in_use.error().contains("gs-a"));
    let system = avi
        .get("/api/healthmonitor?name=System-GSLB-TCP")
        .await
        .json();
    let system_uuid = system["results"][0]["uuid"].as_str().unwrap().to_string();
    let protected = avi
        .delete(&format!("/api/healthmonitor/{system_uuid}"))
        .await;
    protected.assert_refused(StatusCode::BAD_REQUEST, "system default object");

    // Delete in order: 204 with an empty body.
    let gone = avi.delete(&format!("/api/gslbservice/{uuid}")).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    assert!(gone.text.is_empty());
    assert_eq!(
        avi.delete(&format!("/api/healthmonitor/{hm_uuid}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );

    // The Slug header forces the uuid of a new object.
    let forced = avi
        .send(
            avi.request(Method::POST, "/api/healthmonitor")
                .header("Slug", "healthmonitor-forced-42")
                .json(&json!({"name": "forced", "type": "HEALTH_MONITOR_PING"})),
        )
        .await;
    assert_eq!(forced.status, StatusCode::CREATED, "{}", forced.text);
    assert_eq!(forced.json()["uuid"], "healthmonitor-forced-42");
    assert_eq!(
        avi.get("/api/healthmonitor/healthmonitor-forced-42")
            .await
            .json()["name"],
        "forced"
    );

    // AMKO's double-slash URLs work.
    assert_eq!(avi.get("//api/gslbservice").await.status, StatusCode::OK);
    sim.shutdown().await;
}

#[tokio::test]
async fn validation_follows_the_controller_rules() {
    let sim = start(AviSimConfig::default()).await;
    let avi = Avi::login(&sim).await;
    let plain_hm = avi
        .post(
            "/api/healthmonitor",
            &json!({"name": "plain", "type": "HEALTH_MONITOR_PING"}),
        )
        .await;
    assert_eq!(plain_hm.status, StatusCode::CREATED);
    assert_eq!(plain_hm.json()["is_federated"], false);

    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"groups": [{"name": "p", "members": [{"ip": {"addr": "10.0.0.1", "type": "V4"}, "ratio": 21}]}]}),
            "ratio",
        ),
        (json!({"ttl": 86_401}), "ttl"),
        (
            json!({"groups": [{"name": "p", "priority": 101, "members": [{"ip": {"addr": "10.0.0.1", "type": "V4"}}]}]}),
            "priority",
        ),
        (
            json!({"health_monitor_refs": vec!["/api/healthmonitor?name=System-GSLB-TCP"; 7]}),
            "at most 6",
        ),
        (
            json!({"health_monitor_refs": ["/api/healthmonitor?name=plain"]}),
            "not federated",
        ),
        (
            json!({"health_monitor_refs": ["/api/healthmonitor?name=ghost"]}),
            "ghost",
        ),
        (json!({"domain_names": []}), "domain_names"),
        (
            json!({"pool_algorithm": "GSLB_SERVICE_ALGORITHM_FASTEST"}),
            "pool_algorithm",
        ),
        (
            json!({"site_persistence_enabled": true}),
            "application_persistence_profile_ref",
        ),
        (
            json!({"application_persistence_profile_ref": "/api/applicationpersistenceprofile?name=System-Persistence-Client-IP"}),
            "not federated",
        ),
    ];
    for (i, (overrides, needle)) in cases.into_iter().enumerate() {
        let mut body = gs(&format!("bad-{i}"), &format!("bad{i}.example.com"));
        for (k, v) in overrides.as_object().unwrap() {
            body[k] = v.clone();
        }
        let answer = avi.post("/api/gslbservice", &body).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "case {i}: {}",
            answer.text
        );
        assert!(
            answer.error().contains(needle),
            "case {i}: '{}' lacks '{needle}'",
            answer.error()
        );
    }

    // Six federated monitors are fine; an FQDN can belong to one service only.
    let mut six = gs("six", "six.example.com");
    six["health_monitor_refs"] = json!([
        "/api/healthmonitor?name=System-GSLB-TCP",
        "/api/healthmonitor?name=System-GSLB-HTTP",
        "/api/healthmonitor?name=System-GSLB-HTTPS",
        "/api/healthmonitor?name=System-GSLB-UDP",
        "/api/healthmonitor?name=System-GSLB-Ping",
        format!("{}/api/healthmonitor?name=System-GSLB-TCP", sim.base_url()),
    ]);
    let ok = avi.post("/api/gslbservice", &six).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text);
    let clash = avi
        .post("/api/gslbservice", &gs("clash", "SIX.example.com"))
        .await;
    clash.assert_refused(
        StatusCode::BAD_REQUEST,
        "domain name conflicting with existing domain name",
    );

    // A federated GSLB-site persistence profile is accepted for site persistence.
    let profile = avi
        .post(
            "/api/applicationpersistenceprofile",
            &json!({"name": "gslb-site", "persistence_type": "PERSISTENCE_TYPE_GSLB_SITE", "is_federated": true,
                    "http_cookie_persistence_profile": {"cookie_name": "site"}}),
        )
        .await;
    assert_eq!(profile.status, StatusCode::CREATED, "{}", profile.text);
    let mut sticky = gs("sticky", "sticky.example.com");
    sticky["site_persistence_enabled"] = json!(true);
    sticky["application_persistence_profile_ref"] =
        json!("/api/applicationpersistenceprofile?name=gslb-site");
    assert_eq!(
        avi.post("/api/gslbservice", &sticky).await.status,
        StatusCode::CREATED
    );

    // Health monitor rules.
    let hm_bad = avi
        .post(
            "/api/healthmonitor",
            &json!({"name": "slow", "type": "HEALTH_MONITOR_HTTP", "send_interval": 5, "receive_timeout": 6}),
        )
        .await;
    hm_bad.assert_refused(StatusCode::BAD_REQUEST, "receive_timeout");
    let no_type = avi
        .post("/api/healthmonitor", &json!({"name": "typeless"}))
        .await;
    no_type.assert_refused(StatusCode::BAD_REQUEST, "type");
    let not_json = avi
        .send(
            avi.request(Method::POST, "/api/healthmonitor")
                .body("{nope"),
        )
        .await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    sim.shutdown().await;
}

#[tokio::test]
async fn collections_filter_and_page() {
    let sim = start(AviSimConfig::default()).await;
    let avi = Avi::login(&sim).await;
    let mut uuids = Vec::new();
    for i in 0..5 {
        let mut body = gs(&format!("shop-{i}"), &format!("shop{i}.example.com"));
        if i % 2 == 0 {
            body["health_monitor_refs"] = json!(["/api/healthmonitor?name=System-GSLB-HTTP"]);
            body["created_by"] = json!("amko-even");
        }
        let created = avi.post("/api/gslbservice", &body).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        uuids.push(created.json()["uuid"].as_str().unwrap().to_string());
    }
    let count = |v: &Value| v["count"].as_u64().unwrap();

    let page1 = avi
        .get("/api/gslbservice?page_size=2&include_name&fields=name,domain_names")
        .await
        .json();
    assert_eq!(count(&page1), 5);
    assert_eq!(page1["results"].as_array().unwrap().len(), 2);
    let first = &page1["results"][0];
    assert_eq!(first["name"], "shop-0");
    assert!(first.get("groups").is_none(), "fields= projects");
    assert!(first["url"].as_str().unwrap().ends_with("#shop-0"));
    let next = page1["next"].as_str().unwrap();
    assert!(
        next.contains("page=2") && next.contains("page_size=2"),
        "{next}"
    );
    let page2 = avi.get(next.strip_prefix(&avi.base).unwrap()).await.json();
    assert_eq!(page2["results"][0]["name"], "shop-2");
    let page3 = avi.get("/api/gslbservice?page_size=2&page=3").await.json();
    assert_eq!(page3["results"].as_array().unwrap().len(), 1);
    assert!(page3.get("next").is_none());
    // A write between pages shows up on the next page (no stale cached selection).
    let extra = avi
        .post("/api/gslbservice", &gs("shop-9", "shop9.example.com"))
        .await
        .json();
    let page3 = avi.get("/api/gslbservice?page_size=2&page=3").await.json();
    assert_eq!(count(&page3), 6);
    assert_eq!(page3["results"].as_array().unwrap().len(), 2);
    let extra_uuid = extra["uuid"].as_str().unwrap();
    assert_eq!(
        avi.delete(&format!("/api/gslbservice/{extra_uuid}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        count(&avi.get("/api/gslbservice?page_size=2&page=3").await.json()),
        5
    );
    assert_eq!(
        avi.get("/api/gslbservice?page_size=201").await.status,
        StatusCode::BAD_REQUEST
    );

    let names = |v: &Value| -> Vec<String> {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(&avi.get("/api/gslbservice?name=shop-3").await.json()),
        ["shop-3"]
    );
    assert_eq!(
        count(&avi.get("/api/gslbservice?name=nothing").await.json()),
        0
    );
    assert_eq!(
        count(
            &avi.get("/api/gslbservice?created_by=amko-even")
                .await
                .json()
        ),
        3
    );
    assert_eq!(
        names(
            &avi.get("/api/gslbservice?name.in=shop-1,shop-4")
                .await
                .json()
        ),
        ["shop-1", "shop-4"]
    );
    assert_eq!(
        count(&avi.get("/api/gslbservice?name.contains=shop").await.json()),
        5
    );
    assert_eq!(
        names(
            &avi.get(&format!(
                "/api/gslbservice?uuid.in={},{}",
                uuids[0], uuids[1]
            ))
            .await
            .json()
        ),
        ["shop-0", "shop-1"]
    );
    assert_eq!(
        names(
            &avi.get("/api/gslbservice?domain_names=shop2.example.com")
                .await
                .json()
        ),
        ["shop-2"]
    );
    assert_eq!(
        count(&avi.get("/api/gslbservice?groups.priority=10").await.json()),
        5
    );
    let desc = avi
        .get("/api/gslbservice?sort=-name&page_size=1")
        .await
        .json();
    assert_eq!(desc["results"][0]["name"], "shop-4");

    let hm = avi
        .get("/api/healthmonitor?name=System-GSLB-HTTP")
        .await
        .json();
    let hm_uuid = hm["results"][0]["uuid"].as_str().unwrap();
    assert_eq!(
        count(
            &avi.get(&format!(
                "/api/gslbservice?refers_to=healthmonitor:{hm_uuid}"
            ))
            .await
            .json()
        ),
        3
    );
    let referred = avi
        .get(&format!(
            "/api/healthmonitor?referred_by=gslbservice:{}",
            uuids[0]
        ))
        .await
        .json();
    assert_eq!(names(&referred), ["System-GSLB-HTTP"]);
    let federated = avi
        .get("/api/healthmonitor?is_federated=true&page_size=100")
        .await
        .json();
    assert_eq!(count(&federated), 5, "the System-GSLB-* monitors");
    let all_hm = avi.get("/api/healthmonitor?page_size=100").await.json();
    assert_eq!(count(&all_hm), 15);
    assert_eq!(
        avi.get("/api/gslbservice?search=shop").await.status,
        StatusCode::BAD_REQUEST
    );

    // The cluster is a bare object; the GSLB configuration a one-item collection.
    let cluster = avi.get("/api/cluster").await.json();
    assert!(cluster.get("count").is_none());
    let gslb = avi.get("/api/gslb").await.json();
    assert_eq!(count(&gslb), 1);
    assert_eq!(gslb["results"][0]["leader_cluster_uuid"], cluster["uuid"]);
    assert_eq!(gslb["results"][0]["sites"][0]["password"], "<sensitive>");
    sim.shutdown().await;
}

#[tokio::test]
async fn tenants_scope_reads_and_writes() {
    let seed = serde_json::from_value(json!({
        "tenants": ["team-a"],
        "objects": [{"type": "healthmonitor", "tenant": "team-a",
                     "body": {"name": "team-hm", "type": "HEALTH_MONITOR_TCP", "is_federated": true}}]
    }))
    .unwrap();
    let sim = start(AviSimConfig {
        seed: Some(seed),
        ..AviSimConfig::default()
    })
    .await;
    let mut avi = Avi::login(&sim).await;
    assert_eq!(
        avi.get("/api/healthmonitor?name=team-hm").await.json()["count"],
        0
    );
    avi.tenant = Some("team-a".into());
    let seen = avi.get("/api/healthmonitor?name=team-hm").await.json();
    assert_eq!(seen["count"], 1);
    let created = avi
        .post("/api/gslbservice", &{
            let mut body = gs("team-gs", "team.example.com");
            body["health_monitor_refs"] = json!([
                "/api/healthmonitor?name=team-hm",
                "/api/healthmonitor?name=System-GSLB-TCP"
            ]);
            body
        })
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let tenant_ref = created.json()["tenant_ref"].as_str().unwrap().to_string();
    assert!(tenant_ref.ends_with("#team-a"), "{tenant_ref}");
    let tenant_uuid = tenant_ref
        .rsplit('/')
        .next()
        .unwrap()
        .split('#')
        .next()
        .unwrap()
        .to_string();
    assert!(tenant_uuid.starts_with("tenant-"));
    avi.tenant = Some("*".into());
    assert_eq!(
        avi.get("/api/gslbservice?name=team-gs").await.json()["count"],
        1
    );
    avi.tenant = None;
    assert_eq!(
        avi.get("/api/gslbservice?name=team-gs").await.json()["count"],
        0
    );
    let by_uuid = avi
        .send(
            avi.request(Method::GET, "/api/gslbservice?name=team-gs")
                .header("X-Avi-Tenant-UUID", &tenant_uuid),
        )
        .await;
    assert_eq!(by_uuid.json()["count"], 1);
    // The tenant cannot be deleted while it holds objects.
    let busy = avi.delete(&format!("/api/tenant/{tenant_uuid}")).await;
    assert_eq!(busy.status, StatusCode::BAD_REQUEST);
    avi.tenant = Some("ghost".into());
    let ghost = avi.get("/api/gslbservice").await;
    ghost.assert_refused(StatusCode::FORBIDDEN, "Tenant 'ghost' does not exist!");
    sim.shutdown().await;
}

#[tokio::test]
async fn leader_follower_and_maintenance_modes() {
    let sim = start(AviSimConfig::default()).await;
    let avi = Avi::login(&sim).await;
    let cluster_uuid = avi.get("/api/cluster").await.json()["uuid"]
        .as_str()
        .unwrap()
        .to_string();

    sim.control().set_follower(true).unwrap();
    let gslb = avi.get("/api/gslb").await.json();
    assert_ne!(
        gslb["results"][0]["leader_cluster_uuid"],
        cluster_uuid.as_str()
    );
    let refused = avi
        .post("/api/gslbservice", &gs("f1", "f1.example.com"))
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        refused.error(),
        "Config Operations can be done ONLY on leader"
    );
    let federated_hm = avi
        .post(
            "/api/healthmonitor",
            &json!({"name": "fed", "type": "HEALTH_MONITOR_PING", "is_federated": true}),
        )
        .await;
    assert_eq!(federated_hm.status, StatusCode::BAD_REQUEST);
    let local_hm = avi
        .post(
            "/api/healthmonitor",
            &json!({"name": "local", "type": "HEALTH_MONITOR_PING"}),
        )
        .await;
    assert_eq!(
        local_hm.status,
        StatusCode::CREATED,
        "non-federated objects stay writable"
    );

    // The same switch over the HTTP control API.
    let http = client_for(&sim);
    let faults = json_of(
        http.put(format!("{}/sim/faults", sim.base_url()))
            .json(&json!({"follower": false, "maintenance": true})),
    )
    .await;
    assert_eq!(faults["follower"], false);
    assert_eq!(faults["maintenance"], true);
    let blocked = avi
        .post("/api/gslbservice", &gs("m1", "m1.example.com"))
        .await;
    assert_eq!(blocked.status, StatusCode::BAD_REQUEST);
    assert_eq!(blocked.error(), "GSLB system is in maintenance mode.");
    assert_eq!(
        avi.get("/api/gslb").await.json()["results"][0]["maintenance_mode"],
        true
    );

    sim.control().set_maintenance(false).unwrap();
    assert_eq!(
        avi.post("/api/gslbservice", &gs("m1", "m1.example.com"))
            .await
            .status,
        StatusCode::CREATED
    );
    sim.shutdown().await;

    // Starting as a follower.
    let follower = start(AviSimConfig {
        follower: true,
        ..AviSimConfig::default()
    })
    .await;
    assert!(!follower.control().is_leader());
    let avi = Avi::login(&follower).await;
    assert_eq!(
        avi.post("/api/gslbservice", &gs("x", "x.example.com"))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    follower.shutdown().await;
}

#[tokio::test]
async fn rate_limit_and_injected_faults() {
    let sim = start(AviSimConfig::default()).await;
    let avi = Avi::login(&sim).await;

    // One request per ~17 minutes and no burst: the second request in a row is refused.
    sim.control().set_rate_limit(Some(RateLimitConfig {
        rate_per_sec: 0.001,
        burst: 0,
        scope: RateLimitScope::Session,
        delay: false,
    }));
    assert_eq!(avi.get("/api/tenant").await.status, StatusCode::OK);
    let limited = avi.get("/api/tenant").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.error(), "Too Many Requests");
    // Per-session buckets: another session still gets through.
    let other = Avi::login(&sim).await;
    assert_eq!(other.get("/api/tenant").await.status, StatusCode::OK);
    sim.control().set_rate_limit(None);
    assert_eq!(avi.get("/api/tenant").await.status, StatusCode::OK);

    sim.control().set_error_rate(1.0, 502);
    assert_eq!(avi.get("/api/tenant").await.status, StatusCode::BAD_GATEWAY);
    sim.control().set_error_rate(0.0, 500);
    sim.control().set_outage(true);
    assert_eq!(
        avi.get("/api/tenant").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let http = client_for(&sim);
    let login = http
        .post(format!("{}/login", sim.base_url()))
        .json(&json!({"username": sim.username(), "password": sim.password()}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::SERVICE_UNAVAILABLE);
    // The control API is not subject to faults.
    let update: FaultUpdate =
        serde_json::from_value(json!({"outage": false, "latency_ms": 1})).unwrap();
    let doc = sim.control().apply(&update).unwrap();
    assert!(!doc.outage);
    assert_eq!(avi.get("/api/tenant").await.status, StatusCode::OK);

    let counters = sim.control().counters();
    assert_eq!(counters.count(Some("GET"), Some("tenant"), Some(429)), 1);
    assert_eq!(counters.count(Some("GET"), Some("tenant"), Some(502)), 1);
    assert_eq!(counters.count(Some("POST"), Some("login"), Some(503)), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn counters_and_audit_record_writes() {
    let sim = start(AviSimConfig::default()).await;
    let avi = Avi::login(&sim).await;
    sim.control().reset_counters();
    let body = gs("audited", "audited.example.com");
    let created = avi.post("/api/gslbservice", &body).await.json();
    let uuid = created["uuid"].as_str().unwrap();
    let dup = avi.post("/api/gslbservice", &body).await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    avi.get(&format!("/api/gslbservice/{uuid}")).await;
    assert_eq!(
        avi.delete(&format!("/api/gslbservice/{uuid}")).await.status,
        StatusCode::NO_CONTENT
    );

    let counters = sim.control().counters();
    assert_eq!(
        counters.count(Some("POST"), Some("gslbservice"), Some(201)),
        1
    );
    assert_eq!(
        counters.count(Some("POST"), Some("gslbservice"), Some(409)),
        1
    );
    assert_eq!(counters.count(Some("GET"), Some("gslbservice"), None), 1);
    assert_eq!(
        counters.count(Some("DELETE"), Some("gslbservice"), Some(204)),
        1
    );

    let audit = sim.control().audit_log();
    assert_eq!(audit.len(), 3, "{audit:?}");
    let sent = serde_json::to_vec(&body).unwrap();
    let digest: String = Sha1::digest(&sent)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(audit[0].method, "POST");
    assert_eq!(audit[0].object_type, "gslbservice");
    assert_eq!(audit[0].name, "audited");
    assert_eq!(audit[0].tenant, "admin");
    assert_eq!(audit[0].uuid, uuid);
    assert_eq!(audit[0].status, 201);
    assert_eq!(audit[0].payload_sha1, digest);
    assert_eq!(audit[1].status, 409);
    assert_eq!((audit[2].method.as_str(), audit[2].status), ("DELETE", 204));

    // The same over HTTP, plus the dump.
    let http = client_for(&sim);
    let tail = json_of(http.get(format!("{}/sim/audit?since=2", sim.base_url()))).await;
    assert_eq!(tail.as_array().unwrap().len(), 1);
    let dump = json_of(http.get(format!("{}/sim/dump", sim.base_url()))).await;
    assert_eq!(dump["healthmonitor"].as_array().unwrap().len(), 15);
    assert_eq!(dump["gslbservice"].as_array().unwrap().len(), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn plain_http_mode() {
    let sim = start(AviSimConfig {
        tls: false,
        password: Some("secret".into()),
        ..AviSimConfig::default()
    })
    .await;
    assert!(sim.base_url().starts_with("http://"));
    assert!(sim.ca_file().is_none());
    assert_eq!(sim.password(), "secret");
    let info = serde_json::to_value(sim.info()).unwrap();
    assert_eq!(info["url"], sim.base_url());
    assert_eq!(info["ca_file"], Value::Null);
    assert_eq!(
        (info["tenant"].as_str(), info["version"].as_str()),
        (Some("admin"), Some(sim.version()))
    );
    let avi = Avi::login(&sim).await;
    let created = avi
        .post("/api/gslbservice", &gs("plain", "plain.example.com"))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert!(
        created.json()["url"]
            .as_str()
            .unwrap()
            .starts_with("http://")
    );
    sim.shutdown().await;
}

/// Throughput of the simulator for the operator's benchmark: many GslbServices created, listed
/// page by page with a filter, updated and deleted by concurrent sessions. Prints the rates;
/// ignored by default because it is a measurement, not a check of behaviour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement; run with --ignored --nocapture"]
async fn bulk_throughput() {
    let total: usize = std::env::var("AVISIM_BULK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let workers = 8;
    let sim = start(AviSimConfig {
        tls: false,
        ..AviSimConfig::default()
    })
    .await;
    let mut clients = Vec::new();
    for _ in 0..workers {
        clients.push(std::sync::Arc::new(Avi::login(&sim).await));
    }

    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (w, avi) in clients.iter().enumerate() {
        let avi = avi.clone();
        tasks.spawn(async move {
            let mut uuids = Vec::new();
            for i in (w..total).step_by(workers) {
                let mut body = gs(&format!("bulk-{i}"), &format!("bulk{i}.example.com"));
                body["health_monitor_refs"] = json!(["/api/healthmonitor?name=System-GSLB-HTTP"]);
                let created = avi.post("/api/gslbservice", &body).await;
                assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
                uuids.push(created.json()["uuid"].as_str().unwrap().to_string());
            }
            uuids
        });
    }
    let mut uuids = Vec::new();
    while let Some(done) = tasks.join_next().await {
        uuids.extend(done.unwrap());
    }
    let create_secs = started.elapsed().as_secs_f64();

    let started = std::time::Instant::now();
    let mut listed = 0;
    let mut next =
        Some("/api/gslbservice?page_size=200&created_by=api-test&include_name".to_string());
    while let Some(path) = next {
        let page = clients[0].get(&path).await.json();
        listed += page["results"].as_array().unwrap().len();
        next = page["next"]
            .as_str()
            .map(|n| n.strip_prefix(&clients[0].base).unwrap().to_string());
    }
    assert_eq!(listed, total);
    let list_secs = started.elapsed().as_secs_f64();
    // Pages far into the collection reuse the cached selection instead of re-scanning.
    let started = std::time::Instant::now();
    for page in 1..=20 {
        let path = format!(
            "/api/gslbservice?page_size=1&page={}&created_by=api-test",
            page * 500
        );
        assert_eq!(clients[0].get(&path).await.status, StatusCode::OK);
    }
    let scan_ms = started.elapsed().as_secs_f64() * 1000.0 / 20.0;

    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (w, avi) in clients.iter().enumerate() {
        let avi = avi.clone();
        let mine: Vec<String> = uuids.iter().skip(w).step_by(workers).cloned().collect();
        tasks.spawn(async move {
            for uuid in mine {
                let gone = avi.delete(&format!("/api/gslbservice/{uuid}")).await;
                assert_eq!(gone.status, StatusCode::NO_CONTENT);
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let delete_secs = started.elapsed().as_secs_f64();
    println!(
        "avi sim bulk: {total} creates in {create_secs:.2}s ({:.0}/s), list {listed} in {list_secs:.2}s (deep page with a cached selection {scan_ms:.1} ms/request), {total} deletes in {delete_secs:.2}s ({:.0}/s)",
        total as f64 / create_secs,
        total as f64 / delete_secs
    );
    assert_eq!(sim.control().audit_len(), 2 * total);
    sim.shutdown().await;
}

/// Slow lists: a collection GET is answered `list_delay_ms` after the collection was read, so a
/// write that completes meanwhile is missing from the answer; single-object reads and writes are
/// not slowed.
#[tokio::test]
async fn slow_lists_answer_what_they_read_before_the_delay() {
    let sim = start(AviSimConfig::default()).await;
    let avi = Avi::login(&sim).await;
    let before = avi
        .post("/api/gslbservice", &gs("before", "before.example.com"))
        .await;
    assert_eq!(before.status, StatusCode::CREATED, "{}", before.text);
    let update: FaultUpdate = serde_json::from_value(json!({"list_delay_ms": 1500})).unwrap();
    assert_eq!(sim.control().apply(&update).unwrap().list_delay_ms, 1500);

    let list = avi.get("/api/gslbservice");
    let write = async {
        // Well after the list was read (it is answered 1.5 s later).
        tokio::time::sleep(Duration::from_millis(300)).await;
        let created = avi
            .post("/api/gslbservice", &gs("during", "during.example.com"))
            .await;
        let uuid = created.json()["uuid"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let read = avi.get(&format!("/api/gslbservice/{uuid}")).await;
        (created.status, read.status)
    };
    let (listed, (created, read)) = tokio::join!(list, write);
    assert_eq!((created, read), (StatusCode::CREATED, StatusCode::OK));
    let names: Vec<String> = listed.json()["results"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|o| o["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        names,
        ["before"],
        "the list shows what it read, not the write made since"
    );

    sim.control().set_list_delay(Duration::ZERO);
    assert_eq!(sim.control().faults().list_delay_ms, 0);
    assert_eq!(avi.get("/api/gslbservice").await.json()["count"], 2);
    sim.shutdown().await;
}
