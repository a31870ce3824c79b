"""Webhooks end to end: `ferryctl webhook add|list|del|test`, then ferryd's
sender POSTing a tenant's events to a real HTTP receiver on loopback
(webhookpeer), signed (checked here with hmac and the secret printed
once), retried after 500s and across a restart while the receiver is
down (at least once: nothing lost), dropped with an event after
webhook_retry_limit, scoped to the tenant, and never in the way of mail
(a receiver that does not answer while a message is relayed).

Events come from the events table: rows written here with Ferryd.sql (as
the outbox writes them) and, where the test sends mail, ferryd's own."""
import json
import os
import re
import shutil
import smtplib
import ssl
import subprocess
import tempfile
import time
import unittest

import ferrytest
from ferrytest import Ferryd, wait_for
from receiver import Receiver
from webhookpeer import Peer, verify

FAST = "webhook_retry_min 1\nwebhook_timeout 30\n"


def tenant_id(f, name):
    return f.sql("SELECT id FROM tenants WHERE name = ?", (name,))[0][0]


def record(f, tenant, kinds, rcpt="someone@far.test"):
    """Write one event per kind for tenant (name) as the outbox does;
    returns their ids."""
    tid = tenant_id(f, tenant)
    ids = []
    for i, k in enumerate(kinds):
        ids += [r[0] for r in f.sql("INSERT INTO events(time, tenant_id, kind, queue_id, rcpt_index,"
                                    " rcpt, detail, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                                    (int(time.time()), tid, k, "AB12CD34EF56%04d" % i, 0, rcpt,
                                     "250 2.0.0 ok \u00e9", "test"))]
    return ids


def webhook_add(f, tenant, url, *opts):
    """(id, secret) of a new endpoint."""
    out = f.ctl("webhook", "add", tenant, url, *opts).stdout.splitlines()
    secret = out[0].strip()
    m = re.match(r"id (\d+)$", out[1])
    assert secret.startswith("whsec_") and len(secret) == 70 and m, out
    return int(m.group(1)), secret


def ids_of(peer):
    """Event ids received (a test event has none)."""
    return [e["id"] for e in peer.events() if "id" in e]


class WebhookTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.f = Ferryd(extra=FAST).start()
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.f.stop()

    def setUp(self):
        self.peers = []

    def tearDown(self):
        for p in self.peers:
            p.close()

    def tenant(self):
        WebhookTest.n += 1
        name = "wh%d" % WebhookTest.n
        self.f.ctl("tenant", "add", name)
        return name

    def peer(self):
        p = Peer(ferrytest.free_port())
        self.peers.append(p)
        return p

    def test_ctl_add_list_del(self):
        t = self.tenant()
        wid, secret = webhook_add(self.f, t, "https://user:pa55@hooks.example.net/x?y=1",
                                  "--events", "bounced, delivered")
        out = self.f.ctl("webhook", "list", t).stdout
        self.assertIn("%d\t%s\thttps://hooks.example.net/x?y=1\tdelivered,bounced\t" % (wid, t), out)
        self.assertNotIn(secret, out)
        self.assertNotIn("pa55", out)
        self.assertNotIn(secret, self.f.ctl("webhook", "list").stdout)
        for bad in (["http:/x"], ["ftp://h/"], ["http://h/ x"], ["https://h/", "--events", "nope"]):
            r = self.f.ctl("webhook", "add", t, *bad, check=False)
            self.assertEqual(r.returncode, 1, bad)
        self.assertEqual(self.f.ctl("webhook", "add", "nosuch", "https://h/", check=False).returncode, 1)
        self.assertEqual(self.f.ctl("webhook", "del", str(wid)).stdout.strip(), "webhook %d deleted" % wid)
        self.assertNotIn("hooks.example.net", self.f.ctl("webhook", "list", t).stdout)
        self.assertEqual(self.f.ctl("webhook", "del", str(wid), check=False).returncode, 1)
        self.assertEqual(self.f.ctl("webhook", "del", "x1", check=False).returncode, 2)

    def test_ctl_test_is_signed(self):
        t, p = self.tenant(), self.peer()
        wid, secret = webhook_add(self.f, t, p.url)
        r = self.f.ctl("webhook", "test", str(wid))
        self.assertEqual(r.stdout.strip(), "HTTP 200")
        req = p.received()[0]
        self.assertEqual(req["headers"]["Content-Type"], "application/json")
        self.assertEqual(req["headers"]["Ferry-Webhook-Id"], str(wid))
        self.assertTrue(verify(secret, req["headers"]["Ferry-Signature"], req["body"], tolerance=300))
        self.assertFalse(verify(secret[:-1] + "0" if secret[-1] != "0" else secret[:-1] + "1",
                                req["headers"]["Ferry-Signature"], req["body"]))
        self.assertFalse(verify(secret, req["headers"]["Ferry-Signature"], req["body"] + b" "))
        ev = json.loads(req["body"])["events"][0]
        self.assertEqual((ev["type"], ev["tenant"]), ("test", t))
        p.fail_next = 1
        r = self.f.ctl("webhook", "test", str(wid), check=False)
        self.assertEqual((r.returncode, r.stdout.strip()), (1, "HTTP 500"))
        p.status = 302                      # a redirect is a failure, not followed
        r = self.f.ctl("webhook", "test", str(wid), check=False)
        self.assertEqual((r.returncode, r.stdout.strip()), (1, "HTTP 302"))
        p.status = 200
        p.down()
        r = self.f.ctl("webhook", "test", str(wid), check=False)
        self.assertEqual(r.returncode, 1)
        self.assertNotIn(secret, r.stdout + r.stderr)

    def test_events_delivered_signed_in_order(self):
        t, p = self.tenant(), self.peer()
        wid, secret = webhook_add(self.f, t, p.url)
        ids = record(self.f, t, ["received", "delivered", "bounced"])
        self.assertTrue(wait_for(lambda: set(ids) <= set(ids_of(p))), p.all())
        for req in p.received():
            self.assertTrue(verify(secret, req["headers"]["Ferry-Signature"], req["body"], 300))
            self.assertEqual(req["headers"]["Ferry-Webhook-Id"], str(wid))
        evs = [e for e in p.events() if e["id"] in ids]
        self.assertEqual([e["type"] for e in evs], ["received", "delivered", "bounced"])
        self.assertEqual(evs[0]["tenant"], t)
        self.assertEqual(evs[0]["recipient"], "someone@far.test")
        self.assertEqual(evs[0]["reply"]["text"], "250 2.0.0 ok \u00e9")
        self.assertEqual(sorted(ids_of(p)), ids_of(p))
        self.assertTrue(wait_for(lambda: "cursor %d\tok" % ids[-1] in
                                 self.f.ctl("webhook", "list", t).stdout))

    def test_only_the_kinds_asked_for(self):
        t, p = self.tenant(), self.peer()
        webhook_add(self.f, t, p.url, "--events", "bounced")
        ids = record(self.f, t, ["delivered", "bounced", "delivered", "deferred"])
        self.assertTrue(wait_for(lambda: ids[1] in ids_of(p)))
        last = record(self.f, t, ["bounced"])
        self.assertTrue(wait_for(lambda: last[0] in ids_of(p)))
        self.assertEqual({e["type"] for e in p.events()}, {"bounced"})

    def test_500_is_retried_then_received(self):
        t, p = self.tenant(), self.peer()
        p.fail_next = 2
        wid, secret = webhook_add(self.f, t, p.url)
        ids = record(self.f, t, ["delivered", "delivered"])
        self.assertTrue(wait_for(lambda: set(ids) <= set(ids_of(p)), timeout=60), p.all())
        statuses = [r["status"] for r in p.all()]
        self.assertEqual(statuses[:3], [500, 500, 200])
        # every attempt carried the same events, freshly signed
        for r in p.all():
            self.assertEqual([e["id"] for e in json.loads(r["body"])["events"]], ids)
            self.assertTrue(verify(secret, r["headers"]["Ferry-Signature"], r["body"]))
        self.assertIn("event=webhook-failed webhook=%d " % wid, self.f.log_text())
        self.assertTrue(wait_for(lambda: "\tok" in self.f.ctl("webhook", "list", t).stdout))

    def test_tenants_never_see_each_other(self):
        a, b = self.tenant(), self.tenant()
        pa, pb = self.peer(), self.peer()
        webhook_add(self.f, a, pa.url)
        webhook_add(self.f, b, pb.url)
        ia = record(self.f, a, ["delivered", "bounced"], rcpt="x@a.test")
        ib = record(self.f, b, ["delivered"], rcpt="y@b.test")
        self.assertTrue(wait_for(lambda: set(ia) <= set(ids_of(pa)) and set(ib) <= set(ids_of(pb))))
        record(self.f, b, ["complained"], rcpt="y@b.test")
        last = record(self.f, a, ["delivered"], rcpt="x@a.test")
        self.assertTrue(wait_for(lambda: last[0] in ids_of(pa)))
        self.assertEqual({e["tenant"] for e in pa.events()}, {a})
        self.assertEqual({e["tenant"] for e in pb.events()}, {b})
        self.assertFalse(set(ids_of(pa)) & set(ids_of(pb)))
        self.assertNotIn("y@b.test", json.dumps(pa.events()))

    def test_new_endpoint_starts_after_existing_events(self):
        t = self.tenant()
        old = record(self.f, t, ["delivered"])
        p = self.peer()
        webhook_add(self.f, t, p.url)
        new = record(self.f, t, ["bounced"])
        self.assertTrue(wait_for(lambda: new[0] in ids_of(p)))
        self.assertNotIn(old[0], ids_of(p))


