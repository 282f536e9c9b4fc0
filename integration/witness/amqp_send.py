"""Independent witness: with qpid-proton, send the messages described by a
JSON list to one AMQP 1.0 address and wait until the broker accepted each.
Prints "sent N" at the end.

Each message: {"body": ..., "kind": "data" | "value" | "sequence",
"id", "subject", "content_type", "reply_to", "correlation_id",
"properties": {...}}. kind data sends body (text) as one data section;
value sends body as an amqp-value (string, map, list, number); sequence
sends body (a list) as an amqp-sequence.

Usage: amqp_send.py URL ADDRESS JSON (or @FILE holding the JSON)
"""
import json
import sys

from proton import Message
from proton.handlers import MessagingHandler
from proton.reactor import Container


def build(spec):
    kind = spec.get("kind", "value")
    body = spec.get("body")
    if kind == "data":
        m = Message(body=body.encode(), inferred=True)
    elif kind == "sequence":
        m = Message(body=body, inferred=True)
    else:
        m = Message(body=body)
    for attr in ("id", "subject", "content_type", "reply_to", "correlation_id"):
        if attr in spec:
            setattr(m, attr, spec[attr])
    m.properties = spec.get("properties") or None
    m.durable = True
    return m


class Send(MessagingHandler):
    def __init__(self, url, address, specs):
        super().__init__()
        self.url, self.address, self.specs = url, address, specs
        self.next = 0
        self.accepted = 0

    def on_start(self, event):
        conn = event.container.connect(self.url, allowed_mechs="PLAIN ANONYMOUS")
        self.sender = event.container.create_sender(conn, self.address)

    def on_sendable(self, event):
        while self.sender.credit and self.next < len(self.specs):
            self.sender.send(build(self.specs[self.next]))
            self.next += 1

    def on_accepted(self, event):
        self.accepted += 1
        if self.accepted == len(self.specs):
            print("sent", self.accepted, flush=True)
            event.connection.close()

    def on_rejected(self, event):
        print("the broker rejected a message", file=sys.stderr)
        sys.exit(1)


url, address, arg = sys.argv[1], sys.argv[2], sys.argv[3]
if arg.startswith("@"):
    with open(arg[1:]) as f:
        arg = f.read()
specs = json.loads(arg)
Container(Send(url, address, specs)).run()
