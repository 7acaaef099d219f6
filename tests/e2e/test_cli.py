"""Every control command of the CLI against the running daemon, in text and ``--json``
(content, exit codes, the ``{"version": 1, "result": ...}`` envelope); bad input on the
real process's control socket; and ``--metrics`` agreeing with ``GetStats``.

One daemon serves the whole module (BIRD peers over IPv4 and IPv6, GoBGP sending a VPNv4
route, import, a VRF, export to a table and to the VRF's table): the commands only read,
except the ones at the end (``global rib add/del``, ``netlink export flush``), which run
last.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.harness import (
    GOBGP_PORT,
    GOBGP_V4,
    Neighbor,
    Netlinkbgpd,
    dsts,
    gobgp_beside,
    ip_routes,
    ours_toml,
    wait_for,
)
from tests.e2e.test_import import OUR_AS, PEER_AS, bird_peers, dummy, our_neighbors
from tests.interop.daemons import Bird, BirdStatic, Topology, bird_config, run_in, topology

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("bird_available")]

METRICS = "127.0.0.1:9180"

CONFIG = """
[[vrfs]]
  [vrfs.config]
    name = "red"
    rd = "65002:10"
    import-rt-list = ["65002:10"]
    export-rt-list = ["65002:10"]
    table-id = 110
  [vrfs.netlink-import]
    enabled = true
    interface-list = ["red0"]

[netlink.import]
  enabled = true
  interface-list = ["lb0"]

[netlink.export]
  enabled = true
  dampening-interval = 0
  [[netlink.export.rules]]
    name = "everything"
    table-id = 100
    validate-nexthop = false
  [[netlink.export.rules]]
    name = "to-red"
    vrf = "red"
    validate-nexthop = false
