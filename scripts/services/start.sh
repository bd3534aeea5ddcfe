#!/usr/bin/env bash
# Start the test services (idempotent; a healthy running service is left alone):
#   postgres  127.0.0.1:55432   (role/db recsys, password recsys, superuser)
#   redis     127.0.0.1:56379
#   kafka     127.0.0.1:59092   (KRaft combined broker+controller, controller on 59093)
#   mlflow    127.0.0.1:55000   (tracking server + model registry, SQLite backend, proxied artifacts)
#   kube      127.0.0.1:56443   (kube-apiserver, TLS, RBAC; etcd on 52379/52380; KServe CRDs applied;
#                                admin kubeconfig .cache/services/kube/admin.kubeconfig)
# State lives in <repo>/.cache/services/. Writes <repo>/.cache/services/env.
#
# Usage: scripts/services/start.sh [all|postgres|redis|kafka|mlflow|kube]...   (default: all)
set -euo pipefail

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

IS_ROOT=0
[ "$(id -u)" -eq 0 ] && IS_ROOT=1

# Is something listening on HOST:PORT?
port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# Who listens on HOST:PORT (for error messages)
port_owner() { ss -ltnpH "sport = :$1" 2>/dev/null | sed -n 's/.*users:(("\([^"]*\)",pid=\([0-9]*\).*/\1 (pid \2)/p' | head -n 1; }
port_in_use() { fail "$1" "port $HOST:$2 is already in use by another process: $(port_owner "$2" || true)"; }

# Keep one previous log so the tail shown on failure belongs to this attempt
rotate_log() { if [ -s "$1" ]; then mv -f "$1" "$1.1"; fi; }


