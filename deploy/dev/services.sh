# shellcheck shell=bash
# Per-service definitions used by up.sh, down.sh and status.sh. Source lib.sh first.
#
# For each service S:
#   svc_ports S      ports it listens on (all on 127.0.0.1)
#   svc_prepare S    write its configs, create/format its data dir (idempotent)
#   svc_start S      launch it in the background (see launch in lib.sh)
#   svc_ready S      true once it serves clients
#   svc_stop_wait S  seconds to wait after SIGTERM before SIGKILL

is_service() {
  local s
  for s in "${ALL_SERVICES[@]}"; do [ "$s" = "$1" ] && return 0; done
  return 1
}

svc_ports() {
  case "$1" in
    kafka-east) echo "$KAFKA_EAST_PORT $KAFKA_EAST_CONTROLLER_PORT" ;;
    kafka-west) echo "$KAFKA_WEST_PORT $KAFKA_WEST_CONTROLLER_PORT" ;;
    kafka-north) echo "$KAFKA_NORTH_PORT $KAFKA_NORTH_CONTROLLER_PORT" ;;
    mosquitto) echo "$MQTT_PORT" ;;
    rabbitmq) echo "$RABBITMQ_AMQP_PORT $RABBITMQ_DIST_PORT" ;;
    activemq) echo "$ACTIVEMQ_AMQP_PORT $ACTIVEMQ_OPENWIRE_PORT" ;;
  esac
}

svc_stop_wait() {
  case "$1" in
    kafka-*) echo 40 ;;
    rabbitmq) echo 40 ;;
    *) echo 20 ;;
  esac
}

svc_prepare() {
  case "$1" in
    kafka-*) kafka_prepare "$1" ;;
    mosquitto) mosquitto_prepare ;;
    rabbitmq) rabbitmq_prepare ;;
    activemq) activemq_prepare ;;
  esac
}

svc_start() {
  case "$1" in
    kafka-*) kafka_start "$1" ;;
    mosquitto) launch mosquitto mosquitto -c "$E2E/mosquitto/mosquitto.conf" ;;
    rabbitmq) rabbitmq_start ;;
    activemq) activemq_start ;;
  esac
}

svc_ready() {
  case "$1" in
    kafka-*) kafka_ready "$1" ;;
    mosquitto)
      # shellcheck disable=SC2016  # $SYS is a literal MQTT topic
      port_open "$MQTT_PORT" &&
        timeout 5 mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -i "meshwork-ready-$$" \
          -t '$SYS/broker/version' -C 1 -W 3 >/dev/null 2>&1 ;;
    rabbitmq) amqp10_probe "$RABBITMQ_AMQP_PORT" ;;
    activemq) amqp10_probe "$ACTIVEMQ_AMQP_PORT" ;;
  esac
}

# ---------------------------------------------------------------------------
# Kafka (KRaft, one combined broker+controller node per site)

kafka_port() { case "$1" in kafka-east) echo "$KAFKA_EAST_PORT" ;; kafka-west) echo "$KAFKA_WEST_PORT" ;; kafka-north) echo "$KAFKA_NORTH_PORT" ;; esac; }
kafka_controller_port() { case "$1" in kafka-east) echo "$KAFKA_EAST_CONTROLLER_PORT" ;; kafka-west) echo "$KAFKA_WEST_CONTROLLER_PORT" ;; kafka-north) echo "$KAFKA_NORTH_CONTROLLER_PORT" ;; esac; }

kafka_prepare() {
  local name="$1" dir="$E2E/$1"
  local port cport
  port="$(kafka_port "$name")"; cport="$(kafka_controller_port "$name")"
  mkdir -p "$dir/data" "$dir/logs"
  cat >"$dir/server.properties" <<EOF
# Written by deploy/dev/up.sh for $name; edits are overwritten on the next start.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
# Only the mesh (and operators) decide a topic's partitions: no client's
# metadata request creates one. The topic catalog's proofs need this.
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# After a crash (kill -9) the restarted node cannot register until the old
# registration's session expires (default 9 s): keep that short for tests.
broker.session.timeout.ms=4000
broker.heartbeat.interval.ms=1000
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=168
# The log cleaner allocates its dedupe buffer (128 MiB by default) on the
# heap at startup. In the small dev heap that alone is over G1's initiating
# occupancy (35%), so the broker ran concurrent marking cycles, with their
# 10-30 ms remark pauses, all the time. 16 MiB dedupes ~500k keys per pass.
log.cleaner.dedupe.buffer.size=16777216
EOF
  if [ ! -f "$dir/data/meta.properties" ]; then
    local id t0
    # KRaft cluster id: 16 random bytes, URL-safe base64 without padding
    # (what `kafka.tools.StorageTool random-uuid` prints). Like Kafka's own
    # Uuid.randomUuid, never one that begins with '-': the tool's argument
    # parser would take it for an option (1 id in 64).
    id=-
    while [ "${id:0:1}" = - ]; do
      id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    done
    t0="$(_now_ms)"
    mkdir -p "$LOG_DIR"
    if ! kafka_java "$name" kafka.tools.StorageTool format -t "$id" -c "$dir/server.properties" --standalone \
         >>"$LOG_DIR/$name.log" 2>&1; then
      log_tail "$name" 30
      die "$name: formatting the KRaft storage failed"
    fi
    echo "$id" >"$dir/cluster.id"
    log "$name: formatted KRaft storage (cluster id $id) in $(elapsed "$t0")"
  fi
}

