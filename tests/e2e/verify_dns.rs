//! End-to-end: `amko verify-dns` (the real binary) against the simulated controller's GSLB DNS
//! service after `amko run` converged. It passes when the answers follow the policy (shares 1:3
//! by a chi-square test, the TTL, consistent-hash stickiness across client subnets), fails with
//! the evidence (exit 3) once a member ratio is changed out of band on the controller, passes
//! again with `--expected controller` (the controller's copy is then the truth), and fails that
//! too once the top-priority members are marked down (the backup pool's VIP answers). A
//! dual-stack GslbService is checked for A and AAAA records, each against its own members.

mod harness;

use std::process::{Command, Stdio};
use std::time::Duration;

use harness::{Env, EnvOptions, HOME, members_of};
use serde_json::{Value, json};

const SHOP: &str = "shop.example.com";
const CART: &str = "cart.example.com";

/// cluster1 and cluster2 share the top priority at weights 1 and 3; cluster3 is the backup.
fn gdp_spec() -> Value {
    harness::gdp(
        &["cluster1", "cluster2", "cluster3"],
        json!({"ttl": 30, "trafficSplit": [
            {"cluster": "cluster1", "weight": 1, "priority": 10},
            {"cluster": "cluster2", "weight": 3, "priority": 10},
            {"cluster": "cluster3", "weight": 1, "priority": 5}
        ]}),
    )
}

struct Verified {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Verified {
    fn context(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout, self.stderr
        )
    }

    /// The line about `fqdn`'s A records.
    fn line(&self, fqdn: &str) -> &str {
        let prefix = format!(" {fqdn} A: ");
        self.stdout
            .lines()
            .find(|l| l.contains(&prefix))
            .unwrap_or_else(|| panic!("no line for {fqdn}\n{}", self.context()))
    }
}

/// Runs `amko verify-dns` with the flags the harness gives `amko run`, against the simulator's
/// DNS service, and `extra`.
fn verify(env: &Env, extra: &[&str]) -> Verified {
    let dns = env.avi.dns_addr().expect("the simulator serves DNS");
    verify_at(env, &dns.to_string(), extra)
}

