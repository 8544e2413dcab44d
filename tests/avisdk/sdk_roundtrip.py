"""Drives the amko-rs Avi simulator with the real Avi Python SDK (PyPI `avisdk`).

Run by tests/sim_avi_sdk.rs with the simulator's address, credentials and CA file in the
environment. Every check is an assert: any failure exits non-zero with a traceback.

Environment: AVISIM_HOST, AVISIM_PORT, AVISIM_USERNAME, AVISIM_PASSWORD, AVISIM_VERSION,
AVISIM_CA_FILE. REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE must be unset (they override `verify`).
"""

import os
import sys

import requests
from avi.sdk.avi_api import ApiSession, ObjectNotFound

HOST = os.environ["AVISIM_HOST"]
PORT = int(os.environ["AVISIM_PORT"])
USERNAME = os.environ["AVISIM_USERNAME"]
PASSWORD = os.environ["AVISIM_PASSWORD"]
VERSION = os.environ["AVISIM_VERSION"]
CA_FILE = os.environ["AVISIM_CA_FILE"]
BASE = f"https://{HOST}:{PORT}"

assert "REQUESTS_CA_BUNDLE" not in os.environ, "REQUESTS_CA_BUNDLE would override verify="
assert "CURL_CA_BUNDLE" not in os.environ, "CURL_CA_BUNDLE would override verify="


def sim(method, path, **kwargs):
    """The simulator's own control API (not part of Avi)."""
    rsp = requests.request(method, f"{BASE}/sim/{path}", verify=CA_FILE, timeout=30, **kwargs)
    assert rsp.status_code < 300, (path, rsp.status_code, rsp.text)
    return rsp.json() if rsp.text else None


def counter(snapshot, method, object_type, status):
    return sum(
        e["count"]
        for e in snapshot["entries"]
        if e["method"] == method and e["object_type"] == object_type and e["status"] == status
    )


def gs_body(name, fqdn, hm_ref=None):
    body = {
        "name": name,
        "domain_names": [fqdn],
        "created_by": "avisdk-test",
        "groups": [
            {
                "name": "pool-10",
                "priority": 10,
                "members": [{"ip": {"addr": "10.1.1.10", "type": "V4"}, "ratio": 2}],
            }
        ],
    }
    if hm_ref:
        body["health_monitor_refs"] = [hm_ref]
    return body


# --- login (form-encoded POST /login inside the constructor), TLS verified against the CA ---
api = ApiSession(
    controller_ip=HOST,
    port=PORT,
    username=USERNAME,
    password=PASSWORD,
    api_version=VERSION,
    tenant="admin",
    verify=CA_FILE,
)
assert api.remote_api_version.get("Version") == VERSION, api.remote_api_version

# A wrong password is refused with "Invalid credentials".
bad = requests.post(
    f"{BASE}/login", data={"username": USERNAME, "password": "wrong"}, verify=CA_FILE, timeout=30
)
assert bad.status_code == 401 and "Invalid credentials" in bad.text, (bad.status_code, bad.text)

# --- system objects seeded on a fresh controller ---
gslb_http = api.get_object_by_name("healthmonitor", "System-GSLB-HTTP")
assert gslb_http and gslb_http["is_federated"] is True, gslb_http
cluster = api.get("cluster").json()
assert "count" not in cluster and cluster["uuid"].startswith("cluster-"), cluster
gslb = api.get("gslb").json()
assert gslb["count"] == 1 and gslb["results"][0]["leader_cluster_uuid"] == cluster["uuid"], gslb

# --- health monitor: create, read by name, update ---
rsp = api.post(
    "healthmonitor",
    data={
        "name": "sdk-hm",
        "type": "HEALTH_MONITOR_HTTP",
        "is_federated": True,
        "monitor_port": 80,
        "http_monitor": {"http_request": "HEAD /healthz HTTP/1.0", "http_response_code": ["HTTP_2XX"]},
    },
)
assert rsp.status_code == 201, (rsp.status_code, rsp.text)
hm = rsp.json()
assert hm["url"].endswith("#sdk-hm"), hm["url"]
assert rsp.headers["Location"] == hm["url"], rsp.headers
assert hm["send_interval"] == 10 and hm["receive_timeout"] == 4, hm
hm_uuid = hm["uuid"]
assert hm_uuid.startswith("healthmonitor-")

by_name = api.get_object_by_name("healthmonitor", "sdk-hm")
assert by_name["uuid"] == hm_uuid, by_name
assert api.get_object_by_name("healthmonitor", "no-such-monitor") is None

hm["failed_checks"] = 5
rsp = api.put(f"healthmonitor/{hm_uuid}", data=hm)
assert rsp.status_code == 200, (rsp.status_code, rsp.text)
assert rsp.json()["failed_checks"] == 5

rsp = api.patch(f"healthmonitor/{hm_uuid}", data={"replace": {"description": "patched by avisdk"}})
assert rsp.status_code == 200, (rsp.status_code, rsp.text)
assert rsp.json()["description"] == "patched by avisdk" and rsp.json()["failed_checks"] == 5, rsp.text

dup = api.post("healthmonitor", data={"name": "sdk-hm", "type": "HEALTH_MONITOR_TCP"})
assert dup.status_code == 409 and "already exists" in dup.text, (dup.status_code, dup.text)

# --- GslbService: create with a by-name ref, get, put, stale put, patch ---
rsp = api.post("gslbservice", data=gs_body("sdk-gs", "sdk.gslb.example.com", "/api/healthmonitor?name=sdk-hm"))
assert rsp.status_code == 201, (rsp.status_code, rsp.text)
gs = rsp.json()
gs_uuid = gs["uuid"]
assert gs["health_monitor_refs"] == [f"{BASE}/api/healthmonitor/{hm_uuid}#sdk-hm"], gs["health_monitor_refs"]
assert gs["groups"][0]["members"][0]["ratio"] == 2
assert gs["groups"][0]["algorithm"] == "GSLB_ALGORITHM_ROUND_ROBIN"
assert gs["enabled"] is True and gs["is_federated"] is True

