#!/usr/bin/env bash
# Install everything the end-to-end tier needs, idempotently:
#   - Debian packages (brokers, witness CLIs, Java, Maven, python3-venv)
#   - the Kafka classpath from Maven Central   -> $MESHWORK_CACHE/kafka-<version>.classpath
#   - ActiveMQ's AMQP transport jars           -> $MESHWORK_CACHE/activemq-amqp-<version>.classpath
#   - the Python witness venv                  -> $MESHWORK_CACHE/venv
#   - schemathesis (OpenAPI witness), own venv -> $MESHWORK_CACHE/schemathesis
#   - the Node.js witness packages             -> $MESHWORK_CACHE/node/node_modules
# A second run only checks stamps and takes a second or two.
#
# usage: deploy/dev/install.sh [--force]     (--force: redo the cached steps; apt is always checked)
set -euo pipefail
LOG_TAG=install
# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FORCE=0
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument: $arg" ;;
  esac
done

APT_PACKAGES=(
  mosquitto mosquitto-clients
  rabbitmq-server
  activemq
  kcat
  python3 python3-venv
  # python-qpid-proton has no binary wheels: pip builds it (C compiler, headers).
  gcc libc6-dev python3-dev
  openjdk-17-jre-headless maven
  procps iproute2 util-linux coreutils ca-certificates
  # systemd-analyze verifies deploy/systemd's units (make deploy-check).
  systemd
)

# ---------------------------------------------------------------------------
# Debian packages

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
  else die "need root for: $*"
  fi
}

# Node.js: use the machine's if there is one (any packaging), else Debian's.
command -v node >/dev/null 2>&1 || APT_PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || APT_PACKAGES+=(npm)

missing_packages() {
  local p status
  for p in "${APT_PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)"
    [ "$status" = "installed" ] || echo "$p"
  done
}

POLICY_RC_D=/usr/sbin/policy-rc.d
POLICY_CREATED=0
remove_policy_rc_d() {
  if [ "$POLICY_CREATED" -eq 1 ]; then
    as_root rm -f "$POLICY_RC_D" || true
    POLICY_CREATED=0
  fi
}

install_apt() {
  local missing
  mapfile -t missing < <(missing_packages)
  if [ "${#missing[@]}" -eq 0 ]; then
    log "apt: all ${#APT_PACKAGES[@]} packages already installed"
    return 0
  fi
  log "apt: missing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Keep maintainer scripts from starting system instances of the brokers
  # (rabbitmq-server, mosquitto): we run our own, on our own ports.
  if [ ! -e "$POLICY_RC_D" ]; then
    printf '#!/bin/sh\n# temporary, from deploy/dev/install.sh\nexit 101\n' | as_root tee "$POLICY_RC_D" >/dev/null
    as_root chmod 0755 "$POLICY_RC_D"
    POLICY_CREATED=1
    trap remove_policy_rc_d EXIT
  fi
  local t0; t0="$(_now_ms)"
  as_root apt-get update -q -o Acquire::Retries=3 >/dev/null ||
    warn "apt-get update reported errors; trying the install anyway"
  log "apt: update took $(elapsed "$t0")"
  t0="$(_now_ms)"
  as_root apt-get install -y -q --no-install-recommends \
    -o Acquire::Retries=3 -o DPkg::Lock::Timeout=300 \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}" >"$LOG_DIR/install-apt.log" 2>&1 || {
      log_tail install-apt 40
      die "apt-get install failed (full log: $LOG_DIR/install-apt.log)"
    }
  log "apt: install took $(elapsed "$t0")"
  remove_policy_rc_d
  mapfile -t missing < <(missing_packages)
  [ "${#missing[@]}" -eq 0 ] || die "apt: still missing after install: ${missing[*]}"
}

# If a package started a system instance anyway, stop it: a system RabbitMQ
# holds 5672, 25672 and the epmd registration our node needs.
stop_system_services() {
  if pgrep -u rabbitmq -f beam >/dev/null 2>&1; then
    log "stopping the system rabbitmq-server instance"
    as_root service rabbitmq-server stop >/dev/null 2>&1 ||
      as_root /etc/init.d/rabbitmq-server stop >/dev/null 2>&1 || true
    local i
    for ((i = 0; i < 50; i++)); do pgrep -u rabbitmq -f beam >/dev/null 2>&1 || break; sleep 0.2; done
    as_root pkill -TERM -u rabbitmq -f beam >/dev/null 2>&1 || true
  fi
  if pgrep -u activemq java >/dev/null 2>&1; then
    log "stopping the system activemq instance"
    as_root service activemq stop >/dev/null 2>&1 || true
  fi
  # An epmd left behind by a system instance may listen on all interfaces;
  # ours is started on 127.0.0.1 by up.sh. Kill it only if nothing is registered.
  if command -v epmd >/dev/null 2>&1 && pgrep -x epmd >/dev/null 2>&1; then
    if ! epmd -names 2>/dev/null | grep -q '^name '; then
      epmd -kill >/dev/null 2>&1 || true
    fi
  fi
}

