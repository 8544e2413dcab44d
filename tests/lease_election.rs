//! Leader election (`amko::lease`) against the simulated API server with kube-rs over HTTP: of two
//! replicas racing for the Lease exactly one wins, the other stands by naming the holder, takes
//! over once the holder stops renewing for the lease duration, and immediately after a release.

mod sim_k8s_common;

use std::time::Duration;

use amko::lease::{LeaseElector, LeaseState};
use amko_sim::k8s::{SimClusters, SimConfig};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::PostParams;
use kube::{Api, Client};
use sim_k8s_common::{create_namespace, kube_client};

const NAMESPACE: &str = "avi-system";
const LEASE: &str = "amko-leader";

async fn start() -> (SimClusters, Client) {
    let sim = SimClusters::start(SimConfig::with_clusters(1))
        .await
        .expect("simulator starts");
    let client = kube_client(&sim, "cluster1");
    create_namespace(&client, NAMESPACE).await;
    (sim, client)
}

fn elector(client: &Client, identity: &str) -> LeaseElector {
    LeaseElector::new(
        client.clone(),
        NAMESPACE,
        LEASE,
        identity,
        Duration::from_secs(1),
    )
}

async fn lease(client: &Client) -> Lease {
    Api::<Lease>::namespaced(client.clone(), NAMESPACE)
        .get(LEASE)
        .await
        .expect("lease exists")
}

/// Steps `elector` until it holds the Lease (bounded).
async fn until_held(elector: &LeaseElector) {
    for _ in 0..100 {
        if elector.step().await.expect("step") == LeaseState::Held {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} never acquired the lease", elector.identity());
}

#[tokio::test]
async fn one_replica_holds_the_lease_and_the_other_takes_over_after_expiry_or_release() {
    let (sim, client) = start().await;
    let (a, b) = (elector(&client, "replica-a"), elector(&client, "replica-b"));

    // Both race to create the Lease: exactly one wins.
    let (ra, rb) = tokio::join!(a.step(), b.step());
    let (ra, rb) = (ra.expect("a steps"), rb.expect("b steps"));
    assert!(
        (ra == LeaseState::Held) != (rb == LeaseState::Held),
        "{ra:?} {rb:?}"
    );
    let (holder, standby) = if ra == LeaseState::Held {
        (&a, &b)
    } else {
        (&b, &a)
    };
    assert_eq!(
        standby.step().await.expect("step"),
        LeaseState::Standby {
            holder: holder.identity().to_owned()
        }
    );
    assert_eq!(holder.step().await.expect("renew"), LeaseState::Held);
    let spec = lease(&client).await.spec.expect("spec");
    assert_eq!(spec.holder_identity.as_deref(), Some(holder.identity()));
    assert_eq!(spec.lease_duration_seconds, Some(1));
    assert_eq!(spec.lease_transitions, Some(0));

    // The holder stops renewing (it died): the standby takes over once the lease expired, and
    // the old holder, if it comes back, stands by.
    until_held(standby).await;
    assert_eq!(
        holder.step().await.expect("step"),
        LeaseState::Standby {
            holder: standby.identity().to_owned()
        }
    );
    assert_eq!(
        lease(&client).await.spec.and_then(|s| s.lease_transitions),
        Some(1)
    );

    // A graceful release hands over at once: the next step of the other replica wins.
    standby.release().await.expect("release");
    assert_eq!(holder.step().await.expect("step"), LeaseState::Held);
    // Releasing a lease one does not hold changes nothing.
    standby.release().await.expect("release");
    assert_eq!(
        lease(&client)
            .await
            .spec
            .and_then(|s| s.holder_identity)
            .as_deref(),
        Some(holder.identity())
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_renewal_based_on_a_stale_read_loses_with_409() {
    let (sim, client) = start().await;
    let a = LeaseElector::new(
        client.clone(),
        NAMESPACE,
        LEASE,
        "replica-a",
        Duration::from_secs(30),
    );
    assert_eq!(a.step().await.expect("create"), LeaseState::Held);
    // Someone else changes the Lease between our read and our write: the API server's
    // optimistic concurrency rejects the write based on the old resourceVersion.
    let api: Api<Lease> = Api::namespaced(client.clone(), NAMESPACE);
    let mut stale = api.get(LEASE).await.expect("lease");
    let mut fresh = stale.clone();
    if let Some(spec) = fresh.spec.as_mut() {
        spec.holder_identity = Some("replica-b".to_owned());
    }
    api.replace(LEASE, &PostParams::default(), &fresh)
        .await
        .expect("replica-b takes it");
    if let Some(spec) = stale.spec.as_mut() {
        spec.holder_identity = Some("replica-c".to_owned());
    }
    let err = api
        .replace(LEASE, &PostParams::default(), &stale)
        .await
        .expect_err("stale write rejected");
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409),
        "{err}"
    );
    assert_eq!(
        a.step().await.expect("step"),
        LeaseState::Standby {
            holder: "replica-b".to_owned()
        }
    );
    sim.shutdown().await;
}

/// The transition count is the cluster's: a Lease whose `leaseTransitions` is already at
/// `i32::MAX` (written by another client, or by a long history) is still taken over once expired;
/// the count stays at its maximum instead of overflowing (a panic in debug builds, a negative
/// count the API server refuses in release builds).
#[tokio::test]
async fn a_lease_at_the_largest_transition_count_is_still_taken_over() {
    let (sim, client) = start().await;
    let api: Api<Lease> = Api::namespaced(client.clone(), NAMESPACE);
    let worn: Lease = serde_json::from_value(serde_json::json!({
        "metadata": {"name": LEASE, "namespace": NAMESPACE},
        "spec": {"holderIdentity": "replica-gone", "leaseDurationSeconds": 1,
                 "renewTime": "2024-05-01T10:00:00.000000Z", "leaseTransitions": i32::MAX}
    }))
    .expect("a Lease");
    api.create(&PostParams::default(), &worn)
        .await
        .expect("the worn Lease is created");
    let a = elector(&client, "replica-a");
    until_held(&a).await;
    let spec = lease(&client).await.spec.expect("spec");
    assert_eq!(spec.holder_identity.as_deref(), Some("replica-a"));
    assert_eq!(spec.lease_transitions, Some(i32::MAX));
    sim.shutdown().await;
}