"""

STATIC4 = [BirdStatic("10.100.0.0/24", communities=("65001:100",)), BirdStatic("10.101.0.0/24")]
STATIC6 = [BirdStatic("2001:db8:100::/48")]
GOBGP_AS = 65003
VPN_PREFIX = "10.200.0.0/24"


class Setup:
    def __init__(self, topo: Topology, bird: Bird, ours: Netlinkbgpd) -> None:
        self.topo, self.bird, self.ours = topo, bird, ours


@pytest.fixture(scope="module")
def setup() -> Iterator[Setup]:
    with topology("e2e-cli") as topo:
        ns = topo.ns_ours
        dummy(ns, "lb0", "192.0.2.1/28", "2001:db8:a::1/64")
        dummy(ns, "red0", "172.16.10.1/24")
        neighbors = [*our_neighbors(topo), Neighbor(
            GOBGP_V4, GOBGP_AS, ("ipv4-unicast", "l3vpn-ipv4-unicast"), remote_port=GOBGP_PORT)]
        config = ours_toml(OUR_AS, topo.ours_v4, neighbors, CONFIG)
        gobgp = gobgp_beside(topo, GOBGP_AS, OUR_AS, ("ipv4-unicast", "l3vpn-ipv4-unicast"))
        with Bird(topo.ns_daemon, bird_config(PEER_AS, topo.daemon_v4, bird_peers(topo),
                                              static4=STATIC4, static6=STATIC6)) as bird, \
                gobgp, Netlinkbgpd(ns, config, metrics=METRICS) as ours:
            # A VPN route with red's import route target: exported to red's table.
            gobgp.add_route(VPN_PREFIX, family="vpnv4", rd="65003:5", rt=["65002:10"],
                            label=100)
            ours.wait_established(topo.daemon_v4, topo.daemon_v6, GOBGP_V4)
            # Converged: 4 exports (3 to table 100, 1 to red's 110), BIRD has our 2 routes.
            ours.wait_exported(lambda rs: len(rs) == 4, "4 exported routes")
            bird.wait_routes(lambda rs: len(rs) == 1, protocol="ours4")
            bird.wait_routes(lambda rs: len(rs) == 1, table="master6", protocol="ours6")
            yield Setup(topo, bird, ours)


def text(s: Setup, *args: str) -> str:
    done = s.ours.cli(*args)
    assert done.returncode == 0, (args, done.stderr)
    assert done.stderr == ""
    return done.stdout


# ------------------------------------------------------------------------------------------
# 9. Every command, text and --json.
# ------------------------------------------------------------------------------------------


def test_netlink_and_netlink_import(setup: Setup) -> None:
    out = text(setup, "netlink")
    assert "Import: true" in out and "Export: true" in out
    assert "Interfaces: [lb0]" in out and "VRF red: [red0]" in out
    assert "Route protocol:     186" in out and "Rules:              2" in out
    status = setup.ours.cli_json("netlink")
    assert status["import"] == {"enabled": True, "vrf": "", "interfaces": ["lb0"],
                                "vrfs": [{"name": "red", "interfaces": ["red0"]}]}
    assert status["export"] == {"enabled": True, "route_protocol": 186,
                                "dampening_interval": 0, "rules": 2}
    # The top-level --json spelling gives the same.
    done = setup.ours.cli("--json", "netlink")
    assert json.loads(done.stdout) == {"version": 1, "result": status}

    out = text(setup, "netlink", "import")
    assert "Netlink Import Configuration:" in out and "Interfaces: [lb0]" in out
    assert "VRF red:" in out and "Interfaces: [red0]" in out
    assert setup.ours.cli_json("netlink", "import") == status


def test_netlink_import_stats_and_routes(setup: Setup) -> None:
    stats = setup.ours.cli_json("netlink", "import", "stats")
    assert stats["enabled"] is True
    assert (stats["routes"], stats["errors"]) == (3, 0)
    assert stats["imported"] >= 3
    out = text(setup, "netlink", "import", "stats")
    assert "Import Statistics:" in out
    assert "Routes Now:" in out and out.split("Routes Now:")[1].split()[0] == "3"
    assert "Total Errors:" in out

    routes = setup.ours.cli_json("netlink", "import", "routes")
    by_prefix = {r["prefix"]: r for r in routes}
    assert set(by_prefix) == {"192.0.2.0/28", "2001:db8:a::/64", "172.16.10.0/24"}
    assert by_prefix["172.16.10.0/24"]["rd"] == "65002:10"
    assert by_prefix["172.16.10.0/24"]["vrf"] == "red"
    assert by_prefix["192.0.2.0/28"]["source"] == "netlink:lb0"
    out = text(setup, "netlink", "import", "routes")
    assert "192.0.2.0/28" in out and "65002:10:172.16.10.0/24" in out
    assert "Source: netlink:lb0" in out


def test_netlink_export_rules_and_stats(setup: Setup) -> None:
    ns = setup.topo.ns_ours
    exported = setup.ours.cli_json("netlink", "export")
    listed = {(r["prefix"], r["table"], r["vrf"]) for r in exported}
    assert listed == {("10.100.0.0/24", 100, ""), ("10.101.0.0/24", 100, ""),
                      ("2001:db8:100::/48", 100, ""), (VPN_PREFIX, 110, "red")}
    assert all(r["onlink"] and r["metric"] == 20 for r in exported)
    # ... which is what the kernel has.
    assert dsts(ip_routes(ns, "table", "100", "proto", "186")) == {"10.100.0.0/24",
                                                                   "10.101.0.0/24"}
    assert dsts(ip_routes(ns, "table", "110", "proto", "186")) == {VPN_PREFIX}
    out = text(setup, "netlink", "export")
    rows = [line.split() for line in out.splitlines()[2:]]
    assert ["10.100.0.0/24", setup.topo.daemon_v4, "global", "100", "20", "onlink"] in rows
    assert [VPN_PREFIX, GOBGP_V4, "red", "110", "20", "onlink"] in rows
    assert len(rows) == 4

    red = setup.ours.cli_json("netlink", "export", "--vrf", "red")
    assert [(r["prefix"], r["table"], r["rd"]) for r in red] == [(VPN_PREFIX, 110, "65003:5")]
    out = text(setup, "netlink", "export", "--vrf", "red")
    assert len(out.splitlines()) == 3 and "red" in out.splitlines()[2]
    assert setup.ours.cli_json("netlink", "export", "--vrf", "blue") == []

    rules = setup.ours.cli_json("netlink", "export", "rules")
    assert [(r["name"], r["table_id"], r["vrf"], r["community_list"]) for r in rules] == [
        ("everything", 100, "", []), ("to-red", 0, "red", [])]
    out = text(setup, "netlink", "export", "rules")
    assert "Rule: everything" in out and "(match all routes)" in out
    assert "Rule: to-red" in out and "VRF:              red" in out
    assert "Validate Nexthop: false" in out

    stats = setup.ours.cli_json("netlink", "export", "stats")
    assert (stats["installed"], stats["errors"]) == (4, 0)
    assert stats["exported"] >= 4
    out = text(setup, "netlink", "export", "stats")
    assert "Export Statistics:" in out
    assert out.split("Installed Now:")[1].split()[0] == "4"


def test_neighbor(setup: Setup) -> None:
    topo = setup.topo
    peers = setup.ours.cli_json("neighbor")
    assert sorted((p["address"], p["state"], p["remote_asn"]) for p in peers) == [
        (topo.daemon_v4, "Established", PEER_AS), (GOBGP_V4, "Established", GOBGP_AS),
        (topo.daemon_v6, "Established", PEER_AS)]
    v4 = next(p for p in peers if p["address"] == topo.daemon_v4)
    assert v4["received_prefixes"] == 2 and v4["adj_rib_out"] == 1
    out = text(setup, "neighbor")
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows[topo.daemon_v4][1] == str(PEER_AS)
    assert rows[topo.daemon_v4][3] == "Established"
    assert rows[topo.daemon_v4][-3:] == ["2", "2", "1"]  # received, accepted, advertised

    one = setup.ours.cli_json("neighbor", topo.daemon_v6)
    assert len(one) == 1 and one[0]["address"] == topo.daemon_v6
    assert one[0]["families"] == ["ipv6-unicast"]
    out = text(setup, "neighbor", topo.daemon_v6)
    assert "BGP neighbor is:" in out and f"{topo.daemon_v6}, remote AS {PEER_AS}" in out
    assert "Established, up for" in out and "ipv6-unicast" in out

    # The daemon refuses: exit 1, with its reason.
    done = setup.ours.cli("neighbor", "192.0.2.99")
    assert done.returncode == 1, done
    assert "the daemon said" in done.stderr and "192.0.2.99" in done.stderr
    assert done.stdout == ""


def test_global_rib_with_families(setup: Setup) -> None:
    rib = setup.ours.cli_json("global", "rib")
    prefixes = [r["prefix"] for r in rib]
    # Ours (imported) and the best received paths, every family.
    assert set(prefixes) == {"192.0.2.0/28", "10.100.0.0/24", "10.101.0.0/24",
                             "2001:db8:a::/64", "2001:db8:100::/48", "172.16.10.0/24",
                             VPN_PREFIX}
    for family, want in (("ipv4", {"192.0.2.0/28", "10.100.0.0/24", "10.101.0.0/24"}),
                         ("ipv6", {"2001:db8:a::/64", "2001:db8:100::/48"}),
                         ("vpnv4", {"172.16.10.0/24", VPN_PREFIX})):
        got = setup.ours.cli_json("global", "rib", "-a", family)
        assert {r["prefix"] for r in got} == want, family
        out = text(setup, "global", "rib", "-a", family)
        assert len(out.splitlines()) == len(want) + 1
        assert all(p in out for p in want)
    received = next(r for r in rib if r["prefix"] == "10.100.0.0/24")
    assert received["communities"] == ["65001:100"]
    assert received["as_path"] == [PEER_AS]
    out = text(setup, "global", "rib", "-a", "vpnv4")
    assert "65002:10:172.16.10.0/24" in out and "rt:65002:10" in out
    assert f"65003:5:{VPN_PREFIX}" in out
    assert text(setup, "global", "rib", "-a", "vpnv6").splitlines()[1:] == []


def test_usage_errors_and_unreachable_socket(setup: Setup) -> None:
    done = setup.ours.cli("netlink", "bogus")
    assert done.returncode == 2 and "expected one of" in done.stderr
    done = setup.ours.cli("global", "rib", "add")
    assert done.returncode == 2 and "usage" in done.stderr
    done = setup.ours.cli("global", "rib", "add", "not-a-prefix")
    assert done.returncode == 1 and "not a prefix" in done.stderr
    for args in (["netlink"], ["neighbor", "--json"], ["global", "rib"]):
        done = setup.ours.cli(*args, socket=str(setup.ours.workdir / "nobody.sock"))
        assert done.returncode == 3, done
        assert "cannot reach the daemon" in done.stderr and "nobody.sock" in done.stderr
        assert "Traceback" not in done.stderr and done.stdout == ""


# ------------------------------------------------------------------------------------------
# 10. Bad input on the real process's control socket.
# ------------------------------------------------------------------------------------------


def _exchange(path: str, payload: bytes) -> list[dict[str, Any]]:
    """Send ``payload`` on one connection, read replies until the daemon closes."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(path)
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return [json.loads(line) for line in data.splitlines()]


