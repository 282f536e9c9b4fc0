"""Independent witness: confluent-kafka's SchemaRegistryClient registering a
schema where a security policy may refuse it.

Usage:
  sr_policy.py register REGISTRY_URL SUBJECT
      registers a small Avro schema under SUBJECT and prints {"id": N}, or,
      when the registry refuses, {"http_status": S, "error_code": C,
      "message": "..."} as the client reports it
"""
import json
import sys

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

SCHEMA = json.dumps({
    "type": "record", "name": "Guarded", "namespace": "it.policy",
    "fields": [{"name": "id", "type": "string"}],
})


def register(registry, subject):
    sr = SchemaRegistryClient({"url": registry})
    try:
        schema_id = sr.register_schema(subject, Schema(SCHEMA, "AVRO"))
    except SchemaRegistryError as e:
        print(json.dumps({"http_status": e.http_status_code, "error_code": e.error_code, "message": e.error_message}), flush=True)
        return
    print(json.dumps({"id": schema_id}), flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "register":
        sys.exit(__doc__)
    register(sys.argv[2], sys.argv[3])
