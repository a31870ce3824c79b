"""webhookrx - the webhook receiver of bench/webhooks.sh: an HTTP server on
127.0.0.1:PORT that answers every POST 200 at once and counts the events
of the batches (and the distinct ids), writing "events=N distinct=D
batches=B" to COUNTFILE after each one. Loopback only; trusts nothing
beyond a bounded Content-Length.
Usage: python3 webhookrx.py PORT COUNTFILE"""
import http.server
import json
import os
import sys
import threading

BODY_MAX = 16 * 1024 * 1024
lock = threading.Lock()
state = {"events": 0, "batches": 0, "ids": set()}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        n = min(int(self.headers.get("Content-Length") or 0), BODY_MAX)
        events = json.loads(self.rfile.read(n)).get("events", [])
        with lock:
            state["events"] += len(events)
            state["batches"] += 1
            state["ids"].update(e.get("id") for e in events)
            line = "events=%d distinct=%d batches=%d\n" % (state["events"], len(state["ids"]),
                                                           state["batches"])
            with open(sys.argv[2] + ".tmp", "w") as f:
                f.write(line)
            os.replace(sys.argv[2] + ".tmp", sys.argv[2])
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
server.daemon_threads = True
server.serve_forever()
