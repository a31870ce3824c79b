"""One-click unsubscribe (RFC 8058) end to end: a tenant with its DKIM keys
and `ferryctl tenant set --unsubscribe on` sends one message to two
recipients; each copy reaches a Python receiver in its own transaction
with its own List-Unsubscribe <URL/unsubscribe/TOKEN> and
List-Unsubscribe-Post: List-Unsubscribe=One-Click, the token naming that
recipient (checked here against the format and MAC of src/state/unsub.h,
computed independently from the database's secret); both signatures verify
with python3-dkim against the records `ferryctl domain dns` printed, their
h= lists cover both headers, and an altered List-Unsubscribe breaks them.
A message with the tenant's own List-Unsubscribe keeps it alone; a tenant
with the setting off gets no header. Then the link is used: a GET only
shows a page; a POST of List-Unsubscribe=One-Click puts the address on the
tenant's suppression list (reason unsubscribe), the tenant's webhook
receives one signed "unsubscribed" event, the next RCPT to it is refused,
a second POST changes nothing, and a tampered token is a 404."""
import base64
import hashlib
import hmac
import os
import re
import smtplib
import time
import unittest

import dkim

from dkimkeys import dns_txt_func
from dnsserver import DnsServer
from ferrytest import Ferryd, wait_for, tls_context
from receiver import Receiver
from webhookpeer import Peer, verify

LABEL = b"ferry one-click unsubscribe v1"


def zone_lines(text):
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith(";")]


