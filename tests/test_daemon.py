"""The daemon embedded in a test: two of them in a private namespace, one importing a
connected route and announcing it, the other receiving it and exporting it to a table; then
reloads, control calls and bad control input. Waiting uses milestones, never sleeps for a
protocol event (the kernel side is polled with a bound, as it has no milestone)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from netlinkbgp import testing
from netlinkbgp.config import DaemonConfig
from netlinkbgp.control import MAX_LINE, ControlError, ControlServer, call
from netlinkbgp.daemon import Daemon
from netlinkbgp.errors import ConfigError
from netlinkbgp.export_config import ExportConfig, ExportRule
from netlinkbgp.importer import ImportConfig
from netlinkbgp.speaker_config import PeerConfig, SpeakerConfig

pytestmark = pytest.mark.usefixtures("netns")

#: The two daemons' addresses, on a veth pair, and the next hop ``a`` announces: both daemons
#: share one namespace here, and the kernel refuses a gateway that is one of its own addresses.
A, B, HOP = "10.1.0.1", "10.1.0.2", "10.1.0.9"


def _run(body: Callable[[], Awaitable[Any]]) -> Any:
    return testing.run_in_netns(lambda: asyncio.run(asyncio.wait_for(body(), 60)))


def _configs(port: int = 179, rules: tuple[ExportRule, ...] | None = None
             ) -> tuple[DaemonConfig, DaemonConfig]:
    """``a`` imports lb* and listens on A; ``b`` connects from B and exports to table 100."""
    a = DaemonConfig(
        speaker=SpeakerConfig(65001, "10.0.0.1", listen_address=A, listen_port=port,
                              peers=(PeerConfig(B, 65002, passive=True, next_hop_v4=HOP,
                                                communities=("65001:100",)),)),
        importer=ImportConfig(interfaces=("lb*",), resync_interval=0),
        exporter=None, source="a.toml")
    if rules is None:
        rules = (ExportRule("vips", community_list=("65001:100",), table_id=100,
                            validate_nexthop=False),)
    b = DaemonConfig(
        speaker=SpeakerConfig(65002, "10.0.0.2", peers=(
            PeerConfig(A, 65001, port=port, local_address=B),)),
        importer=None,
        exporter=ExportConfig(rules=rules, dampening_interval=0), source="b.toml")
    return a, b


def _table(table: int) -> list[str]:
    return [line for line in testing.ip("route", "show", "table", str(table), "proto", "186",
                                        check=False).splitlines() if line.strip()]


async def _kernel_shows(table: int, count: int) -> list[str]:
    """Poll the kernel until ``table`` holds ``count`` of our routes (bounded: 10 s)."""
    for _ in range(1000):
        lines = _table(table)
        if len(lines) == count:
            return lines
        await asyncio.sleep(0.01)
    raise AssertionError(f"table {table} holds {_table(table)}, expected {count} routes")


def _lb(name: str = "lb0", address: str = "192.0.2.1/28") -> None:
    testing.ip("link", "add", name, "type", "veth", "peer", "name", name + "p")
    testing.ip("link", "set", name, "up")
    testing.ip("link", "set", name + "p", "up")
    testing.ip("addr", "add", address, "dev", name)


async def _pipeline() -> tuple[Daemon, Daemon]:
    testing.veth_pair("rt0", "rt1")
    testing.ip("addr", "add", f"{A}/24", "dev", "rt0")
    testing.ip("addr", "add", f"{B}/24", "dev", "rt1")
    _lb()
    a_config, _ = _configs()
    a = Daemon(dataclasses.replace(a_config, speaker=dataclasses.replace(a_config.speaker,
                                                                         listen_port=0)))
    await a.start()
    port = a.speaker.listen_port
    assert port is not None
    _, b_config = _configs(port)
    b = Daemon(b_config)
    await b.start()
    return a, b


def test_import_announce_receive_export_and_withdraw() -> None:
    async def body() -> dict[str, Any]:
        a, b = await _pipeline()
        await b.speaker.wait_route("192.0.2.0/28", timeout=10)
        installed = await _kernel_shows(100, 1)
        stats = {m: await b.handle(m, {}) for m in
                 ("GetNetlink", "GetNetlinkExportStats", "ListNetlinkExport",
                  "ListNetlinkExportRules", "ListPath", "ListPeer")}
        a_stats = {m: await a.handle(m, {}) for m in
                   ("GetNetlinkImportStats", "ListNetlinkImport", "ListPath")}
        testing.ip("addr", "del", "192.0.2.1/28", "dev", "lb0")
        await b.speaker.wait_route("192.0.2.0/28", present=False, timeout=10)
        left = await _kernel_shows(100, 0)
        await b.stop()
        await a.stop()
        return {"installed": installed, "left": left, "b": stats, "a": a_stats}

    out = _run(body)
    assert len(out["installed"]) == 1 and out["installed"][0].startswith(f"192.0.2.0/28 via {HOP}")
    assert out["left"] == []
    b, a = out["b"], out["a"]
    assert b["GetNetlink"]["export"] == {"enabled": True, "route_protocol": 186,
                                         "dampening_interval": 0, "rules": 1}
    assert b["GetNetlink"]["import"]["enabled"] is False
    assert b["GetNetlinkExportStats"]["exported"] == 1
    assert b["GetNetlinkExportStats"]["installed"] == 1
    [exported] = b["ListNetlinkExport"]
    assert exported["prefix"] == "192.0.2.0/28" and exported["table"] == 100
    assert exported["gateway"] == HOP and exported["onlink"] is True
    assert b["ListNetlinkExportRules"][0]["community_list"] == ["65001:100"]
    [path] = b["ListPath"]
    assert path["prefix"] == "192.0.2.0/28" and path["communities"] == ["65001:100"]
    assert path["as_path"] == [65001] and path["source"] == A
    [peer] = b["ListPeer"]
    assert peer["state"] == "Established" and peer["accepted_prefixes"] == 1
    assert a["GetNetlinkImportStats"]["imported"] == 1
    assert [r["prefix"] for r in a["ListNetlinkImport"]] == ["192.0.2.0/28"]
    assert a["ListPath"][0]["source"] == "local"  # the local RIB keeps no per-route source
    json.dumps(out)  # every result is plain JSON


def test_reload_applies_only_the_difference() -> None:
    async def body() -> dict[str, Any]:
        a, b = await _pipeline()
        await b.speaker.wait_route("192.0.2.0/28", timeout=10)
        await _kernel_shows(100, 1)
        established_before = b.speaker.status()[0].established
        # Export: a second rule to table 200; import: a second interface glob.
        _lb("web0", "198.51.100.1/28")
        new_b = dataclasses.replace(b.config, exporter=dataclasses.replace(
            b.config.exporter, rules=(*b.config.exporter.rules,  # type: ignore[union-attr]
                                      ExportRule("all", table_id=200, validate_nexthop=False))))
        result_b = await b.reload(new_b)
        await _kernel_shows(200, 1)
        new_a = dataclasses.replace(a.config, importer=ImportConfig(
            interfaces=("lb*", "web*"), resync_interval=0))
        result_a = await a.reload(new_a)
        await b.speaker.wait_route("198.51.100.0/28", timeout=10)
        table_200 = await _kernel_shows(200, 2)
        table_100 = await _kernel_shows(100, 2)  # the peer tags every route 65001:100
        same_session = b.speaker.status()[0].established == established_before
        exported_before = b.exporter.stats().exported  # type: ignore[union-attr]
        # A no-op reload touches nothing.
        noop = await b.reload(new_b)
        exported_after = b.exporter.stats().exported  # type: ignore[union-attr]
        # A change that needs a restart is refused, and the running config stays.
        with pytest.raises(ConfigError) as refused:
            await b.reload(dataclasses.replace(new_b, speaker=dataclasses.replace(
                new_b.speaker, asn=65009)))
        # Export removed altogether: our routes leave the kernel.
        result_off = await b.reload(dataclasses.replace(new_b, exporter=None))
        gone = (await _kernel_shows(100, 0), await _kernel_shows(200, 0))
        await b.stop()
        await a.stop()
        return {"b": result_b, "a": result_a, "noop": noop, "t200": table_200,
                "t100": table_100, "same": same_session, "exported": (exported_before,
                                                                     exported_after),
                "refused": (refused.value.key, str(refused.value)), "off": result_off,
                "gone": gone, "config_asn": new_b.speaker.asn}

    out = _run(body)
    assert out["b"].export_changed and not out["b"].import_changed
    assert not out["b"].peers_added and not out["b"].peers_changed
    assert out["a"].import_changed and not out["a"].export_changed
    assert len(out["t200"]) == 2 and len(out["t100"]) == 2
    assert out["same"], "an export change must not reset the BGP session"
    assert out["noop"] == type(out["noop"])()
    assert out["exported"][0] == out["exported"][1]
    assert out["refused"][0] == "global.config.as" and "restart" in out["refused"][1]
    assert out["off"].export_changed
    assert out["gone"] == ([], [])


def test_peer_added_and_removed_by_reload_leaves_the_other_session_alone() -> None:
    async def body() -> dict[str, Any]:
        a, b = await _pipeline()
        await b.speaker.wait_established(timeout=10)
        await a.speaker.wait_established(timeout=10)
        third = PeerConfig("10.1.0.3", 65003, passive=True)
        result = await a.reload(dataclasses.replace(a.config, speaker=dataclasses.replace(
            a.config.speaker, peers=(*a.config.speaker.peers, third))))
        peers_mid = sorted(s.address for s in a.speaker.status())
        removed = await a.reload(dataclasses.replace(a.config, speaker=dataclasses.replace(
            a.config.speaker, peers=a.config.speaker.peers[:1])))
        b_status = b.speaker.status()[0]
        await b.stop()
        await a.stop()
        return {"added": result.peers_added, "mid": peers_mid, "removed": removed.peers_removed,
                "b_established": b_status.established, "b_state": b_status.state}

    out = _run(body)
    assert out["added"] == ("10.1.0.3",)
    assert out["mid"] == sorted([B, "10.1.0.3"])
    assert out["removed"] == ("10.1.0.3",)
    assert out["b_state"] == "Established" and out["b_established"] == 1


def test_control_socket_calls_and_bad_input() -> None:
    async def body() -> dict[str, Any]:
        a, b = await _pipeline()
        await b.speaker.wait_route("192.0.2.0/28", timeout=10)
        path = os.path.join(tempfile.mkdtemp(), "control.sock")
        server = ControlServer(path, b.handle)
        await server.start()
        mode = os.stat(path).st_mode & 0o777
        peers = await call(path, "ListPeer")
        added = await call(path, "AddPath", {"prefix": "203.0.113.0/24",
                                             "communities": ["65002:1"], "med": 7})
        await a.speaker.wait_route("203.0.113.0/24", timeout=10)
        got = a.speaker.best("203.0.113.0/24")
        await call(path, "AddPath", {"prefix": "10.77.0.0/24", "rd": "65002:7", "labels": [100],
                                     "route_targets": ["65002:7"], "next_hop": B})
        vpn = await call(path, "ListPath", {"family": "vpnv4"})
        errors = {}
        for method, params in (("AddPath", {"prefix": "10.78.0.0/24", "rd": "65002:7"}),
                               ("Nope", {}), ("ListPeer", {"address": "10.9.9.9"}),
                               ("AddPath", {"prefix": "not-a-prefix"}),
                               ("AddPath", {"prefix": "10.0.0.0/8", "med": "x"}),
                               ("AddPath", {"prefix": "10.0.0.0/8", "bogus": 1})):
            try:
                await call(path, method, params)
            except ControlError as exc:
                errors[method + json.dumps(params)] = (exc.type, str(exc))
        raw = []
        for line in (b"garbage\n", b"[1,2]\n", b'{"method": 5}\n', b"x" * (MAX_LINE + 10)
                     + b"\n"):
            reader, writer = await asyncio.open_unix_connection(path)
            writer.write(line)
            await writer.drain()
            raw.append(json.loads(await reader.readline()))
            writer.close()
        still = await call(path, "GetNetlinkExportStats")
        deleted = await call(path, "DeletePath", {"prefix": "203.0.113.0/24"})
        await a.speaker.wait_route("203.0.113.0/24", present=False, timeout=10)
        await server.stop()
        await b.stop()
        await a.stop()
        return {"vpn": vpn, "mode": mode, "peers": peers, "added": added, "med": got and got.med,
                "errors": errors, "raw": raw, "still": still, "deleted": deleted,
                "exists": os.path.exists(path)}

    out = _run(body)
    assert out["mode"] == 0o600
    assert out["peers"][0]["address"] == A
    assert out["added"] == {"added": "203.0.113.0/24"} and out["med"] == 7
    assert [(r["prefix"], r["rd"], r["labels"], r["ext_communities"]) for r in out["vpn"]] == [
        ("10.77.0.0/24", "65002:7", [100], ["rt:65002:7"])]
    types = {k: v[0] for k, v in out["errors"].items()}
    assert "needs a label" in out["errors"]['AddPath{"prefix": "10.78.0.0/24", "rd": "65002:7"}'][1]
    assert types == {'AddPath{"prefix": "10.78.0.0/24", "rd": "65002:7"}': "InvalidValueError",
                     "Nope{}": "UnknownMethod",
                     'ListPeer{"address": "10.9.9.9"}': "InvalidValueError",
                     'AddPath{"prefix": "not-a-prefix"}': "InvalidValueError",
                     'AddPath{"prefix": "10.0.0.0/8", "med": "x"}': "InvalidValueError",
                     'AddPath{"prefix": "10.0.0.0/8", "bogus": 1}': "InvalidValueError"}
    assert "not-a-prefix" in out["errors"]['AddPath{"prefix": "not-a-prefix"}'][1]
    assert [r["error"]["type"] for r in out["raw"]] == ["BadRequest", "BadRequest",
                                                        "BadRequest", "LineTooLong"]
    assert all(r["version"] == 1 for r in out["raw"])
    assert out["still"]["enabled"] is True
    assert out["deleted"] == {"deleted": "203.0.113.0/24"}
    assert not out["exists"]
