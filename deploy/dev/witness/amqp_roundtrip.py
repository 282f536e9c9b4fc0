"""Send N messages to an AMQP 1.0 queue and receive them back (qpid-proton).

usage: python amqp_roundtrip.py URL ADDRESS [COUNT]
  URL      amqp://[user:pass@]127.0.0.1:PORT
  ADDRESS  RabbitMQ 3.x: /queue/NAME (declares the queue); ActiveMQ: queue://NAME or NAME

Used by deploy/dev/smoke.sh to check that a broker speaks AMQP 1.0 end to end.
Exits 0 when every message sent came back with the same body, 1 otherwise.
"""

import sys
import uuid

from proton import Message
from proton.handlers import MessagingHandler
from proton.reactor import Container


class RoundTrip(MessagingHandler):
    def __init__(self, url, address, count):
        super().__init__()
        self.url = url
        self.address = address
        self.count = count
        self.run_id = uuid.uuid4().hex
        self.sent = 0
        self.confirmed = 0
        self.received = []
        self.error = None
        self.conn = None
        self.timer = None

    def on_start(self, event):
        self.timer = event.container.schedule(20.0, self)
        self.conn = event.container.connect(
            self.url, allowed_mechs="PLAIN ANONYMOUS", sasl_enabled=True
        )
        # Receiver first, so nothing is missed on brokers that do not keep
        # messages for a queue that does not exist yet.
        event.container.create_receiver(self.conn, self.address)
        event.container.create_sender(self.conn, self.address)

    def on_timer_task(self, event):
        self.error = "timed out: sent %d, confirmed %d, received %d of %d" % (
            self.sent, self.confirmed, len(self.received), self.count)
        self.close()

    def on_sendable(self, event):
        while event.sender.credit and self.sent < self.count:
            body = "%s-%d" % (self.run_id, self.sent)
            event.sender.send(Message(id=self.sent, body=body, durable=True))
            self.sent += 1

    def on_accepted(self, event):
        self.confirmed += 1
        self.maybe_done()

    def maybe_done(self):
        if len(self.received) >= self.count and self.confirmed >= self.count:
            self.close()

    def on_rejected(self, event):
        self.error = "message rejected by the broker"
        self.close()

    def on_message(self, event):
        body = event.message.body
        if isinstance(body, bytes):
            body = body.decode()
        if isinstance(body, str) and body.startswith(self.run_id):
            self.received.append(body)
        self.maybe_done()

    def on_transport_error(self, event):
        cond = event.transport.condition
        self.error = "transport error: %s" % (cond.description if cond else "unknown")
        self.close()

    def on_connection_error(self, event):
        cond = event.connection.remote_condition
        self.error = "connection error: %s" % (cond.description if cond else "unknown")
        self.close()

    def on_link_error(self, event):
        cond = event.link.remote_condition
        self.error = "link error: %s" % (cond.description if cond else "unknown")
        self.close()

    def close(self):
        if self.timer:
            self.timer.cancel()
            self.timer = None
        if self.conn:
            self.conn.close()
            self.conn = None


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    url, address = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    handler = RoundTrip(url, address, count)
    Container(handler).run()
    want = ["%s-%d" % (handler.run_id, i) for i in range(count)]
    if handler.error is None and sorted(handler.received) != sorted(want):
        handler.error = "received %d of %d messages" % (len(handler.received), count)
    if handler.error:
        print("FAIL %s %s: %s" % (url, address, handler.error), file=sys.stderr)
        return 1
    print("ok %s %s: %d sent, %d accepted, %d received" % (
        url, address, handler.sent, handler.confirmed, len(handler.received)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
