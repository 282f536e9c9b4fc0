#!/usr/bin/env bash
# Start the end-to-end services as background processes and wait until they serve.
#
# usage: deploy/dev/up.sh [--timeout SECONDS] [service...]
#   services: kafka-east kafka-west kafka-north mosquitto rabbitmq activemq (default: all)
#
# A service that is already up is left alone. Data survives restarts
# (down.sh, then up.sh). Logs: $MESHWORK_E2E_DIR/logs/<service>.log.
# On success writes $MESHWORK_E2E_DIR/env.sh with the endpoints (MESH_E2E_*).
set -euo pipefail
LOG_TAG=up
# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=deploy/dev/services.sh
source "$DEV_DIR/services.sh"

TIMEOUT="${MESHWORK_UP_TIMEOUT:-180}"
SERVICES=()
while [ $# -gt 0 ]; do
  case "$1" in
    --timeout) TIMEOUT="${2:?--timeout needs a value}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option: $1" ;;
    *) is_service "$1" || die "unknown service '$1' (known: ${ALL_SERVICES[*]})"; SERVICES+=("$1"); shift ;;
  esac
done
[ "${#SERVICES[@]}" -gt 0 ] || SERVICES=("${ALL_SERVICES[@]}")
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "--timeout must be a number of seconds"

preflight() {
  local s missing=()
  command -v kcat >/dev/null || missing+=(kcat)
  for s in "${SERVICES[@]}"; do
    case "$s" in
      kafka-*) [ -s "$KAFKA_CLASSPATH_FILE" ] || missing+=("Kafka classpath $KAFKA_CLASSPATH_FILE")
               command -v java >/dev/null || missing+=(java) ;;
      mosquitto) command -v mosquitto >/dev/null || missing+=(mosquitto)
                 command -v mosquitto_sub >/dev/null || missing+=(mosquitto_sub) ;;
      rabbitmq) [ -x "$RABBITMQ_SBIN/rabbitmq-server" ] || missing+=(rabbitmq-server) ;;
      activemq) [ -f "$ACTIVEMQ_HOME/bin/activemq.jar" ] || missing+=(activemq)
                [ -s "$(activemq_amqp_classpath_file)" ] || missing+=("ActiveMQ AMQP classpath") ;;
    esac
  done
  [ "${#missing[@]}" -eq 0 ] || die "not installed: ${missing[*]} (run deploy/dev/install.sh)"
}

write_env() {
  local f="$E2E/env.sh" tmp="$E2E/env.sh.tmp.$$"
  {
    echo "# Endpoints of the end-to-end services, written by deploy/dev/up.sh."
    echo "# Usage: . $(printf '%q' "$f")"
    printf 'export MESH_E2E_KAFKA_EAST=%q\n' "127.0.0.1:$KAFKA_EAST_PORT"
    printf 'export MESH_E2E_KAFKA_WEST=%q\n' "127.0.0.1:$KAFKA_WEST_PORT"
    printf 'export MESH_E2E_KAFKA_NORTH=%q\n' "127.0.0.1:$KAFKA_NORTH_PORT"
    printf 'export MESH_E2E_MQTT=%q\n' "tcp://127.0.0.1:$MQTT_PORT"
    printf 'export MESH_E2E_RABBITMQ_AMQP=%q\n' "amqp://guest:guest@127.0.0.1:$RABBITMQ_AMQP_PORT"
    printf 'export MESH_E2E_ACTIVEMQ_AMQP=%q\n' "amqp://127.0.0.1:$ACTIVEMQ_AMQP_PORT"
    printf 'export MESH_E2E_PYTHON=%q\n' "$VENV_DIR/bin/python"
    printf 'export MESH_E2E_NODE_PATH=%q\n' "$NODE_DIR/node_modules"
    printf 'export MESH_E2E_KCAT=%q\n' "$(command -v kcat)"
    printf 'export MESH_E2E_KAFKA_CLASSPATH=%q\n' "$KAFKA_CLASSPATH_FILE"
    printf 'export MESH_E2E_KAFKA_CLASS=%q\n' "$DEV_DIR/kafka-class.sh"
    printf 'export MESH_E2E_DIR=%q\n' "$E2E"
  } >"$tmp"
  mv -f "$tmp" "$f"
}

main() {
  preflight
  mkdir -p "$LOG_DIR" "$PID_DIR"
  log "runtime dir: $E2E"

  local s p pid to_start=() to_wait=()
  declare -A started_at=()
  for s in "${SERVICES[@]}"; do
    if pid="$(service_pid "$s")"; then
      if svc_ready "$s"; then
        log "$s: already up (pid $pid)"
      else
        log "$s: running (pid $pid) but not ready yet; waiting for it"
        started_at[$s]="$(_now_ms)"
        to_wait+=("$s")
      fi
      continue
    fi
    rm -f "$(pid_file "$s")"
    for p in $(svc_ports "$s"); do
      if port_open "$p"; then
        log "$s: port 127.0.0.1:$p is already in use by another process:"
        who_listens "$p" >&2
        die "$s: cannot start; if it is left over from an earlier run, try: deploy/dev/down.sh $s"
      fi
    done
    to_start+=("$s")
  done

  # Prepare configs and data dirs. Formatting KRaft storage runs a JVM per
  # cluster, so the Kafka nodes are prepared side by side.
  local pids=() names=() i rc
  for s in "${to_start[@]}"; do
    case "$s" in
      kafka-*) ( svc_prepare "$s" ) & pids+=($!); names+=("$s") ;;
      *) svc_prepare "$s" ;;
    esac
  done
  for i in "${!pids[@]}"; do
    rc=0; wait "${pids[i]}" || rc=$?
    [ "$rc" -eq 0 ] || die "${names[i]}: preparing failed"
  done

  for s in "${to_start[@]}"; do
    started_at[$s]="$(_now_ms)"
    svc_start "$s"
    log "$s: started (pid $(service_pid "$s" || echo '?')), log: $LOG_DIR/$s.log"
    to_wait+=("$s")
  done

  # Poll every pending service in turn, so each one's startup time is
  # measured on its own, until it is ready, has died, or its deadline passed.
  local failed=() pending=("${to_wait[@]}") still=()
  while [ "${#pending[@]}" -gt 0 ]; do
    still=()
    for s in "${pending[@]}"; do
      if svc_ready "$s"; then
        log "$s: up in $(elapsed "${started_at[$s]}") (pid $(service_pid "$s" || echo '?'))"
      elif ! service_pid "$s" >/dev/null; then
        log "$s: process exited during startup"
        log_tail "$s" 60
        failed+=("$s")
      elif [ "$(_now_ms)" -ge $(( started_at[$s] + TIMEOUT * 1000 )) ]; then
        log "$s: not ready after ${TIMEOUT}s"
        log_tail "$s" 60
        failed+=("$s")
      else
        still+=("$s")
      fi
    done
    pending=("${still[@]}")
    [ "${#pending[@]}" -eq 0 ] || sleep 0.3
  done

  if [ "${#failed[@]}" -gt 0 ]; then
    die "failed to start: ${failed[*]} (logs in $LOG_DIR; stop everything with deploy/dev/down.sh)"
  fi
  write_env
  log "all up in $(elapsed "$SCRIPT_START_MS"): ${SERVICES[*]}; endpoints in $E2E/env.sh"
}

main
