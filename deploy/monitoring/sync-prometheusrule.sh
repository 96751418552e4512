#!/usr/bin/env bash
# Writes prometheusrule.yaml from alerts.yml: the same groups under the
# PrometheusRule's spec. Run it after editing alerts.yml (tests/deploy fails
# while the two differ).
set -euo pipefail
cd "$(dirname "$0")"
{
  cat <<'EOF'
# alerts.yml for the Prometheus operator: the same groups, under spec.
# Generated: edit alerts.yml, then run deploy/monitoring/sync-prometheusrule.sh
# (tests/deploy checks that the two match). The release label is the one
# kube-prometheus-stack's default ruleSelector looks for; change it to yours.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: gcnserve
  labels:
    app.kubernetes.io/name: gcnserve
    release: kube-prometheus-stack
spec:
EOF
  sed -n '/^groups:/,$p' alerts.yml | sed 's/^\(.\)/  \1/'
} >prometheusrule.yaml
