"""Independent witness: with qpid-proton, receive COUNT messages from one
AMQP 1.0 address and send each, unchanged (body, content-type, message-id,
subject, application-properties), to another. Prints one JSON line per
message with the application-properties it saw.

Usage: amqp_echo.py URL SOURCE TARGET COUNT
"""
import json
import sys

from proton import Message
from proton.handlers import MessagingHandler
from proton.reactor import Container


class Echo(MessagingHandler):
    def __init__(self, url, source, target, count):
        super().__init__(auto_accept=False)
        self.url, self.source, self.target, self.count = url, source, target, count
        self.received = 0
        self.confirmed = 0

    def on_start(self, event):
        conn = event.container.connect(self.url, allowed_mechs="PLAIN ANONYMOUS")
        self.sender = event.container.create_sender(conn, self.target)
        self.receiver = event.container.create_receiver(conn, self.source)

    def on_message(self, event):
        m = event.message
        out = Message(body=m.body, content_type=m.content_type, id=m.id, subject=m.subject,
                      properties=dict(m.properties or {}), durable=True)
        self.sender.send(out)
        self.accept(event.delivery)
        self.received += 1
        props = {k: str(v) for k, v in (m.properties or {}).items()}
        print(json.dumps({"content_type": m.content_type, "properties": props}), flush=True)

    def on_accepted(self, event):
        self.confirmed += 1
        if self.confirmed >= self.count:
            event.connection.close()

    def on_rejected(self, event):
        print("target rejected a message", file=sys.stderr)
        sys.exit(1)


url, source, target, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
Container(Echo(url, source, target, count)).run()
