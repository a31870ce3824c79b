"""Traffic shaping from receivers' replies (issue 9): a receiver that
answers MAIL FROM with a throttle reply triggers the matching rule of the
shaping_rules file on its egress path; ferryd logs it (event=shaping, with
the rule's name, FILE:LINE and action), `ferryctl queue summary` shows it
while it is in force, it expires by itself (event=shaping-expired) and the
mail is then all delivered, none bounced. A `suspend` rule makes ferryd
open no connection to the site until it expires.

Only order and log lines are asserted; the durations in the rules are
generous windows for ferryctl to look, not measured."""
import os
import re
import smtplib
import tempfile
import threading
import unittest

import ferrytest
from ferrytest import Ferryd, wait_for
from sinks import Sink

RULES = """# test rules: the first that matches decides
test-ignore          550 5.7.1  *                                        ignore
test-unusual-rate    421 4.7.28 "unusual rate of unsolicited mail"i      connections 1 for 10s
test-tss04           421 4.7.0  "\\[TSS04\\]"                              suspend for 15s
"""
GMAIL_421 = "421 4.7.28 [127.0.0.1] Our system has detected an unusual rate of unsolicited mail " \
            "originating from your IP address. To protect our users from spam, mail sent from your " \
            "IP address has been temporarily rate limited."
YAHOO_421 = "421 4.7.0 [TSS04] Messages from 127.0.0.1 temporarily deferred due to unexpected volume " \
            "or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes"
MSG = b"From: a@src.test\r\nSubject: shaping\r\n\r\nbody\r\n"


def rule_line(name):
    """The line number of rule name in RULES (for file=FILE:LINE)."""
    for i, line in enumerate(RULES.splitlines(), 1):
        if line.startswith(name + " "):
            return i
    raise KeyError(name)


class ShapingTest(unittest.TestCase):
    def setUp(self):
        self.rx = Sink(name="shape.test")
        self.site = "smtp:127.0.0.1:%d" % self.rx.port
        self.tmp = tempfile.mkdtemp(prefix="ferrytest.")
        self.rules = os.path.join(self.tmp, "shaping.rules")
        with open(self.rules, "w") as f:
            f.write(RULES)
        self.f = None

    def tearDown(self):
        self.rx.stop()
        if self.f is not None:
            self.f.stop()

    def start(self, concurrency):
        self.f = Ferryd(deliver=True, relay_networks="127.0.0.0/8", tmp=self.tmp, extra=(
            "retry_min 1\nretry_max 2\ndestination_concurrency %d\nshaping_rules %s\n"
            "route shape.test smtp:127.0.0.1:%d tls=none\n") % (concurrency, self.rules, self.rx.port))
        self.f.start()

    def send(self, n):
        with smtplib.SMTP("127.0.0.1", self.f.mx, timeout=60) as s:
            for i in range(n):
                s.sendmail("a@src.test", ["r%d@shape.test" % i], MSG)

    def log_lines(self, event):
        return [l for l in self.f.log_text().splitlines() if "event=%s " % event in l]

    def wait_shaping(self, rule, action):
        """The first event=shaping line of rule, checked field by field."""
        def found():
            return [l for l in self.log_lines("shaping") if "rule=%s " % rule in l]
        self.assertTrue(wait_for(lambda: found(), timeout=60),
                        "no event=shaping for %s; log:\n%s" % (rule, self.f.log_text()[-3000:]))
        line = found()[0]
        self.assertRegex(line, r'site="?%s"? ' % re.escape(self.site))
        self.assertRegex(line, r'file="?%s:%d"? ' % (re.escape(self.rules), rule_line(rule)))
        self.assertIn("action=%s " % action, line)
        return line

    def summary(self):
        return self.f.ctl("queue", "summary").stdout

    def summary_shows(self, rule):
        """Does the summary show the site under shaping by rule?"""
        text = self.summary()
        return "shaping" in text.lower() and rule in text and self.site in text

    def wait_expired(self, rule):
        site = re.compile(r'site="?%s"? ' % re.escape(self.site))
        self.assertTrue(wait_for(lambda: any(site.search(l) and "rule=%s" % rule in l
                                             for l in self.log_lines("shaping-expired")), timeout=120),
                        "no event=shaping-expired for %s; log:\n%s" % (rule, self.f.log_text()[-3000:]))

    def test_throttle_reply_reduces_connections_until_it_expires(self):
        throttle = threading.Event()
        throttle.set()
        self.rx.set("mail", lambda cmd: GMAIL_421 if throttle.is_set() else None)
        self.start(concurrency=5)
        self.send(10)
        line = self.wait_shaping("test-unusual-rate", "connections")
        self.assertIn("value=1 ", line)
        self.assertIn("for=10s", line)
        self.assertIn("4.7.28", line)
        # in force while the receiver keeps throttling (each 421 renews it)
        self.assertTrue(wait_for(lambda: self.summary_shows("test-unusual-rate"), timeout=60),
                        "queue summary without the shaping:\n%s" % self.summary())
        self.assertEqual(self.rx.count(), 0)
        throttle.clear()
        self.wait_expired("test-unusual-rate")
        self.assertTrue(self.rx.wait(10, timeout=120), "%d of 10 delivered; log:\n%s"
                        % (self.rx.count(), self.f.log_text()[-3000:]))
        self.assertTrue(wait_for(lambda: self.f.queue_files() == [], timeout=60))
        log = self.f.log_text()
        self.assertNotIn("event=bounced", log)
        self.assertEqual(log.count("event=delivered"), 10)
        # the expiry follows the last renewal, and the summary no longer shows it
        last_shaping = max(m.start() for m in re.finditer(r"event=shaping ", log))
        self.assertGreater(log.rindex("event=shaping-expired "), last_shaping)
        self.assertNotIn("test-unusual-rate", self.summary())

    def test_suspend_rule_holds_the_path_until_it_expires(self):
        answered = []

        def mail(cmd):          # only the very first MAIL FROM is refused
            answered.append(cmd)
            return YAHOO_421 if len(answered) == 1 else None
        self.rx.set("mail", mail)
        self.start(concurrency=1)
        self.send(5)
        line = self.wait_shaping("test-tss04", "suspend")
        self.assertIn("for=15s", line)
        self.assertIn("[TSS04]", line)
        # while the suspension is in force: no message and no new connection
        # (counted before asking, so the summary's answer covers the count)
        seen = []

        def suspended_and_idle():
            seen.append((self.rx.connections, self.rx.count()))
            return self.summary_shows("test-tss04")
        self.assertTrue(wait_for(suspended_and_idle, timeout=60),
                        "queue summary without the suspension:\n%s" % self.summary())
        self.assertEqual(seen[-1], (1, 0), "the suspended path was used: (connections, messages)")
        self.wait_expired("test-tss04")
        self.assertTrue(self.rx.wait(5, timeout=120), "%d of 5 delivered; log:\n%s"
                        % (self.rx.count(), self.f.log_text()[-3000:]))
        self.assertTrue(wait_for(lambda: self.f.queue_files() == [], timeout=60))
        self.assertGreater(self.rx.connections, 1)
        self.assertNotIn("event=bounced", self.f.log_text())
        self.assertEqual(len(answered), 6)      # the refused MAIL and one per message


if __name__ == "__main__":
    ferrytest.main()
