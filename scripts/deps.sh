#!/usr/bin/env bash
# deps.sh — make sure the Debian packages IoTFlow builds and tests with are
# installed (behind `make deps`, run by `make check` and `make run`).
# --bench: also what bench/ measures with and against (behind `make bench`).
# All present: silent, exit 0. Missing: install them as root (or through
# password-less sudo); otherwise name them and exit 1.
set -euo pipefail

pkgs=(
	build-essential pkg-config clang
	libpq-dev libhiredis-dev libmosquitto-dev mosquitto-dev libjansson-dev
	libsodium-dev libmicrohttpd-dev libsystemd-dev zlib1g-dev
	postgresql redis-server mosquitto
	mosquitto-clients bats bats-assert bats-support curl jq procps groff-base man-db
	prometheus socat systemd
	libxml2-utils librsvg2-bin python3
	chromium chromium-driver nginx-light
)
# bench/: wrk (bench/http), /usr/bin/time (peak RSS); pgbench comes with the
# PostgreSQL client, nginx (bench/http's HTTP-only side) with the tests.
if [[ ${1:-} == --bench ]]; then
	pkgs+=(wrk time)
elif (($#)); then
	echo "usage: scripts/deps.sh [--bench]" >&2
	exit 2
fi

missing=()
for p in "${pkgs[@]}"; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) || st=
	[[ $st == "install ok installed" ]] || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

if ((EUID == 0)); then
	sudo=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
	sudo=(sudo -n)
else
	echo "iotflow: these packages are missing: ${missing[*]} ; install them with: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi

echo "iotflow: installing ${missing[*]}" >&2
# The postgresql, redis-server, mosquitto and prometheus packages would start
# system-wide services we never use (our servers, and the Prometheus of
# `make run` and tests/monitoring.bats, run on spare ports under a state dir).
# A policy-rc.d answering 101 ("action forbidden") keeps them from starting;
# it is removed again unless one was already there.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
	"${sudo[@]}" chmod 755 "$policy"
	own_policy=1
fi
cleanup() { ((own_policy)) && "${sudo[@]}" rm -f "$policy"; return 0; }
trap cleanup EXIT

apt_install() {
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends "${missing[@]}"
}
# Fresh images ship without package lists: update first then. Otherwise try the
# lists we have and update only if they turn out stale.
if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
	"${sudo[@]}" apt-get update -q
fi
if ! apt_install; then
	"${sudo[@]}" apt-get update -q
	apt_install
fi