def test_control_socket_bad_input(setup: Setup) -> None:
    path = setup.ours.sock
    replies = _exchange(path, b"garbage\n[1, 2]\n{\"id\": 7}\n"
                        b"{\"id\": 8, \"method\": \"NoSuchCall\"}\n"
                        b"{\"id\": 9, \"method\": \"ListPeer\", \"params\": {\"address\": 5}}\n"
                        b"\xff\xfe\n{\"id\": 10, \"method\": \"GetNetlink\"}\n")
    kinds = [(r.get("id"), r.get("error", {}).get("type")) for r in replies]
    assert kinds == [(None, "BadRequest"), (None, "BadRequest"), (7, "BadRequest"),
                     (8, "UnknownMethod"), (9, "InvalidValueError"), (None, "BadRequest"),
                     (10, None)]
    assert all(r["version"] == 1 for r in replies)
    assert "GetStats" in replies[3]["error"]["message"]  # the known calls are listed
    assert replies[-1]["result"]["export"]["rules"] == 2
    # A line over 64 KiB: an error reply, and that connection is closed.
    replies = _exchange(path, b"{\"id\": 1, \"method\": \"" + b"x" * (70 * 1024) + b"\"}\n"
                        b"{\"id\": 2, \"method\": \"GetNetlink\"}\n")
    assert [r["error"]["type"] for r in replies] == ["LineTooLong"]
    # The process still answers.
    assert setup.ours.proc is not None and setup.ours.proc.poll() is None
    assert setup.ours.ctl("GetStats")["import"]["routes"] == 3


