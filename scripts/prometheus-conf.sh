#!/usr/bin/env bash
# prometheus-conf.sh OUT_DIR HTTPD_ADDR LISTEN_ADDR [INTERVAL] — a copy of
# contrib/prometheus/prometheus.yml in OUT_DIR with only the scrape targets
# changed (iot-httpd to HTTPD_ADDR, iot-mqtt-listen to LISTEN_ADDR, both
# HOST:PORT) and, with INTERVAL (such as 1s), the scrape and evaluation
# intervals; iotflow-alerts.yml is copied beside it, where its rule_files
# entry finds it. The contrib file stays the source: `make run`
# (scripts/run.sh) and tests/monitoring.bats use this.
set -euo pipefail

if (($# < 3 || $# > 4)); then
	echo "usage: scripts/prometheus-conf.sh OUT_DIR HTTPD_ADDR LISTEN_ADDR [INTERVAL]" >&2
	exit 2
fi
out=$1 httpd=$2 listen=$3 interval=${4:-}
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../contrib/prometheus" && pwd)
for a in "$httpd" "$listen"; do
	[[ $a =~ ^[A-Za-z0-9.:_-]+:[0-9]+$ ]] || { echo "prometheus-conf.sh: not HOST:PORT: $a" >&2; exit 2; }
done
[[ -z $interval || $interval =~ ^[0-9]+(ms|s|m)$ ]] ||
	{ echo "prometheus-conf.sh: not an interval: $interval" >&2; exit 2; }

mkdir -p "$out"
sed_args=(-e "s/'127\.0\.0\.1:5000'/'$httpd'/" -e "s/'127\.0\.0\.1:9101'/'$listen'/")
if [[ -n $interval ]]; then
	sed_args+=(-e "s/^\(  scrape_interval:\) .*/\1 $interval/" -e "s/^\(  evaluation_interval:\) .*/\1 $interval/")
fi
sed "${sed_args[@]}" "$src/prometheus.yml" >"$out/prometheus.yml.tmp"
# The contrib file changed shape and the substitution missed: say so.
for a in "$httpd" "$listen"; do
	grep -qF "targets: ['$a']" "$out/prometheus.yml.tmp" ||
		{ echo "prometheus-conf.sh: no target $a in the copy of $src/prometheus.yml" >&2; exit 1; }
done
cp "$src/iotflow-alerts.yml" "$out/iotflow-alerts.yml"
mv "$out/prometheus.yml.tmp" "$out/prometheus.yml"
