"""Independent witness: with qpid-proton, receive COUNT messages from one
AMQP 1.0 address, accept each, and print one JSON line per message: its
body (kind data, value or sequence, and the body as text or JSON), id,
subject, content type, reply-to, correlation-id and
application-properties (as text). Prints "ready" once its link is attached.

Usage: amqp_recv.py URL ADDRESS COUNT
"""
import json
import sys

from proton import Message
from proton.handlers import MessagingHandler
from proton.reactor import Container


def text(v):
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


class Recv(MessagingHandler):
    def __init__(self, url, address, count):
        super().__init__(auto_accept=False)
        self.url, self.address, self.count = url, address, count
        self.received = 0

    def on_start(self, event):
        conn = event.container.connect(self.url, allowed_mechs="PLAIN ANONYMOUS")
        event.container.create_receiver(conn, self.address)

    def on_link_opened(self, event):
        if event.receiver:
            print("ready", flush=True)

    def on_message(self, event):
        m = event.message
        body = m.body
        kind = "value"
        if isinstance(body, (bytes, memoryview)) and m.inferred:
            kind, body = "data", bytes(body).decode("utf-8", "replace")
        elif isinstance(body, list) and m.inferred:
            kind = "sequence"
        out = {
            "kind": kind, "body": body if isinstance(body, (str, int, float, list, dict)) else text(body),
            "id": text(m.id), "subject": m.subject, "content_type": m.content_type, "reply_to": m.reply_to,
            "correlation_id": text(m.correlation_id), "durable": m.durable,
            "properties": {str(k): text(v) for k, v in (m.properties or {}).items()},
        }
        print(json.dumps(out, default=str), flush=True)
        self.accept(event.delivery)
        self.received += 1
        if self.received >= self.count:
            event.connection.close()


url, address, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
Container(Recv(url, address, count)).run()