# kafka_jvm_args NAME: set KAFKA_JVM_ARGS to the broker's JVM options.
kafka_jvm_args() {
  local name="$1"
  KAFKA_JVM_ARGS=(
    -Xms"$KAFKA_HEAP" -Xmx"$KAFKA_HEAP"
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError
    -Djava.awt.headless=true
    -Dlog4j2.configurationFile="$DEV_DIR/kafka/log4j2-server.properties"
    -Dmeshwork.log.level="${MESHWORK_KAFKA_LOG_LEVEL:-INFO}"
    -Dkafka.logs.dir="$E2E/$name/logs"
    -Djava.io.tmpdir="$E2E/$name/logs"
    -cp "$(kafka_classpath)"
  )
}

# kafka_java NAME MAINCLASS ARGS...: run a Kafka main class in the foreground
# with the broker's JVM settings.
kafka_java() {
  local name="$1"; shift
  kafka_jvm_args "$name"
  "$(java_bin)" "${KAFKA_JVM_ARGS[@]}" "$@"
}

kafka_start() {
  local name="$1"
  kafka_jvm_args "$name"
  launch "$name" "$(java_bin)" "${KAFKA_JVM_ARGS[@]}" kafka.Kafka "$E2E/$name/server.properties"
}

kafka_ready() {
  local port; port="$(kafka_port "$1")"
  port_open "$port" || return 1
  timeout 10 kcat -b "127.0.0.1:$port" -L -m 3 -q 2>/dev/null | grep -q ' 1 brokers:'
}

# ---------------------------------------------------------------------------
# Mosquitto

mosquitto_prepare() {
  local dir="$E2E/mosquitto"
  mkdir -p "$dir/data"
  cat >"$dir/mosquitto.conf" <<EOF
# Written by deploy/dev/up.sh; edits are overwritten on the next start.
per_listener_settings false
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
persistence true
persistence_location $dir/data/
autosave_interval 30
# Keep root when started as root (the default would switch to user mosquitto,
# which cannot write the persistence dir).
user root
# Messages queued for one client beyond its in-flight window; Mosquitto drops
# QoS 1 messages for a client whose queue is full, so a bridge that falls
# behind a burst loses them at the broker: keep this well above a burst.
max_queued_messages 1000000
# QoS 1/2 messages sent to one client and not yet acknowledged (default 20).
# A Kafka bridge acknowledges each message after a Kafka round trip, so this
# window, not the bridge, bounds its throughput: match the adapter's window.
max_inflight_messages 1024
log_dest stdout
log_type error
log_type warning
log_type notice
log_type information
connection_messages true
log_timestamp_format %Y-%m-%dT%H:%M:%S
EOF
}

# ---------------------------------------------------------------------------
# RabbitMQ (Debian's 3.10.x; AMQP 1.0 through the rabbitmq_amqp1_0 plugin)

RABBITMQ_SBIN="${RABBITMQ_SBIN:-/usr/lib/rabbitmq/bin}"

# rabbitmq_env: environment shared by the server and the CLI tools, so that
# everything (config, cookie, data, plugins list) lives under $E2E/rabbitmq and
# nothing from /etc/rabbitmq or /var/lib/rabbitmq is used.
rabbitmq_env() {
  local dir="$E2E/rabbitmq"
  export HOME="$dir/home"   # holds .erlang.cookie for the server and the CLI
  export RABBITMQ_NODENAME="meshwork@localhost"
  export RABBITMQ_USE_LONGNAME=false
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT="$RABBITMQ_AMQP_PORT"
  export RABBITMQ_DIST_PORT="$RABBITMQ_DIST_PORT"
  export RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"
  export RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
  export RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
  export RABBITMQ_MNESIA_BASE="$dir/mnesia"
  export RABBITMQ_LOG_BASE="$dir/log"
  export RABBITMQ_PID_FILE="$dir/rabbitmq.pid"
  export RABBITMQ_LOGS=-
  export ERL_EPMD_ADDRESS=127.0.0.1
  export ERL_EPMD_PORT=4369
  # Distribution on loopback only; no busy-waiting schedulers (2-core machines).
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1} +sbwt none +sbwtdcpu none +sbwtdio none"
  export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

rabbitmqctl_e2e() { ( rabbitmq_env; "$RABBITMQ_SBIN/rabbitmqctl" "$@" ); }

