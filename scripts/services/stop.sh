#!/usr/bin/env bash
# Stop the test services started by start.sh (idempotent; not running is fine).
#
# Usage: scripts/services/stop.sh [all|postgres|redis|kafka|mlflow|kube]...   (default: all)
set -euo pipefail

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# wait_gone PID SECONDS -> 0 when the pid has exited
wait_gone() {
  local pid="$1" deadline=$((SECONDS + $2))
  while kill -0 "$pid" 2>/dev/null; do
    # a zombie (child of ours that nobody reaped) counts as gone
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)" = "Z" ] && return 0
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# kill_pid NAME PID PATTERN TIMEOUT [LOG...]: TERM, wait, then KILL -- only if cmdline matches PATTERN
kill_pid() {
  local name="$1" pid="$2" pattern="$3" secs="$4"; shift 4
  [ -n "$pid" ] && [ -d "/proc/$pid" ] && pid_cmdline "$pid" | grep -q -- "$pattern" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_gone "$pid" "$secs"; then
    log "$name: pid $pid did not exit within ${secs}s after SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 10 || fail "$name" "pid $pid survived SIGKILL" "$@"
  fi
}

stop_postgres() {
  local pgbin pidf="$PG_DATA/postmaster.pid" pid
  if [ ! -f "$pidf" ]; then
    log "postgres not running"
    return 0
  fi
  pid="$(head -n 1 "$pidf" 2>/dev/null || true)"
  if [ -z "$pid" ] || [ ! -d "/proc/$pid" ] || ! pid_cmdline "$pid" | grep -q postgres; then
    log "postgres not running (removing stale postmaster.pid, pid ${pid:-?})"
    rm -f "$pidf" "$PG_SOCK"/.s.PGSQL."$PG_PORT" "$PG_SOCK"/.s.PGSQL."$PG_PORT".lock
    return 0
  fi
  log "stopping postgres (pid $pid) ..."
  pgbin="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  local ok=0
  if [ -n "$pgbin" ] && [ -x "$pgbin/pg_ctl" ]; then
    if [ "$(id -u)" -eq 0 ]; then
      runuser -u postgres -- "$pgbin/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null 2>"$PG_DIR/pg_ctl.err" && ok=1
    else
      "$pgbin/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null 2>"$PG_DIR/pg_ctl.err" && ok=1
    fi
  fi
  if [ "$ok" -ne 1 ]; then
    log "postgres: pg_ctl stop failed; signalling pid $pid directly"
    kill -INT "$pid" 2>/dev/null || true   # SIGINT = fast shutdown
    wait_gone "$pid" 30 || fail postgres "postmaster $pid did not stop" "$PG_DIR/pg_ctl.err" "$PG_LOG"
  fi
  log "postgres stopped"
}

stop_redis() {
  local pid=""
  [ -f "$REDIS_PID" ] && pid="$(cat "$REDIS_PID" 2>/dev/null || true)"
  if [ -z "$pid" ] || ! pid_cmdline "$pid" | grep -q "redis-server.*:$REDIS_PORT"; then
    rm -f "$REDIS_PID"
    log "redis not running"
    return 0
  fi
  log "stopping redis (pid $pid) ..."
  timeout 10 redis-cli -h "$HOST" -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  kill_pid redis "$pid" "redis-server" 15 "$REDIS_LOG"
  rm -f "$REDIS_PID"
  log "redis stopped"
}

stop_kafka() {
  local pid=""
  [ -f "$KAFKA_PID" ] && pid="$(cat "$KAFKA_PID" 2>/dev/null || true)"
  if [ -z "$pid" ] || ! pid_cmdline "$pid" | grep -q "kafka.Kafka $KAFKA_PROPS"; then
    rm -f "$KAFKA_PID"
    log "kafka not running"
    return 0
  fi
  log "stopping kafka (pid $pid) ..."
  # SIGTERM triggers Kafka's controlled shutdown; it takes a few seconds.
  kill_pid kafka "$pid" "kafka.Kafka" 60 "$KAFKA_OUT" "$KAFKA_LOG"
  rm -f "$KAFKA_PID"
  log "kafka stopped"
}

stop_mlflow() {
  local pid=""
  [ -f "$MLFLOW_PID" ] && pid="$(cat "$MLFLOW_PID" 2>/dev/null || true)"
  if [ -z "$pid" ] || ! mlflow_pid_alive; then
    rm -f "$MLFLOW_PID"
    log "mlflow not running"
    return 0
  fi
  log "stopping mlflow (pid $pid and its process group) ..."
  # start.sh runs it under setsid, so pid == pgid: TERM the group (mlflow + its uvicorn child).
  kill -TERM -- "-$pid" 2>/dev/null || true
  kill_pid mlflow "$pid" "mlflow server" 30 "$MLFLOW_LOG"
  # children that outlived the parent (same process group)
  if pgrep -g "$pid" >/dev/null 2>&1; then
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$MLFLOW_PID"
  log "mlflow stopped"
}

stop_kube() {
  local pid=""
  [ -f "$KUBE_APISERVER_PID" ] && pid="$(cat "$KUBE_APISERVER_PID" 2>/dev/null || true)"
  if [ -n "$pid" ] && pid_cmdline "$pid" | grep -q -- "kube-apiserver .*--secure-port=$KUBE_PORT"; then
    log "stopping kube-apiserver (pid $pid) ..."
    kill_pid kube-apiserver "$pid" "kube-apiserver" 30 "$KUBE_APISERVER_LOG"
    log "kube-apiserver stopped"
  else
    log "kube-apiserver not running"
  fi
  rm -f "$KUBE_APISERVER_PID"
  pid=""
  [ -f "$ETCD_PID" ] && pid="$(cat "$ETCD_PID" 2>/dev/null || true)"
  if [ -n "$pid" ] && pid_cmdline "$pid" | grep -q -- "etcd .*--listen-client-urls http://$HOST:$ETCD_PORT"; then
    log "stopping etcd (pid $pid) ..."
    kill_pid etcd "$pid" "etcd" 30 "$ETCD_LOG"
    log "etcd stopped"
  else
    log "etcd not running"
  fi
  rm -f "$ETCD_PID"
}

parse_services "$@"

# Kafka first: it is the slowest and the others do not depend on it.
if [ "$want_kube" -eq 1 ]; then stop_kube; fi
if [ "$want_mlflow" -eq 1 ]; then stop_mlflow; fi
if [ "$want_kafka" -eq 1 ]; then stop_kafka; fi
if [ "$want_redis" -eq 1 ]; then stop_redis; fi
if [ "$want_pg" -eq 1 ]; then stop_postgres; fi
