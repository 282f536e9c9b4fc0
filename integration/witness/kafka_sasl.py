"""Independent witness: a confluent-kafka (librdkafka) producer or consumer
on a Kafka listener with SASL_SSL, SCRAM-SHA-512.

Usage:
  kafka_sasl.py produce BROKER CA_FILE USER PASSWORD TOPIC VALUE...
      produces each VALUE, waits for every acknowledgement, prints "ok"
  kafka_sasl.py consume BROKER CA_FILE USER PASSWORD TOPIC COUNT
      reads COUNT records from the start (no group), prints each value

An authentication failure ends it at once with exit status 3 and the error
on stderr, as an application that checks its client's errors would; any
other failure (or 30 s without the records) with status 1.
"""
import os
import sys
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

mode, broker, ca, user, password, topic = sys.argv[1:7]
rest = sys.argv[7:]
conf = {
    "bootstrap.servers": broker,
    "security.protocol": "SASL_SSL",
    "ssl.ca.location": ca,
    "sasl.mechanisms": "SCRAM-SHA-512",
    "sasl.username": user,
    "sasl.password": password,
}
failure = []


def on_error(err):
    if err.code() == KafkaError._AUTHENTICATION:
        print(f"authentication failed: {err}", file=sys.stderr, flush=True)
        os._exit(3)  # from librdkafka's thread: sys.exit would only raise there
    failure.append(err)


conf["error_cb"] = on_error
deadline = time.monotonic() + 30

if mode == "produce":
    p = Producer(conf)
    acked = []

    def on_delivery(err, msg):
        if err is not None:
            print(f"delivery failed: {err}", file=sys.stderr, flush=True)
            sys.exit(1)
        acked.append(msg)

    for v in rest:
        p.produce(topic, v.encode(), on_delivery=on_delivery)
    while len(acked) < len(rest) and time.monotonic() < deadline:
        p.poll(0.2)
    if len(acked) < len(rest):
        print(f"{len(acked)} of {len(rest)} acknowledged in 30 s: {failure}", file=sys.stderr)
        sys.exit(1)
    print("ok", flush=True)
elif mode == "consume":
    want = int(rest[0])
    conf["group.id"] = "unused"
    conf["enable.auto.commit"] = False
    c = Consumer(conf)
    c.assign([TopicPartition(topic, 0, 0)])
    got = 0
    while got < want and time.monotonic() < deadline:
        msg = c.poll(0.5)
        if msg is None or msg.error():
            continue
        print(msg.value().decode(), flush=True)
        got += 1
    c.close()
    if got < want:
        print(f"{got} of {want} records in 30 s: {failure}", file=sys.stderr)
        sys.exit(1)
else:
    sys.exit(f"unknown mode {mode}")