check_tools() {
  local jv
  command -v java >/dev/null || die "java not found"
  jv="$("$(java_bin)" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}')"
  [ "${jv%%.*}" -ge 17 ] 2>/dev/null || die "Java 17 or newer is needed (found '${jv:-?}')"
  command -v mvn >/dev/null || die "mvn not found"
  command -v node >/dev/null || die "node not found (install Node.js 18 or newer)"
  command -v npm >/dev/null || die "npm not found"
  log "tools: java $jv, $(mvn -v 2>/dev/null | head -1 | sed 's/\x1b\[[0-9;]*m//g'), node $(node -v), npm $(npm -v)"
}

# ---------------------------------------------------------------------------
# Maven classpaths

# classpath_ok FILE: every entry of the classpath file exists.
classpath_ok() {
  local f="$1" entry entries=()
  [ -s "$f" ] || return 1
  IFS=: read -r -a entries <"$f" || true
  [ "${#entries[@]}" -gt 0 ] || return 1
  for entry in "${entries[@]}"; do
    [ -e "$entry" ] || return 1
  done
}

hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# resolve_classpath POM OUTFILE [MVN_ARGS...]
resolve_classpath() {
  local pom="$1" out="$2"; shift 2
  local stamp="$out.stamp" want
  want="$(hash_of "$pom"; echo "$*")"
  if [ "$FORCE" -eq 0 ] && classpath_ok "$out" && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    log "$(basename "$out"): cached ($(awk -F: '{print NF}' "$out") jars)"
    return 0
  fi
  mkdir -p "$(dirname "$out")"
  local tmp="$out.tmp.$$" attempt
  for attempt in 1 2 3; do
    # Maven 3.8 prints colour codes even in batch mode: strip them.
    if mvn -B -q -Dstyle.color=never -f "$pom" "$@" \
         dependency:build-classpath \
         -Dmdep.outputFile="$tmp" -Dmdep.includeScope=runtime -Dmdep.pathSeparator=: \
         2>&1 | sed 's/\x1b\[[0-9;]*m//g'; then
      break
    fi
    [ "$attempt" -lt 3 ] || { rm -f "$tmp"; die "mvn failed for $pom"; }
    warn "mvn failed for $pom (attempt $attempt), retrying in $((attempt * 5))s"
    sleep $((attempt * 5))
  done
  # build-classpath writes no trailing newline; keep it that way (one line).
  mv -f "$tmp" "$out"
  classpath_ok "$out" || die "classpath $out names missing jars"
  echo "$want" >"$stamp"
  log "$(basename "$out"): resolved ($(awk -F: '{print NF}' "$out") jars)"
}

install_kafka_classpath() {
  resolve_classpath "$DEV_DIR/kafka/pom.xml" "$KAFKA_CLASSPATH_FILE" -Dkafka.version="$KAFKA_VERSION"
}

install_activemq_classpath() {
  local v; v="$(activemq_version)" || die "activemq package is not installed"
  resolve_classpath "$DEV_DIR/activemq/pom.xml" "$(activemq_amqp_classpath_file)" -Dactivemq.version="$v"
}

install_maven() {
  install_kafka_classpath
  install_activemq_classpath
}

# ---------------------------------------------------------------------------
# Python venv

