"""The web dashboard (dist/www) in a real browser: Debian's headless
Chromium, driven through chromedriver by python3-selenium, against a real
ferryd serving the dashboard and the /v1 API on loopback. ferryd holds two
tenants (acme, zeta) with their domains, a suppression, mail delivered to a
sink and one message held; the script logs in with the admin token, opens
every page and checks what it shows against ferry's state (ferryctl and the
API), drives the buttons (suspend/resume, hold/release, add/delete a
suppression) and checks their effect with ferryctl, then logs in with
acme's API key and checks that nothing of zeta's shows. A Message-ID made
of markup checks that server text is shown as text, never run as HTML.
Screenshots go to the test's directory (FERRY_DASH_SHOTS=DIR copies the
three of docs/screenshots there). Skipped when chromium, chromedriver or
python3-selenium is missing (scripts/setup.sh installs them)."""
import json
import os
import re
import shutil
import smtplib
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

from ferrytest import SRC, Ferryd, free_port, read_spool_file, tls_context, wait_for, wait_port
from sinks import Sink

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:     # the class is skipped
    webdriver = None

HAVE_BROWSER = webdriver is not None and os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)
# Markup in a Message-ID: shown as text by the dashboard, or an element with this id appears.
EVIL_MSGID = '<"><img src=x id=pwned onerror=this.id=\'ran\'>@acme.test>'
EVIL_CAUSE = "<img src=x id=pwned2 onerror=this.id='ran2'> <b>bold</b>"


def browser(profile):
    """A headless Chromium with its own empty profile and nothing of its
    own on the network (this machine's network is closed)."""
    o = webdriver.ChromeOptions()
    o.binary_location = CHROMIUM
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--disable-dev-shm-usage", "--window-size=1280,900", "--user-data-dir=" + profile):
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=o)


