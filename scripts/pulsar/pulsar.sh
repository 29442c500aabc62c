#!/usr/bin/env bash
# Run a real Apache Pulsar 4.0.7 standalone broker on loopback, without Docker:
# the broker's jars come from Maven Central (scripts/pulsar/pom.xml) and run on
# the machine's Java 17+.
#
#   scripts/pulsar/pulsar.sh install   resolve the jars (once; cached)
#   scripts/pulsar/pulsar.sh start     install if needed, start in background, wait until ready
#   scripts/pulsar/pulsar.sh stop      stop the broker started from this data dir
#   scripts/pulsar/pulsar.sh restart   stop, then start
#   scripts/pulsar/pulsar.sh status    exit 0 iff the admin API answers
#   scripts/pulsar/pulsar.sh wait      wait until the admin API answers
#   scripts/pulsar/pulsar.sh run       run in the foreground (debugging)
#   scripts/pulsar/pulsar.sh logs      tail the broker log
#   scripts/pulsar/pulsar.sh wipe      stop, then delete the data dir
#
# Environment (all optional):
#   PULSAR_LIB_DIR        jar cache        (default ~/.cache/exclusive-consumer/pulsar-4.0.7/lib)
#   PULSAR_DATA_DIR       data, logs, pid  (default <repo>/.pulsar-data)
#   PULSAR_BROKER_PORT    binary protocol  (default 6650)
#   PULSAR_WEB_PORT       HTTP admin + WebSocket API (default 8080)
#   PULSAR_BOOKIE_PORT    embedded bookie  (default 3181; fixed once the data dir exists)
#   PULSAR_START_TIMEOUT  seconds to wait for readiness (default 120)
#   PULSAR_STOP_TIMEOUT   seconds between SIGTERM and SIGKILL (default 30)
#   PULSAR_JAVA           java binary      (default $JAVA_HOME/bin/java, else java on PATH)
#   PULSAR_JAVA_OPTS      extra JVM options, appended last
#   PULSAR_MVN            mvn binary       (default mvn)
set -euo pipefail

PULSAR_VERSION=4.0.7
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/../.." && pwd)"