class RestartTest(unittest.TestCase):
    """Events recorded while the receiver is down, then a ferryd restart,
    then the receiver up: every event arrives (at least once)."""

    def test_restart_while_receiver_down(self):
        f = Ferryd(extra=FAST).start()
        p = Peer(ferrytest.free_port())
        try:
            f.ctl("tenant", "add", "acme")
            wid, secret = webhook_add(f, "acme", p.url)
            p.down()
            ids = record(f, "acme", ["delivered"] * 5)
            self.assertTrue(wait_for(lambda: "event=webhook-failed webhook=%d " % wid in f.log_text()))
            self.assertIn("failing since", f.ctl("webhook", "list").stdout)
            self.assertEqual(f.stop(), 0)
            ids += record(f, "acme", ["bounced"] * 3)      # while ferryd is stopped
            f.start()
            ids += record(f, "acme", ["deferred"])
            p.up()
            self.assertTrue(wait_for(lambda: set(ids) <= set(ids_of(p)), timeout=60), p.all())
            for r in p.received():
                self.assertTrue(verify(secret, r["headers"]["Ferry-Signature"], r["body"]))
            self.assertNotIn(secret, f.log_text())
        finally:
            p.close()
            f.stop()


class DropTest(unittest.TestCase):
    """A receiver that always fails: the batch is dropped after
    webhook_retry_limit (set by a reload) with a webhook-dropped event, and
    the next events go out once it answers again."""

    def test_dropped_after_retry_limit(self):
        f = Ferryd(extra=FAST).start()
        p = Peer(ferrytest.free_port())
        try:
            f.ctl("tenant", "add", "acme")
            wid, _ = webhook_add(f, "acme", "http://u:s3cret@127.0.0.1:%d/hook?token=t0ken" % p.port)
            with open(f.conf, "a") as fh:
                fh.write("webhook_retry_limit 3s\n")
            f.hup()
            self.assertTrue(wait_for(lambda: "event=reloaded" in f.log_text()))
            p.status = 503
            ids = record(f, "acme", ["delivered", "bounced"])
            # the log names the endpoint by its origin: a path or query may be its token
            pat = "event=webhook-dropped webhook=%d tenant=acme url=\"http://127.0.0.1:%d\" " \
                  "first=%d last=%d events=2 " % (wid, p.port, ids[0], ids[1])
            self.assertTrue(wait_for(lambda: pat in f.log_text(), timeout=60), f.log_text()[-3000:])
            self.assertNotIn("s3cret", f.log_text())
            self.assertNotIn("t0ken", f.log_text())
            # the tenant's events say so (and go to its endpoints like any other)
            def dropped():
                return f.sql("SELECT detail FROM events WHERE kind = 'webhook-dropped'"
                             " AND tenant_id = ?", (tenant_id(f, "acme"),))
            self.assertTrue(wait_for(dropped))      # the outbox writes within a fraction of a second
            rows = dropped()
            self.assertEqual(len(rows), 1, rows)
            self.assertTrue(rows[0][0].startswith("webhook %d: events %d-%d (2) dropped after "
                                                  % (wid, ids[0], ids[1])), rows)
            self.assertGreaterEqual(len(p.all()), 2)
            p.status = 200
            later = record(f, "acme", ["delivered"])
            self.assertTrue(wait_for(lambda: later[0] in ids_of(p), timeout=30))
            self.assertFalse(set(ids) & set(ids_of(p)))
        finally:
            p.close()
            f.stop()


