#!/usr/bin/env python3
"""test_cluster_status - a ferryd as a node (src/cluster/): its heartbeat
writes its row of the nodes table, and `ferryctl cluster status` shows it
up, with its name (node_name), version, listeners and a queue count that
follows the queue; a row whose heartbeat is old shows down. A heartbeat
that cannot write (the database locked) is logged once per outage and
recovers by itself. Events carry the node's name (table and HTTP API).
`ferryctl db status|migrate` on the embedded SQLite state.

The same on a real PostgreSQL (pgserver.py, started here on loopback):
`db status` and `db migrate` from an empty database, two nodes listed
by each other, a stopped one shown down, a server restart logged once by
the heartbeat and recovered from.
"""
import json
import os
import re
import sqlite3
import subprocess
import time
import unittest

import ferrytest
from ferrytest import FERRYCTL, FERRYD, Ferryd, free_port, wait_for
from pgserver import PgServer

NODE = "test-node-1"


def version():
    out = subprocess.run([FERRYD, "-V"], capture_output=True, text=True, check=True).stdout
    return out.split()[1]


class ClusterStatusTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # delivery on, to a port nothing listens on: queued mail is deferred and stays
        cls.f = f = Ferryd(deliver=True, http=True, extra=(
            "node_name %s\nretry_min 1h\nretry_max 2h\nroute * smtp:127.0.0.1:%d tls=none\n"
            % (NODE, free_port())))
        f.start()
        cls.key = f.tenant_add("acme")

    @classmethod
    def tearDownClass(cls):
        cls.f.stop()

    def status_json(self):
        return json.loads(self.f.ctl("cluster", "status", "--json").stdout)

    def node(self, name=NODE):
        rows = [n for n in self.status_json()["nodes"] if n["name"] == name]
        return rows[0] if rows else None

    def rows(self):
        """The table's lines as lists of columns, header included."""
        return [line.split("\t") for line in self.f.ctl("cluster", "status").stdout.splitlines()]

    def test_status_shows_this_node_up(self):
        self.assertTrue(wait_for(lambda: self.node() is not None, 30), self.status_json())
        rows = self.rows()
        self.assertEqual(rows[0], ["NAME", "STATE", "VERSION", "STARTED", "MESSAGES", "RECIPIENTS",
                                   "LISTEN"])
        mine = [r for r in rows[1:] if r[0] == NODE]
        self.assertEqual(len(mine), 1, rows)
        self.assertEqual(mine[0][1], "up")
        self.assertEqual(mine[0][2], version())
        self.assertRegex(mine[0][3], r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$")
        self.assertEqual(mine[0][5], "-")            # recipients: not counted
        listen = mine[0][6]
        for role in ("mx", "submission", "submissions"):
            self.assertIn("%s 127.0.0.1:%d" % (role, self.f.ports[role]), listen)
        self.assertIn("http 127.0.0.1:%d" % self.f.http_port, listen)
        n = self.node()
        self.assertEqual(n["state"], "up")
        self.assertEqual(n["version"], version())
        self.assertIsNone(n["queue"]["recipients"])
        self.assertLessEqual(n["started"], n["heartbeat"])
        self.assertEqual(n["listen"], listen)
        self.assertIn("event=node-started name=%s " % NODE, self.f.log_text())

    def queue_ids(self):
        return set(re.findall(r"^([0-9A-F]{16})", self.f.ctl("queue", "list").stdout, re.M))

    def count_is(self, n):
        return wait_for(lambda: (self.node() or {}).get("queue", {}).get("messages") == n, 30)

    def test_queue_count_follows_the_queue(self):
        # other tests leave deferred mail: count from what is queued now
        before = self.queue_ids()
        self.assertTrue(self.count_is(len(before)), (before, self.node()))
        self.f.submit("apikey", self.key, "news@acme.test", ["a@remote.test", "b@remote.test"])
        # deferred (nothing listens on the route's port), counted at the next beat
        self.assertTrue(self.count_is(len(before) + 2), self.node())
        ids = sorted(self.queue_ids() - before)
        self.assertEqual(len(ids), 2)
        self.f.ctl("queue", "delete", ids[0])
        self.assertTrue(self.count_is(len(before) + 1), self.node())
        mine = [r for r in self.rows() if r[0] == NODE][0]
        self.assertEqual(mine[4], str(len(before) + 1))
        self.f.ctl("queue", "delete", ids[1])
        self.assertTrue(self.count_is(len(before)), self.node())

    def test_old_heartbeat_shows_down(self):
        # another node that stopped beating 100 s ago (rows are per name:
        # this ferryd's beat never touches it)
        now = int(time.time())
        self.f.sql("INSERT INTO nodes(name, version, started, heartbeat, queue_messages,"
                   " queue_recipients, listen) VALUES ('gone-node', '0.0.9', ?, ?, 7, 9, 'mx 127.0.0.9:25')",
                   (now - 1000, now - 100))
        try:
            ghost = [r for r in self.rows() if r[0] == "gone-node"][0]
            m = re.fullmatch(r"down \(last seen (\d+) s ago\)", ghost[1])
            self.assertIsNotNone(m, ghost)
            self.assertGreaterEqual(int(m.group(1)), 100)
            self.assertEqual(ghost[2:3] + ghost[4:], ["0.0.9", "7", "9", "mx 127.0.0.9:25"])
            j = self.node("gone-node")
            self.assertEqual(j["state"], "down")
            self.assertGreaterEqual(j["last_seen_seconds"], 100)
            self.assertEqual(j["queue"], {"messages": 7, "recipients": 9})
            # still there after a beat of this node: each writes only its own row
            self.assertTrue(wait_for(lambda: self.node()["heartbeat"] > now, 30))
            self.assertEqual(self.node("gone-node")["heartbeat"], now - 100)
        finally:
            self.f.sql("DELETE FROM nodes WHERE name = 'gone-node'")

    def test_events_carry_the_node(self):
        self.f.submit("apikey", self.key, "news@acme.test", ["ev@remote.test"])
        admin = self.f.admin_token()

        def received():
            st, _, v = self.f.api("GET", "/v1/events?tenant=acme&type=received", token=admin)
            self.assertEqual(st, 200, v)
            return [e for e in v["events"] if e.get("recipient") == "ev@remote.test"]
        self.assertTrue(wait_for(lambda: received(), 30))
        self.assertEqual([e.get("node") for e in received()], [NODE])
        nodes = {r[0] for r in self.f.sql("SELECT node FROM events")}
        self.assertEqual(nodes, {NODE})

    def test_db_status_and_migrate_sqlite(self):
        db = os.path.join(self.f.spool, "ferry.db")
        out = self.f.ctl("db", "status").stdout
        self.assertIn("backend: sqlite\n", out)
        self.assertIn("location: %s\n" % db, out)
        self.assertIn("brought up to date in place", out)
        nodes = int(re.search(r"^nodes: (\d+)", out, re.M).group(1))
        self.assertEqual(nodes, self.f.sql("SELECT count(*) FROM nodes")[0][0])
        self.assertGreaterEqual(nodes, 1)
        r = self.f.ctl("db", "migrate")
        self.assertIn("%s: SQLite state is brought up to date in place" % db, r.stdout)
        r = self.f.ctl("db", "frobnicate", check=False)
        self.assertEqual(r.returncode, 2, r.stderr)


class NoDatabaseTest(unittest.TestCase):
    """status commands never create a state database; migrate does."""

    def test_status_without_database(self):
        f = Ferryd()                       # never started: no ferry.db
        db = os.path.join(f.spool, "ferry.db")
        os.makedirs(f.spool)
        for cmd in (["cluster", "status"], ["db", "status"]):
            r = f.ctl(*cmd, check=False)
            self.assertEqual(r.returncode, 1, (cmd, r.stdout, r.stderr))
            self.assertIn("%s: No such file or directory" % db, r.stderr)
            self.assertFalse(os.path.exists(db), cmd)
        f.ctl("db", "migrate")
        self.assertTrue(os.path.exists(db))
        out = f.ctl("cluster", "status").stdout
        self.assertEqual(out.splitlines()[1:], [])    # the header only: no node ran yet


class PostgresLocationTest(unittest.TestCase):
    """A postgresql:// state_db nothing answers at: every command fails
    (exit 1) and none prints the password (shown as ***)."""

    def test_password_never_shown(self):
        port = free_port()
        f = Ferryd(extra="state_db postgresql://ferry:s3cret@127.0.0.1:%d/ferry"
                         "?sslmode=disable&password=other\n" % port)
        shown = "postgresql://ferry:***@127.0.0.1:%d/ferry?sslmode=disable&password=***" % port
        for cmd in (["db", "status"], ["db", "migrate"], ["cluster", "status"]):
            r = f.ctl(*cmd, check=False)
            self.assertEqual(r.returncode, 1, (cmd, r.stdout, r.stderr))
            self.assertNotIn("s3cret", r.stdout + r.stderr)
            self.assertNotIn("other", r.stdout + r.stderr)
            if cmd[0] == "db":
                self.assertIn(shown, r.stderr)


class PostgresNodesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = PgServer().start()

    @classmethod
    def tearDownClass(cls):
        cls.pg.close()

    def node(self, name):
        return Ferryd(extra="state_db %s\nnode_name %s\n" % (self.pg.conninfo, name))

    def states(self, f):
        """NAME -> STATE of `cluster status` through f's configuration."""
        lines = f.ctl("cluster", "status").stdout.splitlines()[1:]
        return {r.split("\t")[0]: r.split("\t")[1] for r in lines}

    def test_migrate_then_two_nodes(self):
        a, b = self.node("pg-a"), self.node("pg-b")
        out = a.ctl("db", "status").stdout
        self.assertIn("backend: postgresql\nlocation: %s\n" % self.pg.conninfo, out)
        m = re.search(r"^schema version: 0 \(this ferry's: (\d+);", out, re.M)
        self.assertIsNotNone(m, out)
        latest = int(m.group(1))
        self.assertGreater(latest, 0)
        self.assertEqual(a.ctl("db", "migrate").stdout, "schema version 0 -> %d\n" % latest)
        self.assertEqual(a.ctl("db", "migrate").stdout, "schema at version %d, nothing to do\n" % latest)
        self.assertEqual(self.pg.psql("SELECT convert_from(value, 'UTF8') FROM meta"
                                      " WHERE key = 'schema_version'").strip(), str(latest))
        out = b.ctl("db", "status").stdout
        self.assertIn("schema version: %d\nnodes: 0 " % latest, out)
        self.assertEqual(self.states(b), {})
        a.start()
        b.start()
        try:
            for f in (a, b):
                self.assertTrue(wait_for(lambda: self.states(f) == {"pg-a": "up", "pg-b": "up"}, 30),
                                self.states(f))
            self.assertIn("nodes: 2 ", a.ctl("db", "status").stdout)
            n = json.loads(a.ctl("cluster", "status", "--json").stdout)["nodes"]
            self.assertEqual([(x["name"], x["version"]) for x in n], [("pg-a", version()), ("pg-b", version())])
            self.assertIn("mx 127.0.0.1:%d" % b.mx, n[1]["listen"])
        finally:
            self.assertEqual(b.stop(), 0)
        # b stopped: its row stays; as if its last beat were 100 s ago
        self.pg.psql("UPDATE nodes SET heartbeat = heartbeat - 100 WHERE name = 'pg-b'")
        try:
            st = self.states(a)
            self.assertEqual(st["pg-a"], "up")
            self.assertRegex(st["pg-b"], r"^down \(last seen 1\d\d s ago\)$")
        finally:
            self.assertEqual(a.stop(), 0)


    def test_server_restart_logged_once_then_recovers(self):
        f = self.node("pg-restart").start()
        try:
            self.assertTrue(wait_for(lambda: self.states(f).get("pg-restart") == "up", 30))
            self.pg.stop(keep=True)
            try:
                self.assertTrue(wait_for(lambda: "event=node-heartbeat-failed name=pg-restart" in
                                         f.log_text(), 60), f.log_text()[-2000:])
                time.sleep(12)     # two more ticks without the server: no more lines
            finally:
                self.pg.start()
            self.assertTrue(wait_for(lambda: "event=node-heartbeat-recovered name=pg-restart" in
                                     f.log_text(), 60), f.log_text()[-2000:])
            self.assertEqual(f.log_text().count("event=node-heartbeat-failed"), 1)
            self.assertIsNone(f.proc.poll())
            self.assertEqual(self.states(f).get("pg-restart"), "up")
        finally:
            self.assertEqual(f.stop(), 0)


class HeartbeatOutageTest(unittest.TestCase):
    def test_locked_database_logged_once_then_recovers(self):
        f = Ferryd(extra="node_name lock-node\n")
        f.start()
        try:
            self.assertTrue(wait_for(lambda: f.sql("SELECT count(*) FROM nodes")[0][0] == 1, 30))
            con = sqlite3.connect(os.path.join(f.spool, "ferry.db"), timeout=10, isolation_level=None)
            con.execute("BEGIN EXCLUSIVE")
            try:
                # a beat waits out the busy timeout (5 s) and fails
                self.assertTrue(wait_for(lambda: "event=node-heartbeat-failed" in f.log_text(), 60))
                # long enough for the next beat to fail too: still one line
                time.sleep(12)
            finally:
                con.execute("ROLLBACK")
                con.close()
            self.assertTrue(wait_for(lambda: "event=node-heartbeat-recovered name=lock-node" in
                                     f.log_text(), 60), f.log_text()[-2000:])
            log = f.log_text()
            self.assertEqual(log.count("event=node-heartbeat-failed"), 1, log[-3000:])
            self.assertRegex(log, r"event=node-heartbeat-failed name=lock-node error=\"[^\"]+\"")
            self.assertEqual(f.proc.poll(), None)          # ferryd carried on
            hb = f.sql("SELECT heartbeat FROM nodes WHERE name = 'lock-node'")[0][0]
            self.assertGreaterEqual(hb, int(time.time()) - 15)
            # the name is fixed at start: a reload that changes it says so and keeps it
            with open(f.conf, "a") as c:
                c.write("node_name other-node\n")
            with open(f.conf) as c:
                text = c.read().replace("node_name lock-node\n", "")
            with open(f.conf, "w") as c:
                c.write(text)
            f.hup()
            self.assertTrue(wait_for(lambda: "event=reloaded" in f.log_text(), 30))
            self.assertRegex(f.log_text(),
                             r'event=reload-warning reason="node_name changes need a restart" .*name=lock-node')
            beat = f.sql("SELECT heartbeat FROM nodes WHERE name = 'lock-node'")[0][0]
            self.assertTrue(wait_for(lambda: f.sql("SELECT heartbeat FROM nodes WHERE name = 'lock-node'")
                                     [0][0] > beat, 30))
            self.assertEqual(f.sql("SELECT name FROM nodes"), [("lock-node",)])
        finally:
            self.assertEqual(f.stop(), 0)

    def test_bad_node_name_refused(self):
        f = Ferryd(extra="node_name bad/name\n")
        r = subprocess.run([FERRYD, "-c", f.conf, "-t"], capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("node_name", r.stderr)
        r = subprocess.run([FERRYCTL, "-c", f.conf, "cluster", "status"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1, r.stderr)


if __name__ == "__main__":
    ferrytest.main()
