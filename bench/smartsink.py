#!/usr/bin/python3
"""smartsink.py - an unreliable SMTP receiver, its load and its account.

For bench/smartsink.sh. Three commands:
  serve    an asyncio SMTP receiver (RFC 5321 subset: EHLO/HELO, MAIL, RCPT,
           DATA, RSET, NOOP, QUIT; PIPELINING works since commands are read
           and answered in order) that answers each DATA after a random delay
           and, for messages carrying an X-Bench-Id header, with 451 (a share
           TEMPFAIL), 550 (a share PERMFAIL) or 250. It appends one line per
           answered DATA to a record file: FATE BENCH-ID RELAY-ID SENDER.
  send     the load: COUNT numbered messages, each with its own X-Bench-Id and
           Message-ID, over SESSIONS parallel connections; for every message
           the relay took (250) it records BENCH-ID QUEUE-ID (from "queued as").
  account  joins what was sent, what the receiver took or refused, the
           relay's log and what is left in its queue: every sent message must
           be delivered, bounced or still queued, exactly once. The relay is
           ferryd (event=bounced id=QID, files SPOOL/queue/QID) or Postfix
           (QID: to=<...>, ... status=bounced; files QID in its queue
           directories).
Loopback only; stdlib only. Trusts its own peers no further than a benchmark
needs: lines are length-bounded, DATA is size-bounded, idle sessions time out.
"""
import argparse
import asyncio
import os
import random
import re
import signal
import smtplib
import sys
import threading
import time

LINE_MAX = 4096
DATA_MAX = 20 * 1024 * 1024
IDLE_TIMEOUT = 300


