"""test_http - ferryd's HTTP listener (src/http/) against a real ferryd on
loopback, with Python's http.client: authentication (admin token, tenant
API keys, ?tenant=), JSON errors (401, 403, 404, 405, 413, 415, 400
bad_json), https with ferryd's certificate, the dashboard's static files
and path traversal, GET /v1/events scoped to the caller's tenant with
cursor pagination, the admin token file and its reload, and a log that
never shows a token or key."""
import http.client
import os
import signal
import socket
import ssl
import stat
import tempfile
import time
import unittest

import ferrytest
from ferrytest import Ferryd, free_port, wait_for, wait_port


def make_www(root):
    """A dashboard directory with an asset, a dot file, a link out of it,
    and a secret beside it that no request may reach."""
    www = os.path.join(root, "www")
    os.makedirs(os.path.join(www, "assets"))
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write("<!doctype html><title>ferry test</title>\n")
    with open(os.path.join(www, "assets", "app.js"), "w") as f:
        f.write("console.log('ferry');\n")
    with open(os.path.join(www, ".hidden"), "w") as f:
        f.write("hidden\n")
    with open(os.path.join(root, "secret.txt"), "w") as f:
        f.write("SECRET-OUTSIDE-WWW\n")
    os.symlink(os.path.join(root, "secret.txt"), os.path.join(www, "assets", "link.txt"))
    os.symlink(root, os.path.join(www, "up"))
    for d, _, files in os.walk(root):
        os.chmod(d, 0o755)
        for n in files:
            os.chmod(os.path.join(d, n), 0o644)
    return www


class HttpTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        tmp = tempfile.mkdtemp(prefix="ferryhttp.")
        os.chmod(tmp, 0o755)
        cls.www = make_www(tmp)
        cls.https_port = free_port()
        cls.f = f = Ferryd(tmp=tmp, http=True, extra="\n".join([
            "listen https 127.0.0.1:%d" % cls.https_port,
            "http_www_dir " + cls.www,
            "http_max_body 4k",
            "http_threads 2"]))
        f.start()
        wait_port(cls.https_port, proc=f.proc)
        cls.admin = f.admin_token()
        cls.key_a = f.tenant_add("acme")
        cls.key_b = f.tenant_add("globex")

    @classmethod
    def tearDownClass(cls):
        rc = cls.f.stop()
        assert rc == 0, "ferryd exited %s: %s" % (rc, cls.f.stderr_text())

    def api(self, method, path, **kw):
        return self.f.api(method, path, **kw)

    def assertError(self, reply, status, code):
        st, hdrs, body = reply
        self.assertEqual(st, status, body)
        self.assertEqual(hdrs["content-type"], "application/json")
        self.assertEqual(body["error"]["status"], status)
        self.assertEqual(body["error"]["code"], code)
        self.assertTrue(body["error"]["message"])
        return body["error"]["message"]

    # Authentication

    def test_no_token_is_401(self):
        r = self.api("GET", "/v1/ping")
        self.assertError(r, 401, "unauthorized")
        self.assertTrue(r[1]["www-authenticate"].startswith("Bearer"))
        self.assertEqual(r[1]["cache-control"], "no-store")

    def test_wrong_tokens_are_401(self):
        last = "0" if self.admin[-1] != "0" else "1"
        for tok in ("nope", self.admin[:-1], self.admin[:32], self.admin[:-1] + last,
                    self.admin + "0", self.key_a[:-1] + ("A" if self.key_a[-1] != "A" else "B")):
            self.assertError(self.api("GET", "/v1/ping", token=tok), 401, "unauthorized")
        # Basic, not Bearer
        self.assertError(self.api("GET", "/v1/ping", headers={"Authorization": "Basic " + self.admin}),
                         401, "unauthorized")

    def test_admin_token(self):
        st, _, body = self.api("GET", "/v1/ping", token=self.admin)
        self.assertEqual((st, body), (200, {"tenant": None, "admin": True}))
        st, hdrs, body = self.api("HEAD", "/v1/ping", token=self.admin)
        self.assertEqual((st, hdrs["content-type"], body), (200, "application/json", b""))

    def test_tenant_key(self):
        st, _, body = self.api("GET", "/v1/ping", token=self.key_a)
        self.assertEqual((st, body), (200, {"tenant": "acme", "admin": False}))

    def test_revoked_key_is_401(self):
        key = self.f.ctl("key", "create", "acme").stdout.splitlines()[0].strip()
        self.assertEqual(self.api("GET", "/v1/ping", token=key)[0], 200)
        self.f.ctl("key", "revoke", "acme", key[:15])
        self.assertError(self.api("GET", "/v1/ping", token=key), 401, "unauthorized")

    def test_admin_acts_for_tenant(self):
        st, _, body = self.api("GET", "/v1/ping?tenant=globex", token=self.admin)
        self.assertEqual((st, body), (200, {"tenant": "globex", "admin": True}))
        self.assertError(self.api("GET", "/v1/ping?tenant=nosuch", token=self.admin), 404, "not_found")

    def test_key_cannot_act_for_another_tenant(self):
        self.assertError(self.api("GET", "/v1/ping?tenant=globex", token=self.key_a), 403, "forbidden")
        st, _, body = self.api("GET", "/v1/ping?tenant=acme", token=self.key_a)
        self.assertEqual((st, body["tenant"]), (200, "acme"))

    # Routing and errors

    def test_unknown_route_is_404(self):
        self.assertError(self.api("GET", "/v1/nosuch", token=self.admin), 404, "not_found")
        self.assertError(self.api("POST", "/v1/nosuch", token=self.admin), 404, "not_found")

    def test_wrong_method_is_405_with_allow(self):
        r = self.api("DELETE", "/v1/ping", token=self.admin)
        self.assertError(r, 405, "method_not_allowed")
        self.assertEqual(r[1]["allow"], "GET, POST")

    def test_body_must_be_json(self):
        r = self.api("POST", "/v1/ping", token=self.admin, body=b'{"a": 1}',
                     headers={"Content-Type": "text/plain"})
        self.assertError(r, 415, "unsupported_media_type")
        msg = self.assertError(self.api("POST", "/v1/ping", token=self.admin, body=b'{"a": 1,\n "b": }',
                                        headers={"Content-Type": "application/json"}), 400, "bad_json")
        self.assertIn("line 2", msg)
        self.assertError(self.api("POST", "/v1/ping", token=self.admin, body=[1, 2]), 400, "bad_json")
        self.assertError(self.api("POST", "/v1/ping", token=self.admin, body=b'{"a": 1, "a": 2}',
                                  headers={"Content-Type": "application/json"}), 400, "bad_json")
        st, _, body = self.api("POST", "/v1/ping", token=self.key_a, body={"x": 1, "y": [2]},
                               headers={"Content-Type": "application/json; charset=utf-8"})
        self.assertEqual((st, body["tenant"], sorted(body["members"])), (200, "acme", ["x", "y"]))

    def test_oversized_body_is_413(self):
        st, _, _ = self.api("POST", "/v1/ping", token=self.admin, body=b"{" + b" " * 8192 + b"}",
                            headers={"Content-Type": "application/json"})
        self.assertEqual(st, 413)
        # the listener still answers
        self.assertEqual(self.api("GET", "/v1/ping", token=self.admin)[0], 200)

    def test_bad_query_is_400(self):
        self.assertError(self.api("GET", "/v1/events?limit=0", token=self.key_a), 400, "bad_request")
        self.assertError(self.api("GET", "/v1/events?limit=abc", token=self.key_a), 400, "bad_request")
        self.assertError(self.api("GET", "/v1/events?type=nosuch", token=self.key_a), 400, "bad_request")
        self.assertError(self.api("GET", "/v1/events?since=yesterday", token=self.key_a), 400,
                         "bad_request")

    # https

    def test_https(self):
        st, _, body = self.api("GET", "/v1/ping", token=self.key_b, port=self.https_port, tls=True)
        self.assertEqual((st, body["tenant"]), (200, "globex"))
        self.assertError(self.api("GET", "/v1/ping", port=self.https_port, tls=True), 401, "unauthorized")
        # plain HTTP on the https port gets no HTTP answer
        with self.assertRaises((http.client.HTTPException, ConnectionError, socket.timeout)):
            self.api("GET", "/v1/ping", port=self.https_port)

    # Static files

    def test_static_index_and_asset(self):
        st, hdrs, body = self.api("GET", "/")
        self.assertEqual(st, 200)
        self.assertTrue(hdrs["content-type"].startswith("text/html"))
        self.assertIn(b"ferry test", body)
        st, hdrs, body = self.api("GET", "/assets/app.js")
        self.assertEqual((st, hdrs["content-type"]), (200, "text/javascript; charset=utf-8"))
        self.assertEqual(body, b"console.log('ferry');\n")
        st, hdrs, body = self.api("HEAD", "/assets/app.js")
        self.assertEqual((st, body), (200, b""))

    def test_static_traversal_refused(self):
        for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/assets/%2e%2e/%2e%2e/secret.txt",
                     "/assets/..%2f..%2fsecret.txt", "/assets/link.txt", "/up/secret.txt",
                     "/.hidden", "/assets/", "/%00", "/assets/app.js%00.html"):
            conn = http.client.HTTPConnection("127.0.0.1", self.f.http_port, timeout=10)
            try:
                conn.putrequest("GET", path, skip_accept_encoding=True)
                conn.endheaders()
                r = conn.getresponse()
                data = r.read()
            finally:
                conn.close()
            self.assertIn(r.status, (400, 404), path)
            self.assertNotIn(b"SECRET", data, path)
            self.assertNotIn(b"hidden", data, path)

    # Events

    def tenant_id(self, name):
        return self.f.sql("SELECT id FROM tenants WHERE name = ?", (name,))[0][0]

    def add_event(self, tenant, kind, rcpt, t):
        self.f.sql("INSERT INTO events(time, tenant_id, kind, queue_id, rcpt_index, rcpt)"
                       " VALUES (?, ?, ?, ?, 0, ?)", (t, self.tenant_id(tenant), kind,
                                                      "%016X" % t, rcpt))

    def test_events_scoped_and_paged(self):
        now = int(time.time())
        for i in range(3):
            self.add_event("acme", "delivered", "r%d@x.test" % i, now - 10 + i)
        self.add_event("acme", "bounced", "bad@x.test", now - 5)
        self.add_event("globex", "delivered", "secret@globex.test", now - 4)
        st, _, body = self.api("GET", "/v1/events?limit=1000", token=self.key_a)
        self.assertEqual(st, 200)
        acme = body["events"]
        self.assertEqual(len(acme), 4)
        self.assertEqual({e["tenant"] for e in acme}, {"acme"})
        self.assertNotIn("secret@globex.test", str(body))
        ids = [e["id"] for e in acme]
        self.assertEqual(ids, sorted(ids, reverse=True))
        self.assertIsNone(body["next_cursor"])
        # another tenant's key sees only its own
        st, _, body = self.api("GET", "/v1/events", token=self.key_b)
        self.assertEqual([e["recipient"] for e in body["events"]], ["secret@globex.test"])
        # filters
        st, _, body = self.api("GET", "/v1/events?type=bounced", token=self.key_a)
        self.assertEqual([e["recipient"] for e in body["events"]], ["bad@x.test"])
        st, _, body = self.api("GET", "/v1/events?type=bounced,,expired", token=self.key_a)
        self.assertEqual([e["recipient"] for e in body["events"]], ["bad@x.test"])
        st, _, body = self.api("GET", "/v1/events?type=,", token=self.key_a)
        self.assertEqual(len(body["events"]), 4)
        st, _, body = self.api("GET", "/v1/events?recipient=R1@X.TEST", token=self.key_a)
        self.assertEqual([e["recipient"] for e in body["events"]], ["r1@x.test"])
        st, _, body = self.api("GET", "/v1/events?recipient=secret@globex.test", token=self.key_a)
        self.assertEqual(body["events"], [])
        # pages of one, newest first, to the end
        seen, cursor = [], None
        while True:
            st, _, body = self.api("GET", "/v1/events?limit=1" + ("&cursor=" + cursor if cursor else ""),
                                   token=self.key_a)
            self.assertEqual(st, 200)
            seen += [e["id"] for e in body["events"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        self.assertEqual(seen, ids)
        # the admin sees both, or one tenant's with ?tenant=
        st, _, body = self.api("GET", "/v1/events?limit=1000", token=self.admin)
        self.assertTrue({"acme", "globex"} <= {e.get("tenant") for e in body["events"]})
        st, _, body = self.api("GET", "/v1/events?tenant=globex", token=self.admin)
        self.assertEqual({e["tenant"] for e in body["events"]}, {"globex"})

    # The token file and the log

    def test_admin_token_file(self):
        path = os.path.join(self.f.spool, "admin.token")
        st = os.stat(path)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        with open(path) as fh:
            self.assertEqual(fh.read().strip(), self.admin)
        self.assertRegex(self.admin, r"^[0-9a-f]{64}$")

    def test_token_never_logged(self):
        self.api("GET", "/v1/ping", token=self.admin)
        self.api("GET", "/v1/ping?tenant=acme&x=" + self.key_a, token=self.key_a)
        self.api("GET", "/v1/" + self.key_b, token="wrong-" + self.admin)
        self.api("GET", "/" + self.admin)
        self.assertEqual(self.api("PUT", "/v1/ping", token=self.key_a)[0], 405)
        log = self.f.log_text()
        self.assertIn("event=http method=PUT path=/v1/ping status=405", log)
        self.assertIn("event=http method=GET path=/v1/ping status=200", log)
        for secret in (self.admin, self.key_a, self.key_b, self.key_a[16:], self.admin[:32]):
            self.assertNotIn(secret, log)


class HttpTokenReloadTest(unittest.TestCase):
    """The admin token is read again on reload: a new one works at once, the
    old one no more; a token file others can read turns admin access off."""

    def test_reload(self):
        f = Ferryd(http=True).start()
        try:
            old = f.admin_token()
            self.assertEqual(f.api("GET", "/v1/ping", token=old)[0], 200)
            path = os.path.join(f.spool, "admin.token")
            new = "n" * 40
            with open(path, "w") as fh:
                fh.write(new + "\n")
            f.hup()
            self.assertTrue(wait_for(lambda: f.api("GET", "/v1/ping", token=new)[0] == 200, timeout=10))
            self.assertEqual(f.api("GET", "/v1/ping", token=old)[0], 401)
            os.chmod(path, 0o644)
            f.hup()
            self.assertTrue(wait_for(lambda: f.api("GET", "/v1/ping", token=new)[0] == 401, timeout=10))
            self.assertIn("event=admin-token-unavailable", f.log_text())
            r = f.ctl("admin-token", check=False)
            self.assertEqual(r.returncode, 1)
            self.assertIn("readable by group or others", r.stderr)
        finally:
            self.assertEqual(f.stop(), 0)
        self.assertNotIn(new, f.log_text())


class HttpStopTest(unittest.TestCase):
    """A stop with HTTP clients connected: one idle on keep-alive, one in
    the middle of its headers, one in the middle of its body. ferryd exits
    0 by itself (no leak under ASan: the test build checks at exit)."""

    def test_stop_with_clients(self):
        f = Ferryd(http=True).start()
        token = f.admin_token()
        idle = http.client.HTTPConnection("127.0.0.1", f.http_port, timeout=10)
        idle.request("GET", "/v1/ping", headers={"Authorization": "Bearer " + token})
        self.assertEqual(idle.getresponse().read(), b'{"tenant":null,"admin":true}\n')
        heads = socket.create_connection(("127.0.0.1", f.http_port))
        heads.sendall(b"GET /v1/ping HTTP/1.1\r\nHost: x\r\nAuthor")
        body = socket.create_connection(("127.0.0.1", f.http_port))
        body.sendall(b"POST /v1/ping HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"a\"")
        time.sleep(0.2)
        # stop() kills after its timeout: then the exit status is not 0
        self.assertEqual(f.stop(timeout=20), 0, f.stderr_text())
        for s in (heads, body):
            s.settimeout(5)
            self.assertEqual(s.recv(100), b"")
            s.close()
        idle.close()
        self.assertIn("event=stopped", f.log_text())


class HttpWwwTest(unittest.TestCase):
    """The dashboard's directory is opened as root at start, so it is served
    even under a directory the run user cannot search (a checkout under a
    0700 /root); a reload naming another directory moves to it."""

    def test_www_under_private_dir(self):
        tmp = tempfile.mkdtemp(prefix="ferrywww.")
        os.chmod(tmp, 0o755)
        private = os.path.join(tmp, "private")
        os.mkdir(private)
        www = make_www(private)
        os.chmod(private, 0o700)
        other = os.path.join(tmp, "other")
        os.makedirs(other)
        with open(os.path.join(other, "index.html"), "w") as fh:
            fh.write("<p>other dashboard</p>\n")
        os.chmod(other, 0o755)
        os.chmod(os.path.join(other, "index.html"), 0o644)
        f = Ferryd(http=True, extra="http_www_dir " + www).start()
        try:
            st, _, body = f.api("GET", "/")
            self.assertEqual(st, 200)
            self.assertIn(b"ferry test", body)
            conf = open(f.conf).read().replace("http_www_dir " + www, "http_www_dir " + other)
            with open(f.conf, "w") as fh:
                fh.write(conf)
            f.hup()
            self.assertTrue(wait_for(lambda: b"other dashboard" in f.api("GET", "/")[2], timeout=10))
        finally:
            self.assertEqual(f.stop(), 0)
        self.assertNotIn("http-www-unavailable", f.log_text())


if __name__ == "__main__":
    ferrytest.main()
