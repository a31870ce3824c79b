"""POST /v1/messages end to end: a tenant with its domain, DKIM keys and API
key (made with ferryctl) sends over ferryd's HTTP API, as JSON (text, html,
an attachment, an inline image, cc and bcc) and as a raw message/rfc822; the
message reaches a Python SMTP receiver with the MIME structure asked for,
no Bcc: field, and DKIM signatures that python3-dkim verifies against a real
DNS server serving what `ferryctl domain dns` printed. Bad input gets a 4xx
naming the field, a tenant key cannot send as another tenant's domain (in
the JSON "from" or a raw From:), a suspended tenant gets 403, suppressed
recipients are reported and never delivered, and the admin token sends for
?tenant=."""
import base64
import email
import email.policy
import json
import os
import re
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import dkim

from dkimkeys import dns_txt_func
from dnsserver import DnsServer
from ferrytest import Ferryd, free_port, wait_for, wait_port
from receiver import Receiver

MAX_SIZE = 300000


def zone_lines(text):
    """`ferryctl domain dns` output as unbound local-data lines."""
    return [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith(";")]


class ApiInjectTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rx = Receiver("127.0.0.1")
        cls.http = free_port()
        cls.f = Ferryd(deliver=True, extra="route * smtp:127.0.0.1:%d\nlisten http 127.0.0.1:%d\n"
                       "max_message_size %d\n" % (cls.rx.port, cls.http, MAX_SIZE))
        cls.f.start()
        wait_port(cls.http)
        f = cls.f
        cls.keys = {}
        for t in ("acme", "globex"):
            f.ctl("tenant", "add", t)
            f.ctl("domain", "add", t, t + ".test")
            cls.keys[t] = f.ctl("key", "create", t).stdout.splitlines()[0].strip()
        records = zone_lines(f.ctl("domain", "dns", "acme.test").stdout) + \
            zone_lines(f.ctl("domain", "dns", "globex.test").stdout)
        cls.dnsserver = DnsServer(records).start()
        cls.dnsfunc = staticmethod(dns_txt_func(cls.dnsserver.port))

    @classmethod
    def tearDownClass(cls):
        cls.f.stop()
        cls.rx.stop()
        cls.dnsserver.stop()

    def post(self, body, tenant="acme", ctype="application/json", query="", token=None):
        """(status, JSON reply) of POST /v1/messages."""
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        req = urllib.request.Request("http://127.0.0.1:%d/v1/messages%s" % (self.http, query), data=data,
                                     method="POST", headers={"Content-Type": ctype})
        if token is not False:
            req.add_header("Authorization", "Bearer " + (token or self.keys[tenant]))
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def received(self, subject):
        return [m for m in list(self.rx.messages)
                if re.search(rb"^Subject: " + re.escape(subject.encode()) + rb"\r\n", m["data"], re.M)]

    def assert_signed(self, data, domain):
        sigs = re.findall(rb"^DKIM-Signature:.*?d=([a-z.]+);", data, re.M | re.S)
        self.assertTrue(sigs and all(d == domain.encode() for d in sigs), data[:800])
        for i in range(len(sigs)):
            self.assertTrue(dkim.DKIM(data).verify(idx=i, dnsfunc=self.dnsfunc),
                            "signature %d does not verify" % i)

    def test_json_message_delivered_signed_with_its_mime(self):
        png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256))).decode()
        st, r = self.post({
            "from": {"email": "news@acme.test", "name": "Acme News"},
            "to": ["one@remote.test", {"email": "two@remote.test", "name": "Two"}],
            "cc": "three@remote.test", "bcc": ["hidden@remote.test"],
            "reply_to": "help@acme.test", "subject": "json 1",
            "text": "Hello \u00e9t\u00e9.\n", "html": "<p>Hello <img src=\"cid:logo@acme.test\"></p>",
            "headers": {"X-Campaign": "spring"},
            "attachments": [{"filename": "notes.txt", "content_type": "text/plain",
                             "content": base64.b64encode(b"attached text\n").decode()},
                            {"content_type": "image/png", "content": png, "disposition": "inline",
                             "content_id": "logo@acme.test"}]})
        self.assertEqual(st, 202, r)
        self.assertRegex(r["id"], r"^[0-9A-F]{16}$")
        self.assertRegex(r["message_id"], r"^<[0-9a-f]{32}@mx\.ferry\.test>$")
        self.assertEqual(r["accepted"], ["one@remote.test", "two@remote.test", "three@remote.test",
                                         "hidden@remote.test"])
        self.assertEqual(r["suppressed"], [])
        self.assertTrue(wait_for(lambda: self.received("json 1")), self.f.log_text()[-3000:])
        m = self.received("json 1")[0]
        self.assertEqual(m["sender"], "news@acme.test")
        self.assertEqual(sorted(m["rcpts"]), ["hidden@remote.test", "one@remote.test",
                                              "three@remote.test", "two@remote.test"])
        data = m["data"]
        self.assertNotRegex(data, rb"(?im)^bcc:")
        self.assertNotIn(b"hidden@", data)
        self.assertIn(("Message-Id: " + r["message_id"]).encode(), data)
        self.assertRegex(data, rb"(?m)^Received: from \[127\.0\.0\.1\] \(tenant acme\)\r\n\tby mx\.ferry\.test "
                               rb"\(ferry\) with HTTP id " + r["id"].encode())
        self.assert_signed(data, "acme.test")
        msg = email.message_from_bytes(data, policy=email.policy.default)
        self.assertEqual(msg["From"], "Acme News <news@acme.test>")
        self.assertEqual(msg["X-Campaign"], "spring")
        self.assertEqual(msg.get_content_type(), "multipart/mixed")
        top = list(msg.iter_parts())
        self.assertEqual([p.get_content_type() for p in top], ["multipart/related", "text/plain"])
        rel = list(top[0].iter_parts())
        self.assertEqual([p.get_content_type() for p in rel], ["multipart/alternative", "image/png"])
        self.assertEqual(rel[1]["Content-Id"], "<logo@acme.test>")
        self.assertEqual(base64.b64encode(rel[1].get_content()).decode(), png)
        alt = [p.get_content_type() for p in rel[0].iter_parts()]
        self.assertEqual(alt, ["text/plain", "text/html"])
        self.assertEqual(next(rel[0].iter_parts()).get_content().replace("\r\n", "\n"), "Hello \u00e9t\u00e9.\n")
        self.assertEqual(top[1].get_filename(), "notes.txt")
        self.assertEqual(top[1].get_content().replace("\r\n", "\n"), "attached text\n")

    def test_raw_message(self):
        raw = (b"From: Acme <news@acme.test>\nTo: one@remote.test\nBcc: secret@remote.test\n"
               b"Subject: raw 1\n\nraw body\n.\nlast line\n")
        st, r = self.post(raw, ctype="message/rfc822")
        self.assertEqual(st, 202, r)
        self.assertEqual(r["accepted"], ["one@remote.test", "secret@remote.test"])
        self.assertTrue(wait_for(lambda: self.received("raw 1")), self.f.log_text()[-3000:])
        m = self.received("raw 1")[0]
        self.assertNotIn(b"secret@", m["data"])
        self.assertIn(b"\r\n\r\nraw body\r\n.\r\nlast line\r\n", m["data"].replace(b"\r\n..", b"\r\n."))
        self.assertRegex(m["data"], rb"(?m)^Date: ")
        self.assertIn(("Message-ID: " + r["message_id"]).encode(), m["data"])
        self.assert_signed(m["data"], "acme.test")
        # the envelope from the query
        st, r = self.post(b"From: news@acme.test\r\nTo: shown@remote.test\r\nSubject: raw 2\r\n\r\nx\r\n",
                          ctype="message/rfc822", query="?from=bounces%40acme.test&to=a%40remote.test,"
                          "b%40remote.test")
        self.assertEqual(st, 202, r)
        self.assertEqual(r["accepted"], ["a@remote.test", "b@remote.test"])
        self.assertTrue(wait_for(lambda: self.received("raw 2")))
        m = self.received("raw 2")[0]
        self.assertEqual((m["sender"], sorted(m["rcpts"])), ("bounces@acme.test", ["a@remote.test", "b@remote.test"]))

    def test_bad_input_is_4xx_naming_the_field(self):
        ok = {"from": "news@acme.test", "to": ["one@remote.test"], "subject": "bad", "text": "x"}
        cases = [
            (dict(ok, **{"from": None}), 400, "from"),
            ({k: v for k, v in ok.items() if k != "to"}, 400, "to"),
            ({k: v for k, v in ok.items() if k != "text"}, 400, "text"),
            (dict(ok, to=["one@remote.test", "not an address"]), 400, "to[1]"),
            (dict(ok, cc=["x@"]), 400, "cc[0]"),
            (dict(ok, attachments=[{"content": "***"}]), 400, "attachments[0]"),
            (dict(ok, headers={"X-A": "v\r\nBcc: victim@remote.test"}), 400, "headers.X-A"),
            (dict(ok, subject="s\nBcc: victim@remote.test"), 400, "subject"),
            (dict(ok, headers={"DKIM-Signature": "v=1"}), 400, "headers.DKIM-Signature"),
            (dict(ok, text="y" * (MAX_SIZE + 10)), 413, "message"),
        ]
        for body, status, field in cases:
            st, r = self.post(body)
            self.assertEqual(st, status, (body.get("to"), r))
            self.assertTrue(r["error"]["message"].startswith(field + ":"), r)
            self.assertEqual(r["error"]["code"], "too_large" if status == 413 else "bad_request")
        st, r = self.post(b"{not json", ctype="application/json")
        self.assertEqual(st, 400)
        self.assertEqual(r["error"]["code"], "bad_json")
        st, r = self.post(b"To: a@remote.test\r\n\r\nno from\r\n", ctype="message/rfc822")
        self.assertEqual(st, 400, r)
        st, r = self.post(ok, token="fy_000000000000_" + "A" * 43)
        self.assertEqual(st, 401, r)
        st, r = self.post(ok, token=False)
        self.assertEqual(st, 401, r)
        time.sleep(0.5)
        self.assertEqual(self.received("bad"), [])
        self.assertNotIn(b"victim", b"".join(m["data"] for m in self.rx.messages))

    def test_tenant_cannot_send_as_another_tenants_domain(self):
        st, r = self.post({"from": "ceo@globex.test", "to": "one@remote.test", "subject": "forged",
                           "text": "x"})
        self.assertEqual((st, r["error"]["code"]), (403, "forbidden"), r)
        self.assertIn("globex.test", r["error"]["message"])
        # the envelope is acme's, the From: field globex's
        st, r = self.post(b"From: ceo@globex.test\r\nTo: one@remote.test\r\nSubject: forged\r\n\r\nx\r\n",
                          ctype="message/rfc822", query="?from=news%40acme.test")
        self.assertEqual((st, r["error"]["code"]), (403, "forbidden"), r)
        st, r = self.post({"from": "ceo@globex.test", "to": "one@remote.test", "subject": "globex own",
                           "text": "x"}, tenant="globex")
        self.assertEqual(st, 202, r)
        self.assertTrue(wait_for(lambda: self.received("globex own")))
        self.assert_signed(self.received("globex own")[0]["data"], "globex.test")
        self.assertEqual(self.received("forged"), [])

    def test_suppressed_recipients_reported_not_delivered(self):
        self.f.ctl("suppression", "add", "acme", "gone@remote.test", "--reason", "hard-bounce")
        st, r = self.post({"from": "news@acme.test", "to": ["gone@remote.test", "here@remote.test"],
                           "subject": "suppressed 1", "text": "x"})
        self.assertEqual(st, 202, r)
        self.assertEqual((r["accepted"], r["suppressed"]), (["here@remote.test"], ["gone@remote.test"]))
        self.assertTrue(wait_for(lambda: self.received("suppressed 1")))
        self.assertEqual(self.received("suppressed 1")[0]["rcpts"], ["here@remote.test"])
        st, r = self.post({"from": "news@acme.test", "to": "gone@remote.test", "subject": "suppressed 2",
                           "text": "x"})
        self.assertEqual(st, 202, r)
        self.assertEqual((r["id"], r["accepted"], r["suppressed"]), (None, [], ["gone@remote.test"]))

    def test_suspended_tenant_refused(self):
        self.f.ctl("tenant", "add", "umbrella")
        self.f.ctl("domain", "add", "umbrella", "umbrella.test")
        key = self.f.ctl("key", "create", "umbrella").stdout.splitlines()[0].strip()
        self.keys["umbrella"] = key
        self.f.ctl("tenant", "suspend", "umbrella", "--reason", "abuse")
        st, r = self.post({"from": "a@umbrella.test", "to": "one@remote.test", "subject": "susp",
                           "text": "x"}, tenant="umbrella")
        self.assertEqual((st, r["error"]["code"]), (403, "suspended"), r)
        self.assertIn("abuse", r["error"]["message"])

    def test_admin_token_sends_for_a_tenant(self):
        # http_admin_token_file: admin.token beside the state database (SPOOL_DIR/ferry.db)
        with open(os.path.join(self.f.spool, "admin.token")) as fh:
            token = fh.read().strip()
        body = {"from": "news@acme.test", "to": "one@remote.test", "subject": "admin 1", "text": "x"}
        st, r = self.post(body, token=token)
        self.assertEqual(st, 400, r)          # for which tenant?
        st, r = self.post(body, token=token, query="?tenant=acme")
        self.assertEqual(st, 202, r)
        self.assertTrue(wait_for(lambda: self.received("admin 1")))


if __name__ == "__main__":
    unittest.main()