rabbitmq_prepare() {
  local dir="$E2E/rabbitmq"
  mkdir -p "$dir/home" "$dir/mnesia" "$dir/log"
  : >"$dir/rabbitmq-env.conf"
  echo '[].' >"$dir/advanced.config"
  cat >"$dir/rabbitmq.conf" <<EOF
# Written by deploy/dev/up.sh; edits are overwritten on the next start.
listeners.tcp.default = 127.0.0.1:$RABBITMQ_AMQP_PORT
# guest/guest works from loopback only (RabbitMQ's default); we only use 127.0.0.1.
loopback_users.guest = true
log.console = true
log.console.level = info
log.file = false
disk_free_limit.absolute = 100MB
# AMQP 1.0 (rabbitmq_amqp1_0 plugin): SASL ANONYMOUS maps to guest.
amqp1_0.default_user = guest
amqp1_0.default_vhost = /
EOF
  if [ ! -f "$dir/home/.erlang.cookie" ]; then
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/home/.erlang.cookie"
    chmod 0400 "$dir/home/.erlang.cookie"
  fi
  if ! grep -q rabbitmq_amqp1_0 "$dir/enabled_plugins" 2>/dev/null; then
    local t0; t0="$(_now_ms)"
    ( rabbitmq_env; "$RABBITMQ_SBIN/rabbitmq-plugins" enable --offline rabbitmq_amqp1_0 ) \
      >>"$LOG_DIR/rabbitmq.log" 2>&1 || { log_tail rabbitmq 20; die "rabbitmq: enabling rabbitmq_amqp1_0 failed"; }
    log "rabbitmq: enabled plugin rabbitmq_amqp1_0 in $(elapsed "$t0")"
  fi
}

rabbitmq_start() {
  ( rabbitmq_env; cd "$E2E/rabbitmq" || exit 1; launch rabbitmq "$RABBITMQ_SBIN/rabbitmq-server" )
}

# Called by down.sh after the node is gone: an epmd we caused to start and
# that now has no registered node is stopped too.
rabbitmq_after_stop() {
  command -v epmd >/dev/null 2>&1 || return 0
  pgrep -x epmd >/dev/null 2>&1 || return 0
  if ! ERL_EPMD_ADDRESS=127.0.0.1 epmd -names 2>/dev/null | grep -q '^name '; then
    ERL_EPMD_ADDRESS=127.0.0.1 epmd -kill >/dev/null 2>&1 || true
  fi
}

# ---------------------------------------------------------------------------
# ActiveMQ (Debian's Classic 5.x, plus the AMQP transport jars from Maven Central)

activemq_prepare() {
  local dir="$E2E/activemq"
  mkdir -p "$dir/conf" "$dir/data" "$dir/tmp"
  cp "$DEV_DIR/activemq/activemq.xml" "$dir/conf/activemq.xml"
  cp "$DEV_DIR/activemq/log4j.properties" "$dir/conf/log4j.properties"
  [ -d "$ACTIVEMQ_HOME" ] || die "activemq: $ACTIVEMQ_HOME not found (run deploy/dev/install.sh)"
  local cpf; cpf="$(activemq_amqp_classpath_file)"
  [ -s "$cpf" ] || die "activemq: no AMQP transport classpath at $cpf (run deploy/dev/install.sh)"
}

activemq_start() {
  local dir="$E2E/activemq"
  local amqp_cp; amqp_cp="$(cat "$(activemq_amqp_classpath_file)")"
  launch activemq \
    "$(java_bin)" \
    -Xms"$ACTIVEMQ_HEAP" -Xmx"$ACTIVEMQ_HEAP" -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true \
    -Dorg.apache.activemq.UseDedicatedTaskRunner=false \
    --add-reads=java.xml=java.logging \
    --add-opens java.base/java.security=ALL-UNNAMED \
    --add-opens java.base/java.net=ALL-UNNAMED \
    --add-opens java.base/java.lang=ALL-UNNAMED \
    --add-opens java.base/java.util=ALL-UNNAMED \
    --add-opens java.naming/javax.naming.spi=ALL-UNNAMED \
    --add-opens java.rmi/sun.rmi.transport.tcp=ALL-UNNAMED \
    --add-opens java.base/java.util.concurrent=ALL-UNNAMED \
    --add-opens java.base/java.util.concurrent.atomic=ALL-UNNAMED \
    -Dactivemq.classpath="$dir/conf:$amqp_cp" \
    -Dactivemq.home="$ACTIVEMQ_HOME" \
    -Dactivemq.base="$dir" \
    -Dactivemq.conf="$dir/conf" \
    -Dactivemq.data="$dir/data" \
    -Djava.io.tmpdir="$dir/tmp" \
    -Dlog4j.configuration="file:$dir/conf/log4j.properties" \
    -jar "$ACTIVEMQ_HOME/bin/activemq.jar" start "xbean:file:$dir/conf/activemq.xml"
}
