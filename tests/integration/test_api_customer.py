#!/usr/bin/env python3
"""test_api_customer - the HTTP API as a customer and its operator use it,
end to end on a real ferryd: the admin makes a tenant, a key and a sender
domain over HTTP; the tenant injects a message with its key; the message
reaches a real SMTP receiver; the tenant follows it in its events by the
Message-ID the API returned. A tenant's key can neither add a sender domain
nor see another tenant's events.
"""
import os
import unittest

import ferrytest
from ferrytest import Ferryd, wait_for
from receiver import Receiver


class CustomerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rx = Receiver("127.0.0.1")
        cls.f = Ferryd(deliver=True, http=True, extra="route * smtp:127.0.0.1:%d\n" % cls.rx.port)
        cls.f.start()
        cls.admin = cls.f.admin_token()

    @classmethod
    def tearDownClass(cls):
        cls.f.stop()
        cls.rx.stop()

    def api(self, method, path, body=None, token=None):
        return self.f.api(method, path, body=body, token=token)

    def tenant(self, name):
        """A tenant, its key and its domain NAME.test, all over the API."""
        st, _, v = self.api("POST", "/v1/tenants", {"name": name}, self.admin)
        self.assertIn(st, (200, 201), v)
        st, _, v = self.api("POST", "/v1/tenants/%s/keys" % name, {"label": "app"}, self.admin)
        self.assertIn(st, (200, 201), v)
        key = v["key"]
        st, hdrs, v = self.api("POST", "/v1/domains?tenant=" + name, {"domain": name + ".test"}, self.admin)
        self.assertEqual(st, 201, v)
        self.assertEqual(hdrs.get("location"), "/v1/domains/%s.test" % name)
        self.assertEqual(v["name"], name + ".test")
        self.assertTrue(v["records"], v)          # what to publish in DNS
        return key

    def test_inject_then_follow_by_message_id(self):
        key = self.tenant("shop")
        other = self.tenant("rival")
        st, _, v = self.api("POST", "/v1/messages", {
            "from": {"email": "orders@shop.test", "name": "Shop"}, "to": ["buyer@remote.test"],
            "subject": "Your order", "text": "Thanks.", "html": "<p>Thanks.</p>"}, key)
        self.assertEqual(st, 202, v)
        qid, msgid = v["id"], v["message_id"]
        self.assertEqual(v["accepted"], ["buyer@remote.test"])
        self.assertTrue(wait_for(lambda: any(b"Subject: Your order" in m["data"] for m in self.rx.messages)),
                        self.f.log_text()[-2000:])

        def kinds():
            st, _, v = self.api("GET", "/v1/events?message_id=" + msgid, token=key)
            self.assertEqual(st, 200, v)
            return sorted(e["type"] for e in v["events"])
        self.assertTrue(wait_for(lambda: kinds() == ["delivered", "received"]), kinds())
        st, _, v = self.api("GET", "/v1/events?type=delivered&queue_id=" + qid, token=key)
        ev = v["events"][0]
        self.assertEqual((ev["recipient"], ev["reply"]["code"], ev["tenant"]), ("buyer@remote.test", 250, "shop"))
        # another tenant's key sees none of it
        st, _, v = self.api("GET", "/v1/events?queue_id=" + qid, token=other)
        self.assertEqual((st, v["events"]), (200, []))

    def test_domains_are_the_admins_to_change(self):
        key = self.tenant("corp")
        st, _, v = self.api("POST", "/v1/domains", {"domain": "gmail.com"}, key)
        self.assertEqual(st, 403, v)
        self.assertEqual(v["error"]["code"], "forbidden")
        st, _, v = self.api("DELETE", "/v1/domains/corp.test", token=key)
        self.assertEqual(st, 403, v)
        # taken by another tenant: a conflict, not a second owner
        self.tenant("corp2")
        st, _, v = self.api("POST", "/v1/domains?tenant=corp2", {"domain": "corp.test"}, self.admin)
        self.assertEqual(st, 409, v)
        st, _, v = self.api("POST", "/v1/domains?tenant=corp", {"domain": 7}, self.admin)
        self.assertEqual(st, 400, v)
        keys = os.path.join(self.f.spool, "dkim", "corp.test")
        self.assertTrue(os.path.isdir(keys))
        st, _, _ = self.api("DELETE", "/v1/domains/corp.test?tenant=corp", token=self.admin)
        self.assertEqual(st, 204)
        st, _, v = self.api("GET", "/v1/domains/corp.test", token=key)
        self.assertEqual(st, 404, v)
        self.assertFalse(os.path.exists(keys))


if __name__ == "__main__":
    ferrytest.main()
