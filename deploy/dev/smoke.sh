#!/usr/bin/env bash
# Quick end-to-end check of the running services with the witness clients:
#   kcat produce+consume on both Kafka clusters, mosquitto_pub/sub on 1884,
#   an AMQP 1.0 round trip (Python qpid-proton) on RabbitMQ and on ActiveMQ.
# With --perf also runs Kafka's ProducerPerformance (10000 records) against east.
#
# usage: deploy/dev/smoke.sh [--perf]
set -euo pipefail
LOG_TAG=smoke
# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PERF=0
for arg in "$@"; do
  case "$arg" in
    --perf) PERF=1 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument: $arg" ;;
  esac
done

RUN="$(date +%s)-$$"
PASSED=0
FAILED=0

check() {
  local name="$1"; shift
  local t0 rc=0 out
  t0="$(_now_ms)"
  out="$("$@" 2>&1)" || rc=$?
  if [ "$rc" -eq 0 ]; then
    PASSED=$((PASSED + 1))
    log "ok   $name ($(elapsed "$t0"))"
    [ -z "$out" ] || printf '%s\n' "$out" | tail -n 1 | sed 's/^/    /' >&2
  else
    FAILED=$((FAILED + 1))
    log "FAIL $name (exit $rc, $(elapsed "$t0"))"
    printf '%s\n' "$out" | tail -n 20 | sed 's/^/    /' >&2
  fi
}

# The clusters do not create topics on first use (as in production), so each
# check creates its topic with Kafka's own tool first.
create_topic() {
  timeout 60 "$DEV_DIR/kafka-class.sh" org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "$1" --create --if-not-exists --topic "$2" --partitions 1 --replication-factor 1 >/dev/null
}

kafka_roundtrip() {
  local bootstrap="$1" topic="smoke.kcat" n=100 got
  create_topic "$bootstrap" "$topic"
  seq 1 "$n" | sed "s/^/$RUN:/" | timeout 30 kcat -P -b "$bootstrap" -t "$topic" -K: -X acks=all
  # Read the whole topic (earlier runs' records too) and count this run's keys.
  got="$(timeout 30 kcat -C -b "$bootstrap" -t "$topic" -o beginning -e -q -f '%k\n' | grep -c "^$RUN\$" || true)"
  [ "$got" -eq "$n" ] || { echo "consumed $got of $n records from $topic"; return 1; }
}

mqtt_roundtrip() {
  local topic="smoke/$RUN" got
  timeout 15 mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t "$topic" -C 3 -W 10 >"$E2E/smoke-mqtt.$$" &
  local sub=$!
  sleep 0.5
  local i
  for i in 1 2 3; do
    mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t "$topic" -m "$RUN-$i"
  done
  wait "$sub" || true
  got="$(grep -c "^$RUN-" "$E2E/smoke-mqtt.$$" || true)"
  rm -f "$E2E/smoke-mqtt.$$"
  [ "$got" -eq 3 ] || { echo "received $got of 3 MQTT messages"; return 1; }
}

amqp_roundtrip() {
  timeout 60 "$VENV_DIR/bin/python" "$DEV_DIR/witness/amqp_roundtrip.py" "$@"
}

producer_perf() {
  local out
  create_topic "127.0.0.1:$KAFKA_EAST_PORT" smoke.perf
  out="$(timeout 120 "$DEV_DIR/kafka-class.sh" org.apache.kafka.tools.ProducerPerformance \
    --topic smoke.perf --num-records 10000 --record-size 100 --throughput -1 \
    --producer-props bootstrap.servers="127.0.0.1:$KAFKA_EAST_PORT" acks=all linger.ms=5)"
  echo "$out"
  grep -q '^10000 records sent' <<<"$out"
}

mkdir -p "$E2E"
check "kafka-east kcat produce/consume" kafka_roundtrip "127.0.0.1:$KAFKA_EAST_PORT"
check "kafka-west kcat produce/consume" kafka_roundtrip "127.0.0.1:$KAFKA_WEST_PORT"
check "kafka-north kcat produce/consume" kafka_roundtrip "127.0.0.1:$KAFKA_NORTH_PORT"
check "mosquitto pub/sub on $MQTT_PORT" mqtt_roundtrip
check "rabbitmq AMQP 1.0 round trip" amqp_roundtrip "amqp://guest:guest@127.0.0.1:$RABBITMQ_AMQP_PORT" "/queue/smoke" 10
check "activemq AMQP 1.0 round trip" amqp_roundtrip "amqp://127.0.0.1:$ACTIVEMQ_AMQP_PORT" "queue://smoke" 10
[ "$PERF" -eq 0 ] || check "ProducerPerformance 10000 records on kafka-east" producer_perf

log "$PASSED checks ok, $FAILED failing"
[ "$FAILED" -eq 0 ]
