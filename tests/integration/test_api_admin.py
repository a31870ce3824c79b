"""The HTTP API's suppressions, domains, account, and the admin's tenants,
keys and queue, through real HTTP against a live ferryd (docs/api.md):
what the API writes is what ferryctl and the SMTP side read (a suspension
refuses the tenant's submission, a suppression refuses the recipient at
RCPT, a revoked key stops working), a tenant's key never reaches another
tenant's data or an admin route, unknown names are 404 and bad bodies 400.
The domain records the API gives are served by a real DNS server (unbound)
and the API's own check of them then finds everything in order. Every
route of src/http/api_routes_admin.c is in docs/openapi.yaml."""
import json
import os
import re
import smtplib
import unittest
import urllib.parse

import ferrytest
from dnsserver import DnsServer
from ferrytest import Ferryd, free_port, tls_context, wait_for

POOL = "pool main\npool_address main 127.0.0.1\n"
MSG = b"From: news@acme.test\r\nSubject: api\r\n\r\nbody\r\n"


def http(f, method, path, token=None, body=None, raw=None):
    """(status, JSON body or None, headers) of one request to f's API."""
    if raw is not None:
        code, hdrs, doc = f.api(method, path, body=raw, token=token,
                                headers={"Content-Type": "application/json"})
    else:
        code, hdrs, doc = f.api(method, path, body=body, token=token)
    return code, doc if isinstance(doc, (dict, list)) else None, hdrs


def txt_line(name, value):
    """A zone line for unbound, the text cut into 255-octet strings."""
    chunks = [value[i:i + 255] for i in range(0, len(value), 255)] or [""]
    return "%s. 300 IN TXT %s" % (name, " ".join('"%s"' % c for c in chunks))


class ApiAdminTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # delivery on, to a port nothing listens on: queued mail is deferred and stays
        cls.site = "smtp:127.0.0.1:%d" % free_port()
        cls.f = Ferryd(deliver=True, http=True, extra=(
            POOL + "retry_min 1h\nretry_max 2h\nroute * %s tls=none\n") % cls.site)
        cls.f.start()
        cls.admin = cls.f.admin_token()
        cls.keys = {t: cls.f.tenant_add(t, "--pool", "main") for t in ("acme", "globex")}

    @classmethod
    def tearDownClass(cls):
        cls.f.stop()

    def call(self, method, path, token, body=None, raw=None, status=200):
        code, doc, headers = http(self.f, method, path, token, body, raw)
        self.assertEqual(code, status, (method, path, doc))
        return doc

    def error(self, method, path, token, status, code, body=None, raw=None):
        doc = self.call(method, path, token, body, raw, status=status)
        self.assertEqual(doc["error"]["code"], code, doc)
        self.assertEqual(doc["error"]["status"], status, doc)
        return doc

    # ---- tenants and keys ----

    def test_tenant_lifecycle(self):
        t = self.call("POST", "/v1/tenants", self.admin, {"name": "initech"}, status=201)
        self.assertEqual(t["name"], "initech")
        self.assertEqual(t["status"], "active")
        self.assertIn("initech", self.f.ctl("tenant", "list").stdout)
        self.error("POST", "/v1/tenants", self.admin, 409, "conflict", {"name": "initech"})
        self.error("POST", "/v1/tenants", self.admin, 400, "bad_request", {"name": "a/b"})
        self.error("POST", "/v1/tenants", self.admin, 400, "bad_request", {"name": "x", "pool": "nosuch"})
        self.error("POST", "/v1/tenants", self.admin, 400, "bad_json", raw=b"{\"name\": ")
        names = [x["name"] for x in self.call("GET", "/v1/tenants", self.admin)["tenants"]]
        self.assertIn("initech", names)
        self.assertIn("acme", names)
        one = self.call("GET", "/v1/tenants/acme", self.admin)
        self.assertEqual(one["domains"], ["acme.test"])
        self.assertEqual(one["enforcement"]["state"], "none")
        self.assertIn("24h", one["reputation"])
        self.error("GET", "/v1/tenants/nobody", self.admin, 404, "not_found")
        self.error("POST", "/v1/tenants/nobody/suspend", self.admin, 404, "not_found")
        self.error("GET", "/v1/tenants/nobody/keys", self.admin, 404, "not_found")

    def test_keys(self):
        self.call("POST", "/v1/tenants", self.admin, {"name": "keyco"}, status=201)
        made = self.call("POST", "/v1/tenants/keyco/keys", self.admin, {"label": "ci"}, status=201)
        key, prefix = made["key"], made["prefix"]
        self.assertTrue(key.startswith(prefix + "_"))
        # the key works as that tenant, and only there
        self.assertEqual(self.call("GET", "/v1/account", key)["name"], "keyco")
        listing = self.call("GET", "/v1/tenants/keyco/keys", self.admin)
        self.assertEqual([k["prefix"] for k in listing["keys"]], [prefix])
        self.assertNotIn(key, json.dumps(listing))
        self.assertNotIn(key, json.dumps(self.call("GET", "/v1/tenants/keyco", self.admin)))
        self.assertRegex(self.f.ctl("key", "list", "keyco").stdout, r"(?m)^%s\t.*\tactive\tci$" % prefix)
        # never in the log
        self.assertNotIn(key[len(prefix) + 1:], self.f.log_text())
        # another tenant's prefix is not this one's
        self.error("DELETE", "/v1/tenants/acme/keys/" + prefix, self.admin, 404, "not_found")
        self.call("DELETE", "/v1/tenants/keyco/keys/" + prefix, self.admin)
        self.error("GET", "/v1/account", key, 401, "unauthorized")
        self.error("DELETE", "/v1/tenants/keyco/keys/" + prefix, self.admin, 409, "conflict")

    def test_tenant_key_is_not_admin(self):
        for method, path in (("GET", "/v1/tenants"), ("POST", "/v1/tenants"), ("GET", "/v1/tenants/acme"),
                             ("POST", "/v1/tenants/acme/keys"), ("GET", "/v1/queue"),
                             ("GET", "/v1/queue/messages")):
            self.error(method, path, self.keys["acme"], 403, "forbidden", body={} if method == "POST" else None)
        self.error("GET", "/v1/tenants", None, 401, "unauthorized")

    def test_suspend_resume_same_state_as_ferryctl(self):
        self.f.ctl("tenant", "add", "susp", "--pool", "main")
        key = self.f.ctl("key", "create", "susp").stdout.splitlines()[0].strip()
        t = self.call("POST", "/v1/tenants/susp/suspend", self.admin, {"reason": "abuse report 7"})
        self.assertEqual(t["status"], "suspended")
        self.assertIn("suspended: abuse report 7", self.f.ctl("tenant", "show", "susp").stdout)
        self.assertTrue(wait_for(lambda: re.search(r"event=tenant-suspended tenant=\"?susp\"? .*reason=\""
                                                   r"abuse report 7\" by=api", self.f.log_text())))
        # one event, as for ferryctl's suspension (state_tenant_suspend records it)
        self.assertTrue(wait_for(lambda: self.call("GET", "/v1/events?tenant=susp&type=suspended",
                                                   self.admin)["events"]), self.f.log_text()[-2000:])
        evs = self.call("GET", "/v1/events?tenant=susp&type=suspended", self.admin)["events"]
        self.assertEqual([(e["type"], e.get("source")) for e in evs], [("suspended", "operator")], evs)
        with smtplib.SMTP("127.0.0.1", self.f.submission, timeout=30) as s:
            s.starttls(context=tls_context())
            with self.assertRaises(smtplib.SMTPException):
                s.login("susp", key)
                s.sendmail("a@susp.test", ["x@remote.test"], MSG)
        t = self.call("POST", "/v1/tenants/susp/resume", self.admin)
        self.assertEqual(t["status"], "active")
        self.assertIn("released", t)
        self.assertIn("status:        active", self.f.ctl("tenant", "show", "susp").stdout)
        self.error("POST", "/v1/tenants/susp/suspend", self.admin, 400, "bad_request",
                   {"reason": "two\nlines"})

    # ---- tenant routes: scoping ----

    def test_suppressions_scoped_and_enforced(self):
        acme, globex = self.keys["acme"], self.keys["globex"]
        doc = self.call("POST", "/v1/suppressions", acme,
                        {"addresses": ["Gone@Remote.test", "other@remote.test"], "reason": "manual"},
                        status=201)
        self.assertEqual([s["address"] for s in doc["suppressions"]],
                         ["gone@remote.test", "other@remote.test"])
        self.assertEqual(self.call("GET", "/v1/suppressions/gone@remote.test", acme)["reason"], "manual")
        # globex sees none of it and cannot remove it
        self.assertEqual(self.call("GET", "/v1/suppressions", globex)["suppressions"], [])
        self.error("GET", "/v1/suppressions/gone@remote.test", globex, 404, "not_found")
        self.error("DELETE", "/v1/suppressions/gone@remote.test", globex, 404, "not_found")
        # the admin acts for a tenant by name
        page = self.call("GET", "/v1/suppressions?tenant=acme&limit=1", self.admin)
        self.assertEqual([s["address"] for s in page["suppressions"]], ["gone@remote.test"])
        page = self.call("GET", "/v1/suppressions?tenant=acme&limit=1&cursor="
                         + urllib.parse.quote(page["next_cursor"]), self.admin)
        self.assertEqual([s["address"] for s in page["suppressions"]], ["other@remote.test"])
        # the same list ferryctl lists and ferryd checks at RCPT
        self.assertIn("gone@remote.test", self.f.ctl("suppression", "list", "acme").stdout)
        with smtplib.SMTP("127.0.0.1", self.f.submission, timeout=30) as s:
            s.starttls(context=tls_context())
            s.login("acme", acme)
            with self.assertRaises(smtplib.SMTPRecipientsRefused):
                s.sendmail("news@acme.test", ["gone@remote.test"], MSG)
        self.call("DELETE", "/v1/suppressions/gone@remote.test", acme)
        self.error("GET", "/v1/suppressions/gone@remote.test", acme, 404, "not_found")
        for body in ({}, {"address": "no-at"}, {"address": "a@x.test", "reason": "x"},
                     {"address": "a@x.test", "expires": -5}, {"addresses": []}):
            self.error("POST", "/v1/suppressions", acme, 400, "bad_request", body)
        self.error("POST", "/v1/suppressions", acme, 400, "bad_json", raw=b"[1, 2")

    def test_account_scoped(self):
        self.assertEqual(self.call("GET", "/v1/account", self.keys["acme"])["name"], "acme")
        self.assertEqual(self.call("GET", "/v1/account", self.keys["globex"])["name"], "globex")
        # ?tenant= is the admin's: a tenant's key stays its own tenant
        code, doc, _ = http(self.f, "GET", "/v1/account?tenant=acme", self.keys["globex"])
        self.assertTrue(code in (400, 403) or (code == 200 and doc["name"] == "globex"), (code, doc))
        self.assertEqual(self.call("GET", "/v1/account?tenant=acme", self.admin)["name"], "acme")
        self.error("GET", "/v1/account?tenant=nobody", self.admin, 404, "not_found")

    def test_domains_listed_and_scoped(self):
        acme = self.keys["acme"]
        doms = self.call("GET", "/v1/domains", acme)["domains"]
        self.assertEqual([d["name"] for d in doms], ["acme.test"])
        self.assertEqual(sorted(s["selector"] for s in doms[0]["selectors"]), ["ed1", "rsa1"])
        self.assertEqual(self.call("GET", "/v1/domains", self.keys["globex"])["domains"][0]["name"],
                         "globex.test")
        self.error("GET", "/v1/domains/acme.test?check=0", self.keys["globex"], 404, "not_found")
        self.error("GET", "/v1/domains/nosuch.test?check=0", acme, 404, "not_found")
        doc = self.call("GET", "/v1/domains/acme.test?check=0", acme)
        self.assertIsNone(doc["check"])
        # the records are those `ferryctl domain dns` prints
        zone = self.f.ctl("domain", "dns", "acme.test").stdout
        lines = []
        for rec in doc["records"]:
            if rec["type"] == "TXT":
                line = txt_line(rec["name"], rec["value"])
            else:
                line = "%s. 300 IN %s %s" % (rec["name"], rec["type"], rec["value"])
            self.assertIn(line.replace(" 300 IN ", " IN "), zone)
            lines.append(line)
        self.assertIn("v=spf1 ip4:127.0.0.1 -all",
                      [r["value"] for r in doc["records"] if r["purpose"] == "spf"])

    # ---- queue ----

    def test_queue(self):
        self.f.submit("globex", self.keys["globex"], "news@globex.test", ["q1@remote.test"])
        self.assertTrue(wait_for(lambda: any(m["tenant"] == "globex" and m["ready"] + m["scheduled"] +
                                             m["active"] >= 1 for m in
                                             self.call("GET", "/v1/queue", self.admin)["tenants"]),
                                 timeout=60))
        summary = self.call("GET", "/v1/queue", self.admin)
        self.assertGreaterEqual(sum(summary["total"].values()), 1)
        msgs = self.call("GET", "/v1/queue/messages?tenant=globex", self.admin)["messages"]
        self.assertEqual([m["recipients"] for m in msgs], [["q1@remote.test"]])
        qid = msgs[0]["id"]
        self.assertEqual(self.call("GET", "/v1/queue/messages?tenant=acme", self.admin)["messages"], [])
        # after its first attempt (refused: nothing listens there) it waits for that site
        self.assertTrue(wait_for(lambda: [m["id"] for m in self.call(
            "GET", "/v1/queue/messages?site=" + urllib.parse.quote(self.site), self.admin)["messages"]]
            == [qid], timeout=60))
        self.assertEqual(self.call("GET", "/v1/queue/messages?site=smtp:127.0.0.1:1",
                                   self.admin)["messages"], [])
        one = self.call("GET", "/v1/queue/messages/" + qid, self.admin)
        self.assertEqual(one["sender"], "news@globex.test")
        self.assertIn("envelope", one)
        # hold is the queue manager's: ferryctl sees it, the log says it
        self.assertTrue(wait_for(lambda: http(self.f, "POST", "/v1/queue/messages/%s/hold" % qid,
                                              self.admin)[0] == 200, timeout=60))
        self.assertTrue(wait_for(lambda: "hold" in self.f.ctl("queue", "show", qid).stdout, timeout=30))
        self.assertEqual([m["id"] for m in self.call("GET", "/v1/queue/messages?held=1",
                                                     self.admin)["messages"]], [qid])
        self.error("POST", "/v1/queue/messages/%s/hold" % qid, self.admin, 409, "conflict")
        self.call("POST", "/v1/queue/messages/%s/release" % qid, self.admin)
        self.error("POST", "/v1/queue/messages/%s/release" % qid, self.admin, 409, "conflict")
        self.error("GET", "/v1/queue/messages/0000000000000000", self.admin, 404, "not_found")
        self.error("GET", "/v1/queue/messages/nonsense", self.admin, 400, "bad_request")
        self.assertIn("event=held id=%s by=operator" % qid, self.f.log_text())


