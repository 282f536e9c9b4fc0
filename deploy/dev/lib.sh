# shellcheck shell=bash
# Shared settings and helpers for the deploy/dev scripts. Source it; do not run it.
#
# Conventions (other code depends on them):
#   MESHWORK_CACHE    downloads reused by later runs (default: $HOME/.cache/meshwork)
#   MESHWORK_E2E_DIR  runtime data, configs, pids and logs (default: <repo>/.e2e)

DEV_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$DEV_DIR/../.." && pwd)"

MESHWORK_CACHE="${MESHWORK_CACHE:-$HOME/.cache/meshwork}"
MESHWORK_E2E_DIR="${MESHWORK_E2E_DIR:-$REPO_ROOT/.e2e}"
E2E="$MESHWORK_E2E_DIR"
LOG_DIR="$E2E/logs"
PID_DIR="$E2E/pids"

KAFKA_VERSION="4.1.1"
KAFKA_CLASSPATH_FILE="$MESHWORK_CACHE/kafka-$KAFKA_VERSION.classpath"
KAFKA_HEAP="${MESHWORK_KAFKA_HEAP:-384M}"

ACTIVEMQ_HOME="${ACTIVEMQ_HOME:-/usr/share/activemq}"
ACTIVEMQ_HEAP="${MESHWORK_ACTIVEMQ_HEAP:-256M}"

VENV_DIR="$MESHWORK_CACHE/venv"
NODE_DIR="$MESHWORK_CACHE/node"

ALL_SERVICES=(kafka-east kafka-west kafka-north mosquitto rabbitmq activemq)

# Ports, loopback only.
KAFKA_EAST_PORT=9092
KAFKA_EAST_CONTROLLER_PORT=9093
KAFKA_WEST_PORT=9192
KAFKA_WEST_CONTROLLER_PORT=9193
# A third site, for the replicator's topology tests (chains, hub and spoke).
KAFKA_NORTH_PORT=9292
KAFKA_NORTH_CONTROLLER_PORT=9293
MQTT_PORT=1884
RABBITMQ_AMQP_PORT=5672
RABBITMQ_DIST_PORT=25672
ACTIVEMQ_AMQP_PORT=5673
ACTIVEMQ_OPENWIRE_PORT=61616

# ---------------------------------------------------------------------------
# Logging and timing

_now_ms() { date +%s%3N; }
SCRIPT_START_MS="$(_now_ms)"

# usage: print the calling script's header comment (its help text).
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; }

log() { printf '%s [%s] %s\n' "$(date +%H:%M:%S)" "${LOG_TAG:-dev}" "$*" >&2; }
warn() { log "WARN: $*"; }
die() { log "ERROR: $*"; exit 1; }

# elapsed START_MS -> "1.234s"
elapsed() {
  local ms=$(( $(_now_ms) - $1 ))
  printf '%d.%03ds' $((ms / 1000)) $((ms % 1000))
}

# step NAME CMD...: run CMD, log its duration, keep its exit status.
step() {
  local name="$1"; shift
  local t0 rc=0
  t0="$(_now_ms)"
  log "$name ..."
  "$@" || rc=$?
  if [ "$rc" -eq 0 ]; then
    log "$name done in $(elapsed "$t0")"
  else
    log "$name FAILED (exit $rc) after $(elapsed "$t0")"
  fi
  return "$rc"
}

# ---------------------------------------------------------------------------
# Processes and ports

# port_open PORT: true if something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

pid_file() { echo "$PID_DIR/$1.pid"; }

# proc_starttime PID: the process's start time in clock ticks since boot
# (field 22 of /proc/PID/stat); with the pid it identifies a process uniquely.
proc_starttime() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  # shellcheck disable=SC2086
  set -- $stat
  echo "${20}"
}

# service_pid NAME: print the pid (= process group id) of the service if the
# process recorded in its pid file is still alive (pid and start time match).
service_pid() {
  local f pid start now
  f="$(pid_file "$1")"
  [ -f "$f" ] || return 1
  read -r pid start <"$f" 2>/dev/null || true
  [[ "${pid:-}" =~ ^[0-9]+$ ]] || return 1
  now="$(proc_starttime "$pid")" || return 1
  [ -z "${start:-}" ] || [ "$start" = "$now" ] || return 1
  # A zombie (exited, not yet reaped) is not running.
  [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != "Z" ] || return 1
  echo "$pid"
}