@unittest.skipUnless(HAVE_BROWSER, "chromium, chromedriver or python3-selenium missing (scripts/setup.sh)")
class DashboardTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rx = Sink(name="rx.test")
        # slow*@ are always deferred, so their messages stay queued (retry in an hour); slow@'s is held
        cls.rx.set("rcpt", lambda cmd: "451 4.7.1 try later" if "<slow" in cmd else None)
        cls.http = free_port()
        cls.f = f = Ferryd(deliver=True, extra=(
            # dns_timeout: the domain page's DNS check asks a server that never answers
            "retry_min 1h\nretry_max 2h\ndns_timeout 1\nroute * smtp:127.0.0.1:%d tls=none\n"
            "listen http 127.0.0.1:%d\nhttp_www_dir %s\n")
            % (cls.rx.port, cls.http, os.path.join(SRC, "dist", "www")))
        try:
            cls.setup_ferry()
            cls.profile = tempfile.mkdtemp(prefix="dashchrome.", dir=f.tmp)
            cls.d = browser(cls.profile)
        except BaseException:
            f.stop()
            cls.rx.stop()
            raise
        cls.shots = os.path.join(f.tmp, "screenshots")
        os.makedirs(cls.shots)

    @classmethod
    def setup_ferry(cls):
        f = cls.f
        f.start()
        wait_port(cls.http, proc=f.proc)
        cls.base = "http://127.0.0.1:%d" % cls.http
        cls.admin = f.ctl("admin-token").stdout.strip()
        cls.keys = {t: f.tenant_add(t) for t in ("acme", "zeta")}
        f.ctl("suppression", "add", "acme", "blocked@remote.test", "--reason", "hard-bounce",
              "--cause", EVIL_CAUSE)
        f.ctl("suppression", "add", "zeta", "zeta-blocked@remote.test")
        cls.delivered = {"acme": ["a%d@remote.test" % i for i in range(3)], "zeta": ["z0@remote.test"]}
        f.submit("acme", cls.keys["acme"], "news@acme.test", cls.delivered["acme"])
        f.submit("zeta", cls.keys["zeta"], "news@zeta.test", cls.delivered["zeta"])
        with smtplib.SMTP("127.0.0.1", f.submission, timeout=60) as s:
            s.starttls(context=tls_context())
            s.login("acme", cls.keys["acme"])
            s.sendmail("news@acme.test", ["evil@remote.test"],
                       ("From: news@acme.test\r\nMessage-ID: %s\r\nSubject: x\r\n\r\nhi\r\n"
                        % EVIL_MSGID).encode())
            for rcpt in ("slow@remote.test", "slow-b@remote.test", "slow-c@remote.test"):
                s.sendmail("news@acme.test", [rcpt], b"From: news@acme.test\r\nSubject: slow\r\n\r\nhi\r\n")
        cls.delivered["acme"].append("evil@remote.test")
        assert cls.rx.wait(5, timeout=60), f.log_text()[-3000:]
        assert wait_for(lambda: f.log_text().count("event=deferred") >= 3, timeout=60), f.log_text()[-3000:]
        queued = {read_spool_file(p)["rcpts"][0]: os.path.basename(p) for p in f.queue_files()}
        assert len(queued) == 3, queued
        cls.held = queued["slow@remote.test"]
        f.ctl("queue", "hold", cls.held)
        # the events and stats the pages show are written in batches: wait for them in the API
        assert wait_for(lambda: len(cls.api_events(type="delivered")) == 5, timeout=30), \
            cls.api_events()
        assert wait_for(lambda: cls.api_stats()["totals"].get("delivered") == 5, timeout=30), \
            cls.api_stats()

    @classmethod
    def tearDownClass(cls):
        cls.d.quit()
        shutil.rmtree(cls.profile, ignore_errors=True)
        cls.f.stop()
        cls.rx.stop()
        print("screenshots: %s" % cls.shots)
        keep = os.environ.get("FERRY_DASH_SHOTS")
        if keep:
            for name in ("overview", "queue", "events"):
                shutil.copy(os.path.join(cls.shots, name + ".png"), os.path.join(keep, name + ".png"))

    # ---- the API, as the test's reference --------------------------------

    @classmethod
    def api(cls, path, token=None):
        req = urllib.request.Request(cls.base + path, headers={
            "Authorization": "Bearer " + (token or cls.admin)})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)

    @classmethod
    def api_stats(cls, token=None):
        return cls.api("/v1/stats?by=hour&since=%d" % (time.time() - 48 * 3600), token)

    @classmethod
    def api_events(cls, **q):
        return cls.api("/v1/events?" + urllib.parse.urlencode(dict(q, limit=1000)))["events"]

    # ---- the browser -------------------------------------------------------

    def wait(self, cond, what, timeout=15):
        try:
            return WebDriverWait(self.d, timeout, poll_frequency=0.1).until(lambda d: cond())
        except TimeoutException:
            self.fail("%s: not seen within %ds; page text:\n%s\nbrowser log: %s" % (
                what, timeout, self.text("body")[:3000], self.d.get_log("browser")))

    def text(self, css):
        """The rendered text of the elements css selects (read in one step:
        a page drawn again meanwhile cannot leave a stale element)."""
        return self.d.execute_script("return Array.from(document.querySelectorAll(arguments[0]))"
                                     ".map(function (e) { return e.innerText; }).join('\\n')", css)

    def wait_text(self, css, needle, timeout=15):
        self.wait(lambda: needle in self.text(css), "%r in %s" % (needle, css), timeout)

    def wait_loaded(self):
        self.wait(lambda: not self.d.find_elements(By.CSS_SELECTOR, "#view .loading"), "the page loaded")

    def go(self, route):
        """Open #/route (drawn again if it is the page shown) and wait until
        the new page replaced the old one and its sections have loaded."""
        self.d.execute_script("""
            var v = document.getElementById('view');
            if (v.firstElementChild) v.firstElementChild.setAttribute('data-stale', '1');
            if (location.hash === '#/' + arguments[0]) Ferry.reload(); else location.hash = '#/' + arguments[0];
            """, route)
        self.wait(lambda: not self.d.find_elements(By.CSS_SELECTOR, "#view [data-stale]"), "#/" + route)
        self.wait_loaded()

    def login(self, token):
        self.d.get(self.base + "/")
        self.d.execute_script("sessionStorage.clear()")
        self.d.refresh()
        self.wait(lambda: self.d.find_element(By.ID, "token").is_displayed(), "the login form")
        self.d.find_element(By.ID, "token").send_keys(token)
        self.d.find_element(By.ID, "login-button").click()
        self.wait(lambda: self.d.find_element(By.ID, "top").is_displayed(), "the logged-in header")

    def logout(self):
        self.d.find_element(By.ID, "logout").click()
        self.wait(lambda: self.d.find_element(By.ID, "token").is_displayed(), "the login form")

    def shot(self, name):
        """A screenshot of the whole page (the window made as tall as it)."""
        height = self.d.execute_script("return document.documentElement.scrollHeight")
        self.d.set_window_size(1280, min(max(height + 140, 900), 2400))
        self.d.save_screenshot(os.path.join(self.shots, name + ".png"))
        self.d.set_window_size(1280, 900)

    def click_button(self, label, scope="#view"):
        btns = [b for b in self.d.find_elements(By.CSS_SELECTOR, scope + " button") if b.text == label]
        self.assertTrue(btns, "no %r button in %s" % (label, self.text(scope)[:2000]))
        btns[0].click()

    def act_for(self, tenant):
        Select(self.d.find_element(By.ID, "actas")).select_by_value(tenant)
        self.wait_loaded()

    def summary_counts(self):
        """ferryctl queue summary's TENANT table: {name: [ready, sched, active, held]}"""
        out = self.f.ctl("queue", "summary").stdout
        rows = {}
        for table in out.split("\n\n"):
            lines = table.splitlines()
            if lines and lines[0].split()[0] == "TENANT":
                for line in lines[1:]:
                    p = line.split()
                    rows[p[0]] = [int(x) for x in p[1:5]]
        return rows

    # ---- admin ---------------------------------------------------------------

    def test_1_login_refuses_a_wrong_token(self):
        self.d.get(self.base + "/")
        self.wait(lambda: self.d.find_element(By.ID, "token").is_displayed(), "the login form")
        self.d.find_element(By.ID, "token").send_keys("not-a-token")
        self.d.find_element(By.ID, "login-button").click()
        self.wait_text("#login-error", "not valid")
        self.assertFalse(self.d.find_element(By.ID, "top").is_displayed())
        self.assertIsNone(self.d.execute_script("return sessionStorage.getItem('ferry.token')"))

    def as_admin(self):
        """Logged in with the admin token (once: the tests after share it)."""
        who = self.d.find_elements(By.ID, "whoami")
        if not (who and who[0].is_displayed() and who[0].text == "admin"):
            self.login(self.admin)
        self.assertEqual(self.d.find_element(By.ID, "whoami").text, "admin")

    def test_2_login_keeps_the_token_in_the_tab_only(self):
        self.as_admin()
        self.assertEqual(self.d.execute_script("return sessionStorage.getItem('ferry.token')"), self.admin)
        self.assertIsNone(self.d.execute_script("return localStorage.getItem('ferry.token')"))
        self.assertEqual(self.d.get_cookies(), [])

    def test_3_overview(self):
        # the hourly chart with the totals, the queue by state, top sites
        self.as_admin()
        self.go("overview")
        self.wait(lambda: self.d.find_elements(By.CSS_SELECTOR, "svg.chart polyline"), "the hourly chart")
        self.assertEqual(sum(r["delivered"] for r in self.api_stats()["rows"]), 5)
        tile = self.d.find_element(By.CSS_SELECTOR, ".tile[data-key=delivered] .big")
        self.assertEqual(tile.text, "5")
        self.assertEqual(self.d.find_element(By.CSS_SELECTOR, ".tile[data-key=sent] .big").text,
                         str(self.api_stats()["totals"]["sent"]))
        self.wait_text("#queue-states", "held")
        self.shot("overview")

    def test_4_tenants(self):
        # both, then zeta's page; suspend and resume it
        self.as_admin()
        self.go("tenants")
        self.wait_text("#tenants-table", "zeta")
        self.assertIn("acme", self.text("#tenants-table"))
        self.go("tenants/zeta")
        self.wait_text("#tenant-state", "active")
        self.d.find_element(By.ID, "suspend-reason").send_keys("dashboard test")
        self.click_button("Suspend")
        self.wait_text("#tenant-state", "suspended")
        self.assertRegex(self.f.ctl("tenant", "show", "zeta").stdout, r"status: +suspended: .*dashboard test")
        self.shot("tenant")
        self.click_button("Resume")
        self.wait_text("#tenant-state", "active")
        self.assertRegex(self.f.ctl("tenant", "show", "zeta").stdout, r"status: +active")

    def test_5_queue(self):
        # counts as ferryctl queue summary has them, the held message; release and hold it
        self.as_admin()
        self.go("queue")
        self.wait_text("#queue-messages", self.held)
        counts = self.summary_counts()
        total = [sum(c[i] for c in counts.values()) for i in range(4)]
        shown = {r.find_element(By.CSS_SELECTOR, ".barlabel").text: int(r.find_element(
            By.CSS_SELECTOR, ".barvalue").text) for r in self.d.find_elements(By.CSS_SELECTOR,
                                                                             "#queue-states .barrow")}
        self.assertEqual(shown.get("held"), total[3], (shown, counts))
        self.assertEqual(shown.get("ready", 0) + shown.get("scheduled", 0) + shown.get("active", 0),
                         sum(total[:3]), (shown, counts))
        self.shot("queue")
        self.go("queue/messages/" + self.held)
        self.wait_text("#message-state", "held")
        self.assertIn("slow@remote.test", self.text("#view"))
        deferred = self.f.log_text().count("event=deferred")
        self.click_button("Release")
        self.wait(lambda: "held" not in self.text("#message-state"), "the message released")
        self.assertNotIn(self.held, self.f.ctl("queue", "list", "--held").stdout)
        # released, it is tried again (and deferred by the sink): hold it once that attempt is over
        self.assertTrue(wait_for(lambda: self.f.log_text().count("event=deferred") > deferred, timeout=30))
        self.go("queue/messages/" + self.held)
        self.wait(lambda: self.d.find_elements(By.ID, "message-state"), "the message page")
        self.click_button("Hold")
        self.wait_text("#message-state", "held")
        self.assertIn(self.held, self.f.ctl("queue", "list", "--held").stdout)
        self.shot("message")

    def test_6_events(self):
        # the delivered mail, one page at a time, and a search
        self.as_admin()
        self.go("events?type=delivered&limit=2")
        self.wait_text("#events-table", "delivered")
        pages = 1
        while self.d.find_element(By.ID, "events-more").is_displayed():
            self.assertLess(pages, 5, "more pages than 5 events make")
            self.d.find_element(By.ID, "events-more").click()
            pages += 1
            self.wait(lambda: "loading" not in self.text("#view .status"), "the next page of events")
        self.assertGreaterEqual(pages, 3)
        rows = self.d.find_elements(By.CSS_SELECTOR, "#events-table tr.event")
        self.assertEqual(sorted(r.get_attribute("data-id") for r in rows),
                         sorted(str(e["id"]) for e in self.api_events(type="delivered")))
        table = self.text("#events-table")
        for r in self.delivered["acme"] + self.delivered["zeta"]:
            self.assertIn(r, table)
        # markup from a header (the Message-ID, in the events that carry it) is text on the page
        self.go("events?recipient=evil%40remote.test")
        self.wait_text("#events-table", "evil@remote.test")
        self.assertIn(EVIL_MSGID, [e.get("message_id") for e in self.api_events(recipient="evil@remote.test")])
        self.assertIn(EVIL_MSGID, self.text("#events-table"))
        self.assertEqual(self.d.find_elements(By.CSS_SELECTOR, "#pwned, #ran, #events-table img"), [])
        self.go("events")
        self.wait(lambda: "shown" in self.text("#view .status"), "the events")
        self.shot("events")
        form = self.d.find_element(By.ID, "events-form")
        form.find_element(By.NAME, "recipient").send_keys("a1@remote.test")
        form.find_element(By.CSS_SELECTOR, "button").click()
        self.wait_text("#events-table", "a1@remote.test")
        self.wait_loaded()
        self.wait(lambda: "events shown" in self.text("#view .status") or "event shown" in
                  self.text("#view .status"), "the search's rows")
        table = self.text("#events-table")
        self.assertNotIn("a0@remote.test", table)
        self.assertIn("received", table)
        self.shot("events-search")

    def test_7_suppressions(self):
        # acting for acme: the list, add, delete
        self.as_admin()
        self.d.execute_script("Ferry.actAs('')")
        self.go("suppressions")
        self.wait_text("#tenant-pick", "zeta")      # the admin picks a tenant first
        self.d.find_element(By.CSS_SELECTOR, "#tenant-pick button[data-tenant=acme]").click()
        self.wait_loaded()
        self.wait_text("#supp-table", "blocked@remote.test")
        self.assertNotIn("zeta-blocked@remote.test", self.text("#supp-table"))
        # markup given as text (the cause) is text on the page
        self.assertIn(EVIL_CAUSE, self.text("#supp-table"))
        self.assertEqual(self.d.find_elements(By.CSS_SELECTOR, "#pwned2, #ran2, #supp-table b"), [])
        self.d.find_element(By.ID, "supp-addresses").send_keys("added@remote.test")
        self.d.find_element(By.CSS_SELECTOR, "#supp-add button").click()
        self.wait_text("#supp-table", "added@remote.test")
        self.assertIn("added@remote.test", self.f.ctl("suppression", "list", "acme").stdout)
        row = self.d.find_element(By.CSS_SELECTOR, "#supp-table tr[data-address='added@remote.test']")
        row.find_element(By.CSS_SELECTOR, "button").click()
        self.wait(lambda: "added@remote.test" not in self.text("#supp-table"), "the deleted row gone")
        self.assertNotIn("added@remote.test", self.f.ctl("suppression", "list", "acme").stdout)
        self.shot("suppressions")

    def test_8_domains_then_logout(self):
        # acme.test and the DNS records ferryctl gives for it
        self.as_admin()
        self.act_for("acme")
        self.go("domains")
        self.wait_text("#domains-table", "acme.test")
        self.go("domains/acme.test")
        self.wait_text("#domain-records", "_domainkey.acme.test")
        dns = self.f.ctl("domain", "dns", "acme.test").stdout
        selector = re.search(r"([A-Za-z0-9-]+)\._domainkey\.acme\.test", dns).group(1)
        self.assertIn(selector + "._domainkey.acme.test", self.text("#domain-records"))
        self.shot("domain")
        self.act_for("")
        self.logout()
        self.assertIsNone(self.d.execute_script("return sessionStorage.getItem('ferry.token')"))
        self.d.refresh()
        self.wait(lambda: self.d.find_element(By.ID, "token").is_displayed(), "the login form again")

    # ---- a tenant ------------------------------------------------------------

    def test_9_tenant_sees_only_its_own(self):
        self.login(self.keys["acme"])
        self.assertEqual(self.d.find_element(By.ID, "whoami").text, "tenant acme")
        nav = [a.text for a in self.d.find_elements(By.CSS_SELECTOR, "#nav a") if a.is_displayed()]
        self.assertEqual(nav, ["Overview", "Events", "Suppressions", "Domains"])
        self.go("events")
        self.wait_text("#events-table", "a0@remote.test")
        self.wait(lambda: "shown" in self.text("#view .status"), "the events")
        page = self.text("#view")
        self.assertNotIn("z0@remote.test", page)
        self.assertNotIn("zeta", page)
        self.go("suppressions")
        self.wait_text("#supp-table", "blocked@remote.test")
        self.assertNotIn("zeta-blocked", self.text("#view"))
        self.go("domains")
        self.wait_text("#domains-table", "acme.test")
        self.assertNotIn("zeta.test", self.text("#view"))
        self.go("overview")
        self.wait(lambda: self.d.find_elements(By.CSS_SELECTOR, "svg.chart polyline"), "the hourly chart")
        self.assertEqual(self.d.find_element(By.CSS_SELECTOR, ".tile[data-key=delivered] .big").text, "4")
        self.assertNotIn("zeta", self.text("#view"))
        self.go("tenants")
        self.wait_text("#view", "for the admin")
        # the API refuses the admin pages' data to the key, whatever the page does
        with self.assertRaises(urllib.error.HTTPError) as e:
            self.api("/v1/tenants", token=self.keys["acme"])
        self.assertEqual(e.exception.code, 403)
        # a key that stops working ends the session: back to the login page
        self.d.execute_script("sessionStorage.setItem('ferry.token', 'revoked')")
        self.go("suppressions")
        self.wait(lambda: self.d.find_element(By.ID, "token").is_displayed(), "the login page after a 401")
        self.assertIn("Not logged in", self.text("#login-error"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