class DomainCheckApiTest(unittest.TestCase):
    """The records the API gives, published by a real DNS server (unbound):
    the API's own check of them finds everything in order; with one record
    broken, it says which."""

    def test_records_published_then_checked(self):
        f = Ferryd(http=True, extra=POOL).start()
        try:
            key = f.tenant_add("acme", "--pool", "main", "--bounce-domain", "bounce.acme.test")
            code, doc, _ = http(f, "GET", "/v1/domains/acme.test?check=0", key)
            self.assertEqual(code, 200, doc)
        finally:
            f.stop()
        lines = []
        for rec in doc["records"]:
            if rec["type"] == "TXT":
                value = rec["value"]
                if rec["purpose"] == "dmarc":
                    value = value.replace("p=none", "p=quarantine")
                lines.append(txt_line(rec["name"], value))
            else:
                lines.append("%s. 300 IN %s %s" % (rec["name"], rec["type"], rec["value"]))
        # ed1 published with another key: the one finding that must be wrong
        lines = [re.sub(r'(ed1\._domainkey\.acme\.test\. 300 IN TXT "v=DKIM1; k=ed25519; p=)[^"]+',
                        r"\g<1>11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", l) for l in lines]
        dns = DnsServer(lines).start()
        f = Ferryd(tmp=f.tmp, dns=dns.servers, http=True, extra=POOL).start()
        try:
            code, doc, _ = http(f, "GET", "/v1/domains/acme.test", key)
            self.assertEqual(code, 200, doc)
            chk = doc["check"]
            self.assertEqual(chk["source_addresses"], ["127.0.0.1"])
            bad = {x["what"]: x for x in chk["findings"] if x["status"] != "ok"}
            self.assertEqual(list(bad), ["dkim ed1._domainkey.acme.test"], chk)
            self.assertFalse(chk["ok"])
            good = {x["what"] for x in chk["findings"] if x["status"] == "ok"}
            for what in ("spf acme.test", "dkim rsa1._domainkey.acme.test", "dmarc _dmarc.acme.test",
                         "bounce mx bounce.acme.test", "bounce spf bounce.acme.test"):
                self.assertIn(what, good, chk)
        finally:
            f.stop()
            dns.stop()


class OpenApiTest(unittest.TestCase):
    def test_every_route_documented(self):
        src = os.path.join(ferrytest.SRC, "src", "http", "api_routes_admin.c")
        with open(src) as f:
            routes = re.findall(r'\{ "(GET|POST|DELETE)",\s+"([^"]+)"', f.read())
        with open(os.path.join(ferrytest.SRC, "docs", "openapi.yaml")) as f:
            spec = f.read()
        self.assertGreater(len(routes), 15)
        for method, path in routes:
            m = re.search(r"(?ms)^  %s:\n(.*?)(?=^  /|^components:)" % re.escape(path), spec)
            self.assertIsNotNone(m, path)
            self.assertRegex(m.group(1), r"(?m)^    %s:" % method.lower(), (method, path))


if __name__ == "__main__":
    ferrytest.main()