# group_alive PGID: true while any process of the group is alive. Zombies do
# not count: an orphaned service is reaped by PID 1, which may take a while.
group_alive() {
  kill -0 -- "-$1" 2>/dev/null || return 1
  ps -e -o pgid=,stat= 2>/dev/null | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}

# launch NAME CMD...: start CMD in its own session (process group) in the
# background, stdout/stderr appended to logs/NAME.log, pid in pids/NAME.pid.
launch() {
  local name="$1"; shift
  mkdir -p "$LOG_DIR" "$PID_DIR"
  local logf="$LOG_DIR/$name.log"
  printf '\n===== %s starting %s =====\n' "$(date -Is)" "$name" >>"$logf"
  # Started from a non-interactive shell, the child is not a group leader, so
  # setsid does not fork: $! is the service's pid and its process group id.
  setsid "$@" </dev/null >>"$logf" 2>&1 &
  local pid=$!
  echo "$pid $(proc_starttime "$pid" || true)" >"$(pid_file "$name")"
}

# stop_group NAME [TIMEOUT_S]: SIGTERM the service's process group, wait up to
# TIMEOUT_S seconds, then SIGKILL. Removes the pid file.
stop_group() {
  local name="$1" timeout_s="${2:-30}" pid t0 i
  local f; f="$(pid_file "$name")"
  if ! pid="$(service_pid "$name")"; then
    rm -f "$f"
    log "$name: not running"
    return 0
  fi
  t0="$(_now_ms)"
  log "$name: stopping (pid $pid, SIGTERM)"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout_s * 5; i++)); do
    group_alive "$pid" || break
    sleep 0.2
  done
  if group_alive "$pid"; then
    warn "$name: still running after ${timeout_s}s, sending SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do group_alive "$pid" || break; sleep 0.1; done
  fi
  rm -f "$f"
  log "$name: stopped in $(elapsed "$t0")"
}

# log_tail NAME [LINES]: print the end of a service's log to stderr, from its
# latest start marker on (see launch), at most LINES lines.
log_tail() {
  local logf="$LOG_DIR/$1.log" n="${2:-60}"
  if [ -f "$logf" ]; then
    echo "----- $logf (latest start, last $n lines at most) -----" >&2
    awk '/^===== .* starting / { buf = "" } { buf = buf $0 "\n" } END { printf "%s", buf }' "$logf" |
      tail -n "$n" >&2
    echo "----- end of $logf -----" >&2
  fi
}

# who_listens PORT: describe the process listening on PORT (best effort).
who_listens() {
  ss -Hltnp "sport = :$1" 2>/dev/null | sed 's/^/    /' || true
}

# amqp10_probe PORT: true if 127.0.0.1:PORT answers an AMQP 1.0 SASL protocol
# header with the same header (i.e. it speaks AMQP 1.0, not only 0-9-1).
amqp10_probe() {
  local got
  got="$(timeout 3 bash -c '
      exec 3<>/dev/tcp/127.0.0.1/'"$1"' || exit 1
      printf "AMQP\x03\x01\x00\x00" >&3
      head -c 8 <&3 | od -An -tx1' 2>/dev/null | tr -d ' \n')" || return 1
  [ "$got" = "414d515003010000" ]
}

# java_bin: the java used for Kafka and ActiveMQ.
java_bin() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
    echo "$JAVA_HOME/bin/java"
  else
    command -v java
  fi
}

# activemq_version: upstream version of the installed Debian activemq package.
activemq_version() {
  local v
  v="$(dpkg-query -W -f='${Version}' activemq 2>/dev/null)" || return 1
  [ -n "$v" ] || return 1
  v="${v#*:}"; v="${v%%+*}"; v="${v%%-*}"
  echo "$v"
}

# Debian's activemq package leaves out the AMQP transport; install.sh resolves
# activemq-amqp (same version as the package) and proton-j from Maven Central.
activemq_amqp_classpath_file() {
  echo "$MESHWORK_CACHE/activemq-amqp-$(activemq_version).classpath"
}

# kafka_classpath: the cached classpath (fails if install.sh has not run).
kafka_classpath() {
  [ -s "$KAFKA_CLASSPATH_FILE" ] || die "no Kafka classpath at $KAFKA_CLASSPATH_FILE: run deploy/dev/install.sh"
  cat "$KAFKA_CLASSPATH_FILE"
}