def header_values(data, name):
    """The unfolded values of every header field name in data's header section."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    head = re.sub(r"\r\n[ \t]+", " ", head)
    out = []
    for line in head.split("\r\n"):
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            out.append(v.strip())
    return out


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class UnsubscribeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rx = Receiver("127.0.0.1")
        cls.f = f = Ferryd(deliver=True, domains=("ferry.test",), mailboxes=("postmaster@ferry.test",),
                           extra="route * smtp:127.0.0.1:%d\n" % cls.rx.port, http=True)
        # the links point at this ferryd's own HTTP listener
        cls.public = "http://127.0.0.1:%d" % f.http_port
        with open(f.conf, "a") as conf:
            conf.write("http_public_url %s\n" % cls.public)
        f.start()
        cls.keys = {t: f.tenant_add(t) for t in ("news", "plain")}
        f.ctl("tenant", "set", "news", "--unsubscribe", "on")
        cls.hook = Peer()
        cls.hook_secret = f.ctl("webhook", "add", "news", "http://127.0.0.1:%d/hook" % cls.hook.port,
                                "--events", "unsubscribed").stdout.splitlines()[0].strip()
        records = zone_lines(f.ctl("domain", "dns", "news.test").stdout)
        cls.dnsserver = DnsServer(records).start()
        cls.dnsfunc = staticmethod(dns_txt_func(cls.dnsserver.port))
        cls.secret = bytes(f.sql("SELECT value FROM meta WHERE key = 'verp_secret'")[0][0])
        cls.tid = f.sql("SELECT id FROM tenants WHERE name = 'news'")[0][0]

    @classmethod
    def tearDownClass(cls):
        cls.f.stop()
        cls.rx.stop()
        cls.dnsserver.stop()
        cls.hook.close()

    def send(self, tenant, rcpts, extra_headers=""):
        subject = "s%f" % time.time()
        msg = ("From: News <letters@%s.test>\r\nTo: list@remote.test\r\nSubject: %s\r\n%s"
               "Message-ID: <%s@%s.test>\r\n\r\nHello.\r\n" % (tenant, subject, extra_headers, subject, tenant))
        with smtplib.SMTP("127.0.0.1", self.f.submission, timeout=30) as s:
            s.starttls(context=tls_context())
            s.login("apikey", self.keys[tenant])
            s.sendmail("letters@%s.test" % tenant, rcpts, msg.encode())
        return subject

    def copies(self, subject, n):
        pred = lambda: len([m for m in list(self.rx.messages) if subject.encode() in m["data"]]) >= n
        self.assertTrue(wait_for(pred), self.f.log_text()[-3000:])
        return [m for m in list(self.rx.messages) if subject.encode() in m["data"]]

    def token_check(self, token):
        """(tenant, time, rcpt) of a genuine token, as unsub.h defines it."""
        raw = b64url_decode(token)
        payload, mac = raw[:-16], raw[-16:]
        key = hmac.new(self.secret, LABEL, hashlib.sha256).digest()
        self.assertEqual(hmac.new(key, payload, hashlib.sha256).digest()[:16], mac)
        self.assertEqual(payload[0], 1)
        return (int.from_bytes(payload[1:9], "big"), int.from_bytes(payload[9:17], "big"),
                payload[17:].decode())

    def verify_all(self, data):
        n = len(re.findall(rb"^DKIM-Signature:", data, re.M))
        self.assertEqual(n, 2, data[:800])                   # RSA and Ed25519
        for i in range(n):
            self.assertTrue(dkim.DKIM(data).verify(idx=i, dnsfunc=self.dnsfunc), "signature %d" % i)
        return n

    def test_1_each_recipient_its_own_signed_link(self):
        rcpts = ["ann@remote.test", "bob@remote.test"]
        subject = self.send("news", rcpts)
        got = self.copies(subject, 2)
        self.assertEqual(len(got), 2)
        seen = set()
        for m in got:
            self.assertEqual(len(m["rcpts"]), 1)              # one recipient per transaction
            lu = header_values(m["data"], "List-Unsubscribe")
            self.assertEqual(len(lu), 1, m["data"][:800])
            self.assertEqual(header_values(m["data"], "List-Unsubscribe-Post"),
                             ["List-Unsubscribe=One-Click"])
            url = re.fullmatch(r"<(.*)/unsubscribe/([A-Za-z0-9_-]+)>", lu[0])
            self.assertIsNotNone(url, lu[0])
            self.assertEqual(url.group(1), self.public)
            tenant, when, rcpt = self.token_check(url.group(2))
            self.assertEqual((tenant, rcpt), (self.tid, m["rcpts"][0]))
            self.assertLess(abs(when - time.time()), 300)
            seen.add(rcpt)
            self.verify_all(m["data"])
            for sig in header_values(m["data"], "DKIM-Signature"):
                h = re.search(r"\bh=([^;]*)", sig).group(1).replace(" ", "").lower().split(":")
                self.assertIn("list-unsubscribe", h)
                self.assertIn("list-unsubscribe-post", h)
            # the signatures cover the link: another token breaks them
            bad = m["data"].replace(url.group(2).encode(), url.group(2)[:-2].encode() + b"xx", 1)
            self.assertFalse(dkim.DKIM(bad).verify(idx=0, dnsfunc=self.dnsfunc))
        self.assertEqual(seen, set(rcpts))
        type(self).links = {m["rcpts"][0]: header_values(m["data"], "List-Unsubscribe")[0][1:-1] for m in got}

    def suppressed(self):
        return [ln.split("\t") for ln in self.f.ctl("suppression", "list", "news").stdout.splitlines()]

    def events(self, kind):
        return self.f.sql("SELECT rcpt, source FROM events WHERE kind = ? AND tenant_id = ?",
                          (kind, self.tid))

    def test_4_the_link(self):
        path = self.links["ann@remote.test"][len(self.public):]
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        # a GET (a link scanner) only shows the page
        status, hdrs, body = self.f.api("GET", path)
        self.assertEqual(status, 200)
        self.assertTrue(hdrs["content-type"].startswith("text/html"))
        self.assertIn(b"ann@remote.test", body)
        self.assertIn(b'<form method="post">', body)
        self.assertIn(b'name="List-Unsubscribe" value="One-Click"', body)
        self.assertEqual(self.suppressed(), [])
        # a POST without the RFC 8058 key is refused
        status, _, _ = self.f.api("POST", path, b"", headers=form)
        self.assertEqual(status, 400)
        self.assertEqual(self.suppressed(), [])
        # tampered or cut tokens: 404, nothing recorded
        token = path.rsplit("/", 1)[1]
        for bad in (token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), token[:20], "x" * 600):
            self.assertEqual(self.f.api("POST", "/unsubscribe/" + bad, b"List-Unsubscribe=One-Click",
                                        headers=form)[0], 404)
            self.assertEqual(self.f.api("GET", "/unsubscribe/" + bad)[0], 404)
        self.assertEqual(self.suppressed(), [])
        # the one-click POST, twice: one entry, one event
        for _ in range(2):
            status, _, body = self.f.api("POST", path, b"List-Unsubscribe=One-Click", headers=form)
            self.assertEqual((status, body), (200, b"unsubscribed\n"))
        rows = self.suppressed()
        self.assertEqual([(r[0], r[1]) for r in rows], [("ann@remote.test", "unsubscribe")])
        self.assertTrue(wait_for(lambda: self.events("unsubscribed") == [("ann@remote.test", "http")]),
                        self.events("unsubscribed"))
        time.sleep(0.5)                                  # a second event would be written by now
        self.assertEqual(len(self.events("unsubscribed")), 1)
        # the tenant's webhook gets it, signed
        hooked = lambda: [e for e in self.hook.events() if e.get("type") == "unsubscribed"]
        self.assertTrue(wait_for(hooked), self.hook.all())
        self.assertEqual([e["recipient"] for e in hooked()], ["ann@remote.test"])
        for r in self.hook.received():
            self.assertTrue(verify(self.hook_secret, r["headers"]["Ferry-Signature"], r["body"]))
        log = self.f.log_text()
        self.assertIn('event=unsubscribed tenant="news" rcpt="ann@remote.test"', log)
        self.assertNotIn(token, log)
        # the next RCPT to it is refused (the tenant's default: reject); bob is not
        with smtplib.SMTP("127.0.0.1", self.f.submission, timeout=30) as s:
            s.starttls(context=tls_context())
            s.login("apikey", self.keys["news"])
            s.mail("letters@news.test")
            code, msg = s.rcpt("ann@remote.test")
            self.assertEqual(code, 550, msg)
            self.assertEqual(s.rcpt("bob@remote.test")[0], 250)

    def test_2_the_tenants_own_header_is_kept(self):
        subject = self.send("news", ["cat@remote.test"],
                            "List-Unsubscribe: <mailto:leave@news.test>\r\n")
        m = self.copies(subject, 1)[0]
        self.assertEqual(header_values(m["data"], "List-Unsubscribe"), ["<mailto:leave@news.test>"])
        self.assertEqual(header_values(m["data"], "List-Unsubscribe-Post"), [])
        self.verify_all(m["data"])

    def test_3_off_by_default(self):
        subject = self.send("plain", ["dan@remote.test", "eve@remote.test"])
        for m in self.copies(subject, 1):
            self.assertEqual(header_values(m["data"], "List-Unsubscribe"), [])


if __name__ == "__main__":
    unittest.main()