pg_bin_dir() {
  local d
  d="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

need_install() {
  log "$1 not installed yet; running scripts/services/install.sh ..."
  bash "$SCRIPT_DIR/install.sh" || fail "$1" "install.sh failed"
}

# ====================================================================== postgres
PGBIN=""
pg_run() {  # run a postgres binary as the OS user owning the cluster
  if [ "$IS_ROOT" -eq 1 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_healthy() {
  "$PGBIN/pg_isready" -q -h "$HOST" -p "$PG_PORT" -d recsys -U recsys -t 3 >/dev/null 2>&1 || return 1
  local out
  out="$(PGPASSWORD=recsys PGCONNECT_TIMEOUT=5 "$PGBIN/psql" -X -q -h "$HOST" -p "$PG_PORT" -U recsys -d recsys \
           -tAc 'SELECT 1' 2>/dev/null)" || return 1
  [ "$out" = "1" ]
}

# postmaster.pid left behind by a dead (or reused) pid -> remove it and socket locks
pg_clear_stale_pid() {
  local pidf="$PG_DATA/postmaster.pid" pid
  [ -f "$pidf" ] || return 0
  pid="$(head -n 1 "$pidf" 2>/dev/null || true)"
  if [ -n "$pid" ] && [ -d "/proc/$pid" ] && pid_cmdline "$pid" | grep -q "postgres"; then
    return 0  # a real postgres is (still) running on this data dir
  fi
  log "postgres: removing stale postmaster.pid (pid ${pid:-?} is not a running postgres)"
  rm -f "$pidf" "$PG_SOCK"/.s.PGSQL."$PG_PORT" "$PG_SOCK"/.s.PGSQL."$PG_PORT".lock
}

start_postgres() {
  local t0=$SECONDS
  PGBIN="$(pg_bin_dir || true)"
  if [ -z "$PGBIN" ]; then need_install postgres; PGBIN="$(pg_bin_dir || true)"; fi
  [ -n "$PGBIN" ] || fail postgres "no /usr/lib/postgresql/*/bin/initdb found"

  if pg_healthy; then
    log "postgres already running and healthy on $HOST:$PG_PORT"
    return 0
  fi
  log "starting postgres ($PGBIN) on $HOST:$PG_PORT ..."
  mkdir -p "$PG_DIR" "$PG_SOCK"
  if [ "$IS_ROOT" -eq 1 ]; then
    id postgres >/dev/null 2>&1 || fail postgres "OS user 'postgres' does not exist (is the postgresql package installed?)"
    chown -R postgres:postgres "$PG_DIR"
    # The server runs as 'postgres', which must be able to reach the state dir. A checkout
    # under e.g. /root (mode 700) is not reachable: add only the search bit (o+x) to such parents.
    local d="" part
    local -a parts
    IFS=/ read -r -a parts <<<"${STATE_DIR#/}"
    for part in "${parts[@]}"; do  # top-down, so each check only depends on fixed parents
      d="$d/$part"
      if ! runuser -u postgres -- test -x "$d"; then
        log "postgres: chmod o+x $d (so the 'postgres' user can reach $PG_DIR)"
        chmod o+x "$d"
      fi
    done
    runuser -u postgres -- test -w "$PG_DIR" ||
      fail postgres "user 'postgres' cannot write $PG_DIR (check permissions of its parent directories)"
  fi
  chmod 700 "$PG_DIR"

  if [ ! -s "$PG_DATA/PG_VERSION" ]; then
    log "postgres: initdb $PG_DATA"
    rm -rf "$PG_DATA"
    pg_run "$PGBIN/initdb" -D "$PG_DATA" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 --no-instructions >"$PG_DIR/initdb.log" 2>&1 ||
      fail postgres "initdb failed" "$PG_DIR/initdb.log"
    echo "include_if_exists = 'recsys_test.conf'" >>"$PG_DATA/postgresql.conf"
  elif ! grep -q "recsys_test.conf" "$PG_DATA/postgresql.conf"; then
    echo "include_if_exists = 'recsys_test.conf'" >>"$PG_DATA/postgresql.conf"
  fi
  # (Re)written on every start so changes here take effect.
  cat >"$PG_DATA/recsys_test.conf" <<EOF
# Written by scripts/services/start.sh -- test instance, durability off on purpose.
listen_addresses = '$HOST'
port = $PG_PORT
unix_socket_directories = '$PG_SOCK'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
EOF
  if [ "$IS_ROOT" -eq 1 ]; then chown postgres:postgres "$PG_DATA/recsys_test.conf"; fi

  pg_clear_stale_pid
  if ! pg_run "$PGBIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
    if port_open "$PG_PORT"; then
      port_in_use postgres "$PG_PORT"
    fi
    rotate_log "$PG_LOG"
    # -w waits for startup; -t caps it.
    pg_run "$PGBIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$TIMEOUT" start >/dev/null 2>"$PG_DIR/pg_ctl.err" ||
      fail postgres "pg_ctl start failed" "$PG_DIR/pg_ctl.err" "$PG_LOG"
  fi

  # role + database (idempotent), via the unix socket as the superuser 'postgres'
  pg_run "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$PG_PORT" -U postgres -d postgres >/dev/null 2>"$PG_DIR/setup.err" <<'SQL' ||
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'recsys') THEN
    CREATE ROLE recsys LOGIN SUPERUSER PASSWORD 'recsys';
  ELSE
    ALTER ROLE recsys LOGIN SUPERUSER PASSWORD 'recsys';
  END IF;
END $$;
SELECT 'CREATE DATABASE recsys OWNER recsys'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'recsys') \gexec
SQL
    fail postgres "creating role/database recsys failed" "$PG_DIR/setup.err" "$PG_LOG"

  local deadline=$((SECONDS + TIMEOUT))
  until pg_healthy; do
    [ "$SECONDS" -lt "$deadline" ] || fail postgres "not healthy after ${TIMEOUT}s (pg_isready/psql as recsys on $HOST:$PG_PORT)" "$PG_LOG"
    sleep 0.5
  done
  log "postgres ready on $HOST:$PG_PORT in $((SECONDS - t0))s"
}

# ====================================================================== redis
redis_healthy() {
  [ "$(timeout 5 redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null || true)" = "PONG" ]
}

start_redis() {
  local t0=$SECONDS
  if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    need_install redis
  fi
  if redis_healthy; then
    log "redis already running and healthy on $HOST:$REDIS_PORT"
    return 0
  fi
  log "starting redis on $HOST:$REDIS_PORT ..."
  mkdir -p "$REDIS_DIR/data"
  if [ -f "$REDIS_PID" ]; then
    local pid; pid="$(cat "$REDIS_PID" 2>/dev/null || true)"
    if [ -n "$pid" ] && pid_cmdline "$pid" | grep -q "redis-server.*:$REDIS_PORT"; then
      fail redis "process $pid is running but not answering PING on $HOST:$REDIS_PORT" "$REDIS_LOG"
    fi
    log "redis: removing stale pidfile (pid ${pid:-?} is not a running redis-server)"
    rm -f "$REDIS_PID"
  fi
  if port_open "$REDIS_PORT"; then port_in_use redis "$REDIS_PORT"; fi
  rotate_log "$REDIS_LOG"
  redis-server --port "$REDIS_PORT" --bind "$HOST" --protected-mode yes \
    --daemonize yes --pidfile "$REDIS_PID" --logfile "$REDIS_LOG" --dir "$REDIS_DIR/data" \
    --save "" --appendonly "${RECSYS_SERVICES_REDIS_APPENDONLY:-no}" --appendfsync always \
    --databases 16 \
    >"$REDIS_DIR/redis-server.out" 2>&1 ||
    fail redis "redis-server failed to start" "$REDIS_DIR/redis-server.out" "$REDIS_LOG"
  local deadline=$((SECONDS + TIMEOUT))
  until redis_healthy; do
    [ "$SECONDS" -lt "$deadline" ] || fail redis "no PONG from $HOST:$REDIS_PORT after ${TIMEOUT}s" "$REDIS_LOG"
    sleep 0.2
  done
  log "redis ready on $HOST:$REDIS_PORT in $((SECONDS - t0))s"
}

# ====================================================================== kafka
KAFKA_VERSION=""
kafka_java_tool() {  # run a Kafka CLI class with a quiet log config and a small, fast-starting JVM
  java -Xms32m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto \
    -Dlog4j2.configurationFile="$KAFKA_DIR/tools-log4j2.xml" \
    -cp "$KAFKA_LIB/*" "$@"
}

kafka_pid_alive() {
  local pid
  [ -f "$KAFKA_PID" ] || return 1
  pid="$(cat "$KAFKA_PID" 2>/dev/null || true)"
  [ -n "$pid" ] && pid_cmdline "$pid" | grep -q "kafka.Kafka $KAFKA_PROPS"
}

kafka_healthy() {
  port_open "$KAFKA_PORT" || return 1
  timeout 40 java -Xms32m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto \
    -Dlog4j2.configurationFile="$KAFKA_DIR/tools-log4j2.xml" -cp "$KAFKA_LIB/*" \
    org.apache.kafka.tools.TopicCommand --bootstrap-server "$HOST:$KAFKA_PORT" \
    --command-config "$KAFKA_DIR/client.properties" --list >/dev/null 2>>"$KAFKA_DIR/health.err"
}

write_kafka_configs() {
  cat >"$KAFKA_PROPS" <<EOF
# Written by scripts/services/start.sh -- single-node KRaft (combined mode) test broker.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_DATA
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
delete.topic.enable=true
num.network.threads=2
num.io.threads=4
log.retention.hours=24
log.segment.bytes=16777216
EOF
  cat >"$KAFKA_DIR/client.properties" <<EOF
request.timeout.ms=5000
default.api.timeout.ms=15000
EOF
  cat >"$KAFKA_DIR/log4j2.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by scripts/services/start.sh: broker logs go to server.log -->
<Configuration status="WARN">
  <Appenders>
    <File name="file" fileName="$KAFKA_LOG" append="true">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </File>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="file"/></Root>
    <!-- the full config dumps ("KafkaConfig values: ...") would drown everything else -->
    <Logger name="org.apache.kafka.common.config.AbstractConfig" level="WARN"/>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="state.change.logger" level="WARN"/>
    <Logger name="kafka.log.LogCleaner" level="WARN"/>
    <Logger name="org.apache.kafka.clients.consumer.ConsumerConfig" level="WARN"/>
    <Logger name="org.apache.kafka.clients.producer.ProducerConfig" level="WARN"/>
    <Logger name="org.apache.kafka.clients.admin.AdminClientConfig" level="WARN"/>
  </Loggers>
</Configuration>
EOF
  cat >"$KAFKA_DIR/tools-log4j2.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by scripts/services/start.sh: CLI tools log warnings to stderr only -->
<Configuration status="WARN" shutdownHook="disable">
  <Appenders>
    <Console name="stderr" target="SYSTEM_ERR">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Root level="WARN"><AppenderRef ref="stderr"/></Root>
  </Loggers>
</Configuration>
EOF
}

start_kafka() {
  local t0=$SECONDS
  command -v java >/dev/null 2>&1 || need_install kafka
  if [ ! -f "$KAFKA_MARKER" ] || ! ls "$KAFKA_LIB"/kafka_2.13-*.jar >/dev/null 2>&1; then
    need_install kafka
  fi
  KAFKA_VERSION="$(sed -n 's/^version=//p' "$KAFKA_MARKER")"
  [ -f "$KAFKA_LIB/kafka_2.13-$KAFKA_VERSION.jar" ] ||
    fail kafka "jars for version '$KAFKA_VERSION' missing in $KAFKA_LIB (re-run scripts/services/install.sh)"
  mkdir -p "$KAFKA_DIR"
  : >"$KAFKA_DIR/health.err"
  write_kafka_configs

  if kafka_pid_alive; then
    if kafka_healthy; then
      log "kafka $KAFKA_VERSION already running and healthy on $HOST:$KAFKA_PORT"
      return 0
    fi
    log "kafka: process $(cat "$KAFKA_PID") is running but not healthy yet; waiting ..."
  else
    if [ -f "$KAFKA_PID" ]; then
      log "kafka: removing stale pidfile (pid $(cat "$KAFKA_PID" 2>/dev/null || echo ?) is not a running broker)"
      rm -f "$KAFKA_PID"
    fi
    local p
    for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
      if port_open "$p"; then port_in_use kafka "$p"; fi
    done

    # Storage is formatted once per Kafka version (a newer metadata.version cannot be read by
    # an older broker, so a version switch wipes the test data).
    local fmt_marker="$KAFKA_DIR/formatted.version"
    if [ ! -f "$KAFKA_DATA/meta.properties" ] || [ "$(cat "$fmt_marker" 2>/dev/null || true)" != "$KAFKA_VERSION" ]; then
      rm -rf "$KAFKA_DATA" "$fmt_marker"
      mkdir -p "$KAFKA_DATA"
      local cluster_id
      cluster_id="$(kafka_java_tool kafka.tools.StorageTool random-uuid 2>"$KAFKA_DIR/format.log" | tail -n 1)" ||
        fail kafka "StorageTool random-uuid failed" "$KAFKA_DIR/format.log"
      log "kafka: formatting storage $KAFKA_DATA (cluster id $cluster_id)"
      kafka_java_tool kafka.tools.StorageTool format --config "$KAFKA_PROPS" --cluster-id "$cluster_id" \
        >>"$KAFKA_DIR/format.log" 2>&1 || fail kafka "StorageTool format failed" "$KAFKA_DIR/format.log"
      echo "$cluster_id" >"$KAFKA_DIR/cluster.id"
      echo "$KAFKA_VERSION" >"$fmt_marker"
    fi

    log "starting kafka $KAFKA_VERSION on $HOST:$KAFKA_PORT (controller $HOST:$KAFKA_CONTROLLER_PORT) ..."
    rotate_log "$KAFKA_OUT"
    rotate_log "$KAFKA_LOG"
    # setsid: own session, so Ctrl-C / the caller's process group does not take the broker down.
    # setsid forks when the caller leads its process group (as under some CI runners), so
    # $! would be a pid that exits at once: the inner shell writes its own pid, then execs java.
    rm -f "$KAFKA_PID"
    KAFKA_PID="$KAFKA_PID" KAFKA_DIR="$KAFKA_DIR" KAFKA_LIB="$KAFKA_LIB" KAFKA_PROPS="$KAFKA_PROPS" \
      setsid nohup bash -c 'echo $$ >"$KAFKA_PID"; exec java -Xms256m -Xmx512m -XX:+UseG1GC \
        -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.xml" -Dkafka.logs.dir="$KAFKA_DIR" \
        -cp "$KAFKA_LIB/*" kafka.Kafka "$KAFKA_PROPS"' \
      >"$KAFKA_OUT" 2>&1 </dev/null &
    local waited=0
    # wait for the pidfile and the exec into java (until then the cmdline is the inner shell's)
    until kafka_pid_alive || [ "$waited" -ge 100 ]; do sleep 0.1; waited=$((waited + 1)); done
  fi

  local deadline=$((SECONDS + TIMEOUT))
  until kafka_healthy; do
    kafka_pid_alive || fail kafka "broker process exited during startup" "$KAFKA_OUT" "$KAFKA_LOG"
    [ "$SECONDS" -lt "$deadline" ] ||
      fail kafka "not healthy after ${TIMEOUT}s (TopicCommand --list against $HOST:$KAFKA_PORT)" \
        "$KAFKA_DIR/health.err" "$KAFKA_OUT" "$KAFKA_LOG"
    sleep 1
  done
  log "kafka $KAFKA_VERSION ready on $HOST:$KAFKA_PORT in $((SECONDS - t0))s"
}

# ====================================================================== mlflow
mlflow_healthy() {
  [ "$(curl -fsS --max-time 5 "http://$HOST:$MLFLOW_PORT/health" 2>/dev/null || true)" = "OK" ]
}

start_mlflow() {
  local t0=$SECONDS bin
  bin="$(mlflow_bin)"
  [ -n "$bin" ] || fail mlflow "no mlflow executable (expected $REPO_ROOT/.venv/bin/mlflow; install the project venv)"
  if mlflow_healthy; then
    log "mlflow already running and healthy on $HOST:$MLFLOW_PORT"
    return 0
  fi
  mkdir -p "$MLFLOW_DIR/artifacts"
  if mlflow_pid_alive; then
    log "mlflow: process $(cat "$MLFLOW_PID") is running but not healthy yet; waiting ..."
  else
    if [ -f "$MLFLOW_PID" ]; then
      log "mlflow: removing stale pidfile (pid $(cat "$MLFLOW_PID" 2>/dev/null || echo ?) is not a running mlflow server)"
      rm -f "$MLFLOW_PID"
    fi
    if port_open "$MLFLOW_PORT"; then port_in_use mlflow "$MLFLOW_PORT"; fi
    log "starting mlflow on $HOST:$MLFLOW_PORT ..."
    rotate_log "$MLFLOW_LOG"
    # setsid: own session/process group (stop.sh signals the whole group: mlflow execs uvicorn
    # as a child). cwd = state dir, so nothing (./mlruns) lands in the caller's directory.
    # Job execution off: 5 processes / ~760 MB instead of 13 / ~2.6 GB.
    (
      cd "$MLFLOW_DIR"
      MLFLOW_PID="$MLFLOW_PID" MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false \
        setsid nohup bash -c 'echo $$ >"$MLFLOW_PID"; exec "$@"' mlflow-server \
        "$bin" server \
        --backend-store-uri "sqlite:///$MLFLOW_DIR/mlflow.db" \
        --artifacts-destination "$MLFLOW_DIR/artifacts" \
        --host "$HOST" --port "$MLFLOW_PORT" --workers 1 \
        >"$MLFLOW_LOG" 2>&1 </dev/null &
    )
    local waited=0
    until mlflow_pid_alive || [ "$waited" -ge 100 ]; do sleep 0.1; waited=$((waited + 1)); done
  fi
  local deadline=$((SECONDS + TIMEOUT))
  until mlflow_healthy; do
    mlflow_pid_alive || fail mlflow "server process exited during startup" "$MLFLOW_LOG"
    [ "$SECONDS" -lt "$deadline" ] ||
      fail mlflow "not healthy after ${TIMEOUT}s (GET http://$HOST:$MLFLOW_PORT/health)" "$MLFLOW_LOG"
    sleep 0.5
  done
  log "mlflow ready on $HOST:$MLFLOW_PORT in $((SECONDS - t0))s"
}

# ====================================================================== kube (etcd + kube-apiserver)
# A real Kubernetes API server (no kubelet, no controllers): etcd from Debian's etcd-server,
# kube-apiserver built from its Go module by scripts/tools/install-kube-apiserver.sh.
# TLS from a CA generated here; a static admin token (group system:masters); RBAC authorization;
# a service-account signing key (TokenRequest works, so tests get real per-service-account
# tokens); the vendored KServe CRDs applied with server-side apply.
kube_curl() {  # kube_curl PATH [curl args...]: the API server as the admin
  local path="$1"; shift
  curl -sS --max-time 20 --cacert "$KUBE_PKI/ca.crt" -H "Authorization: Bearer $(cat "$KUBE_PKI/admin.token")" \
    "$@" "https://$HOST:$KUBE_PORT$path"
}

etcd_healthy() { curl -fsS --max-time 3 "http://$HOST:$ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"'; }
etcd_pid_alive() {
  local pid
  [ -f "$ETCD_PID" ] || return 1
  pid="$(cat "$ETCD_PID" 2>/dev/null || true)"
  [ -n "$pid" ] && pid_cmdline "$pid" | grep -q -- "etcd .*--listen-client-urls http://$HOST:$ETCD_PORT"
}
kube_apiserver_pid_alive() {
  local pid
  [ -f "$KUBE_APISERVER_PID" ] || return 1
  pid="$(cat "$KUBE_APISERVER_PID" 2>/dev/null || true)"
  [ -n "$pid" ] && pid_cmdline "$pid" | grep -q -- "kube-apiserver .*--secure-port=$KUBE_PORT"
}
kube_healthy() {
  [ -f "$KUBE_PKI/admin.token" ] || return 1
  [ "$(kube_curl /readyz 2>/dev/null || true)" = "ok" ]
}

kube_pki() {
  mkdir -p "$KUBE_PKI"
  chmod 700 "$KUBE_PKI"
  [ -s "$KUBE_PKI/server.crt" ] && [ -s "$KUBE_PKI/sa.pub" ] && [ -s "$KUBE_PKI/admin.token" ] && return 0
  log "kube: generating a CA, the API server's certificate, a service-account key and an admin token"
  (
    cd "$KUBE_PKI"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \
      -subj "/CN=recsys-test-kubernetes-ca" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=kube-apiserver" 2>/dev/null
    printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc" \
      "basicConstraints=CA:FALSE" "keyUsage=digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 3650 \
      -extfile server.ext 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    openssl rand -hex 24 >admin.token
    printf '%s,recsys-admin,recsys-admin,"system:masters"\n' "$(cat admin.token)" >tokens.csv
    chmod 600 ./*.key admin.token tokens.csv
  ) || fail kube "openssl failed while generating the test PKI"
}

write_kubeconfig() {
  local tmp="$KUBE_KUBECONFIG.tmp.$$"
  cat >"$tmp" <<EOF
# Written by scripts/services/start.sh -- the test API server as cluster admin (system:masters)
apiVersion: v1
kind: Config
clusters:
- name: recsys-test
  cluster:
    server: https://$HOST:$KUBE_PORT
    certificate-authority-data: $(base64 -w0 <"$KUBE_PKI/ca.crt")
users:
- name: recsys-admin
  user:
    token: $(cat "$KUBE_PKI/admin.token")
contexts:
- name: recsys-test
  context: {cluster: recsys-test, user: recsys-admin, namespace: default}
current-context: recsys-test
EOF
  chmod 600 "$tmp"
  mv "$tmp" "$KUBE_KUBECONFIG"
}

start_etcd() {
  command -v etcd >/dev/null 2>&1 || need_install etcd
  command -v etcd >/dev/null 2>&1 || fail etcd "no etcd executable after install.sh"
  if etcd_healthy && etcd_pid_alive; then
    log "etcd already running and healthy on $HOST:$ETCD_PORT"
    return 0
  fi
  if ! etcd_pid_alive; then
    rm -f "$ETCD_PID"
    if port_open "$ETCD_PORT"; then port_in_use etcd "$ETCD_PORT"; fi
    if port_open "$ETCD_PEER_PORT"; then port_in_use etcd "$ETCD_PEER_PORT"; fi
    log "starting etcd on $HOST:$ETCD_PORT (peer $ETCD_PEER_PORT) ..."
    mkdir -p "$ETCD_DATA"
    chmod 700 "$ETCD_DATA"
    rotate_log "$ETCD_LOG"
    ETCD_PID="$ETCD_PID" setsid nohup bash -c 'echo $$ >"$ETCD_PID"; exec "$@"' etcd \
      etcd --name recsys-test --data-dir "$ETCD_DATA" \
      --listen-client-urls "http://$HOST:$ETCD_PORT" --advertise-client-urls "http://$HOST:$ETCD_PORT" \
      --listen-peer-urls "http://$HOST:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://$HOST:$ETCD_PEER_PORT" \
      --initial-cluster "recsys-test=http://$HOST:$ETCD_PEER_PORT" --initial-cluster-state new \
      --logger zap --log-level warn --quota-backend-bytes 1073741824 \
      >"$ETCD_LOG" 2>&1 </dev/null &
    local waited=0
    until etcd_pid_alive || [ "$waited" -ge 100 ]; do sleep 0.1; waited=$((waited + 1)); done
  fi
  local deadline=$((SECONDS + TIMEOUT))
  until etcd_healthy; do
    etcd_pid_alive || fail etcd "process exited during startup" "$ETCD_LOG"
    [ "$SECONDS" -lt "$deadline" ] || fail etcd "not healthy after ${TIMEOUT}s" "$ETCD_LOG"
    sleep 0.2
  done
}

apply_kserve_crds() {
  local f name out
  for f in "$KUBE_CRD_DIR"/serving.kserve.io_*.yaml; do
    name="$(basename "$f" .yaml)"        # serving.kserve.io_inferenceservices
    name="${name#serving.kserve.io_}.serving.kserve.io"
    out="$(kube_curl "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/$name?fieldManager=recsys-services&force=true" \
      -X PATCH -H "Content-Type: application/apply-patch+yaml" --data-binary "@$f" -o /dev/null -w '%{http_code}')" ||
      fail kube "applying CRD $name failed" "$KUBE_APISERVER_LOG"
    [ "$out" = 200 ] || [ "$out" = 201 ] || fail kube "applying CRD $name: HTTP $out"
  done
  local deadline=$((SECONDS + 60))
  until kube_curl /apis/serving.kserve.io/v1beta1 2>/dev/null | grep -q '"inferenceservices"' &&
        kube_curl /apis/serving.kserve.io/v1alpha1 2>/dev/null | grep -q '"servingruntimes"'; do
    [ "$SECONDS" -lt "$deadline" ] || fail kube "the KServe CRDs were applied but are not served after 60s" "$KUBE_APISERVER_LOG"
    sleep 0.5
  done
}

start_kube() {
  local t0=$SECONDS
  [ -d "$KUBE_CRD_DIR" ] || fail kube "no vendored KServe CRDs in $KUBE_CRD_DIR"
  if [ ! -x "$KUBE_APISERVER_BIN" ]; then need_install kube-apiserver; fi
  [ -x "$KUBE_APISERVER_BIN" ] || fail kube "no $KUBE_APISERVER_BIN after install.sh (scripts/tools/install-kube-apiserver.sh)"
  mkdir -p "$KUBE_DIR"
  kube_pki
  write_kubeconfig
  start_etcd
  if kube_healthy && kube_apiserver_pid_alive; then
    log "kube-apiserver already running and ready on $HOST:$KUBE_PORT"
  else
    if ! kube_apiserver_pid_alive; then
      rm -f "$KUBE_APISERVER_PID"
      if port_open "$KUBE_PORT"; then port_in_use kube "$KUBE_PORT"; fi
      log "starting kube-apiserver $("$KUBE_APISERVER_BIN" --version | awk '{print $2}') on $HOST:$KUBE_PORT ..."
      rotate_log "$KUBE_APISERVER_LOG"
      local issuer="https://kubernetes.default.svc.cluster.local"
      KUBE_APISERVER_PID="$KUBE_APISERVER_PID" setsid nohup bash -c 'echo $$ >"$KUBE_APISERVER_PID"; exec "$@"' kube-apiserver \
        "$KUBE_APISERVER_BIN" --secure-port="$KUBE_PORT" --bind-address="$HOST" --advertise-address="$HOST" \
        --etcd-servers="http://$HOST:$ETCD_PORT" \
        --tls-cert-file="$KUBE_PKI/server.crt" --tls-private-key-file="$KUBE_PKI/server.key" \
        --token-auth-file="$KUBE_PKI/tokens.csv" --authorization-mode=RBAC \
        --service-account-issuer="$issuer" --api-audiences="$issuer" \
        --service-account-key-file="$KUBE_PKI/sa.pub" --service-account-signing-key-file="$KUBE_PKI/sa.key" \
        --service-cluster-ip-range=10.96.0.0/16 --endpoint-reconciler-type=none \
        --enable-priority-and-fairness=false --profiling=false --v=1 \
        >"$KUBE_APISERVER_LOG" 2>&1 </dev/null &
      local waited=0
      until kube_apiserver_pid_alive || [ "$waited" -ge 100 ]; do sleep 0.1; waited=$((waited + 1)); done
    fi
    # a cold start on a busy 2-core machine can take well over a minute
    local kube_timeout=$((TIMEOUT > 240 ? TIMEOUT : 240))
    local deadline=$((SECONDS + kube_timeout))
    until kube_healthy; do
      kube_apiserver_pid_alive || fail kube "kube-apiserver exited during startup" "$KUBE_APISERVER_LOG"
      [ "$SECONDS" -lt "$deadline" ] ||
        fail kube "not ready after ${kube_timeout}s (GET https://$HOST:$KUBE_PORT/readyz)" "$KUBE_APISERVER_LOG"
      sleep 0.5
    done
  fi
  apply_kserve_crds
  log "kube-apiserver ready on $HOST:$KUBE_PORT with the KServe CRDs in $((SECONDS - t0))s (kubeconfig $KUBE_KUBECONFIG)"
}

# ====================================================================== main
write_env() {
  local tmp="$STATE_DIR/env.tmp.$$"
  cat >"$tmp" <<EOF
# Written by scripts/services/start.sh -- source it: . .cache/services/env
export RECSYS_TEST_POSTGRES_URL=postgresql+psycopg://recsys:recsys@$HOST:$PG_PORT/recsys
export RECSYS_TEST_REDIS_URL=redis://$HOST:$REDIS_PORT/0
export RECSYS_TEST_KAFKA_BOOTSTRAP=$HOST:$KAFKA_PORT
export RECSYS_TEST_MLFLOW_URL=http://$HOST:$MLFLOW_PORT
export RECSYS_TEST_KUBECONFIG=$KUBE_KUBECONFIG
EOF
  mv "$tmp" "$STATE_DIR/env"
}

parse_services "$@"

mkdir -p "$STATE_DIR"
T0=$SECONDS
if [ "$want_pg" -eq 1 ]; then start_postgres; fi
if [ "$want_redis" -eq 1 ]; then start_redis; fi
if [ "$want_kafka" -eq 1 ]; then start_kafka; fi
if [ "$want_mlflow" -eq 1 ]; then start_mlflow; fi
if [ "$want_kube" -eq 1 ]; then start_kube; fi
write_env
log "services up in $((SECONDS - T0))s; env: $STATE_DIR/env"