LIB_DIR="${PULSAR_LIB_DIR:-$HOME/.cache/exclusive-consumer/pulsar-$PULSAR_VERSION/lib}"
DATA_DIR="${PULSAR_DATA_DIR:-$REPO_DIR/.pulsar-data}"
# The broker runs with the data dir as its cwd: make both paths absolute.
[[ "$LIB_DIR" == /* ]] || LIB_DIR="$PWD/$LIB_DIR"
[[ "$DATA_DIR" == /* ]] || DATA_DIR="$PWD/$DATA_DIR"
BROKER_PORT="${PULSAR_BROKER_PORT:-6650}"
WEB_PORT="${PULSAR_WEB_PORT:-8080}"
BOOKIE_PORT="${PULSAR_BOOKIE_PORT:-3181}"
START_TIMEOUT="${PULSAR_START_TIMEOUT:-120}"
STOP_TIMEOUT="${PULSAR_STOP_TIMEOUT:-30}"
MVN="${PULSAR_MVN:-mvn}"
if [[ -n "${PULSAR_JAVA:-}" ]]; then
  JAVA="$PULSAR_JAVA"
elif [[ -n "${JAVA_HOME:-}" && -x "${JAVA_HOME}/bin/java" ]]; then
  JAVA="$JAVA_HOME/bin/java"
else
  JAVA=java
fi

POM="$SCRIPT_DIR/pom.xml"
CONF_TEMPLATE="$SCRIPT_DIR/standalone.conf"
LOG4J_CONF="$SCRIPT_DIR/log4j2.xml"
MARKER="$LIB_DIR/.complete"
PID_FILE="$DATA_DIR/pulsar.pid"
LOG_DIR="$DATA_DIR/logs"
CONF_FILE="$DATA_DIR/conf/standalone.conf"
DATA_DIR_TAG=".exclusive-consumer-pulsar-data"
READY_PATH="/admin/v2/namespaces/public/default"
MAIN_CLASS=org.apache.pulsar.PulsarStandaloneStarter

log() { printf '[pulsar] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for p in "$BROKER_PORT" "$WEB_PORT" "$BOOKIE_PORT"; do
  [[ "$p" =~ ^[0-9]+$ ]] || die "port '$p' is not a number"
done

# Run "$@" while holding an exclusive lock on file $1 (when flock exists), so
# that concurrent `install`/`start`/`stop` calls (e.g. parallel CI steps or
# test workers) do not race. Without flock (macOS) the command just runs.
with_lock() {
  local lock="$1"; shift
  if command -v flock >/dev/null 2>&1; then
    mkdir -p "$(dirname "$lock")"
    (
      flock -w 600 9 || die "could not lock $lock"
      "$@"
    ) 9>"$lock"
  else
    "$@"
  fi
}

hash_file() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

# ---------------------------------------------------------------- install ---

is_installed() {
  [[ -f "$MARKER" ]] && [[ "$(cat "$MARKER")" == "$(hash_file "$POM")" ]]
}

do_install() {
  if is_installed; then
    return 0
  fi
  command -v "$MVN" >/dev/null 2>&1 || die "'$MVN' not found (Maven is needed to fetch the Pulsar jars)"
  local partial="$LIB_DIR.partial"
  log "resolving Pulsar $PULSAR_VERSION jars from Maven into $LIB_DIR (first time: ~235 MB)..."
  local t0=$SECONDS
  rm -rf "$partial"
  mkdir -p "$partial"
  local mvn_log="$LIB_DIR.mvn.log"
  if ! "$MVN" -B -q -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$partial" >"$mvn_log" 2>&1; then
    tail -n 40 "$mvn_log" >&2 || true
    rm -rf "$partial"
    die "mvn dependency:copy-dependencies failed (full log: $mvn_log)"
  fi
  [[ -f "$partial/pulsar-broker-$PULSAR_VERSION.jar" ]] || die "pulsar-broker jar missing after resolution"
  rm -rf "$LIB_DIR"
  mv "$partial" "$LIB_DIR"
  # Written last: an interrupted download leaves no marker and is redone.
  hash_file "$POM" >"$MARKER"
  log "installed $(find "$LIB_DIR" -name '*.jar' | wc -l | tr -d ' ') jars in $((SECONDS - t0)) s"
}

cmd_install() {
  with_lock "$LIB_DIR.lock" do_install
}

# ------------------------------------------------------------- processes ---

http_code() {
  curl -s --noproxy '*' -o /dev/null -w '%{http_code}' --connect-timeout 2 --max-time 5 \
    "http://127.0.0.1:$WEB_PORT$READY_PATH" 2>/dev/null || true
}

is_ready() { [[ "$(http_code)" == "200" ]]; }

read_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(tr -dc '0-9' <"$PID_FILE")"
  [[ -n "$pid" ]] || return 1
  printf '%s' "$pid"
}

# True if $1 is alive and is our broker (guards against a recycled pid).
is_our_broker() {
  local pid="$1"
  kill -0 "$pid" 2>/dev/null || return 1
  ps -p "$pid" -o args= 2>/dev/null | grep -q "$MAIN_CLASS"
}

running_pid() {
  local pid
  pid="$(read_pid)" || return 1
  is_our_broker "$pid" || return 1
  printf '%s' "$pid"
}

show_log_tail() {
  local f
  for f in "$LOG_DIR/stdout.log" "$LOG_DIR/pulsar.log"; do
    if [[ -s "$f" ]]; then
      log "---- last lines of $f ----"
      tail -n 60 "$f" >&2 || true
    fi
  done
  if [[ -s "$LOG_DIR/pulsar.log" ]]; then
    local first_error
    first_error="$(grep -m1 -E ' ERROR .*(Failed|Exception|failed)' "$LOG_DIR/pulsar.log" | cut -c1-400 || true)"
    [[ -z "$first_error" ]] || log "first error: $first_error"
  fi
}

# True if something accepts TCP connections on 127.0.0.1:$1.
port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

do_wait() {
  local deadline=$((SECONDS + START_TIMEOUT)) pid=""
  pid="$(read_pid || true)"
  while ((SECONDS < deadline)); do
    if is_ready; then
      return 0
    fi
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      show_log_tail
      die "broker process $pid exited before becoming ready"
    fi
    sleep 0.5
  done
  show_log_tail
  die "broker not ready after ${START_TIMEOUT}s (http://127.0.0.1:$WEB_PORT$READY_PATH)"
}

cmd_wait() {
  local t0=$SECONDS
  do_wait
  log "ready on pulsar://127.0.0.1:$BROKER_PORT http://127.0.0.1:$WEB_PORT (waited $((SECONDS - t0)) s)"
}

loopback_interface() {
  if [[ -d /sys/class/net/lo ]]; then echo lo
  elif [[ "$(uname -s)" == Darwin ]]; then echo lo0
  else echo lo; fi
}

# Generate <data>/conf/standalone.conf from the template with the effective
# ports; any key given here replaces the template's line or is appended.
generate_conf() {
  mkdir -p "$(dirname "$CONF_FILE")"
  awk -v overrides="brokerServicePort=$BROKER_PORT;webServicePort=$WEB_PORT;listeningInterface=$(loopback_interface)" '
    BEGIN {
      n = split(overrides, kv, ";")
      for (i = 1; i <= n; i++) { eq = index(kv[i], "="); k = substr(kv[i], 1, eq - 1); val[k] = substr(kv[i], eq + 1); order[i] = k }
    }
    {
      line = $0
      if (line !~ /^[ \t]*#/ && index(line, "=") > 0) {
        key = substr(line, 1, index(line, "=") - 1); gsub(/[ \t]/, "", key)
        if (key in val) { print key "=" val[key]; done[key] = 1; next }
      }
      print line
    }
    END {
      printf "\n# --- generated by pulsar.sh ---\n"
      for (i = 1; i <= n; i++) if (!(order[i] in done)) print order[i] "=" val[order[i]]
    }
  ' "$CONF_TEMPLATE" >"$CONF_FILE.tmp"
  mv "$CONF_FILE.tmp" "$CONF_FILE"
}

java_args() {
  JAVA_ARGS=(
    -Xms256m -Xmx1g -XX:MaxDirectMemorySize=512m
    -XX:+UseG1GC -XX:MaxGCPauseMillis=10 -XX:+ExitOnOutOfMemoryError
    --add-opens java.base/java.io=ALL-UNNAMED
    --add-opens java.base/java.lang=ALL-UNNAMED
    --add-opens java.base/java.util=ALL-UNNAMED
    --add-opens java.base/java.util.zip=ALL-UNNAMED
    --add-opens java.base/java.nio=ALL-UNNAMED
    --add-opens java.base/sun.nio.ch=ALL-UNNAMED
    --add-opens java.base/jdk.internal.misc=ALL-UNNAMED
    --add-opens java.base/sun.net=ALL-UNNAMED
    --add-opens java.management/sun.management=ALL-UNNAMED
    --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
    -Dio.netty.tryReflectionSetAccessible=true
    -Dio.netty.leakDetection.level=disabled
    -Dpulsar.allocator.exit_on_oom=true
    -Djava.net.preferIPv4Stack=true
    -Dbookkeeper.metadata.bookie.drivers=org.apache.pulsar.metadata.bookkeeper.PulsarMetadataBookieDriver
    -Dbookkeeper.metadata.client.drivers=org.apache.pulsar.metadata.bookkeeper.PulsarMetadataClientDriver
    -Dlog4j.configurationFile="$LOG4J_CONF"
    -Dlog4j2.shutdownHookEnabled=false
    -Dpulsar.log.dir="$LOG_DIR"
  )
  if [[ -n "${PULSAR_JAVA_OPTS:-}" ]]; then
    # shellcheck disable=SC2206 # intentional word splitting of user options
    JAVA_ARGS+=(${PULSAR_JAVA_OPTS})
  fi
  JAVA_ARGS+=(
    -cp "$LIB_DIR/*"
    "$MAIN_CLASS"
    --config "$CONF_FILE"
    -nfw -nss
    --metadata-dir "$DATA_DIR/metadata"
    --bookkeeper-dir "$DATA_DIR/bookkeeper"
    --bookkeeper-port "$BOOKIE_PORT"
    --zookeeper-dir "$DATA_DIR/zookeeper"
  )
}

prepare_data_dir() {
  command -v "$JAVA" >/dev/null 2>&1 || die "java not found ('$JAVA'); Java 17+ is required"
  command -v curl >/dev/null 2>&1 || die "curl not found"
  local jv
  jv="$("$JAVA" -version 2>&1 | sed -n 's/.*version "\([0-9][0-9]*\).*/\1/p' | head -n1)"
  [[ -n "$jv" && "$jv" -ge 17 ]] || die "Java 17+ is required ('$JAVA' is version ${jv:-unknown}); set PULSAR_JAVA or JAVA_HOME"
  mkdir -p "$DATA_DIR" "$LOG_DIR"
  touch "$DATA_DIR/$DATA_DIR_TAG"
  # Keep the data dir out of git even when it lives inside the repository.
  [[ -f "$DATA_DIR/.gitignore" ]] || printf '*\n' >"$DATA_DIR/.gitignore"
  generate_conf
  java_args
}

do_start() {
  local pid
  if is_ready; then
    pid="$(running_pid || true)"
    log "a broker is already answering on http://127.0.0.1:$WEB_PORT${pid:+ (pid $pid)}; not starting another"
    return 0
  fi
  if pid="$(running_pid)"; then
    log "broker (pid $pid) is already starting; waiting for it"
    do_wait
    return 0
  fi
  local code
  code="$(http_code)"
  if [[ "$code" != "000" ]]; then
    die "something else answers on port $WEB_PORT (HTTP $code for $READY_PATH); set PULSAR_WEB_PORT"
  fi

  do_install
  prepare_data_dir
  rm -f "$PID_FILE"
  : >"$LOG_DIR/stdout.log"
  local bookie_port="$BOOKIE_PORT" cookie="$DATA_DIR/bookkeeper/current/VERSION"
  if [[ -f "$cookie" ]]; then
    # An existing bookie keeps the address recorded in its cookie.
    bookie_port="$(sed -n 's/^bookieHost: ".*:\([0-9][0-9]*\)".*/\1/p' "$cookie" | head -n1)"
    bookie_port="${bookie_port:-$BOOKIE_PORT}"
  fi
  local p
  for p in "$BROKER_PORT" "$bookie_port"; do
    if port_in_use "$p"; then
      die "port $p on 127.0.0.1 is already in use; set PULSAR_BROKER_PORT / PULSAR_BOOKIE_PORT (a data dir keeps its first bookie port)"
    fi
  done
  log "starting Pulsar $PULSAR_VERSION standalone (data: $DATA_DIR, broker :$BROKER_PORT, web :$WEB_PORT, bookie :$bookie_port)"
  local t0=$SECONDS
  # The child writes its own pid then execs java, so the pid file is right
  # even if setsid forks. setsid detaches it from our session/process group
  # (a Ctrl-C or the test runner's group kill does not take it down).
  local launcher=()
  if command -v setsid >/dev/null 2>&1; then launcher=(setsid); fi
  (
    # Do not let the broker inherit the lock fd (it would hold the lock for
    # its whole life and block `stop`).
    exec 9>&-
    cd "$DATA_DIR"
    unset PULSAR_STANDALONE_USE_ZOOKEEPER
    # shellcheck disable=SC2016 # $$ and $@ are for the inner sh
    exec ${launcher[@]+"${launcher[@]}"} nohup sh -c 'echo $$ > "$0"; exec "$@"' "$PID_FILE" \
      "$JAVA" "${JAVA_ARGS[@]}" </dev/null >>"$LOG_DIR/stdout.log" 2>&1
  ) &
  # Wait for the pid file (normally immediate).
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -s "$PID_FILE" ]] && break
    sleep 0.1
  done
  [[ -s "$PID_FILE" ]] || die "broker did not write its pid file"
  do_wait
  log "ready in $((SECONDS - t0)) s: pulsar://127.0.0.1:$BROKER_PORT http://127.0.0.1:$WEB_PORT (pid $(read_pid))"
}

