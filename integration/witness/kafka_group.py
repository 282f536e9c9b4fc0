"""Independent witness: a confluent-kafka (librdkafka) consumer group that
prints the value of each record it receives, one per line, until stopped.
Everything but the group, the start from the earliest offset and
read_committed is librdkafka's default.

Usage: kafka_group.py BROKER GROUP TOPIC
"""
import sys

from confluent_kafka import Consumer

broker, group, topic = sys.argv[1], sys.argv[2], sys.argv[3]
consumer = Consumer({
    "bootstrap.servers": broker,
    "group.id": group,
    "auto.offset.reset": "earliest",
    "isolation.level": "read_committed",
})
consumer.subscribe([topic])
try:
    while True:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            # A subscribed topic that does not exist yet is reported, and
            # the consumer goes on: it joins once the topic is there.
            print(f"error: {msg.error()}", file=sys.stderr, flush=True)
            continue
        print(msg.value().decode(), flush=True)
finally:
    consumer.close()
