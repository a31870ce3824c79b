"""sinks - an asyncio SMTP receiver for tests of the delivery engine.

One event loop in a background thread serves any number of sessions on an
IPv4 or IPv6 loopback address, so a test can hold hundreds of connections
open (a DATA that is never answered), count the sessions open at once and
the most ever open, record the order in which messages arrive, and script
replies per command (a throttle reply to the first N MAIL FROMs). It
trusts nothing the client sends beyond the line limit; it is a test peer,
not a mail server: no TLS, no AUTH, no pipelining checks.
"""
import asyncio
import threading
import time

LINE_MAX = 65536


class Sink:
    """An SMTP receiver on host:port (port 0: a free one). Thread-safe
    counters: connections (sessions ever), active (open now), max_active,
    parked (sessions waiting at DATA on the gate), messages (dicts: seq,
    sender, rcpts, peer, helo, data, in arrival order)."""

    def __init__(self, host="127.0.0.1", port=0, name="sink.test", dot_delay=0.0):
        self.host = host
        self.name = name
        self.dot_delay = dot_delay      # seconds before answering the final dot
        self.lock = threading.Lock()
        self.script = {}                # stage -> reply or callable(arg) -> reply
        self.messages = []
        self.connections = 0
        self.active = 0
        self.max_active = 0
        self.parked = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.writers = set()
        self.gate = None                # asyncio.Event made in the loop; set = open
        self._call(self._gate_make)
        self.server = self._run(asyncio.start_server(self._session, host, port, backlog=1024,
                                                     limit=LINE_MAX))
        self.port = self.server.sockets[0].getsockname()[1]

    # ---- control from the test's thread ----------------------------------

    def _run(self, coro, timeout=30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def _call(self, fn, *args):
        async def call():
            return fn(*args)
        return self._run(call())

    def _gate_make(self):
        self.gate = asyncio.Event()
        self.gate.set()

    def hold_data(self):
        """From now on every DATA waits (no reply at all) until release()."""
        self._call(self.gate.clear)

    def release(self):
        self._call(self.gate.set)

    def set(self, stage, reply):
        """stage: greeting, ehlo, mail, rcpt, data, dot. reply: a reply line,
        a callable(arg) returning one (or None for the default); a reply
        starting 421 closes the session after it is sent, as servers do."""
        with self.lock:
            self.script[stage] = reply

    def clear(self):
        with self.lock:
            self.script = {}

    def reset_max(self):
        """Start counting max_active again from the sessions open now."""
        with self.lock:
            self.max_active = self.active

    def count(self, pred=None):
        with self.lock:
            return sum(1 for m in self.messages if pred is None or pred(m))

    def snapshot(self):
        with self.lock:
            return list(self.messages)

    def wait(self, n, timeout=60, pred=None):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.count(pred) >= n:
                return True
            time.sleep(0.05)
        return False

    def stop(self):
        """Close the listener and every open session (a held DATA included)."""
        async def close():
            self.server.close()
            for w in list(self.writers):
                w.close()
            self.gate.set()
            for _ in range(200):        # let the sessions end before the loop stops
                if self.active == 0:
                    break
                await asyncio.sleep(0.01)
        try:
            self._run(close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)

    # ---- the session, in the loop's thread ---------------------------------

    def _reply(self, stage, arg, default):
        with self.lock:
            r = self.script.get(stage)
        if callable(r):
            r = r(arg)
        return default if r is None else r

    async def _session(self, reader, writer):
        peer = writer.get_extra_info("peername")[0]
        with self.lock:
            self.connections += 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        self.writers.add(writer)
        try:
            await self._dialogue(reader, writer, peer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            self.writers.discard(writer)
            with self.lock:
                self.active -= 1
            writer.close()

    async def _send(self, writer, line):
        writer.write((line + "\r\n").encode())
        await writer.drain()
        return not line.startswith("421")

    async def _dialogue(self, reader, writer, peer):
        if not await self._send(writer, self._reply("greeting", None, "220 %s ESMTP sink" % self.name)):
            return
        tx, helo = None, None
        while True:
            line = await reader.readline()
            if not line:
                return
            cmd = line.rstrip(b"\r\n").decode("utf-8", "replace")
            verb = cmd[:4].upper()
            if verb in ("EHLO", "LHLO"):
                helo = cmd[5:]
                r = self._reply("ehlo", cmd, "250-%s\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                                "250-ENHANCEDSTATUSCODES\r\n250 SIZE 10000000" % self.name)
            elif verb == "HELO":
                helo, r = cmd[5:], "250 %s" % self.name
            elif verb == "MAIL":
                r = self._reply("mail", cmd, "250 2.1.0 ok")
                if r.startswith("2"):
                    tx = {"sender": cmd[10:].split(">")[0].lstrip("<"), "rcpts": [], "peer": peer,
                          "helo": helo}
            elif verb == "RCPT":
                r = self._reply("rcpt", cmd, "250 2.1.5 ok")
                if r.startswith("2") and tx is not None:
                    tx["rcpts"].append(cmd[8:].split(">")[0].lstrip("<"))
            elif verb == "DATA":
                if not await self._data(reader, writer, tx):
                    return
                tx = None
                continue
            elif verb == "RSET":
                tx, r = None, "250 2.0.0 ok"
            elif verb == "NOOP":
                r = "250 2.0.0 ok"
            elif verb == "QUIT":
                await self._send(writer, "221 2.0.0 bye")
                return
            else:
                r = "502 5.5.2 unknown"
            if not await self._send(writer, r):
                return

    async def _data(self, reader, writer, tx):
        """DATA to the final dot; False when the session is over."""
        if not self.gate.is_set():
            with self.lock:
                self.parked += 1
            try:
                await self.gate.wait()
            finally:
                with self.lock:
                    self.parked -= 1
        if tx is None or not tx["rcpts"]:
            return await self._send(writer, "554 5.5.1 no valid recipients")
        r = self._reply("data", tx, "354 go ahead")
        ok = await self._send(writer, r)
        if not r.startswith("354"):
            return ok
        data = b""
        while True:
            line = await reader.readline()
            if not line:
                return False
            if line == b".\r\n":
                break
            data += line[1:] if line.startswith(b".") else line
        tx["data"] = data
        if self.dot_delay:
            await asyncio.sleep(self.dot_delay)
        r = self._reply("dot", tx, "250 2.0.0 queued")
        if r.startswith("2"):
            with self.lock:
                tx["seq"] = len(self.messages)
                self.messages.append(tx)
        return await self._send(writer, r)
