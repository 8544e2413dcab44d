#!/usr/bin/env bash
# Installs what CI needs beyond the Rust toolchain: cargo-deny, for the licence/bans/sources audit
# (works offline). Idempotent: a second run only checks. The clients the tests drive (helm v3,
# kubectl, the Avi Python SDK, kubernetes-validate) are not installed here: the tests provision
# them into target/tools on first use (tests/support/tools.rs).
set -euo pipefail

log() { echo "install-tools: $*" >&2; }

if ! command -v cargo-deny >/dev/null 2>&1; then
  log "installing cargo-deny from the Rust crate registry (about 2 minutes)"
  cargo install --locked --quiet cargo-deny
fi

log "cargo-deny $(cargo deny --version 2>/dev/null)"
