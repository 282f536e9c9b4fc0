"""Independent witness: confluent-kafka's SchemaRegistryClient and Avro
serializers against a Confluent-compatible registry and real Kafka.

Usage:
  sr_python.py produce REGISTRY_URL BROKER TOPIC COUNT
      registers the order schema under TOPIC-value (the serializer's
      default), produces COUNT records, prints {"schema_id": N}
  sr_python.py consume REGISTRY_URL BROKER TOPIC COUNT
      consumes COUNT records from the start with the Avro deserializer and
      prints each decoded value as one JSON line
  sr_python.py check REGISTRY_URL SUBJECT
      prints the subject's latest version and the compatibility verdict of
      a breaking change, as {"version": N, "id": N, "breaking_compatible": bool}
"""
import json
import sys

from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

ORDER = json.dumps({
    "type": "record", "name": "Order", "namespace": "shop.witness",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "total_cents", "type": "long"},
        {"name": "coupon", "type": ["null", "string"], "default": None},
    ],
})
BREAKING = json.dumps({
    "type": "record", "name": "Order", "namespace": "shop.witness",
    "fields": [{"name": "id", "type": "int"}],
})


def produce(registry, broker, topic, count):
    sr = SchemaRegistryClient({"url": registry})
    ser = AvroSerializer(sr, ORDER)
    p = Producer({"bootstrap.servers": broker, "acks": "all", "enable.idempotence": True})
    for i in range(count):
        value = {"id": f"py-{i}", "total_cents": 100 * i, "coupon": None if i % 2 else f"C{i}"}
        p.produce(topic, key=f"py-{i}".encode(), value=ser(value, SerializationContext(topic, MessageField.VALUE)))
    if p.flush(30) != 0:
        sys.exit("records not delivered")
    latest = sr.get_latest_version(f"{topic}-value")
    print(json.dumps({"schema_id": latest.schema_id}), flush=True)


def consume(registry, broker, topic, count):
    sr = SchemaRegistryClient({"url": registry})
    de = AvroDeserializer(sr)
    c = Consumer({"bootstrap.servers": broker, "group.id": f"{topic}.py", "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    seen = 0
    for _ in range(600):
        msg = c.poll(0.1)
        if msg is None:
            continue
        if msg.error():
            sys.exit(str(msg.error()))
        value = de(msg.value(), SerializationContext(topic, MessageField.VALUE))
        print(json.dumps(value), flush=True)
        seen += 1
        if seen >= count:
            break
    c.close()
    if seen < count:
        sys.exit(f"consumed {seen} of {count}")


def check(registry, subject):
    sr = SchemaRegistryClient({"url": registry})
    latest = sr.get_latest_version(subject)
    ok = sr.test_compatibility(subject, Schema(BREAKING, "AVRO"))
    print(json.dumps({"version": latest.version, "id": latest.schema_id, "breaking_compatible": ok}), flush=True)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "produce":
        produce(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    elif cmd == "consume":
        consume(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    elif cmd == "check":
        check(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"unknown command {cmd}")