got = api.get(f"gslbservice/{gs_uuid}").json()
assert got["name"] == "sdk-gs"
assert got["health_monitor_refs"] == [f"{BASE}/api/healthmonitor/{hm_uuid}"], got
named = api.get(f"gslbservice/{gs_uuid}", params={"include_name": "true"}).json()
assert named["health_monitor_refs"][0].endswith("#sdk-hm"), named

got["ttl"] = 42
rsp = api.put(f"gslbservice/{gs_uuid}", data=got)
assert rsp.status_code == 200, (rsp.status_code, rsp.text)
assert rsp.json()["ttl"] == 42
assert rsp.json()["_last_modified"] != got["_last_modified"]

got["ttl"] = 43  # still carries the old _last_modified
stale = api.put(f"gslbservice/{gs_uuid}", data=got)
assert stale.status_code == 412, (stale.status_code, stale.text)

rsp = api.patch(f"gslbservice/{gs_uuid}", data={"add": {"domain_names": ["alias.gslb.example.com"]}})
assert rsp.status_code == 200, (rsp.status_code, rsp.text)
assert sorted(rsp.json()["domain_names"]) == ["alias.gslb.example.com", "sdk.gslb.example.com"]
rsp = api.patch(f"gslbservice/{gs_uuid}", data={"delete": {"domain_names": ["alias.gslb.example.com"]}})
assert rsp.json()["domain_names"] == ["sdk.gslb.example.com"], rsp.text

conflict = api.post("gslbservice", data=gs_body("sdk-gs-2", "sdk.gslb.example.com"))
assert conflict.status_code == 400, (conflict.status_code, conflict.text)
assert "domain name conflicting with existing domain name" in conflict.text, conflict.text

in_use = api.delete(f"healthmonitor/{hm_uuid}")
assert in_use.status_code == 400 and "referred" in in_use.text, (in_use.status_code, in_use.text)

# --- pagination over more than one page ---
for i in range(7):
    rsp = api.post("gslbservice", data=gs_body(f"sdk-page-{i}", f"page{i}.gslb.example.com"))
    assert rsp.status_code == 201, (rsp.status_code, rsp.text)
first = api.get("gslbservice", params={"page_size": 3, "created_by": "avisdk-test"}).json()
assert first["count"] == 8 and len(first["results"]) == 3 and "next" in first, first
names = [o["name"] for o in api.get_objects_iter("gslbservice", params={"page_size": 3, "created_by": "avisdk-test"})]
assert len(names) == 8 and len(set(names)) == 8, names
assert "sdk-gs" in names

# --- tenant headers ---
rsp = api.post("tenant", data={"name": "sdk-tenant", "local": "true"})
assert rsp.status_code == 201, (rsp.status_code, rsp.text)
tenant_uuid = rsp.json()["uuid"]
assert rsp.json()["local"] is True
rsp = api.post(
    "healthmonitor",
    data={"name": "tenant-hm", "type": "HEALTH_MONITOR_TCP", "is_federated": True},
    tenant="sdk-tenant",
)
assert rsp.status_code == 201, (rsp.status_code, rsp.text)
assert rsp.json()["tenant_ref"].startswith(f"{BASE}/api/tenant/{tenant_uuid}"), rsp.json()["tenant_ref"]
assert api.get_object_by_name("healthmonitor", "tenant-hm") is None  # invisible from admin
assert api.get_object_by_name("healthmonitor", "tenant-hm", tenant="sdk-tenant") is not None
assert api.get_object_by_name("healthmonitor", "tenant-hm", tenant_uuid=tenant_uuid) is not None
assert api.get_object_by_name("healthmonitor", "tenant-hm", tenant="*") is not None
# Admin's System-* monitors are usable from the other tenant.
assert api.get_object_by_name("healthmonitor", "System-GSLB-TCP", tenant="sdk-tenant") is not None
missing = api.get("healthmonitor", tenant="no-such-tenant")
assert missing.status_code == 403, (missing.status_code, missing.text)

# --- recovery after the simulator expires every session ---
before = sim("GET", "counters")
expired = sim("POST", "sessions/expire")
assert expired["expired"] >= 1, expired
rsp = api.get("gslbservice", params={"name": "sdk-gs"})
assert rsp.status_code == 200 and rsp.json()["count"] == 1, (rsp.status_code, rsp.text)
after = sim("GET", "counters")
assert counter(after, "GET", "gslbservice", 401) == counter(before, "GET", "gslbservice", 401) + 1, after
assert counter(after, "POST", "login", 200) == counter(before, "POST", "login", 200) + 1, after
# Writes work again with the new session's CSRF token.
rsp = api.patch(f"gslbservice/{gs_uuid}", data={"replace": {"description": "after re-login"}})
assert rsp.status_code == 200, (rsp.status_code, rsp.text)

# --- delete, then the object is gone ---
rsp = api.delete(f"gslbservice/{gs_uuid}")
assert rsp.status_code == 204, (rsp.status_code, rsp.text)
rsp = api.delete(f"healthmonitor/{hm_uuid}")
assert rsp.status_code == 204, (rsp.status_code, rsp.text)
try:
    api.get(f"healthmonitor/{hm_uuid}").json()
    raise AssertionError("deleted health monitor is still readable")
except ObjectNotFound:
    pass

rsp = api.post("logout")
assert rsp.status_code == 200, (rsp.status_code, rsp.text)

print("avisdk round trip: all checks passed")
sys.exit(0)