install_venv() {
  local req="$DEV_DIR/witness/requirements.txt" py=/usr/bin/python3
  [ -x "$py" ] || py="$(command -v python3)"
  local want; want="$(hash_of "$req"; "$py" -c 'import sys; print(sys.version)')"
  local stamp="$VENV_DIR/.meshwork-stamp"
  if [ "$FORCE" -eq 0 ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && "$VENV_DIR/bin/python" -c '' 2>/dev/null; then
    log "venv: cached ($VENV_DIR)"
    return 0
  fi
  rm -rf "$VENV_DIR"
  mkdir -p "$(dirname "$VENV_DIR")"
  "$py" -m venv "$VENV_DIR"
  local attempt
  for attempt in 1 2 3; do
    if "$VENV_DIR/bin/pip" install -q --disable-pip-version-check -r "$req"; then break; fi
    [ "$attempt" -lt 3 ] || die "pip install failed"
    warn "pip install failed (attempt $attempt), retrying"
    sleep $((attempt * 5))
  done
  "$VENV_DIR/bin/python" -c 'import confluent_kafka, confluent_kafka.schema_registry, fastavro, paho.mqtt.client, proton; print("venv ok: confluent-kafka", confluent_kafka.__version__, "librdkafka", confluent_kafka.libversion()[0])'
  echo "$want" >"$stamp"
}

# schemathesis checks the REST adapter against its OpenAPI document. It has
# a venv of its own: its dependencies must not move the witness venv's pins.
SCHEMATHESIS_VERSION=4.32.5

install_schemathesis() {
  local dir="$MESHWORK_CACHE/schemathesis" py=/usr/bin/python3
  [ -x "$py" ] || py="$(command -v python3)"
  local want; want="schemathesis==$SCHEMATHESIS_VERSION $("$py" -c 'import sys; print(sys.version)')"
  if [ "$FORCE" -eq 0 ] && [ "$(cat "$dir/.meshwork-stamp" 2>/dev/null)" = "$want" ] && "$dir/bin/schemathesis" --version >/dev/null 2>&1; then
    log "schemathesis: cached ($dir)"
    return 0
  fi
  rm -rf "$dir"
  "$py" -m venv "$dir"
  local attempt
  for attempt in 1 2 3; do
    if "$dir/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"; then break; fi
    [ "$attempt" -lt 3 ] || die "pip install schemathesis failed"
    warn "pip install schemathesis failed (attempt $attempt), retrying"
    sleep $((attempt * 5))
  done
  "$dir/bin/schemathesis" --version
  echo "$want" >"$dir/.meshwork-stamp"
}

# ---------------------------------------------------------------------------
# Node packages

install_node() {
  local src="$DEV_DIR/witness"
  local want; want="$(hash_of "$src/package.json" "$src/package-lock.json"; node -v)"
  local stamp="$NODE_DIR/.meshwork-stamp"
  if [ "$FORCE" -eq 0 ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && [ -d "$NODE_DIR/node_modules" ]; then
    log "node: cached ($NODE_DIR/node_modules)"
    return 0
  fi
  rm -f "$stamp"
  mkdir -p "$NODE_DIR"
  cp "$src/package.json" "$src/package-lock.json" "$NODE_DIR/"
  local attempt
  for attempt in 1 2 3; do
    if (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error); then break; fi
    [ "$attempt" -lt 3 ] || die "npm ci failed"
    warn "npm ci failed (attempt $attempt), retrying"
    sleep $((attempt * 5))
  done
  (cd "$NODE_DIR" && node -e '
    for (const m of ["kafkajs", "@kafkajs/confluent-schema-registry", "mqtt", "rhea"]) require(m);
    console.log("node ok: kafkajs", require("kafkajs/package.json").version)')
  echo "$want" >"$stamp"
}

# ---------------------------------------------------------------------------

main() {
  mkdir -p "$LOG_DIR" "$MESHWORK_CACHE"
  log "cache: $MESHWORK_CACHE  runtime: $E2E"
  step "apt packages" install_apt
  stop_system_services
  check_tools

  # The download steps are independent: run them side by side, each
  # logging to its own file, and report them in order.
  local names=(maven venv node schemathesis) pids=() i rc failed=0
  for i in "${!names[@]}"; do
    ( LOG_TAG="install:${names[i]}"; step "${names[i]}" "install_${names[i]}" ) >"$LOG_DIR/install-${names[i]}.log" 2>&1 &
    pids[i]=$!
  done
  for i in "${!names[@]}"; do
    rc=0; wait "${pids[i]}" || rc=$?
    cat "$LOG_DIR/install-${names[i]}.log" >&2
    if [ "$rc" -ne 0 ]; then
      log "${names[i]} FAILED (exit $rc); log: $LOG_DIR/install-${names[i]}.log"
      failed=1
    fi
  done
  [ "$failed" -eq 0 ] || die "install failed"
  log "install complete in $(elapsed "$SCRIPT_START_MS")"
}

main