class MailEventsTest(unittest.TestCase):
    """A tenant's real mail: its received and delivered events reach its
    endpoint, signed, with the message's fields; another tenant's
    endpoint gets none of them."""

    def test_mail_events_reach_the_endpoint(self):
        rx = Receiver("127.0.0.2")
        pa, pb = Peer(ferrytest.free_port()), Peer(ferrytest.free_port())
        f = Ferryd(deliver=True, extra=FAST + "route * smtp:127.0.0.2:%d\n" % rx.port).start()
        try:
            key = f.tenant_add("acme")
            f.tenant_add("globex")
            _, secret = webhook_add(f, "acme", pa.url)
            webhook_add(f, "globex", pb.url)
            body = b"From: news@acme.test\r\nSubject: hi\r\nMessage-ID: <m1@acme.test>\r\n\r\nhello\r\n"
            f.submit("apikey", key, "news@acme.test", ["a@remote.test", "b@remote.test"], body=body)
            self.assertTrue(rx.wait(1))

            def kinds():
                return sorted((e["type"], e.get("recipient")) for e in pa.events())
            want = [("delivered", "a@remote.test"), ("delivered", "b@remote.test"),
                    ("received", "a@remote.test"), ("received", "b@remote.test")]
            self.assertTrue(wait_for(lambda: set(want) <= set(kinds())), kinds())
            rec = [e for e in pa.events() if e["type"] == "received"][0]
            self.assertEqual((rec["tenant"], rec["message_id"], rec["sender"]),
                             ("acme", "<m1@acme.test>", "news@acme.test"))
            for r in pa.received():
                self.assertTrue(verify(secret, r["headers"]["Ferry-Signature"], r["body"]))
            self.assertEqual(pb.all(), [])
        finally:
            pa.close()
            pb.close()
            f.stop()
            rx.stop()


class MailNotDelayedTest(unittest.TestCase):
    """A receiver that does not answer holds its webhook's POST; mail
    relayed meanwhile is delivered all the same."""

    def test_hanging_receiver_does_not_hold_mail(self):
        rx = Receiver("127.0.0.2")
        p = Peer(ferrytest.free_port())
        f = Ferryd(deliver=True, relay_networks="127.0.0.0/8",
                   extra=FAST + "retry_min 1\nretry_max 2\nroute * smtp:127.0.0.2:%d\n" % rx.port).start()
        try:
            f.ctl("tenant", "add", "acme")
            webhook_add(f, "acme", p.url)
            p.hold()
            first = record(f, "acme", ["delivered"])
            self.assertTrue(wait_for(lambda: p.waiting == 1), "the POST never arrived")
            with smtplib.SMTP("127.0.0.1", f.mx) as s:
                s.sendmail("alice@example.test", ["x@remote.test"],
                           b"From: alice@example.test\r\nSubject: hi\r\n\r\nbody\r\n")
            self.assertTrue(rx.wait(1), "mail was not delivered while the webhook hung")
            self.assertEqual(p.waiting, 1)          # still hanging: mail did not wait for it
            p.release()
            self.assertTrue(wait_for(lambda: first[0] in ids_of(p)))
        finally:
            p.close()
            f.stop()
            rx.stop()


