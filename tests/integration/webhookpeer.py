"""webhookpeer - a real HTTP receiver for ferry's webhook tests.

http.server's ThreadingHTTPServer in a background thread on 127.0.0.1
records every POST (path, headers, body) and answers as the test scripts
it: 500 to the first N requests, a delay before answering, no answer
until released (hold/release), or not
listening at all (down()/up() close and reopen the same port). It checks
signatures the way a customer's receiver would (verify()). A test peer:
bodies are bounded, nothing else is trusted or interpreted.
"""
import hashlib
import hmac
import http.server
import json
import threading
import time

BODY_MAX = 16 * 1024 * 1024


def verify(secret, header, body, tolerance=None):
    """Check a Ferry-Signature header ("t=UNIX,v1=HEX") over body (bytes)
    with secret (the text ferryctl printed): True or False. tolerance:
    refuse a t older than this many seconds (replays)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    if "t" not in parts or "v1" not in parts:
        return False
    if tolerance is not None and abs(time.time() - int(parts["t"])) > tolerance:
        return False
    mac = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, parts["v1"])


class Peer:
    """A receiver on 127.0.0.1:port (0: a free one, kept across down/up);
    HTTPS with tls (a server-side ssl.SSLContext)."""

    def __init__(self, port=0, tls=None):
        self.tls = tls
        self.lock = threading.Lock()
        self.requests = []          # dicts: path, headers (dict), body (bytes), status
        self.fail_next = 0          # answer 500 to this many requests
        self.status = 200
        self.delay = 0.0            # seconds before answering
        self.gate = threading.Event()   # cleared by hold(): requests wait for release()
        self.gate.set()
        self.waiting = 0            # requests waiting at the gate now
        self.port = port
        self.server = None
        self.thread = None
        self.up()

    def _handler(peer):
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(n, BODY_MAX))
                with peer.lock:
                    if peer.fail_next > 0:
                        peer.fail_next -= 1
                        status = 500
                    else:
                        status = peer.status
                    delay = peer.delay
                if delay:
                    time.sleep(delay)
                if not peer.gate.is_set():
                    with peer.lock:
                        peer.waiting += 1
                    peer.gate.wait(120)
                    with peer.lock:
                        peer.waiting -= 1
                with peer.lock:
                    peer.requests.append({"path": self.path, "headers": dict(self.headers.items()),
                                          "body": body, "status": status})
                reply = b'{"ok": true}' if status < 300 else b'{"error": "scripted"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass
        return Handler

    def up(self):
        """Listen (again, on the same port)."""
        if self.server is not None:
            return
        http.server.ThreadingHTTPServer.allow_reuse_address = True
        peer = self

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):
                sock, addr = self.socket.accept()
                if peer.tls is not None:
                    sock.settimeout(10)
                    try:
                        sock = peer.tls.wrap_socket(sock, server_side=True)
                    except OSError:     # the client refused the certificate
                        sock.close()
                        raise
                return sock, addr

            def handle_error(self, request, client_address):
                pass
        self.server = Server(("127.0.0.1", self.port), self._handler())
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def down(self):
        """Stop listening: connections are refused until up()."""
        if self.server is None:
            return
        self.server.shutdown()
        self.server.server_close()
        self.server = None

    def hold(self):
        """From now on requests wait, unanswered, until release()."""
        self.gate.clear()

    def release(self):
        self.gate.set()

    @property
    def url(self):
        return "%s://127.0.0.1:%d/hook" % ("https" if self.tls else "http", self.port)

    def received(self):
        """The requests answered 2xx, in order."""
        with self.lock:
            return [r for r in self.requests if r["status"] < 300]

    def all(self):
        with self.lock:
            return list(self.requests)

    def events(self):
        """Every event of the batches answered 2xx, in order (with repeats,
        at least once)."""
        out = []
        for r in self.received():
            out.extend(json.loads(r["body"])["events"])
        return out

    def close(self):
        self.release()
        self.down()
