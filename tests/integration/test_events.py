#!/usr/bin/env python3
"""test_events - the events outbox (src/events/outbox.c): every delivery
outcome and decision becomes one row of the events table, with the
delivery's fields, and a clean stop writes what was still pending.

A real ferryd submits tenant mail to a scripted SMTP receiver (receiver.py)
that accepts one recipient, refuses one (550 5.1.1) and defers one (451);
an operator holds and releases the deferred message and suspends and
resumes the tenant. Every assertion reads the table ferryd wrote.
"""
import os
import re
import smtplib
import sqlite3
import subprocess
import tempfile
import unittest

import ferrytest
from ferrytest import FERRYCTL, SKIP_PG, STATE_PG, Ferryd, tls_context, wait_for
from receiver import Receiver

COLS = ("id, kind, tenant_id, queue_id, rcpt_index, rcpt, category, hard, status, detail, source,"
        " message_id, sender, source_ip, site, code, attempt, delay, size")


def rcpt_script(arg):
    if "gone@" in arg:
        return "550 5.1.1 <gone@remote.test>: no such user"
    if "later@" in arg:
        return "451 4.2.0 try again later"
    return "250 2.1.5 ok"


class EventsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rx = Receiver("127.0.0.1")
        cls.rx.set("rcpt", rcpt_script)
        cls.f = f = Ferryd(deliver=True, extra="route * smtp:127.0.0.1:%d\nretry_min 3600\n" % cls.rx.port)
        f.start()
        cls.key = f.tenant_add("evco")
        cls.tid = cls.sql("SELECT id FROM tenants WHERE name = 'evco'")[0][0]

    @classmethod
    def tearDownClass(cls):
        cls.f.stop()
        cls.rx.stop()

    @classmethod
    def sql(cls, query, args=()):
        return cls.f.sql(query, args)

    def events(self, where="TRUE", args=()):
        rows = self.sql("SELECT " + COLS + " FROM events WHERE " + where + " ORDER BY id", args)
        names = [c.strip() for c in COLS.split(",")]
        return [dict(zip(names, r)) for r in rows]

    def send(self, rcpts, subject, msgid):
        body = ("From: news@evco.test\r\nTo: list@remote.test\r\nSubject: %s\r\n"
                "Message-ID: %s\r\n\r\nhello\r\n" % (subject, msgid)).encode()
        with smtplib.SMTP("127.0.0.1", self.f.submission, timeout=30) as s:
            s.starttls(context=tls_context())
            s.login("apikey", self.key)
            s.mail("news@evco.test")
            for r in rcpts:
                self.assertEqual(s.rcpt(r)[0], 250)
            code, text = s.data(body)
            self.assertEqual(code, 250, text)
            return re.search(rb"queued as ([0-9A-F]{16})", text).group(1).decode()

    def test_outcomes_of_one_message(self):
        qid = self.send(["ok@remote.test", "gone@remote.test", "later@remote.test"], "outcomes",
                        "<outcomes.1@evco.test>")
        self.assertTrue(wait_for(lambda: len(self.events("queue_id = ? AND kind != 'received'", (qid,))) >= 3),
                        self.f.log_text()[-2000:])
        evs = self.events("queue_id = ?", (qid,))
        received = [e for e in evs if e["kind"] == "received"]
        self.assertEqual(sorted(e["rcpt"] for e in received),
                         ["gone@remote.test", "later@remote.test", "ok@remote.test"])
        for e in received:
            self.assertEqual(e["tenant_id"], self.tid)
            self.assertEqual(e["message_id"], "<outcomes.1@evco.test>")
            self.assertEqual(e["sender"], "news@evco.test")
            self.assertEqual(e["source_ip"], "127.0.0.1")      # the client, for received
            self.assertGreater(e["size"], 0)
        self.assertEqual(sorted(e["rcpt_index"] for e in received), [0, 1, 2])

        by_kind = {e["kind"]: e for e in evs if e["kind"] != "received"}
        self.assertEqual(set(by_kind), {"delivered", "bounced", "deferred"}, evs)
        d = by_kind["delivered"]
        self.assertEqual((d["rcpt"], d["code"], d["attempt"], d["tenant_id"]), ("ok@remote.test", 250, 1, self.tid))
        self.assertIn("127.0.0.1", d["site"])
        b = by_kind["bounced"]
        self.assertEqual((b["rcpt"], b["code"], b["status"], b["category"], b["hard"]),
                         ("gone@remote.test", 550, "5.1.1", "invalid-recipient", 1))
        self.assertIn("no such user", b["detail"])
        self.assertEqual(b["attempt"], 1)
        df = by_kind["deferred"]
        self.assertEqual((df["rcpt"], df["code"], df["status"], df["attempt"]), ("later@remote.test", 451, "4.2.0", 1))
        # the bounce is the classified one only: no second, unclassified row
        self.assertEqual(len([e for e in evs if e["kind"] == "bounced"]), 1)

        # an operator's hold and release of the message still queued
        self.f.ctl("queue", "hold", qid)
        self.assertTrue(wait_for(lambda: self.events("queue_id = ? AND kind = 'held'", (qid,))))
        self.f.ctl("queue", "release", qid)
        self.assertTrue(wait_for(lambda: self.events("queue_id = ? AND kind = 'released'", (qid,))))
        held = self.events("queue_id = ? AND kind IN ('held', 'released')", (qid,))
        self.assertEqual([(e["kind"], e["source"], e["tenant_id"]) for e in held],
                         [("held", "operator", self.tid), ("released", "operator", self.tid)])

    def test_ferryctl_lists_a_kind_and_refuses_an_unknown_one(self):
        qid = self.send(["ok3@remote.test"], "ctl", "<ctl.1@evco.test>")
        self.assertTrue(wait_for(lambda: self.events("kind = 'received' AND queue_id = ?", (qid,))))
        out = self.f.ctl("events", "list", "evco", "received").stdout.splitlines()
        self.assertGreater(len(out), 1)
        self.assertTrue(all(line.split("\t")[1] == "received" for line in out[1:]), out)
        r = self.f.ctl("events", "list", "evco", "bounce", check=False)      # the old name
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("unknown event kind", r.stderr)

    def test_operator_suspend_and_resume(self):
        before = self.sql("SELECT coalesce(max(id), 0) FROM events")[0][0]
        self.f.ctl("tenant", "suspend", "evco", "--reason", "audit")
        self.f.ctl("tenant", "resume", "evco")
        evs = self.events("tenant_id = ? AND kind IN ('suspended', 'resumed') AND id > ?", (self.tid, before))
        self.assertEqual([(e["kind"], e["source"], e["detail"]) for e in evs],
                         [("suspended", "operator", "audit"), ("resumed", "operator", "")])

    def test_ids_are_never_given_twice(self):
        # a webhook's cursor is "id > N": ids of deleted newest rows (a tenant
        # removed, the prune) must not come back for new events
        self.f.ctl("tenant", "suspend", "evco", "--reason", "ids")
        top = self.sql("SELECT max(id) FROM events")[0][0]
        self.sql("DELETE FROM events WHERE id = ?", (top,))
        self.f.ctl("tenant", "resume", "evco")
        resumed = self.sql("SELECT max(id) FROM events WHERE kind = 'resumed' AND tenant_id = ?", (self.tid,))
        self.assertGreater(resumed[0][0], top)

    def test_clean_stop_writes_pending_events(self):
        # stopped right after the 250: the writer's last flush happens at stop
        qid = self.send(["ok2@remote.test"], "stop", "<stop.1@evco.test>")
        self.f.stop()
        try:
            self.assertEqual([e["rcpt"] for e in self.events("queue_id = ? AND kind = 'received'", (qid,))],
                             ["ok2@remote.test"])
        finally:
            self.f.start()
        # after the restart the table still has it, and new events follow
        self.assertTrue(wait_for(lambda: self.events("queue_id = ? AND kind = 'delivered'", (qid,))))


