#!/usr/bin/env bash
# Run any Apache Kafka main class with the cached classpath (see install.sh).
#
# usage: deploy/dev/kafka-class.sh MAINCLASS [ARGS...]
# e.g.   deploy/dev/kafka-class.sh org.apache.kafka.tools.TopicCommand \
#          --bootstrap-server 127.0.0.1:9092 --list
#        deploy/dev/kafka-class.sh org.apache.kafka.tools.ProducerPerformance \
#          --topic perf --num-records 10000 --record-size 100 --throughput -1 \
#          --producer-props bootstrap.servers=127.0.0.1:9092 acks=all
#        deploy/dev/kafka-class.sh org.apache.kafka.connect.mirror.MirrorMaker mm2.properties
#
# Environment:
#   KAFKA_LOG_LEVEL        log level of the tools' log4j2 config (default WARN; logs go to stderr)
#   KAFKA_LOG4J_CONFIG     another log4j2 config file
#   KAFKA_HEAP_OPTS        JVM heap options (default -Xms64M -Xmx512M)
#   KAFKA_OPTS             extra JVM options
#   KAFKA_EXTRA_CLASSPATH  prepended to the classpath (e.g. connector jars)
set -euo pipefail
# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=kafka-class

if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  usage >&2
  exit 2
fi

cp="$(kafka_classpath)"
[ -z "${KAFKA_EXTRA_CLASSPATH:-}" ] || cp="$KAFKA_EXTRA_CLASSPATH:$cp"

# KAFKA_HEAP_OPTS and KAFKA_OPTS are split on spaces, as Kafka's own scripts do.
# shellcheck disable=SC2086
exec "$(java_bin)" \
  ${KAFKA_HEAP_OPTS:--Xms64M -Xmx512M} \
  -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
  -Djava.awt.headless=true \
  -Dlog4j2.configurationFile="${KAFKA_LOG4J_CONFIG:-$DEV_DIR/kafka/log4j2-tools.properties}" \
  -Dmeshwork.log.level="${KAFKA_LOG_LEVEL:-WARN}" \
  -Dkafka.logs.dir="$LOG_DIR" \
  ${KAFKA_OPTS:-} \
  -cp "$cp" "$@"
