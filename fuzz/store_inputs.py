#!/usr/bin/env python3
"""Writes inputs of fuzz/store_fuzz.cpp and fuzz/peer_store_fuzz.cpp that mean chosen message
sequences: the seeds in fuzz/corpus/store and fuzz/corpus/peer_store, and the reproducers of
what store_fuzz found (issue 14).

    python3 fuzz/store_inputs.py                 # rewrites fuzz/corpus/store and fuzz/corpus/peer_store
    python3 fuzz/store_inputs.py --repro DIR     # writes store_fuzz's reproducers into DIR

It inverts FuzzedDataProvider (clang 16's fuzzer/FuzzedDataProvider.h) for the choices that
the Gen of fuzz/hostile_messages.cpp and the steps of the two targets make: strings come from
the front of an input, integers from its back (the last byte first). The methods here mirror
those case by case, so a change of the choices there (an entry added to a dictionary, a case
moved) must be made here too; inputs written before still run, they only mean something else.
Both targets read the message steps the same way; peer_store_fuzz has steps of its own after
them (PeerScript)."""
import os
import sys

KSELF, KPEER = "fuzz-self", "peer-a"
HOSTILE = [
    "garbage", "", "tcp://", "tcp://127.0.0.1:99999", "tcp://127.0.0.1:0", "ipc:///tmp/x",
    "inproc://zeromq.zap.01", "tcp://a;b:1", "tcp://127.0.0.1:6000;127.0.0.2:1",
    "udp://127.0.0.1:1", "tcp://[::1]:1", "tcp://localhost:1", "tcp://*:1",
    "tcp://127.0.0.1:-1", "tcp://127.0.0.1", "tcp://:1", "tcp://0.0.0.0:1",
    "tcp://127.0.0.1:1:2", "tcp://example.invalid:1", "tcp://%:1", "tcp://127.0.0.1:65535",
    "127.0.0.1:6666", "inproc://", "inproc://fuzz-io-store-1", "ws://127.0.0.1:1",
    "pgm://lo;239.192.1.1:5555", "epgm://127.0.0.1;239.192.1.1:5555", "norm://127.0.0.1:1",
    "tipc://{5560,0,0}", "vmci://1:1", "tcp://127.0.0.1:1;", "tcp://;127.0.0.1:1",
    "tcp://[::1", "tcp://[:::1]:1", "tcp://1.2.3.4.5:1", "TCP://127.0.0.1:1"]
NAMES = [KSELF, KPEER, "node-b", "node-c", "", "a\0b", "a/b", "../x", "with space", "n" * 300,
         "n" * 64, "\xff\xfe"]
SERVICES = ["echoes", "db", "web", "a", "", "a/0", "x\0y", "s" * 300, "..", "-bad", "with space", "a/b/c"]
STEPS = ["ping", "deploy", "status", "control", "members", "probe", "indirect_probe", "join", "sync",
         "sync_push", "join_command", "leave_command", "history", "rollback", "promote", "rebalance",
         "write_copy", "peer_reply", "gossip"]
MEMBER_STATES = ["alive", "suspect", "failed", "left"]
INSTANCE_STATES = ["pending", "starting", "running", "exited", "restarting", "failed", "stopped"]
ACTIONS = ["stop", "start", "restart", "remove", "force_remove"]


