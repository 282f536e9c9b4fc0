"""Independent witness: confluent-kafka's SchemaRegistryClient with the
credentials Confluent clients send, against a registry with auth.

Usage:
  sr_auth.py REGISTRY_URL MODE CREDENTIAL SUBJECT
      registers a schema under SUBJECT and reads it back by id, MODE being
        none      no credentials
        userinfo  basic.auth.user.info (USER_INFO), CREDENTIAL user:password
        url       user:password in the URL (URL), CREDENTIAL user:password
        token     bearer.auth.credentials.source=STATIC_TOKEN, CREDENTIAL the token
      prints {"id": N} on success, {"status": HTTP status, "error_code": N} when refused
"""
import json
import sys
from urllib.parse import urlsplit, urlunsplit

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

SCHEMA = json.dumps({
    "type": "record", "name": "Login", "namespace": "shop.witness",
    "fields": [{"name": "user", "type": "string"}],
})


def client(url, mode, cred):
    if mode == "none":
        return SchemaRegistryClient({"url": url})
    if mode == "userinfo":
        # the Python client's form of basic.auth.credentials.source=USER_INFO
        return SchemaRegistryClient({"url": url, "basic.auth.user.info": cred})
    if mode == "url":
        u = urlsplit(url)
        # the Python client's form of basic.auth.credentials.source=URL
        return SchemaRegistryClient({"url": urlunsplit((u.scheme, cred + "@" + u.netloc, u.path, "", ""))})
    if mode == "token":
        return SchemaRegistryClient({"url": url, "bearer.auth.credentials.source": "STATIC_TOKEN",
                                     "bearer.auth.token": cred, "bearer.auth.logical.cluster": "meshwork"})
    sys.exit(f"unknown mode {mode}")


def main(url, mode, cred, subject):
    sr = client(url, mode, cred)
    try:
        schema_id = sr.register_schema(subject, Schema(SCHEMA, "AVRO"))
        got = sr.get_schema(schema_id)
        if "Login" not in got.schema_str:
            sys.exit(f"schema {schema_id} read back as {got.schema_str}")
        print(json.dumps({"id": schema_id}), flush=True)
    except SchemaRegistryError as e:
        print(json.dumps({"status": e.http_status_code, "error_code": e.error_code}), flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(*sys.argv[1:])
