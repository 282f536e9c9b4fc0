"""Independent witness: subscribe with MQTT 5 (paho-mqtt) and print each
message as one JSON line with its user properties and content type.

Usage: mqtt5_sub.py HOST PORT TOPIC COUNT
Prints "ready" once the subscription is acknowledged.
"""
import json
import sys

import paho.mqtt.client as mqtt

host, port, topic, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
received = 0


def on_connect(client, userdata, flags, reason_code, properties):
    if reason_code.is_failure:
        print(f"connect failed: {reason_code}", file=sys.stderr)
        sys.exit(1)
    client.subscribe(topic, qos=1)


def on_subscribe(client, userdata, mid, reason_codes, properties):
    print("ready", flush=True)


def on_message(client, userdata, msg):
    global received
    props = msg.properties
    out = {
        "topic": msg.topic,
        "payload": msg.payload.decode("utf-8", "replace"),
        "content_type": getattr(props, "ContentType", ""),
        "user_properties": [list(kv) for kv in getattr(props, "UserProperty", [])],
    }
    print(json.dumps(out), flush=True)
    received += 1
    if received >= count:
        client.disconnect()


client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="meshwork-witness-mqtt5", protocol=mqtt.MQTTv5)
client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message
client.connect(host, port, keepalive=30)
client.loop_forever()