fn verify_at(env: &Env, server: &str, extra: &[&str]) -> Verified {
    let members = env.dir.join("verify-members-kubeconfig");
    std::fs::copy(&env.kubeconfig, &members).expect("members kubeconfig");
    let output = Command::new(env!("CARGO_BIN_EXE_amko"))
        .arg("verify-dns")
        .arg("--kubeconfig")
        .arg(&env.kubeconfig)
        .args(["--context", env.home_cluster(), "--namespace", HOME])
        .arg("--members-kubeconfig")
        .arg(&members)
        .args(["--boot-timeout-secs", "20", "--timeout-secs", "60"])
        .args(["--server", server])
        .args(extra)
        .env_remove("POD_NAME")
        .stdin(Stdio::null())
        .output()
        .expect("amko verify-dns runs");
    let verified = Verified {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    let password = env.avi.password();
    assert!(
        !verified.stdout.contains(password) && !verified.stderr.contains(password),
        "the controller password reached amko verify-dns's output"
    );
    verified
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_dns_passes_on_a_converged_setup_and_fails_on_a_corrupted_one() {
    let mut env = Env::start(
        "verify-dns",
        EnvOptions::clusters(3).install(gdp_spec()).run(&[]),
    )
    .await;
    // cart.example.com: consistent hash on the client's /24, TTL 10, by a GSLBHostRule.
    env.put_host_rule(
        HOME,
        "cart-hash",
        json!({"fqdn": CART, "ttl": 10,
               "poolAlgorithmSettings": {"lbAlgorithm": "GSLB_ALGORITHM_CONSISTENT_HASH", "hashMask": 24}}),
    )
    .await;
    for cluster in ["cluster1", "cluster2", "cluster3"] {
        env.create_gslb_ingress(cluster, "shop", "shop", SHOP).await;
    }
    for cluster in ["cluster1", "cluster2"] {
        env.create_gslb_ingress(cluster, "shop", "cart", CART).await;
    }
    env.wait_gs(SHOP, "three members", |gs| members_of(gs).len() == 3)
        .await;
    env.wait_gs(CART, "two members, consistent hash", |gs| {
        members_of(gs).len() == 2
            && gs["ttl"] == 10
            && gs["groups"][0]["algorithm"] == "GSLB_ALGORITHM_CONSISTENT_HASH"
    })
    .await;
    // Let the writer finish, then stop it: the corruption below must stay.
    tokio::time::sleep(Duration::from_secs(2)).await;
    env.stop_operator();
    let vip = |cluster: &'static str| {
        let env = &env;
        async move { env.ingress_vip(cluster, "shop", "shop", SHOP).await }
    };
    let (vip1, vip2, vip3) = (
        vip("cluster1").await,
        vip("cluster2").await,
        vip("cluster3").await,
    );

    // Converged: both pass; shop's shares are 1:3 and the backup never answers.
    let ok = verify(&env, &["--client-subnets", "32"]);
    assert_eq!(ok.code, Some(0), "{}", ok.context());
    let shop = ok.line(SHOP);
    assert!(shop.starts_with("PASS "), "{shop}");
    assert!(
        shop.contains(&format!("{vip1} ")) && shop.contains("want 25.0% ratio 1"),
        "{shop}"
    );
    assert!(
        shop.contains(&format!("{vip2} ")) && shop.contains("want 75.0% ratio 3"),
        "{shop}"
    );
    assert!(!shop.contains(&vip3), "the backup answered: {shop}");
    assert!(shop.contains("TTL 30 (1000×) (want 30)"), "{shop}");
    let cart = ok.line(CART);
    assert!(cart.starts_with("PASS "), "{cart}");
    assert!(
        cart.contains("sticky: 32 of 32 clients kept one member"),
        "{cart}"
    );
    assert!(cart.contains("TTL 10 (1000×) (want 10)"), "{cart}");
    assert!(
        ok.stdout.contains("2 of 2 checks passed (2000 queries"),
        "{}",
        ok.context()
    );

    // The same as JSON, for shop only.
    let json_run = verify(&env, &["--fqdn", SHOP, "-o", "json", "--queries", "400"]);
    assert_eq!(json_run.code, Some(0), "{}", json_run.context());
    let report: Value = serde_json::from_str(&json_run.stdout).expect("JSON output");
    let results = report["results"].as_array().expect("results");
    assert_eq!(results.len(), 1, "{report:#}");
    assert_eq!(results[0]["fqdn"], SHOP);
    assert_eq!(results[0]["pass"], true);
    assert_eq!(results[0]["queries"], 400);
    let p = results[0]["chi_square"]["p_value"]
        .as_f64()
        .expect("p-value");
    assert!(p >= 0.001, "{report:#}");
    assert_eq!(report["exit_code"], 0);

    // Someone changes cluster1's ratio on the controller: 3:3 answers where the policy says 1:3.
    let client = env.avi_client();
    let mut edited = env.gslb_service(SHOP).expect("shop GslbService");
    let uuid = edited["uuid"].as_str().expect("uuid").to_owned();
    for pool in edited["groups"].as_array_mut().expect("groups") {
        for member in pool["members"].as_array_mut().expect("members") {
            if member["ip"]["addr"] == vip1.as_str() {
                member["ratio"] = json!(3);
            }
        }
    }
    client
        .update("gslbservice", &uuid, &edited, Some("admin"))
        .await
        .expect("out-of-band edit");
    let corrupted = verify(&env, &[]);
    assert_eq!(corrupted.code, Some(3), "{}", corrupted.context());
    let shop = corrupted.line(SHOP);
    assert!(shop.starts_with("FAIL "), "{shop}");
    assert!(shop.contains("shares differ from the ratios"), "{shop}");
    assert!(
        shop.contains(&format!("{vip1} 500 (50.0%, want 25.0% ratio 1)")),
        "{shop}"
    );
    assert!(
        corrupted.line(CART).starts_with("PASS "),
        "{}",
        corrupted.context()
    );
    assert!(
        corrupted.stdout.contains("1 of 2 checks passed"),
        "{}",
        corrupted.context()
    );
    assert!(
        corrupted.stderr.contains("pending controller change"),
        "the warning names the drift\n{}",
        corrupted.context()
    );

    // The controller's copy is what the DNS service follows: against it, the answers pass.
    let by_controller = verify(&env, &["--expected", "controller", "--fqdn", SHOP]);
    assert_eq!(by_controller.code, Some(0), "{}", by_controller.context());
    assert!(
        by_controller.line(SHOP).contains("want 50.0% ratio 3"),
        "{}",
        by_controller.context()
    );

    // The top-priority members go down: the backup's VIP answers, outside the expected pool.
    for ip in [&vip1, &vip2] {
        env.avi.control().dns().set_member_health(ip, false);
    }
    let failed_over = verify(&env, &["--expected", "controller", "--fqdn", SHOP]);
    assert_eq!(failed_over.code, Some(3), "{}", failed_over.context());
    let shop = failed_over.line(SHOP);
    assert!(shop.starts_with("FAIL "), "{shop}");
    assert!(
        shop.contains(&format!(
            "addresses outside pool amko-gs-group-10: {vip3} (1000×)"
        )),
        "{shop}"
    );
    harness::remove_dir(&env.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_dns_reports_errors_with_exit_code_1() {
    let env = Env::start(
        "verify-dns-errors",
        EnvOptions::clusters(1)
            .install(harness::gdp(&["cluster1"], json!({})))
            .run(&[]),
    )
    .await;
    env.create_gslb_ingress("cluster1", "shop", "shop", SHOP)
        .await;
    env.wait_gs(SHOP, "a member", |gs| members_of(gs).len() == 1)
        .await;
    let unknown = verify(&env, &["--fqdn", "nope.example.com"]);
    assert_eq!(unknown.code, Some(1), "{}", unknown.context());
    assert!(
        unknown
            .stderr
            .contains("--fqdn nope.example.com: no GslbService of the policy has this domain name"),
        "{}",
        unknown.context()
    );
    let bad_server = verify_at(&env, "127.0.0.1:notaport", &[]);
    assert_eq!(bad_server.code, Some(1), "{}", bad_server.context());
    assert!(
        bad_server
            .stderr
            .contains("--server \"127.0.0.1:notaport\": port"),
        "{}",
        bad_server.context()
    );
    // Nothing listens there: every query goes unanswered, which fails (exit 3) with the count.
    let silent = format!("127.0.0.1:{}", harness::free_port());
    let dead = verify_at(
        &env,
        &silent,
        &[
            "--queries",
            "20",
            "--query-timeout-ms",
            "200",
            "--retries",
            "0",
        ],
    );
    assert_eq!(dead.code, Some(3), "{}", dead.context());
    assert!(
        dead.line(SHOP).contains("20 of 20 queries got no reply"),
        "{}",
        dead.context()
    );
    harness::remove_dir(&env.dir);
}

/// A dual-stack GslbService: an IPv4 member in cluster1, an IPv6 member in cluster2. A queries
/// get the IPv4 member, AAAA queries the IPv6 one; one line each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_dns_checks_a_and_aaaa_records() {
    let env = Env::start(
        "verify-dns-aaaa",
        EnvOptions::clusters(2)
            .vip_family("cluster2", amko_sim::k8s::VipFamily::V6)
            .install(harness::gdp(&["cluster1", "cluster2"], json!({})))
            .run(&[]),
    )
    .await;
    for cluster in ["cluster1", "cluster2"] {
        env.create_gslb_ingress(cluster, "shop", "shop", SHOP).await;
    }
    env.wait_gs(SHOP, "two members", |gs| members_of(gs).len() == 2)
        .await;
    let v4 = env.ingress_vip("cluster1", "shop", "shop", SHOP).await;
    let v6 = env.ingress_vip("cluster2", "shop", "shop", SHOP).await;
    assert!(v6.contains(':'), "cluster2 gives IPv6 VIPs: {v6}");
    let run = verify(&env, &["--queries", "200"]);
    assert_eq!(run.code, Some(0), "{}", run.context());
    let a = run.line(SHOP);
    assert!(
        a.contains(&format!("{v4} 200 (100.0%, want 100.0% ratio 1)")),
        "{a}"
    );
    let aaaa = run
        .stdout
        .lines()
        .find(|l| l.contains(&format!(" {SHOP} AAAA: ")))
        .unwrap_or_else(|| panic!("no AAAA line\n{}", run.context()));
    assert!(aaaa.starts_with("PASS "), "{aaaa}");
    assert!(
        aaaa.contains(&format!("{v6} 200 (100.0%, want 100.0% ratio 1)")),
        "{aaaa}"
    );
    assert!(
        run.stdout.contains("2 of 2 checks passed (400 queries"),
        "{}",
        run.context()
    );
    harness::remove_dir(&env.dir);
}