@unittest.skipIf(STATE_PG, SKIP_PG + " (an old file upgraded in place)")
class UpgradeTest(unittest.TestCase):
    """A state database made before issue 11: its events table is rebuilt
    with AUTOINCREMENT at the first open (same ids and rows, the old kind
    names renamed, the indexes back, the sequence at the highest id)."""

    def test_old_events_table_rebuilt(self):
        d = tempfile.mkdtemp(prefix="ferry-upgrade.")
        db = os.path.join(d, "ferry.db")
        con = sqlite3.connect(db)
        con.executescript(
            "CREATE TABLE events(id INTEGER PRIMARY KEY, time INTEGER NOT NULL, tenant_id INTEGER NOT NULL,"
            " kind TEXT NOT NULL, queue_id TEXT NOT NULL DEFAULT '', rcpt_index INTEGER NOT NULL DEFAULT -1,"
            " rcpt TEXT NOT NULL DEFAULT '', category TEXT NOT NULL DEFAULT '', hard INTEGER NOT NULL DEFAULT 0,"
            " status TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '', source TEXT NOT NULL DEFAULT '',"
            " report_id TEXT NOT NULL DEFAULT '');"
            "CREATE INDEX events_tenant ON events(tenant_id, id);"
            "INSERT INTO events(id, time, tenant_id, kind, rcpt) VALUES (7, 1, 1, 'bounce', 'a@x.test'),"
            " (9, 2, 1, 'complaint', 'b@x.test');")
        con.close()
        os.chmod(db, 0o600)
        conf = os.path.join(d, "ferry.conf")
        with open(conf, "w") as f:
            f.write("spool_dir %s/spool\nstate_db %s\nlisten mx 127.0.0.1:2599\n" % (d, db))
        r = subprocess.run([FERRYCTL, "-c", conf, "tenant", "list"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        con = sqlite3.connect(db)
        try:
            sql = con.execute("SELECT sql FROM sqlite_master WHERE name = 'events'").fetchone()[0]
            self.assertIn("AUTOINCREMENT", sql)
            self.assertEqual(con.execute("SELECT id, kind, rcpt FROM events ORDER BY id").fetchall(),
                             [(7, "bounced", "a@x.test"), (9, "complained", "b@x.test")])
            self.assertEqual(con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()[0], 9)
            names = {n for (n,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'index'"
                                               " AND tbl_name = 'events'")}
            self.assertTrue({"events_tenant", "events_message", "events_rcpt_lower"} <= names, names)
            con.execute("DELETE FROM events WHERE id = 9")
            con.execute("INSERT INTO events(time, tenant_id, kind) VALUES (3, 1, 'delivered')")
            self.assertEqual(con.execute("SELECT max(id) FROM events").fetchone()[0], 10)
        finally:
            con.close()


if __name__ == "__main__":
    ferrytest.main()