# ------------------------------------------------------------------------------------------
# 11. --metrics.
# ------------------------------------------------------------------------------------------


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status, reply.headers.get("Content-Type", ""), reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, "", exc.read().decode()


def _samples(body: str) -> dict[str, float]:
    out = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_metrics_match_get_stats(setup: Setup) -> None:
    topo = setup.topo
    status, kind, body = run_in(topo.ns_ours, _get, f"http://{METRICS}/metrics")
    stats = setup.ours.ctl("GetStats")
    assert status == 200 and kind.startswith("text/plain; version=0.0.4")
    assert "# TYPE netlinkbgp_export_exported_total counter" in body
    samples = _samples(body)
    assert samples["netlinkbgp_import_enabled"] == 1
    assert samples["netlinkbgp_import_routes"] == stats["import"]["routes"] == 3
    assert samples["netlinkbgp_import_imported_total"] == stats["import"]["imported"]
    assert samples["netlinkbgp_export_installed"] == stats["export"]["installed"] == 4
    assert samples["netlinkbgp_export_exported_total"] == stats["export"]["exported"]
    assert samples["netlinkbgp_export_errors_total"] == stats["export"]["errors"] == 0
    for peer in stats["peers"]:
        label = f'{{peer="{peer["address"]}"}}'
        assert samples[f"netlinkbgp_peer_up{label}"] == 1
        assert samples[f"netlinkbgp_peer_received_prefixes{label}"] == peer[
            "received_prefixes"]
        assert samples[f"netlinkbgp_peer_established_total{label}"] == peer["established"] == 1
    status, _, _ = run_in(topo.ns_ours, _get, f"http://{METRICS}/nope")
    assert status == 404


# ------------------------------------------------------------------------------------------
# 9 (changing commands, last): global rib add/del, netlink export flush.
# ------------------------------------------------------------------------------------------


def test_global_rib_add_del_then_export_flush(setup: Setup) -> None:
    topo, bird, ours = setup.topo, setup.bird, setup.ours
    out = text(setup, "global", "rib", "add", "198.51.100.0/24", "community", "65002:7",
               "65002:8", "large-community", "65002:1:2", "med", "10")
    assert out == "added 198.51.100.0/24\n"
    seen = bird.wait_routes(lambda rs: "198.51.100.0/24" in {r["prefix"] for r in rs},
                            protocol="ours4")
    route = next(r for r in seen if r["prefix"] == "198.51.100.0/24")
    assert route["communities"] == ["65002:7", "65002:8"]
    assert route["large_communities"] == ["65002:1:2"]
    assert route["med"] == 10
    added = ours.cli_json("global", "rib", "add", "2001:db8:77::/48", "community", "65002:9")
    assert added == {"added": "2001:db8:77::/48"}
    bird.wait_routes(lambda rs: "2001:db8:77::/48" in {r["prefix"] for r in rs},
                     table="master6", protocol="ours6")
    rib = {r["prefix"]: r for r in ours.cli_json("global", "rib", "-a", "ipv4")}
    assert rib["198.51.100.0/24"]["communities"] == ["65002:7", "65002:8"]
    assert rib["198.51.100.0/24"]["med"] == 10

    assert text(setup, "global", "rib", "del", "198.51.100.0/24") == "deleted 198.51.100.0/24\n"
    assert ours.cli_json("global", "rib", "del", "2001:db8:77::/48") == {
        "deleted": "2001:db8:77::/48"}
    bird.wait_routes(lambda rs: "198.51.100.0/24" not in {r["prefix"] for r in rs},
                     protocol="ours4")
    bird.wait_routes(lambda rs: "2001:db8:77::/48" not in {r["prefix"] for r in rs},
                     table="master6", protocol="ours6")

    out = text(setup, "netlink", "export", "flush")
    assert out == "Flushed 4 exported routes\n"
    assert ours.cli_json("netlink", "export", "flush") == {"flushed": 0}
    ns = topo.ns_ours
    assert ip_routes(ns, "table", "100", "proto", "186") == []
    assert ip_routes(ns, "table", "110", "proto", "186") == []
    assert ip_routes(ns, "table", "100", "proto", "186", family=6) == []
    wait_for(lambda: ours.ctl("GetNetlinkExportStats")["installed"], lambda n: n == 0,
             what="nothing installed after the flush")