# ---------------------------------------------------------------- serve
class Receiver:
    """The SMTP side; one instance shared by every session."""

    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.record = open(args.record, "a", buffering=1)

    def fate(self, bench_id):
        """451, 550 or 250 for a numbered message; others are always taken."""
        if bench_id == "-":
            return "other", "250 2.0.0 Ok: other"
        r = self.rng.random()
        if r < self.args.tempfail:
            return "tempfail", "451 4.3.0 smartsink: try again later"
        if r < self.args.tempfail + self.args.permfail:
            return "permfail", "550 5.7.1 smartsink: refused"
        return "accepted", "250 2.0.0 Ok: " + bench_id

    async def read_data(self, reader):
        """The message up to the lone dot, unstuffed; None if too big or cut."""
        lines, size = [], 0
        while True:
            line = await asyncio.wait_for(reader.readline(), IDLE_TIMEOUT)
            if not line:
                return None
            if line in (b".\r\n", b".\n"):
                return b"".join(lines) if size <= DATA_MAX else None
            size += len(line)
            if size <= DATA_MAX:
                lines.append(line[1:] if line.startswith(b".") else line)

    @staticmethod
    def header_ids(msg):
        """X-Bench-Id and the relay's queue id (top Received: '... id QID'),
        from the top-level header only (a DSN quotes the original below)."""
        head = msg.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0].decode("latin-1")
        bid = re.search(r"(?im)^X-Bench-Id:\s*(\S+)", head)
        rid = re.search(r"(?i)\bid\s+([0-9A-F]{8,})\b", head)
        return (bid.group(1) if bid else "-"), (rid.group(1) if rid else "-")

    async def session(self, reader, writer):
        sender, rcpts = None, 0

        async def reply(text):
            writer.write(text.encode() + b"\r\n")
            await writer.drain()

        try:
            await reply("220 smartsink.bench.test ESMTP")
            while True:
                line = await asyncio.wait_for(reader.readline(), IDLE_TIMEOUT)
                if not line:
                    break
                if len(line) > LINE_MAX:
                    await reply("500 5.5.2 line too long")
                    break
                verb = line.split(b" ", 1)[0].strip().upper()
                if verb == b"EHLO":
                    await reply("250-smartsink.bench.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 20971520")
                elif verb == b"HELO":
                    await reply("250 smartsink.bench.test")
                elif verb == b"MAIL":
                    m = re.match(rb"(?i)MAIL FROM:\s*<([^>]*)>", line)
                    sender, rcpts = (m.group(1).decode("latin-1") if m else "?"), 0
                    await reply("250 2.1.0 Ok")
                elif verb == b"RCPT":
                    if sender is None:
                        await reply("503 5.5.1 MAIL first")
                    else:
                        rcpts += 1
                        await reply("250 2.1.5 Ok")
                elif verb == b"DATA":
                    if sender is None or rcpts == 0:
                        await reply("503 5.5.1 RCPT first")
                        continue
                    await reply("354 End data with <CR><LF>.<CR><LF>")
                    msg = await self.read_data(reader)
                    if msg is None:
                        break
                    bid, rid = self.header_ids(msg)
                    fate, text = self.fate(bid)
                    await asyncio.sleep(self.rng.uniform(self.args.delay_min, self.args.delay_max))
                    await reply(text)
                    # recorded once the answer is on its way: a 250 written
                    # here is a message this receiver has taken
                    self.record.write(f"{fate} {bid} {rid} <{sender}>\n")
                    sender, rcpts = None, 0
                elif verb == b"RSET":
                    sender, rcpts = None, 0
                    await reply("250 2.0.0 Ok")
                elif verb == b"NOOP":
                    await reply("250 2.0.0 Ok")
                elif verb == b"QUIT":
                    await reply("221 2.0.0 Bye")
                    break
                else:
                    await reply("502 5.5.2 command not implemented")
        except (asyncio.TimeoutError, ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()


async def serve_main(args):
    host, port = args.listen.rsplit(":", 1)
    receiver = Receiver(args)
    server = await asyncio.start_server(receiver.session, host, int(port), limit=LINE_MAX * 2,
                                        backlog=1000)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    receiver.record.close()


def serve(args):
    asyncio.run(serve_main(args))


# ---------------------------------------------------------------- send
def message(bid, args):
    head = (f"From: <{args.sender}>\r\nTo: <{args.rcpt}>\r\nSubject: smartsink {bid}\r\n"
            f"Message-ID: <{bid}@smartsink.bench.test>\r\nX-Bench-Id: {bid}\r\n\r\n")
    line = "x" * 76 + "\r\n"
    body = line * max(1, (args.size - len(head)) // len(line))
    return (head + body).encode()


def send(args):
    """COUNT messages over SESSIONS connections; prints failures, exits 1 on any."""
    host, port = args.to.rsplit(":", 1)
    next_id = iter(range(1, args.count + 1))
    lock = threading.Lock()
    out = open(args.sent, "w", buffering=1)
    failures = []
    deadline = time.monotonic() + args.timeout

    def worker():
        conn = None
        while time.monotonic() < deadline:
            with lock:
                n = next(next_id, None)
            if n is None:
                break
            bid = f"b{n:07d}"
            try:
                if conn is None:
                    conn = smtplib.SMTP(host, int(port), timeout=60)
                    conn.ehlo("load.bench.test")
                code, text = conn.mail(args.sender)
                if code == 250:
                    code, text = conn.rcpt(args.rcpt)
                if code == 250:
                    code, text = conn.data(message(bid, args))
                if code != 250:
                    conn.rset()
                    with lock:
                        failures.append(f"{bid} {code} {text.decode(errors='replace')}")
                    continue
                qid = re.search(rb"queued as (\S+)", text)
                with lock:
                    out.write(f"{bid} {qid.group(1).decode() if qid else '-'}\n")
            except (smtplib.SMTPException, OSError) as e:
                with lock:
                    failures.append(f"{bid} {e}")
                conn = None
        if conn is not None:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                pass

    threads = [threading.Thread(target=worker) for _ in range(args.sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.close()
    for f in failures[:20]:
        print("send: not accepted: " + f, file=sys.stderr)
    if failures or next(next_id, None) is not None:
        print(f"send: {len(failures)} message(s) refused or failed; time limit "
              f"{'hit' if time.monotonic() >= deadline else 'not hit'}", file=sys.stderr)
        sys.exit(1)


# ---------------------------------------------------------------- account
LOG_PATTERNS = {
    # event=delivered|bounced|deferred id=QID
    "ferryd": (re.compile(r"event=(delivered|bounced|deferred) id=(\S+)"), 1, 2),
    # postfix/smtp[PID]: QID: to=<RCPT>, relay=..., status=sent|bounced|deferred (...)
    "postfix": (re.compile(r": ([0-9A-Za-z]+): to=<[^>]*>,.* status=(sent|bounced|deferred) "), 2, 1),
}
EVENT_NAMES = {"sent": "delivered"}


def log_events(relay, path):
    """(event, queue id) for each delivery outcome the relay logged."""
    pat, ev, qid = LOG_PATTERNS[relay]
    for line in open(path, errors="replace"):
        m = pat.search(line)
        if m:
            yield EVENT_NAMES.get(m.group(ev), m.group(ev)), m.group(qid)


def account(args):
    sent = {}
    for line in open(args.sent):
        bid, qid = line.split()
        if bid in sent:
            print(f"account: {bid} sent twice", file=sys.stderr)
        sent[bid] = qid
    by_qid = {q: b for b, q in sent.items()}

    taken, fates, others, unknown = {}, {"accepted": 0, "tempfail": 0, "permfail": 0}, 0, 0
    refused = set()
    for line in open(args.record):
        fate, bid, _rid, _sender = line.split(" ", 3)
        if fate == "other":
            others += 1
            continue
        fates[fate] += 1
        if bid not in sent:
            unknown += 1
        elif fate == "accepted":
            taken[bid] = taken.get(bid, 0) + 1
        elif fate == "permfail":
            refused.add(bid)

    logged = {"delivered": {}, "bounced": {}, "deferred": {}}
    for event, qid in log_events(args.relay, args.log):
        if qid in by_qid:
            d = logged[event]
            d[qid] = d.get(qid, 0) + 1
    queued_files = set()
    for top in args.queue:
        for _dir, _subdirs, files in os.walk(top):
            queued_files.update(files)

    delivered = bounced = queued = 0
    missing, doubled = [], []
    for bid, qid in sent.items():
        where = []
        if taken.get(bid):
            where.append("delivered" + (f" x{taken[bid]}" if taken[bid] > 1 else ""))
        if qid in logged["bounced"]:
            where.append("bounced")
        if qid in queued_files:
            where.append("queued")
        if not where:
            missing.append(f"{bid} (queue id {qid})")
        elif len(where) > 1 or taken.get(bid, 0) > 1:
            doubled.append(f"{bid} (queue id {qid}): {', '.join(where)}")
        delivered += bool(taken.get(bid))
        bounced += qid in logged["bounced"]
        queued += qid in queued_files

    print(f"receiver: {fates['accepted']} taken, {fates['tempfail']} answered 451, "
          f"{fates['permfail']} answered 550, {others} other messages (DSNs) taken, "
          f"{unknown} numbered messages that were never sent")
    print(f"{args.relay}'s log: {len(logged['delivered'])} delivered, "
          f"{len(logged['bounced'])} bounced, {sum(logged['deferred'].values())} deferrals "
          f"(of sent messages); bounced without a 550 seen: "
          f"{len([q for q in logged['bounced'] if by_qid[q] not in refused])}")
    for m in missing[:20]:
        print("missing: " + m)
    for d in doubled[:20]:
        print("doubled: " + d)
    print(f"account: delivered {delivered} + bounced {bounced} + still queued {queued} = "
          f"{delivered + bounced + queued} of {len(sent)} sent")
    print(f"sent: {len(sent)}, delivered: {delivered}, bounced: {bounced}, still queued: {queued}, "
          f"missing: {len(missing)}, doubled: {len(doubled)}")
    return 0 if not missing and not doubled and not unknown else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--listen", required=True, help="HOST:PORT (loopback)")
    s.add_argument("--record", required=True)
    s.add_argument("--tempfail", type=float, default=0.05)
    s.add_argument("--permfail", type=float, default=0.02)
    s.add_argument("--delay-min", type=float, default=0.05)
    s.add_argument("--delay-max", type=float, default=0.5)
    s.add_argument("--seed", type=int, default=None)
    g = sub.add_parser("send")
    g.add_argument("--to", required=True, help="HOST:PORT of the relay")
    g.add_argument("--count", type=int, required=True)
    g.add_argument("--sessions", type=int, default=20)
    g.add_argument("--size", type=int, default=2048)
    g.add_argument("--sender", default="a@src.test")
    g.add_argument("--rcpt", default="b@smart.test")
    g.add_argument("--sent", required=True)
    g.add_argument("--timeout", type=float, default=600)
    a = sub.add_parser("account")
    a.add_argument("--sent", required=True)
    a.add_argument("--record", required=True)
    a.add_argument("--relay", choices=sorted(LOG_PATTERNS), default="ferryd")
    a.add_argument("--log", required=True, help="the relay's log file")
    a.add_argument("--queue", required=True, action="append",
                   help="a directory of the relay's queue (its files are named by queue id); repeatable")
    args = ap.parse_args()
    if args.cmd == "serve":
        serve(args)
    elif args.cmd == "send":
        send(args)
    else:
        sys.exit(account(args))


if __name__ == "__main__":
    main()