class ApiTest(unittest.TestCase):
    """/v1/webhooks: add (secret once), list (never the secret), delete,
    test, each scoped to the caller's tenant; the admin acts with ?tenant=."""

    @classmethod
    def setUpClass(cls):
        cls.f = f = Ferryd(extra=FAST, http=True).start()
        cls.admin = f.admin_token()
        cls.key_a = f.tenant_add("acme")
        cls.key_b = f.tenant_add("globex")

    @classmethod
    def tearDownClass(cls):
        cls.f.stop()

    def test_add_list_delete_scoped(self):
        p = Peer(ferrytest.free_port())
        self.addCleanup(p.close)
        url = "http://u:pw@127.0.0.1:%d/hook" % p.port
        st, hdr, w = self.f.api("POST", "/v1/webhooks", {"url": url, "events": ["delivered"]},
                                token=self.key_a)
        self.assertEqual(st, 201, w)
        self.assertEqual(hdr["location"], "/v1/webhooks/%d" % w["id"])
        self.assertTrue(w["secret"].startswith("whsec_"))
        self.assertEqual((w["tenant"], w["events"], w["url"]),
                         ("acme", ["delivered"], "http://127.0.0.1:%d/hook" % p.port))
        st, _, lst = self.f.api("GET", "/v1/webhooks", token=self.key_a)
        self.assertEqual(st, 200)
        self.assertEqual([x["id"] for x in lst["webhooks"]], [w["id"]])
        self.assertNotIn("secret", json.dumps(lst))
        self.assertNotIn(w["secret"], json.dumps(lst))
        self.assertNotIn(":pw@", json.dumps(lst))
        # the other tenant sees, tests and deletes nothing of acme's
        st, _, other = self.f.api("GET", "/v1/webhooks", token=self.key_b)
        self.assertEqual((st, other["webhooks"]), (200, []))
        st, _, one = self.f.api("GET", "/v1/webhooks/%d" % w["id"], token=self.key_a)
        self.assertEqual((st, one["id"], one["state"]), (200, w["id"], "ok"))
        self.assertNotIn("secret", one)
        for method, path in (("GET", "/v1/webhooks/%d" % w["id"]),
                             ("DELETE", "/v1/webhooks/%d" % w["id"]),
                             ("POST", "/v1/webhooks/%d/test" % w["id"])):
            st, _, err = self.f.api(method, path, token=self.key_b)
            self.assertEqual((st, err["error"]["code"]), (404, "not_found"), path)
        # the test POST, signed with the secret given once
        st, _, t = self.f.api("POST", "/v1/webhooks/%d/test" % w["id"], token=self.key_a)
        self.assertEqual((st, t["ok"], t["status"]), (200, True, 200), t)
        req = p.received()[-1]
        self.assertTrue(verify(w["secret"], req["headers"]["Ferry-Signature"], req["body"]))
        self.assertEqual(req["headers"].get("Authorization", "")[:6], "Basic ")
        # events flow to it
        ids = record(self.f, "acme", ["bounced", "delivered"])
        self.assertTrue(wait_for(lambda: ids[1] in ids_of(p)))
        self.assertNotIn(ids[0], ids_of(p))
        # the admin acts for a tenant
        st, _, lst = self.f.api("GET", "/v1/webhooks?tenant=acme", token=self.admin)
        self.assertEqual([x["id"] for x in lst["webhooks"]], [w["id"]])
        st, _, d = self.f.api("DELETE", "/v1/webhooks/%d" % w["id"], token=self.key_a)
        self.assertEqual((st, d), (200, {"id": w["id"], "deleted": True}))
        st, _, _ = self.f.api("DELETE", "/v1/webhooks/%d" % w["id"], token=self.key_a)
        self.assertEqual(st, 404)
        self.assertNotIn(w["secret"], self.f.log_text())

    def test_bad_input(self):
        for body in ({}, {"url": 5}, {"url": "ftp://h/"}, {"url": "https://h/", "events": ["nope"]},
                     {"url": "https://h/", "events": 3}, {"url": "https://h/ x"}):
            st, _, err = self.f.api("POST", "/v1/webhooks", body, token=self.key_b)
            self.assertEqual((st, err["error"]["code"]), (400, "bad_request"), body)
        st, _, err = self.f.api("POST", "/v1/webhooks", b"{", token=self.key_b,
                                headers={"Content-Type": "application/json"})
        self.assertEqual((st, err["error"]["code"]), (400, "bad_json"))
        st, _, err = self.f.api("POST", "/v1/webhooks", {"url": "https://h/"}, token=self.admin)
        self.assertEqual(st, 400)
        st, _, _ = self.f.api("GET", "/v1/webhooks")
        self.assertEqual(st, 401)
        st, _, _ = self.f.api("DELETE", "/v1/webhooks/abc", token=self.key_b)
        self.assertEqual(st, 404)


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def make_certs(d):
    """ca.pem; ip.pem (IP:127.0.0.1) and other.pem (DNS:other.test) signed
    by it; self.pem (IP:127.0.0.1) self-signed. Each with NAME.key."""
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=ferry webhook test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign", cwd=d)
    for name, san in (("ip", "IP:127.0.0.1"), ("other", "DNS:other.test")):
        openssl("req", *ec, "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name,
                cwd=d)
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\n" % san)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", name + ".ext", "-out", name + ".pem", cwd=d)
    openssl("req", "-x509", *ec, "-keyout", "self.key", "-out", "self.pem", "-days", "2",
            "-subj", "/CN=self", "-addext", "subjectAltName=IP:127.0.0.1", cwd=d)
    os.chmod(d, 0o755)                        # ferryd reads ca.pem after dropping root
    os.chmod(os.path.join(d, "ca.pem"), 0o644)


