#!/usr/bin/env bash
# Stop the end-to-end services started by up.sh.
#
# usage: deploy/dev/down.sh [--kill] [--wipe] [service...]
#   services: kafka-east kafka-west kafka-north mosquitto rabbitmq activemq (default: all)
#   --kill   SIGKILL at once (a crash, e.g. for recovery tests) instead of
#            SIGTERM, a grace period, then SIGKILL
#   --wipe   also delete the services' data and configs (logs are kept)
set -euo pipefail
LOG_TAG=down
# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=deploy/dev/services.sh
source "$DEV_DIR/services.sh"

WIPE=0
KILL=0
SERVICES=()
for arg in "$@"; do
  case "$arg" in
    --wipe) WIPE=1 ;;
    --kill) KILL=1 ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option: $arg" ;;
    *) is_service "$arg" || die "unknown service '$arg' (known: ${ALL_SERVICES[*]})"; SERVICES+=("$arg") ;;
  esac
done
if [ "${#SERVICES[@]}" -eq 0 ]; then
  # Reverse start order.
  for ((i = ${#ALL_SERVICES[@]} - 1; i >= 0; i--)); do SERVICES+=("${ALL_SERVICES[i]}"); done
fi

# leftover_pids S: processes of service S that are not tracked by a pid file
# (e.g. the pid file was deleted). They are recognised by their command line,
# which names the service's directory under the runtime dir.
leftover_pids() {
  local pattern
  pattern="$(printf '%s' "$E2E/$1/" | sed 's/[][\.*^$+?(){}|]/\\&/g')"
  pgrep -f -- "$pattern" 2>/dev/null | grep -vx "$$" || true
}

stop_leftovers() {
  local s="$1" pids i
  pids="$(leftover_pids "$s" | tr '\n' ' ')"
  [ -n "${pids// /}" ] || return 0
  warn "$s: stopping untracked processes: $pids"
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    [ -n "$(leftover_pids "$s")" ] || return 0
    sleep 0.2
  done
  pids="$(leftover_pids "$s" | tr '\n' ' ')"
  # shellcheck disable=SC2086
  [ -z "${pids// /}" ] || kill -KILL $pids 2>/dev/null || true
}

stop_one() {
  local s="$1" pid i
  if [ "$KILL" -eq 1 ] && pid="$(service_pid "$s")"; then
    log "$s: SIGKILL (pid $pid)"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do group_alive "$pid" || break; sleep 0.1; done
    rm -f "$(pid_file "$s")"
  else
    stop_group "$s" "$(svc_stop_wait "$s")"
  fi
  stop_leftovers "$s"
  [ "$s" != rabbitmq ] || rabbitmq_after_stop
  if [ "$WIPE" -eq 1 ]; then
    rm -rf "${E2E:?}/$s"
    log "$s: data wiped"
  fi
}

[ -d "$E2E" ] || { log "nothing to stop ($E2E does not exist)"; exit 0; }
# Stop the services side by side; each waits for its own grace period.
pids=()
for s in "${SERVICES[@]}"; do
  stop_one "$s" &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
if [ "$WIPE" -eq 1 ] && [ "${#SERVICES[@]}" -eq "${#ALL_SERVICES[@]}" ]; then
  rm -f "$E2E/env.sh"
fi
log "done in $(elapsed "$SCRIPT_START_MS")"
exit "$rc"
