#!/bin/sh
# Builds a helm chart repository (the packaged chart plus index.yaml) from charts/amko, ready to
# upload to any static HTTP host; docs/helm.md and tests/e2e/chart_repo.rs both use this script.
#
# Usage: charts/publish.sh OUT_DIR REPO_URL [PREVIOUS_INDEX]
#   OUT_DIR         where amko-<version>.tgz and index.yaml are written (created if missing)
#   REPO_URL        the URL the repository will be served from (index.yaml's download links)
#   PREVIOUS_INDEX  the index.yaml currently published, so that earlier versions stay listed
# Environment: HELM (the helm v3 binary, default `helm`), CHART_DIR (default: this script's amko/).
set -eu

if [ "$#" -lt 2 ] || [ "$#" -gt 3 ]; then
    echo "usage: $0 OUT_DIR REPO_URL [PREVIOUS_INDEX]" >&2
    exit 2
fi
out_dir=$1
repo_url=$2
previous_index=${3:-}
helm=${HELM:-helm}
chart_dir=${CHART_DIR:-$(dirname "$0")/amko}

mkdir -p "$out_dir"
"$helm" package "$chart_dir" -d "$out_dir"
if [ -n "$previous_index" ]; then
    # --merge keeps the previous entries (and their download URLs) for versions not in OUT_DIR.
    "$helm" repo index "$out_dir" --url "$repo_url" --merge "$previous_index"
else
    "$helm" repo index "$out_dir" --url "$repo_url"
fi
echo "chart repository in $out_dir: upload its files to $repo_url"
