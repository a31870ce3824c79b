"""Prometheus metrics (issue 11): mail goes through a real ferryd to a
receiver that offers STARTTLS and throttles the first MAIL FROM once, then
`ferryctl metrics` (the control socket) and GET /metrics (the HTTP listener,
admin token) are parsed by prometheus_client's text parser and checked
strictly: every family has HELP and TYPE, counters end in _total, every
sample belongs to the family declared before it, and the values are what
happened: messages received by tenant, SMTP transactions, connections in
and out, TLS both ways, the shaping action, the queue empty again, and
(from the events) recipients delivered and deferred and the accept to
delivery histogram. /metrics without the admin token is refused."""
import os
import re
import smtplib
import ssl
import subprocess
import unittest
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from ferrytest import FERRYD, Ferryd, free_port, tls_context, wait_for
from receiver import Receiver

PLAIN = 4          # messages over mx, one connection each, no tenant
TENANT = 2         # messages of tenant acme over submission (STARTTLS, AUTH)
THROTTLE = "421 4.7.0 Try again later, closing connection."   # google-try-later: connections


def receiver_ctx(d):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", "rx.key", "-out", "rx.pem", "-days", "2", "-subj", "/CN=rx.test"],
                   cwd=d, check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(d, "rx.pem"), os.path.join(d, "rx.key"))
    return ctx


def parse_strict(test, text):
    """{family name as written: (type, {(sample name, labels tuple): value})},
    after checking the text line by line and through prometheus_client."""
    declared, help_of, current = {}, set(), None
    for line in text.splitlines():
        m = re.match(r"# HELP (\S+) \S", line)
        if m:
            help_of.add(m.group(1))
            continue
        m = re.match(r"# TYPE (\S+) (counter|gauge|histogram)$", line)
        if m:
            name, typ = m.groups()
            test.assertIn(name, help_of, "TYPE before HELP: " + line)
            test.assertNotIn(name, declared, "declared twice: " + name)
            test.assertTrue(name.startswith("ferry_"), name)
            test.assertEqual(typ == "counter", name.endswith("_total"), line)
            declared[name] = typ
            current = name
            continue
        test.assertFalse(line.startswith("#"), line)
        sname = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
        test.assertIsNotNone(current, line)
        allowed = {current} if declared[current] != "histogram" else \
            {current + "_bucket", current + "_sum", current + "_count"}
        test.assertIn(sname, allowed, "sample outside its family: " + line)
    families = {}
    for fam in text_string_to_metric_families(text):
        test.assertNotEqual(fam.type, "unknown", fam.name)
        test.assertTrue(fam.documentation, fam.name)
        written = fam.name + "_total" if fam.type == "counter" else fam.name
        test.assertEqual(declared.get(written), fam.type, fam.name)
        samples = {}
        for s in fam.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            test.assertNotIn(key, samples, "duplicate series %s" % (key,))
            samples[key] = s.value
        families[written] = (fam.type, samples)
    test.assertEqual(set(families), set(declared))
    return families


def value(families, family, sample=None, **labels):
    return families[family][1].get((sample or family, tuple(sorted(labels.items()))))


def total(families, family, **labels):
    """The sum of the family's samples whose labels include labels."""
    return sum(v for (_, lab), v in families[family][1].items()
               if all(dict(lab).get(k) == w for k, w in labels.items()))


class MetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rx = None
        cls.f = Ferryd(deliver=True, relay_networks="127.0.0.0/8", listeners=("mx", "submission", "submissions"))
        cls.rx = Receiver("127.0.0.1", name="sink.test", tls=receiver_ctx(cls.f.tmp))
        cls.http_port = None
        # down.test: a route to a port nobody listens on (its mail stays deferred)
        extra = "retry_min 1\nretry_max 2\nroute sink.test smtp:127.0.0.1:%d\n" \
            "route down.test smtp:127.0.0.1:%d tls=none\n" % (cls.rx.port, free_port())
        http = "listen http 127.0.0.1:%d\n" % free_port()
        # The HTTP listener where this build has one (ferryd -t knows the line).
        with open(cls.f.conf, "a") as f:
            f.write(extra + http)
        if subprocess.run([FERRYD, "-t", "-c", cls.f.conf], capture_output=True).returncode == 0:
            cls.http_port = int(http.split(":")[-1])
        else:
            with open(cls.f.conf) as f:
                conf = f.read()
            with open(cls.f.conf, "w") as f:
                f.write(conf.replace(http, ""))
        throttled = []

        def mail(arg):
            if not throttled:
                throttled.append(arg)
                return THROTTLE
            return "250 2.1.0 ok"
        cls.rx.set("mail", mail)
        cls.f.start()
        cls.key = cls.f.tenant_add("acme")
        for i in range(PLAIN):
            with smtplib.SMTP("127.0.0.1", cls.f.mx, timeout=30) as s:
                s.sendmail("a@src.test", ["p%d@sink.test" % i],
                           b"From: a@src.test\r\nSubject: plain\r\n\r\nhi\r\n")
        cls.f.submit("apikey", cls.key, "news@acme.test", ["t%d@sink.test" % i for i in range(TENANT)])
        with smtplib.SMTP_SSL("127.0.0.1", cls.f.submissions, timeout=30, context=tls_context()) as s:
            s.ehlo()    # implicit TLS: a handshake on the submissions listener, no mail
        cls.delivered = cls.rx.wait(PLAIN + TENANT, timeout=60)

    @classmethod
    def tearDownClass(cls):
        cls.f.stop()
        if cls.rx is not None:
            cls.rx.stop()

    def scrape_ctl(self):
        return parse_strict(self, self.f.ctl("metrics").stdout)

    def settled(self):
        """The metrics once the queue is empty and every session closed."""
        got = {}

        def done():
            got["m"] = m = self.scrape_ctl()
            return total(m, "ferry_queue_messages") == 0 and \
                total(m, "ferry_connections_inbound") == 0
        self.assertTrue(wait_for(done, timeout=30), got.get("m"))
        return got["m"]

    def test_1_ferryctl_metrics(self):
        self.assertTrue(self.delivered, self.f.log_text()[-3000:])
        m = self.settled()
        self.assertEqual(value(m, "ferry_build_info", version="0.1.0"), 1)
        self.assertEqual(value(m, "ferry_smtp_transaction_seconds",
                               "ferry_smtp_transaction_seconds_count"), PLAIN + TENANT)
        self.assertGreaterEqual(value(m, "ferry_connections_inbound_total", listener="mx"), PLAIN)
        self.assertGreaterEqual(value(m, "ferry_connections_inbound_total", listener="submission"), 1)
        self.assertGreaterEqual(value(m, "ferry_connections_outbound_total"), 1)
        self.assertGreaterEqual(value(m, "ferry_connections_inbound_total", listener="submissions"), 1)
        # STARTTLS on submission and implicit TLS on submissions
        self.assertGreaterEqual(total(m, "ferry_tls_sessions_total", direction="inbound"), 2)
        self.assertGreaterEqual(total(m, "ferry_tls_sessions_total", direction="outbound"), 1)
        self.assertEqual(total(m, "ferry_tls_sessions_total", version="other"), 0)
        self.assertEqual(value(m, "ferry_shaping_actions_total", action="connections"), 1)
        for state in ("active", "deferred", "held", "ready"):
            self.assertEqual(value(m, "ferry_queue_messages", state=state), 0)
        self.check_buckets(m, "ferry_smtp_transaction_seconds")
        # from the events (the outbox's observer)
        self.assertEqual(value(m, "ferry_events_dropped_total"), 0)
        self.assertEqual(value(m, "ferry_messages_received_total", tenant=""), PLAIN)
        self.assertEqual(value(m, "ferry_messages_received_total", tenant="acme"), TENANT)
        self.assertEqual(total(m, "ferry_recipients_delivered_total"), PLAIN + TENANT)
        self.assertEqual(value(m, "ferry_recipients_delivered_total", tenant="acme"), TENANT)
        self.assertEqual(total(m, "ferry_recipients_received_total"), PLAIN + TENANT)
        self.assertGreaterEqual(total(m, "ferry_recipients_deferred_total"), 1)
        self.assertEqual(total(m, "ferry_recipients_bounced_total"), 0)
        self.assertEqual(value(m, "ferry_delivery_latency_seconds",
                               "ferry_delivery_latency_seconds_count"), PLAIN + TENANT)
        self.check_buckets(m, "ferry_delivery_latency_seconds")

    def check_buckets(self, m, name):
        """Cumulative buckets in order of le, +Inf last and equal to _count."""
        buckets = sorted(((float(dict(lab)["le"]), v) for (s, lab), v in m[name][1].items()
                          if s == name + "_bucket"))
        self.assertEqual(buckets[-1][0], float("inf"))
        self.assertEqual([v for _, v in buckets], sorted(v for _, v in buckets))
        self.assertEqual(buckets[-1][1], value(m, name, name + "_count"))
        self.assertGreaterEqual(value(m, name, name + "_sum"), 0)

    def test_3_queue_states(self):
        """ferry_queue_messages follows a message from deferred to held."""
        self.settled()
        with smtplib.SMTP("127.0.0.1", self.f.mx, timeout=30) as s:
            s.sendmail("a@src.test", ["x@down.test"], b"Subject: down\r\n\r\nhi\r\n")

        def states():
            m = self.scrape_ctl()
            return {k: value(m, "ferry_queue_messages", state=k)
                    for k in ("active", "deferred", "held", "ready")}
        self.assertTrue(wait_for(lambda: states()["deferred"] == 1), states())
        qid = re.search(r"\b[0-9A-F]{16}\b", self.f.ctl("queue", "list").stdout).group(0)
        self.f.ctl("queue", "hold", qid)
        self.assertTrue(wait_for(lambda: states() == {"active": 0, "deferred": 0, "held": 1, "ready": 0}),
                        states())
        self.f.ctl("queue", "delete", qid)
        self.assertTrue(wait_for(lambda: sum(states().values()) == 0), states())

    def http_get(self, token=None):
        req = urllib.request.Request("http://127.0.0.1:%d/metrics" % self.http_port)
        if token is not None:
            req.add_header("Authorization", "Bearer " + token)
        return urllib.request.urlopen(req, timeout=10)

    def test_2_http_metrics(self):
        if self.http_port is None:
            self.skipTest("this build has no HTTP listener")
        self.assertTrue(self.delivered)
        self.settled()
        token = self.f.ctl("admin-token").stdout.strip()
        with self.http_get(token) as r:
            self.assertEqual(r.status, 200)
            self.assertEqual(r.headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
            m = parse_strict(self, r.read().decode())
        self.assertEqual(value(m, "ferry_messages_received_total", tenant="acme"), TENANT)
        self.assertEqual(value(m, "ferry_smtp_transaction_seconds",
                               "ferry_smtp_transaction_seconds_count"), PLAIN + TENANT)
        for bad in (None, "wrong", self.key):   # none, a wrong token, a tenant's key
            with self.assertRaises(urllib.error.HTTPError) as cm:
                self.http_get(bad)
            self.assertEqual(cm.exception.code, 403 if bad == self.key else 401, bad)
        self.assertNotIn(token, self.f.log_text())


class MetricsCtlTest(unittest.TestCase):
    def test_usage_and_no_ferryd(self):
        f = Ferryd()       # never started: no control socket
        os.makedirs(f.spool, mode=0o700)
        r = f.ctl("metrics", "now", check=False)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("metrics", r.stderr)
        r = f.ctl("metrics", check=False)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("is ferryd running?", r.stderr)
        self.assertEqual(r.stdout, "")


if __name__ == "__main__":
    unittest.main(verbosity=2)
