#!/usr/bin/env bash
# Show which end-to-end services are up.
#
# usage: deploy/dev/status.sh [service...]     (exit 0 if all named services are up, else 3)
set -euo pipefail
LOG_TAG=status
# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=deploy/dev/services.sh
source "$DEV_DIR/services.sh"

SERVICES=("$@")
[ "${#SERVICES[@]}" -gt 0 ] || SERVICES=("${ALL_SERVICES[@]}")
rc=0
for s in "${SERVICES[@]}"; do
  is_service "$s" || { echo "unknown service: $s" >&2; exit 2; }
  if pid="$(service_pid "$s")"; then
    if svc_ready "$s"; then state="up"; else state="starting"; rc=3; fi
    printf '%-11s %-9s pid %-8s ports %s\n' "$s" "$state" "$pid" "$(svc_ports "$s")"
  else
    printf '%-11s %-9s %-12s ports %s\n' "$s" "down" "" "$(svc_ports "$s")"
    rc=3
  fi
done
exit "$rc"