class Input:
    def __init__(self):
        self.front = bytearray()
        self.back = bytearray()  # in the order consumed

    def bytes(self):
        return bytes(self.front) + bytes(reversed(self.back))

    def range(self, low, high, value):
        span, offset = high - low, value - low
        assert 0 <= offset <= span, (low, high, value)
        n = 0
        while n < 8 and (span >> (8 * n)) > 0:
            n += 1
        self.back += offset.to_bytes(n, "big") if n else b""

    def integral(self, bits, value, signed=False):
        low = -(1 << (bits - 1)) if signed else 0
        self.back += (value - low).to_bytes(bits // 8, "big")

    def coin(self, value):
        self.back.append(1 if value else 0)

    def raw(self, text, maximum):
        data = text.encode("latin-1") if isinstance(text, str) else bytes(text)
        assert len(data) <= maximum
        for b in data:
            self.front += b"\\\\" if b == 0x5C else bytes([b])
        if len(data) < maximum:
            self.front += b"\\x"  # a backslash and another byte end the string


class Gen:
    """Each method takes the value wanted and makes the choices that give it."""

    def __init__(self):
        self.i = Input()

    def u64(self, v):
        special = {0: 0, 1: 1, 2: 2, 1 << 32: 3, 1 << 48: 4, (1 << 48) - 1: 5, 1 << 63: 6,
                   (1 << 64) - 1: 7, (1 << 64) - 2: 8}
        if v == "now":
            self.i.range(0, 12, 9)
        elif v in special:
            self.i.range(0, 12, special[v])
        else:
            self.i.range(0, 12, 11)
            self.i.integral(64, v)

    def u32(self, v):
        special = {0: 0, 1: 1, 2: 2, 100: 3, 101: 4, 0xFFFFFFFF: 5, 0xFFFFFFFE: 6}
        if v in special:
            self.i.range(0, 8, special[v])
        else:
            self.i.range(0, 8, 7)
            self.i.integral(32, v)

    def i64(self, v):
        special = {0: 0, -1: 1, -(1 << 63): 2, (1 << 63) - 1: 3}
        if v in special:
            self.i.range(0, 5, special[v])
        else:
            self.i.range(0, 5, 4)
            self.i.integral(64, v, signed=True)

    def i32(self, v):
        special = {0: 0, -1: 1, -(1 << 31): 2, (1 << 31) - 1: 3}
        if v in special:
            self.i.range(0, 5, special[v])
        else:
            self.i.range(0, 5, 4)
            self.i.integral(32, v, signed=True)

    # "now", "now+5min+1s", "now-5min-1s", "now+2^63", "now+10min", "now-10min", 0, 1, "max", or a number
    def wall(self, v):
        named = {0: 0, 1: 1, "now": 2, "now+5min+1s": 3, "now-5min-1s": 4, "now+2^63": 5, "max": 6,
                 "now+10min": 7, "now-10min": 8}
        if v in named:
            self.i.range(0, 9, named[v])
        else:
            self.i.range(0, 9, 9)
            self.i.integral(64, v)

    def real(self, v):
        self.i.range(0, 8, {0.0: 0, 1.0: 1, -1.0: 2, "nan": 3, "inf": 4, "-inf": 5, "max": 6, "denorm": 7}[v])

    # "now", "now+4min", "now+6min", "past", "now+5min|ffff", 0, 1, "max", or a number
    def hlc(self, v):
        named = {0: 0, 1: 1, "max": 2, "now+4min": 4, "now+6min": 5, "past": 6, "now+5min|ffff": 7, "now": 8}
        if v in named:
            self.i.range(0, 10, named[v])
        else:
            self.i.range(0, 10, 9)
            self.i.integral(64, v)

    def name(self, v):
        if v in NAMES:
            self.i.range(0, 15, NAMES.index(v))
        elif v == KSELF + "\n":
            self.i.range(0, 15, 13)
        elif v.startswith("node-") and len(v) == 6 and v[5].isdigit():
            self.i.range(0, 15, 12)
            self.i.range(0, 9, int(v[5]))
        else:
            self.i.range(0, 15, 14)
            self.i.raw(v, 40)

    def service(self, v):
        if v in SERVICES:
            self.i.range(0, 13, SERVICES.index(v))
        else:
            self.i.range(0, 13, 12)
            self.i.raw(v, 40)

    # ("hostile", text) | "self" | "peer" | "peer_pub" | "pub" | ("port", host_last_octet, port)
    # | ("long", n) | ("raw", text)
    def address(self, v):
        if v in ("self", "peer", "peer_pub", "pub"):
            self.i.range(0, 9, {"self": 2, "peer": 3, "peer_pub": 4, "pub": 5}[v])
        elif v[0] == "hostile":
            self.i.range(0, 9, 0)
            self.i.range(0, len(HOSTILE) - 1, HOSTILE.index(v[1]))
        elif v[0] == "port":
            self.i.range(0, 9, 6)
            self.i.range(1, 3, v[1])
            self.i.integral(16, v[2])
        elif v[0] == "long":
            self.i.range(0, 9, 7)
            self.i.range(200, 5000, v[1])
        else:
            self.i.range(0, 9, 8)
            self.i.raw(v[1], 64)

    def seed(self, v):
        fixed = {"127.0.0.1:6666": 0, "[::1]:6670": 1, ":": 2, "peer": 3, "self": 4}
        if isinstance(v, str) and v in fixed:
            self.i.range(0, 8, fixed[v])
        elif isinstance(v, tuple) and v[0] == "localhost":
            self.i.range(0, 8, 5)
            self.i.integral(16, v[1])
        else:
            self.i.range(0, 8, 6)
            self.address(v)

    def providers(self, v):
        fixed = [["bash"], [], ["docker"], ["bash", "bash"], ["", "p" * 300]]
        if v in fixed:
            self.i.range(0, 5, fixed.index(v))
        else:
            self.i.range(0, 5, 5)
            self.i.raw(v[0], 16)
            self.i.raw(v[1], 16)

    def tags(self, v):
        fixed = [{}, {"zone": "a"}, {"": "", "zone": "z" * 300}]
        if v in fixed:
            self.i.range(0, 3, fixed.index(v))
        else:
            (key, value), = v.items()
            self.i.range(0, 3, 3)
            self.i.raw(key, 16)
            self.i.raw(value, 16)

    # kind: "plain" | ("instances", n) | ("depends", a, b) | ("zone", "a"|"b") | "docker"
    # | ("renamed", service) | "restart" | "" | "{" | "null" | "[]" | "name-only" | ("raw", text)
    def spec_json(self, kind):
        if kind == "plain":
            self.i.range(0, 11, 0)
        elif kind in ("", "{"):
            self.i.range(0, 11, 7 if kind == "" else 8)
        elif kind in ("null", "[]"):
            self.i.range(0, 11, 9)
            self.i.coin(kind == "null")
        elif kind == "docker":
            self.i.range(0, 11, 4)
        elif kind == "restart":
            self.i.range(0, 11, 6)
        elif kind == "name-only":
            self.i.range(0, 11, 10)
        elif kind[0] == "instances":
            self.i.range(0, 11, 1)
            counts = [0, 1, 2, 3, 100, 101, 1000, 0xFFFFFFFF, 9999, 10000]
            self.i.range(0, len(counts) - 1, counts.index(kind[1]))
        elif kind[0] == "depends":
            self.i.range(0, 11, 2)
            self.service(kind[1])
            self.service(kind[2])
        elif kind[0] == "zone":
            self.i.range(0, 11, 3)
            self.i.coin(kind[1] == "a")
        elif kind[0] == "renamed":
            self.i.range(0, 11, 5)
            self.service(kind[1])
        else:
            self.i.range(0, 11, 11)
            self.i.raw(kind[1], 200)

    def small_or_u64(self, v):
        if isinstance(v, int) and 0 <= v <= 3:
            self.i.coin(True)
            self.i.range(0, 3, v)
        else:
            self.i.coin(False)
            self.u64(v)

    def small_or_u32(self, v):
        if 0 <= v <= 3:
            self.i.coin(True)
            self.i.range(0, 3, v)
        else:
            self.i.coin(False)
            self.u32(v)

    def stamp(self, hlc="now", origin=KPEER):
        self.hlc(hlc)
        self.name(origin)

    def member(self, name=KPEER, address="peer", pub_address="peer_pub", state="alive",
               providers=("bash",), tags=None, incarnation=0, load=0.0, version=True, problem=""):
        self.name(name)
        if address == "peer":
            self.i.coin(True)
        else:
            self.i.coin(False)
            self.address(address)
        if pub_address == "peer_pub":
            self.i.coin(True)
        else:
            self.i.coin(False)
            self.address(pub_address)
        self.i.range(0, 3, MEMBER_STATES.index(state))
        self.providers(list(providers))
        self.tags(tags or {})
        self.small_or_u64(incarnation)
        self.real(load)
        if version is True:
            self.i.coin(True)
        else:
            self.i.coin(False)
            self.i.raw(version, 16)
        if problem == "":
            self.i.range(0, 3, 0)
        elif problem == "clock":
            self.i.range(0, 3, 2)
        else:
            self.i.range(0, 3, 3)
            self.i.raw(problem, 40)

    def member_entry(self, heartbeat="now", reported_by=KPEER, **member):
        self.member(**member)
        self.hlc(heartbeat)
        self.name(reported_by)

    def service_entry(self, name="echoes", spec="plain", spec_name=None, generation=1, enabled=True,
                      restart_generation=0, removed=False, hlc="now", origin=KPEER):
        self.service(name)
        if spec_name is None:
            self.i.coin(True)
        else:
            self.i.coin(False)
            self.service(spec_name)
        self.spec_json(spec)
        self.small_or_u64(generation)
        self.i.coin(enabled)
        self.small_or_u64(restart_generation)
        self.i.range(0, 3, 0 if removed else 1)
        self.stamp(hlc, origin)

    def assignment_entry(self, service="echoes", index=0, node=KPEER, removed=False, hlc="now", origin=KPEER):
        self.service(service)
        self.small_or_u32(index)
        self.name(node)
        self.i.range(0, 3, 0 if removed else 1)
        self.stamp(hlc, origin)

    def instance_entry(self, service="echoes", index=0, node=KPEER, state="running", restarts=0, pid=0,
                       since_ms=0, exit_code=-1, signal=0, reason="", spec_version=1, removed=False,
                       hlc="now", origin=KPEER):
        self.service(service)
        self.small_or_u32(index)
        self.name(node)
        self.i.range(0, 6, INSTANCE_STATES.index(state))
        self.u32(restarts)
        self.i64(pid)
        self.i64(since_ms)
        self.i32(exit_code)
        self.i32(signal)
        if reason == "":
            self.i.coin(True)
        else:
            self.i.coin(False)
            self.i.raw(reason, 64)
        self.u64(spec_version)
        self.i.range(0, 3, 0 if removed else 1)
        self.stamp(hlc, origin)

    # each of members/services/assignments/instances: a list of dicts of keyword arguments
    def delta(self, members=(), services=(), assignments=(), instances=()):
        for entries, write in ((members, self.member_entry), (services, self.service_entry),
                               (assignments, self.assignment_entry), (instances, self.instance_entry)):
            assert len(entries) <= 4
            self.i.range(0, 4, len(entries))
            for entry in entries:
                write(**entry)

    # ("m", name) | ("s", service) | ("a", service, index) | ("i", service, index, node) | "" | "m/" | ("raw", text)
    def record_key(self, v):
        if v == "":
            self.i.range(0, 7, 4)
        elif v == "m/":
            self.i.range(0, 7, 5)
        elif v[0] == "m":
            self.i.range(0, 7, 0)
            self.name(v[1])
        elif v[0] == "s":
            self.i.range(0, 7, 1)
            self.service(v[1])
        elif v[0] == "a":
            self.i.range(0, 7, 2)
            self.service(v[1])
            self.u32(v[2])
        elif v[0] == "i":
            self.i.range(0, 7, 3)
            self.service(v[1])
            self.u32(v[2])
            self.name(v[3])
        else:
            self.i.range(0, 7, 6)
            self.i.raw(v[1], 40)


class Script:
    """A whole input, one method per step: Script().deploy("db").status("db").bytes()"""

    def __init__(self):
        self.g = Gen()
        self.steps = 0

    def bytes(self):
        assert 1 <= self.steps <= 16, self.steps
        # The number of steps is the first integer the target reads: the input's last byte.
        return self.g.i.bytes() + bytes([self.steps - 1])

    def _step(self, kind):
        self.steps += 1
        self.g.i.range(0, 255, 255 if kind == "restart" else STEPS.index(kind))

    def _request(self, route="r", sender=None):
        self.g.i.raw(route, 6)
        self.g.i.coin(True)  # a fresh request id
        if sender is None:
            self.g.i.coin(False)
        else:
            self.g.i.coin(True)
            self.g.name(sender)
        return self

    def ping(self):
        self._step("ping")
        return self._request()

    def deploy(self, service="echoes", spec="plain"):
        self._step("deploy")
        self.g.service(service)
        self.g.spec_json(spec)
        return self._request()

    def status(self, service=""):
        self._step("status")
        if service == "":
            self.g.i.coin(True)
        else:
            self.g.i.coin(False)
            self.g.service(service)
        return self._request()

    def control(self, service="echoes", action="stop"):
        self._step("control")
        self.g.service(service)
        self.g.i.range(0, len(ACTIONS) - 1, ACTIONS.index(action))
        return self._request()

    def members(self):
        self._step("members")
        return self._request()

    def probe(self, seq=1, sender=KPEER, target=KSELF, suspected_at=0, wall="now"):
        self._step("probe")
        self.g.u64(seq)
        self.g.name(sender)
        if target == KSELF:
            self.g.i.coin(True)
        else:
            self.g.i.coin(False)
            self.g.name(target)
        self.g.u64(suspected_at)
        self.g.wall(wall)
        return self._request()

    def indirect_probe(self, seq=1, sender=KPEER, target="node-b", address=("hostile", "garbage")):
        self._step("indirect_probe")
        self.g.u64(seq)
        self.g.name(sender)
        self.g.name(target)
        self.g.address(address)
        return self._request()

    def join(self, **entry):
        self._step("join")
        self.g.member_entry(**entry)
        return self._request()

    def sync(self, sender=KPEER, summary=0, digest=()):
        self._step("sync")
        self.g.name(sender)
        self.g.u64(summary)
        self.g.i.range(0, 6, len(digest))
        for key, major, minor, tiebreak in digest:
            self.g.record_key(key)
            self.g.u64(major)
            self.g.u64(minor)
            self.g.name(tiebreak)
        return self._request()

    def sync_push(self, **delta):
        self._step("sync_push")
        self.g.delta(**delta)
        return self._request()

    # A peer's WriteCopy: its delta, whether it is cut to service records, a small id, the writer.
    def write_copy(self, copy_id=1, sender=KPEER, services_only=True, **delta):
        self._step("write_copy")
        g = self.g
        g.delta(**delta)
        g.i.coin(services_only)
        g.i.coin(True)
        g.i.range(0, 4, copy_id)
        g.name(sender)
        return self._request()

    def join_command(self, *seeds):
        self._step("join_command")
        self.g.i.range(0, 3, len(seeds))
        for seed in seeds:
            self.g.seed(seed)
        return self._request()

    def leave_command(self):
        self._step("leave_command")
        return self._request()

    # kind: ("ack", seq|None, sender, incarnation, wall) | ("join_reply", delta) | ("sync_reply", keys, delta)
    # | ("sync_push", delta) | ("error", code, text) | ("raw", bytes) | ("ping_reply", ...)
    def peer_reply(self, kind, *args):
        self._step("peer_reply")
        g = self.g
        if kind == "ack":
            g.i.range(0, 6, 0)
            seq, sender, incarnation, wall = args
            if seq is None:
                g.i.coin(True)
            else:
                g.i.coin(False)
                g.u64(seq)
            g.name(sender)
            g.u64(incarnation)
            g.wall(wall)
        elif kind == "join_reply":
            g.i.range(0, 6, 1)
            g.delta(**args[0])
        elif kind == "sync_reply":
            g.i.range(0, 6, 2)
            keys, delta = args
            g.i.range(0, 4, len(keys))
            for key in keys:
                g.record_key(key)
            g.delta(**delta)
        elif kind == "sync_push":
            g.i.range(0, 6, 3)
            g.delta(**args[0])
        elif kind == "error":
            g.i.range(0, 6, 4)
            g.i.range(1, 12, args[0])
            g.i.raw(args[1], 64)
        elif kind == "raw":
            g.i.range(0, 6, 5)
            g.i.raw(args[0], 128)
        return self

    def gossip(self, sender=KPEER, seq=1, **delta):
        self._step("gossip")
        if sender == KPEER:
            self.g.i.coin(True)
        else:
            self.g.i.coin(False)
            self.g.name(sender)
        if isinstance(seq, int) and 0 <= seq <= 8:
            self.g.i.coin(True)
            self.g.i.range(0, 8, seq)
        else:
            self.g.i.coin(False)
            self.g.u64(seq)
        self.g.delta(**delta)
        return self

    def restart(self):
        self._step("restart")
        return self


SPANS_MS = [0, 1, 10, 100, 250, 1000, 2000, 5000, 10000, 30000, 60000, 301000, 3601000, 90000000]
OWN_STEPS = ["advance", "answer", "supervisor", "subscription_lost"]  # after STEPS, in peer_store_fuzz


class PeerScript(Script):
    """An input of peer_store_fuzz: the message steps of Script, and its own."""

    def _own(self, kind):
        self.steps += 1
        self.g.i.range(0, 255, len(STEPS) + OWN_STEPS.index(kind))

    # ms: one of SPANS_MS (0: to the store's next deadline)
    def advance(self, ms, on_the_way=True):
        self._own("advance")
        self.g.i.range(0, len(SPANS_MS) - 1, SPANS_MS.index(ms))
        self.g.i.coin(on_the_way)
        return self

    # the request at `which` (modulo how many wait) gets an error reply ("busy")
    def answer_busy(self, which=0, again=False):
        self._own("answer")
        self.g.i.range(0, 63, which)
        self.g.i.coin(again)
        self.g.i.range(0, 3, 3)
        return self

    def provider(self, available):
        self._own("supervisor")
        self.g.i.range(0, 7, 0)
        self.g.i.coin(available)
        return self

    # an instance of the assignment at `which` (modulo how many there are) reports `state`
    def report(self, state="running", which=0, instance=0, restarts=0, exit_code=0, stale=False):
        self._own("supervisor")
        self.g.i.range(0, 7, 1)
        self.g.i.range(0, 255, which)
        self.g.i.range(0, 255, instance)
        self.g.i.range(0, 6, INSTANCE_STATES.index(state))
        self.g.small_or_u32(restarts)
        self.g.i32(exit_code)
        self.g.i.coin(True)  # no signal
        self.g.i.coin(True)  # no reason
        self.g.i.coin(stale)
        return self

    def subscription_lost(self, which=0):
        self._own("subscription_lost")
        self.g.i.range(0, 255, which)
        return self

    def restart(self, gracefully=True):
        self._step("restart")
        self.g.i.coin(gracefully)
        return self


def peer_store_seeds():
    """name -> PeerScript: time passing over what the messages left, the fake supervisor and
    network at work, restarts; and what peer_store_fuzz found."""
    P = PeerScript
    return {
        "assigned-run-report-time": P().sync_push(
            services=[dict(name="echoes", spec=("instances", 2))],
            assignments=[dict(service="echoes", index=0, node=KSELF), dict(service="echoes", index=1, node=KSELF)])
        .advance(0).report("running").report("exited", instance=1, exit_code=1).advance(1000)
        .report("running", stale=True).status("echoes"),
        "deploy-then-an-hour": P().deploy("db").deploy("web", ("depends", "db", "db")).advance(3601000, False)
        .control("db", "remove").advance(3601000).status(""),
        "peer-goes-quiet": P().join(name="node-b", address=("port", 1, 7000), pub_address=("port", 1, 7001))
        .advance(1000).advance(5000).advance(30000).members(),
        "probes-answered-busy": P().join(name="node-b", address=("port", 1, 7000)).advance(250)
        .answer_busy(0).answer_busy(1, again=True).advance(1000).members(),
        "provider-comes-and-goes": P().deploy("echoes").provider(False).advance(2000).provider(True).advance(2000)
        .status("echoes"),
        "subscription-drops": P().gossip(KPEER, 1, members=[dict(name="node-b", address=("port", 1, 7000))])
        .subscription_lost(0).subscription_lost(1).advance(10000),
        "restart-crash-and-graceful": P().deploy("echoes").advance(100).restart(False).advance(2000).restart(True)
        .status(""),
        "clock-checks-over-a-day": P().probe(1, "node-b", KSELF, 0, "now+10min").advance(60000).advance(90000000, False)
        .advance(60000),
        # An agent a claim pushed to its last incarnation (2^48 - 1): a change of its own took it
        # past the bound (e900b6e), and its leave sent a record its peers refuse.
        "regress-last-incarnation-provider": P().probe(1, KPEER, KSELF, (1 << 48) - 1).provider(False).provider(True),
        "regress-last-incarnation-leave": P().probe(1, KPEER, KSELF, (1 << 48) - 1).restart(True),
    }


# ---- the seeds (fuzz/corpus/store) and the reproducers ------------------------------------

def seeds():
    """name -> Script: every step kind, with valid and hostile fields."""
    S = Script
    seeds = {
        "ping": S().ping(),
        "members": S().members(),
        "deploy-status-control": S().deploy("echoes").status("echoes").control("echoes", "stop")
        .control("echoes", "start").control("echoes", "restart").status("").control("echoes", "remove"),
        "deploy-dependencies": S().deploy("db").deploy("web", ("depends", "db", "db")).control("db", "remove")
        .deploy("db", ("depends", "web", "db")).status(""),
        "deploy-shapes": S().deploy("a", ("instances", 3)).deploy("web", ("zone", "a")).deploy("db", "docker")
        .deploy("echoes", "restart").deploy("a", ("instances", 101)).deploy("echoes", ("renamed", "db")),
        "deploy-garbage": S().deploy("echoes", "").deploy("echoes", "{").deploy("echoes", "null")
        .deploy("a/b/c", "plain").deploy("x\0y", "name-only").deploy("echoes", ("raw", '{"name":1}')),
        "control-unknown": S().control("", "stop").control("s" * 300, "remove").status("a/0"),
        "probe-self": S().probe(1, KPEER, KSELF, 0).probe(2, KPEER, KSELF, 3).probe(3, "node-b", "node-b", 0),
        "probe-suspected-high": S().probe(1, KPEER, KSELF, (1 << 48) + 1).members().probe(2, KPEER, KSELF, (1 << 64) - 1)
        .members(),
        "indirect-probe-peer": S().indirect_probe(1, "node-b", KPEER, "peer").indirect_probe(2, "node-b", KPEER, ("raw", ""))
        .indirect_probe(3, KSELF, KSELF, "self"),
        "indirect-probe-ports": S().indirect_probe(1, "node-b", "node-c", ("port", 1, 1))
        .indirect_probe(2, "node-b", "node-c", ("port", 2, 65535)).indirect_probe(3, "node-b", "node-c", ("hostile", "tcp://127.0.0.1:99999"))
        .indirect_probe(4, "node-b", "node-c", ("hostile", "tcp://localhost:1")),
        "join-peer": S().join(name="node-b", address=("port", 1, 7000), pub_address=("port", 1, 7001))
        .join(name="node-c", state="suspect", incarnation=2, reported_by="node-b").members(),
        "join-self-suspect": S().join(name=KSELF, address="self", pub_address="pub", state="suspect", incarnation=0,
                                      reported_by=KPEER).members(),
        "join-self-left": S().join(name=KSELF, address="self", pub_address="pub", state="left", incarnation=5).ping(),
        "join-hostile-fields": S().join(name="a\0b", providers=["", "p" * 300], tags={"": "", "zone": "z" * 300},
                                        load="nan", version="\xff").join(name="n" * 300, load="inf", incarnation=(1 << 48) - 1)
        .join(name="", heartbeat="max"),
        "join-stamps": S().join(name="node-b", heartbeat="now+4min").join(name="node-c", heartbeat="now+6min")
        .join(name="node-b", heartbeat=0),
        "sync-digest": S().sync(KPEER, 0, [(("m", KSELF), 0, 0, KPEER), (("s", "echoes"), (1 << 64) - 1, 0, ""),
                                            (("a", "echoes", 0), 1, 1, "node-b"), (("i", "echoes", 0, KPEER), 0, 0, ""),
                                            ("", 0, 0, ""), ("m/", 1, 1, "")]),
        "sync-after-deploy": S().deploy("echoes").sync("node-b", 1, []).sync("node-b", 0, [(("s", "echoes"), "now", 0, KSELF)]),
        "sync-push-everything": S().sync_push(
            members=[dict(name="node-b", address=("port", 1, 7000), pub_address=("port", 1, 7001))],
            services=[dict(name="echoes", spec=("instances", 2))],
            assignments=[dict(service="echoes", index=0, node="node-b"), dict(service="echoes", index=1, node=KSELF)],
            instances=[dict(service="echoes", index=0, node="node-b", state="running", pid=42)]).status("echoes"),
        "write-copy": S().write_copy(services=[dict(name="echoes")]).write_copy(2, services=[dict(name="echoes", removed=True, hlc=0)]),
        "write-copy-mixed": S().write_copy(3, "node-b", False, services=[dict(name="db")], members=[dict(name="node-c")]),
        "sync-push-tombstones": S().sync_push(services=[dict(name="echoes", removed=True, hlc=0)],
                                              assignments=[dict(removed=True, hlc=0)],
                                              instances=[dict(removed=True, hlc=0, node=KSELF)]),
        "sync-push-name-mismatch": S().sync_push(services=[dict(name="with space", spec_name="a"),
                                                           dict(name="a/0", spec="name-only"),
                                                           dict(name="db", spec=("depends", "db", "web"))]).status(""),
        "sync-push-huge-numbers": S().sync_push(
            services=[dict(name="echoes", generation=(1 << 64) - 1, restart_generation=(1 << 64) - 1)],
            assignments=[dict(index=0xFFFFFFFF, node=KSELF)],
            instances=[dict(index=0xFFFFFFFF, node=KSELF, restarts=0xFFFFFFFF, pid=-(1 << 63), since_ms=(1 << 63) - 1,
                            exit_code=-(1 << 31), signal=(1 << 31) - 1, spec_version=(1 << 64) - 1)]).status(""),
        "sync-push-stamps": S().sync_push(services=[dict(name="a", hlc="now+4min"), dict(name="db", hlc="now+6min"),
                                                    dict(name="web", hlc="max"), dict(name="echoes", hlc="past")]),
        "join-command-peer": S().join_command("peer").peer_reply("join_reply", dict(members=[dict(name="node-c")])),
        "join-command-seeds": S().join_command("127.0.0.1:6666", "[::1]:6670", ("localhost", 1)).join_command(),
        "leave-command": S().leave_command().ping(),
        "peer-replies": S().peer_reply("ack", None, KPEER, 0, "now").peer_reply("sync_reply", [("s", "echoes"), ("m", KSELF), ""],
                                                                       dict(services=[dict(name="web")]))
        .peer_reply("error", 6, "not found").peer_reply("raw", "\x92\x01"),
        "gossip": S().gossip(KPEER, 1, members=[dict(name="node-b", address=("port", 1, 7000))],
                             services=[dict(name="echoes")]).gossip(KPEER, 5).gossip("node-c", (1 << 64) - 1),
        "probe-clock-skew": S().join(name="node-1").join(name="node-2").join(name="node-3")
        .probe(1, "node-1", KSELF, 0, "now+10min").probe(2, "node-2", KSELF, 0, "now+10min")
        .probe(3, "node-3", KSELF, 0, "now-10min").members(),
        "probe-clock-extremes": S().join(name="node-b").probe(1, "node-b", KSELF, 0, "now+2^63")
        .probe(2, "node-b", KSELF, 0, "max").probe(3, "node-b", KSELF, 0, 1).status("")
        .peer_reply("ack", None, KPEER, 0, "now+2^63").peer_reply("ack", None, KPEER, 0, "max"),
        "member-problem": S().join(name="node-b", problem="clock").join(name="node-c", problem="\x00\xff")
        .deploy("echoes", ("instances", 3)).status("echoes"),
        "restart-with-services": S().deploy("db").sync_push(services=[dict(name="web", spec="{")]).restart().status(""),
    }
    # What crashed or hung the store (see the report of issue 14): regressions once fixed.
    seeds.update({f"regress-{name}": script for name, script in reproducers().items() if name != "dealer-sockets"})
    return seeds


def reproducers():
    """name -> Script of each finding that one input reproduces (in a fresh store)."""
    S = Script
    return {
        # zmq connect threw EINVAL / ENOCOMPATPROTO on an address from the wire (c0b3b62; the
        # door refuses them since 808cc38)
        "indirect-probe-garbage-address": S().indirect_probe(0, KSELF, KSELF, ("hostile", "garbage")),
        "indirect-probe-udp-address": S().indirect_probe(1, KPEER, "node-b", ("hostile", "udp://127.0.0.1:1")),
        "join-garbage-pub-address": S().join(name="node-c", pub_address=("hostile", "garbage")),
        "gossip-garbage-pub-address": S().gossip(KPEER, 1, members=[dict(name="node-b", pub_address=("hostile", "tcp://"))]),
        "join-command-garbage-seed": S().join_command(("hostile", "garbage")),
        "sync-push-garbage-address": S().sync_push(members=[dict(name="node-b", address=("hostile", "garbage"))]),
        # nlohmann::json::dump threw on a string that is not UTF-8 (record_of, when saving; fixed
        # in 2107d18)
        "sync-push-origin-not-utf8": S().sync_push(services=[dict(name="echoes", origin="\xff\xfe")]),
        # a spec from a peer with instances 2^32-1: placement and status looped that many times
        # (fixed in 2107d18: bounded by kMaxInstanceIndex)
        "sync-push-instances-placement": S().sync_push(services=[dict(name="svc1", spec=("instances", 0xFFFFFFFF))]),
        "sync-push-instances-status": S().sync_push(services=[dict(name="echoes", spec=("instances", 0xFFFFFFFF))]).status(""),
        # the most instances a peer's spec could ask for in 2107d18 (999,999): the store was busy
        # placing them for longer than 5 s, and the status reply was larger than 4 MiB. Since
        # then an instance index is below 10,000: the most a peer's spec may ask for is 9,999.
        "sync-push-9999-instances-placement": S().sync_push(services=[dict(name="svc1", spec=("instances", 9999))]),
        "sync-push-9999-instances-status": S().sync_push(services=[dict(name="echoes", spec=("instances", 9999))])
        .status(""),
        # logic errors: reported with MOB_STORE_FUZZ_INVARIANTS=1 (the agent's own record). The
        # store's incarnation is 1 once it advertised its provider.
        "invariant-own-record-providers": S().join(name=KSELF, address="self", pub_address="pub", state="alive",
                                                   incarnation=1, providers=["docker"], heartbeat="now+4min"),
        "invariant-own-record-address": S().sync_push(members=[dict(name=KSELF, address=("port", 1, 1), pub_address="pub",
                                                                    state="alive", incarnation=1, heartbeat="now+4min",
                                                                    reported_by="node-b")]),
        "invariant-probe-suspected-at-max-incarnation": S().probe(1, KPEER, KSELF, 1 << 48),
        "invariant-failed-at-max-incarnation": S().join(name=KSELF, address="self", pub_address="pub", state="failed",
                                                        incarnation=(1 << 48) - 1),
        "invariant-suspect-at-clock-edge": S().sync_push(members=[dict(name=KSELF, address="self", pub_address="pub",
                                                                       state="suspect", incarnation=1,
                                                                       heartbeat="now+5min|ffff")]),
        "invariant-clock-skew-from-three-members": S().join(name="node-1").join(name="node-2").join(name="node-3")
        .probe(1, "node-1", KSELF, 0, "now+10min").probe(2, "node-2", KSELF, 0, "now+10min")
        .probe(3, "node-3", KSELF, 0, "now+10min"),
    }


def dealer_sockets(count=1100):
    """Inputs that, run in order in one store, name `count` distinct valid addresses."""
    inputs, port = [], 20000
    while port < 20000 + count:
        script = Script()
        for _ in range(16):
            script.indirect_probe(1, KPEER, "node-b", ("port", 2, port))
            port += 1
        inputs.append(script)
    return inputs


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    if len(sys.argv) == 3 and sys.argv[1] == "--repro":
        out = sys.argv[2]
        os.makedirs(os.path.join(out, "dealer-sockets"), exist_ok=True)
        for name, script in reproducers().items():
            with open(os.path.join(out, name), "wb") as f:
                f.write(script.bytes())
        for n, script in enumerate(dealer_sockets()):
            with open(os.path.join(out, "dealer-sockets", f"{n:03d}"), "wb") as f:
                f.write(script.bytes())
        print(f"reproducers written to {out}")
        return
    if len(sys.argv) != 1:
        sys.exit("usage: store_inputs.py [--repro DIR]")
    # peer_store_fuzz reads the message steps as store_fuzz does: the store's seeds are its too.
    for target, scripts in (("store", seeds()), ("peer_store", {**seeds(), **peer_store_seeds()})):
        out = os.path.join(here, "corpus", target)
        os.makedirs(out, exist_ok=True)
        for name, script in scripts.items():
            with open(os.path.join(out, name), "wb") as f:
                f.write(script.bytes())
        print(f"{len(scripts)} seeds written to {out}")


if __name__ == "__main__":
    main()