class TlsTest(unittest.TestCase):
    """https:// endpoints: the peer's certificate is verified against
    tls_ca_file and the URL's host; an unverified peer gets no events."""

    @classmethod
    def setUpClass(cls):
        cls.certs = tempfile.mkdtemp(prefix="ferrywhcerts.")
        make_certs(cls.certs)
        cls.f = Ferryd(extra=FAST + "tls_ca_file %s\n" % os.path.join(cls.certs, "ca.pem")).start()
        cls.f.ctl("tenant", "add", "acme")

    @classmethod
    def tearDownClass(cls):
        cls.f.stop()
        shutil.rmtree(cls.certs)

    def peer(self, name):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(self.certs, name + ".pem"),
                            os.path.join(self.certs, name + ".key"))
        p = Peer(ferrytest.free_port(), tls=ctx)
        self.addCleanup(p.close)
        return p

    def test_verified_peer_gets_events(self):
        p = self.peer("ip")
        wid, secret = webhook_add(self.f, "acme", p.url)
        self.assertEqual(self.f.ctl("webhook", "test", str(wid)).stdout.strip(), "HTTP 200")
        ids = record(self.f, "acme", ["delivered"])
        self.assertTrue(wait_for(lambda: ids[0] in ids_of(p)))
        self.assertTrue(verify(secret, p.received()[-1]["headers"]["Ferry-Signature"],
                               p.received()[-1]["body"]))
        self.f.ctl("webhook", "del", str(wid))

    def test_unverified_peers_get_nothing(self):
        for name in ("self", "other"):
            p = self.peer(name)
            wid, _ = webhook_add(self.f, "acme", p.url)
            r = self.f.ctl("webhook", "test", str(wid), check=False)
            self.assertEqual((r.returncode, r.stdout), (1, ""), name)
            self.assertRegex(r.stderr, "certificate|SSL", name)
            record(self.f, "acme", ["bounced"])
            self.assertTrue(wait_for(lambda: "event=webhook-failed webhook=%d " % wid in
                                     self.f.log_text()), name)
            self.assertEqual(p.all(), [], name)
            self.f.ctl("webhook", "del", str(wid))


if __name__ == "__main__":
    ferrytest.main()