cmd_start() {
  mkdir -p "$DATA_DIR"
  with_lock "$DATA_DIR/.lock" do_start
}

do_stop() {
  local pid
  if ! pid="$(read_pid)"; then
    log "not running (no pid file in $DATA_DIR)"
    return 0
  fi
  if ! is_our_broker "$pid"; then
    log "not running (stale pid file, pid $pid)"
    rm -f "$PID_FILE"
    return 0
  fi
  log "stopping broker (pid $pid)..."
  local t0=$SECONDS
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "still alive after ${STOP_TIMEOUT}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$PID_FILE"
  log "stopped in $((SECONDS - t0)) s"
}

cmd_stop() {
  [[ -d "$DATA_DIR" ]] || { log "not running (no data dir $DATA_DIR)"; return 0; }
  with_lock "$DATA_DIR/.lock" do_stop
}

cmd_status() {
  local pid
  pid="$(running_pid || true)"
  if is_ready; then
    log "running: pulsar://127.0.0.1:$BROKER_PORT http://127.0.0.1:$WEB_PORT${pid:+ (pid $pid)}"
    return 0
  fi
  if [[ -n "$pid" ]]; then
    log "starting or unhealthy (pid $pid, admin API not answering yet)"
  else
    log "not running"
  fi
  return 1
}

cmd_run() {
  do_install
  prepare_data_dir
  cd "$DATA_DIR"
  unset PULSAR_STANDALONE_USE_ZOOKEEPER
  echo $$ >"$PID_FILE"
  exec "$JAVA" "${JAVA_ARGS[@]}"
}

cmd_logs() {
  exec tail -n "${1:-100}" -F "$LOG_DIR/pulsar.log"
}

cmd_wipe() {
  cmd_stop
  if [[ -d "$DATA_DIR" ]]; then
    [[ -f "$DATA_DIR/$DATA_DIR_TAG" ]] || die "$DATA_DIR does not look like a pulsar.sh data dir; not deleting it"
    rm -rf "$DATA_DIR"
    log "deleted $DATA_DIR"
  fi
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart) cmd_stop; cmd_start ;;
  status) cmd_status ;;
  wait) cmd_wait ;;
  run) cmd_run ;;
  logs) shift; cmd_logs "$@" ;;
  wipe) cmd_wipe ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
