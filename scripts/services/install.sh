#!/usr/bin/env bash
# Install what the test services need (idempotent):
#   1. Debian packages: redis-server, postgresql (and java/maven if missing).
#      etcd-server (the Kubernetes API server's store), and openssl.
#   2. Apache Kafka (kafka_2.13 + kafka-tools + log4j2 backend) resolved from
#      Maven Central into <repo>/.cache/kafka/lib/ using scripts/services/kafka/pom.xml.
#
# Env overrides:
#   RECSYS_KAFKA_VERSIONS  versions to try, in order (default: "4.4.0 4.1.1")
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
CACHE_DIR="$REPO_ROOT/.cache"
KAFKA_HOME="$CACHE_DIR/kafka"
KAFKA_LIB="$KAFKA_HOME/lib"
KAFKA_MARKER="$KAFKA_HOME/resolved.version"
KAFKA_POM="$SCRIPT_DIR/kafka/pom.xml"
KAFKA_VERSIONS="${RECSYS_KAFKA_VERSIONS:-4.4.0 4.1.1}"

log() { echo "[services] $*" >&2; }
die() { echo "[services] ERROR: $*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 && SUDO="sudo -n"
fi

# ---------------------------------------------------------------- apt packages
pg_bin_dir() {
  local d
  d="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && echo "$d"
}

APT_UPDATED=0
apt_update() {
  [ "$APT_UPDATED" -eq 1 ] && return 0
  log "apt-get update ..."
  $SUDO apt-get update -qq >/dev/null || die "apt: 'apt-get update' failed"
  APT_UPDATED=1
}

apt_install() {
  # Never let package installation start Debian's own services (default ports);
  # we run our own instances. Use a temporary policy-rc.d unless one exists.
  local own_policy=0 rc=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  # Package lists missing entirely -> update first; otherwise try, and update+retry on failure.
  if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then apt_update; fi
  log "apt-get install -y $* ..."
  if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null; then
    apt_update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null || rc=$?
  fi
  if [ "$own_policy" -eq 1 ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
  [ "$rc" -eq 0 ] || die "apt: 'apt-get install $*' failed (exit $rc)"
}

install_packages() {
  local pkgs=()
  if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    pkgs+=(redis-server)
  fi
  if [ -z "$(pg_bin_dir || true)" ]; then
    pkgs+=(postgresql)
  fi
  command -v java >/dev/null 2>&1 || pkgs+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || pkgs+=(maven)
  command -v etcd >/dev/null 2>&1 || pkgs+=(etcd-server)
  command -v openssl >/dev/null 2>&1 || pkgs+=(openssl)
  if [ "${#pkgs[@]}" -eq 0 ]; then
    log "apt packages: redis-server, postgresql ($(pg_bin_dir)), java, maven, etcd-server already installed"
    return 0
  fi
  apt_install "${pkgs[@]}"
  command -v redis-server >/dev/null 2>&1 || die "redis: redis-server still missing after apt-get install"
  [ -n "$(pg_bin_dir || true)" ] || die "postgres: no /usr/lib/postgresql/*/bin/initdb after apt-get install"
  command -v java >/dev/null 2>&1 || die "kafka: java still missing after apt-get install"
  command -v mvn >/dev/null 2>&1 || die "kafka: mvn still missing after apt-get install"
  command -v etcd >/dev/null 2>&1 || die "kube: etcd still missing after apt-get install etcd-server"
  log "apt packages installed: ${pkgs[*]}"
}

# ---------------------------------------------------------------- kafka jars
pom_sum() { sha256sum "$KAFKA_POM" | cut -d' ' -f1; }

kafka_resolved() {
  [ -f "$KAFKA_MARKER" ] || return 1
  local ver sum
  ver="$(sed -n 's/^version=//p' "$KAFKA_MARKER")"
  sum="$(sed -n 's/^pom_sha256=//p' "$KAFKA_MARKER")"
  [ -n "$ver" ] && [ "$sum" = "$(pom_sum)" ] || return 1
  [ -f "$KAFKA_LIB/kafka_2.13-$ver.jar" ] && [ -f "$KAFKA_LIB/kafka-tools-$ver.jar" ] || return 1
  echo "$ver"
}

# Smoke test: the broker's storage tool and the topic tool must load and run.
kafka_smoke() {
  local lib="$1" out
  out="$(java -Xshare:auto -XX:TieredStopAtLevel=1 -cp "$lib/*" kafka.tools.StorageTool random-uuid 2>&1)" || {
    echo "$out" | tail -n 20 >&2; return 1; }
  echo "$out" | tail -n 1 | grep -Eq '^[A-Za-z0-9_-]{22}$' || { echo "$out" | tail -n 20 >&2; return 1; }
  out="$(java -Xshare:auto -XX:TieredStopAtLevel=1 -cp "$lib/*" org.apache.kafka.tools.TopicCommand --version 2>&1)" || {
    echo "$out" | tail -n 20 >&2; return 1; }
  return 0
}

resolve_kafka() {
  local ver
  if ver="$(kafka_resolved)"; then
    log "kafka $ver jars already resolved in $KAFKA_LIB"
    return 0
  fi
  mkdir -p "$KAFKA_HOME"
  local t0 tmp mvn_log
  for ver in $KAFKA_VERSIONS; do
    t0=$SECONDS
    tmp="$KAFKA_HOME/lib.tmp.$$"
    mvn_log="$KAFKA_HOME/mvn-$ver.log"
    rm -rf "$tmp"
    log "kafka: resolving org.apache.kafka:kafka_2.13:$ver + runtime deps from Maven Central ..."
    if ! mvn -B -q -Dstyle.color=never -f "$KAFKA_POM" -Dkafka.version="$ver" \
          dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" \
          >"$mvn_log" 2>&1; then
      log "kafka: maven could not resolve $ver (log: $mvn_log):"
      sed 's/\x1b\[[0-9;]*m//g' "$mvn_log" | grep -v '^\[ERROR\] *$' | tail -n 20 >&2 || true
      rm -rf "$tmp"
      continue
    fi
    if ! kafka_smoke "$tmp"; then
      log "kafka: $ver resolved but failed to run (StorageTool/TopicCommand smoke test); trying next version"
      rm -rf "$tmp"
      continue
    fi
    rm -rf "$KAFKA_LIB"
    mv "$tmp" "$KAFKA_LIB"
    printf 'version=%s\npom_sha256=%s\n' "$ver" "$(pom_sum)" >"$KAFKA_MARKER"
    log "kafka $ver: $(find "$KAFKA_LIB" -name '*.jar' | wc -l) jars ($(du -sh "$KAFKA_LIB" | cut -f1)) in $KAFKA_LIB, took $((SECONDS - t0))s"
    return 0
  done
  die "kafka: could not resolve a working Kafka (tried: $KAFKA_VERSIONS); see $KAFKA_HOME/mvn-*.log"
}

T0=$SECONDS
install_packages
resolve_kafka
# kube-apiserver: built from its Go module once, cached in .cache/bin (minutes when cold)
if [ "${RECSYS_SERVICES_SKIP_KUBE:-0}" != 1 ]; then
  bash "$REPO_ROOT/scripts/tools/install-kube-apiserver.sh" >/dev/null || die "kube: building kube-apiserver failed"
fi
log "install done in $((SECONDS - T0))s"
