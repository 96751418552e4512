#!/usr/bin/env bash
# promtool checks gcnserve's alert rules (deploy/monitoring/alerts.yml), runs
# their unit tests (alerts_test.yml), and checks the compose stack's
# Prometheus config with the rules beside it, as docker/compose.yaml mounts
# them.
# usage: alert_rules_test.sh [PROMTOOL]
set -euo pipefail
promtool=${1:-promtool}
repo=$(cd "$(dirname "$0")/../.." && pwd)
command -v "$promtool" >/dev/null ||
  { echo "FAIL: $promtool is missing (scripts/install-deps.sh installs Debian's prometheus)"; exit 1; }

"$promtool" check rules "$repo/deploy/monitoring/alerts.yml"
"$promtool" test rules "$repo/deploy/monitoring/alerts_test.yml"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$repo/docker/prometheus/prometheus.yml" "$repo/deploy/monitoring/alerts.yml" "$tmp/"
"$promtool" check config "$tmp/prometheus.yml"
echo "PASS: alert rules checked and unit-tested; the compose Prometheus config is valid"
