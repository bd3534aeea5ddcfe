# Shared by start.sh and stop.sh (sourced): where state lives, ports, logging helpers.
# shellcheck shell=bash
# shellcheck disable=SC2034  # variables are used by the scripts that source this file

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
CACHE_DIR="$REPO_ROOT/.cache"
STATE_DIR="${RECSYS_SERVICES_STATE_DIR:-$CACHE_DIR/services}"
KAFKA_LIB="$CACHE_DIR/kafka/lib"
KAFKA_MARKER="$CACHE_DIR/kafka/resolved.version"
TIMEOUT="${RECSYS_SERVICES_TIMEOUT:-90}"

PG_PORT="${RECSYS_SERVICES_PG_PORT:-55432}"
REDIS_PORT="${RECSYS_SERVICES_REDIS_PORT:-56379}"
KAFKA_PORT="${RECSYS_SERVICES_KAFKA_PORT:-59092}"
KAFKA_CONTROLLER_PORT="${RECSYS_SERVICES_KAFKA_CONTROLLER_PORT:-59093}"
MLFLOW_PORT="${RECSYS_SERVICES_MLFLOW_PORT:-55000}"
KUBE_PORT="${RECSYS_SERVICES_KUBE_PORT:-56443}"
ETCD_PORT="${RECSYS_SERVICES_ETCD_PORT:-52379}"
ETCD_PEER_PORT="${RECSYS_SERVICES_ETCD_PEER_PORT:-52380}"
HOST=127.0.0.1

PG_DIR="$STATE_DIR/postgres"
PG_DATA="$PG_DIR/data"
PG_SOCK="$PG_DIR/run"
PG_LOG="$PG_DIR/postgres.log"
REDIS_DIR="$STATE_DIR/redis"
REDIS_PID="$REDIS_DIR/redis.pid"
REDIS_LOG="$REDIS_DIR/redis.log"
KAFKA_DIR="$STATE_DIR/kafka"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_PID="$KAFKA_DIR/kafka.pid"
KAFKA_OUT="$KAFKA_DIR/kafka.out"
KAFKA_LOG="$KAFKA_DIR/server.log"
KAFKA_PROPS="$KAFKA_DIR/server.properties"
MLFLOW_DIR="$STATE_DIR/mlflow"
MLFLOW_PID="$MLFLOW_DIR/mlflow.pid"
MLFLOW_LOG="$MLFLOW_DIR/mlflow.log"
KUBE_DIR="$STATE_DIR/kube"
KUBE_PKI="$KUBE_DIR/pki"
ETCD_DATA="$KUBE_DIR/etcd-data"
ETCD_PID="$KUBE_DIR/etcd.pid"
ETCD_LOG="$KUBE_DIR/etcd.log"
KUBE_APISERVER_PID="$KUBE_DIR/kube-apiserver.pid"
KUBE_APISERVER_LOG="$KUBE_DIR/kube-apiserver.log"
KUBE_APISERVER_BIN="$CACHE_DIR/bin/kube-apiserver"
KUBE_KUBECONFIG="$KUBE_DIR/admin.kubeconfig"
KUBE_CRD_DIR="$REPO_ROOT/third_party/kserve/crds"

log() { echo "[services] $*" >&2; }
# fail SERVICE MESSAGE [LOGFILE...]: print message + tail of each log, exit 1
fail() {
  local svc="$1" msg="$2"; shift 2
  echo "[services] ERROR: $svc: $msg" >&2
  local f
  for f in "$@"; do
    if [ -s "$f" ]; then
      echo "[services] ---- last 40 lines of $f ----" >&2
      tail -n 40 "$f" >&2 || true
      echo "[services] ---- end of $f ----" >&2
    fi
  done
  exit 1
}

usage() { echo "usage: $0 [all|postgres|redis|kafka|mlflow|kube]..." >&2; exit 2; }

# cmdline of a pid (NUL -> space), empty if gone
pid_cmdline() { tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" || true; }

# parse_services [all|postgres|redis|kafka|mlflow|kube]...: sets want_pg, want_redis, want_kafka,
# want_mlflow, want_kube (default all; kube = etcd + kube-apiserver)
parse_services() {
  want_pg=0 want_redis=0 want_kafka=0 want_mlflow=0 want_kube=0
  [ "$#" -eq 0 ] && set -- all
  local arg
  for arg in "$@"; do
    case "$arg" in
      all) want_pg=1; want_redis=1; want_kafka=1; want_mlflow=1; want_kube=1 ;;
      postgres|postgresql|pg) want_pg=1 ;;
      redis) want_redis=1 ;;
      kafka) want_kafka=1 ;;
      mlflow) want_mlflow=1 ;;
      kube|kubernetes|k8s) want_kube=1 ;;
      -h|--help) usage ;;
      *) echo "[services] unknown service '$arg'" >&2; usage ;;
    esac
  done
}

# The mlflow executable: the project venv's (it is a Python dependency, installed with the project)
mlflow_bin() {
  if [ -x "$REPO_ROOT/.venv/bin/mlflow" ]; then
    echo "$REPO_ROOT/.venv/bin/mlflow"
  else
    command -v mlflow 2>/dev/null || true
  fi
}

# Is the pid in the MLflow pidfile a running `mlflow server` on our port?
mlflow_pid_alive() {
  local pid
  [ -f "$MLFLOW_PID" ] || return 1
  pid="$(cat "$MLFLOW_PID" 2>/dev/null || true)"
  [ -n "$pid" ] && pid_cmdline "$pid" | grep -q "mlflow server .*--port $MLFLOW_PORT"
}
