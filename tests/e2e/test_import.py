"""Import, end to end: the real daemon announces connected routes of the interfaces its
config names (exact names and globs, IPv4 and IPv6) and BIRD sees them come and go as
addresses are added and removed and interfaces go down and up. Then VRF import: GoBGP
receives the VPNv4 route with the VRF's RD and route target.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.harness import Neighbor, Netlinkbgpd, ours_toml, wait_for
from tests.interop.daemons import (
    Bird,
    BirdPeer,
    Gobgp,
    GobgpPeer,
    Topology,
    _run,
    bird_config,
    gobgp_config,
    topology,
)

pytestmark = [pytest.mark.e2e]

PEER_AS = 65001
OUR_AS = 65002


def ip(ns: str, *args: str) -> None:
    _run(["ip", "-n", ns, *args])


def dummy(ns: str, name: str, *addresses: str) -> None:
    """An interface with addresses, up (a veth pair: this kernel has no dummy driver; the
    peer ``x-NAME`` stays without addresses)."""
    ip(ns, "link", "add", name, "type", "veth", "peer", "name", f"x-{name}")
    for address in addresses:
        ip(ns, "addr", "add", address, "dev", name)
    ip(ns, "link", "set", f"x-{name}", "up")
    ip(ns, "link", "set", name, "up")


def bird_peers(topo: Topology, **kwargs: Any) -> list[BirdPeer]:
    """BIRD's two sessions with us (ours4: IPv4 only, ours6: IPv6 only); BIRD is passive."""
    return [BirdPeer("ours4", topo.ours_v4, OUR_AS, local_address=topo.daemon_v4, ipv6=False,
                     passive=True, **kwargs),
            BirdPeer("ours6", topo.ours_v6, OUR_AS, local_address=topo.daemon_v6, ipv4=False,
                     passive=True, **kwargs)]


def our_neighbors(topo: Topology) -> list[Neighbor]:
    return [Neighbor(topo.daemon_v4, PEER_AS, ("ipv4-unicast",)),
            Neighbor(topo.daemon_v6, PEER_AS, ("ipv6-unicast",))]


def prefixes(bird: Bird, table: str, protocol: str) -> set[str]:
    return {r["prefix"] for r in bird.routes(table, protocol)}


IMPORT = """
[netlink.import]
  enabled = true
  interface-list = ["lb*", "svc0"]
"""


def test_import_names_globs_addresses_and_link_state() -> None:
    with topology("e2e-imp") as topo:
        ns = topo.ns_ours
        # Before the daemon starts (the first dump) ...
        dummy(ns, "lb0", "192.0.2.1/28", "2001:db8:a::1/64")
        dummy(ns, "svc0", "198.51.100.1/24", "2001:db8:b::1/64")
        dummy(ns, "svc1", "203.0.113.1/24", "2001:db8:c::1/64")  # neither a name nor a glob
        config = ours_toml(OUR_AS, topo.ours_v4, our_neighbors(topo), IMPORT)
        with Bird(topo.ns_daemon, bird_config(PEER_AS, topo.daemon_v4, bird_peers(topo))) \
                as bird, Netlinkbgpd(ns, config) as ours:
            ours.wait_established(topo.daemon_v4, topo.daemon_v6)

            def both() -> tuple[set[str], set[str]]:
                return (prefixes(bird, "master4", "ours4"), prefixes(bird, "master6", "ours6"))

            def expect(v4: set[str], v6: set[str], what: str) -> None:
                wait_for(both, lambda got: got == (v4, v6), what=what, log=ours.log_tail)

            expect({"192.0.2.0/28", "198.51.100.0/24"}, {"2001:db8:a::/64", "2001:db8:b::/64"},
                   "the first dump's routes in BIRD")
            # ... and after: a new interface matching the glob, an address added and removed.
            dummy(ns, "lb1", "192.0.2.17/28", "2001:db8:d::1/64")
            ip(ns, "addr", "add", "192.0.2.33/28", "dev", "lb0")
            expect({"192.0.2.0/28", "192.0.2.16/28", "192.0.2.32/28", "198.51.100.0/24"},
                   {"2001:db8:a::/64", "2001:db8:b::/64", "2001:db8:d::/64"},
                   "added addresses in BIRD")
            ip(ns, "addr", "del", "192.0.2.17/28", "dev", "lb1")
            ip(ns, "addr", "del", "2001:db8:a::1/64", "dev", "lb0")
            expect({"192.0.2.0/28", "192.0.2.32/28", "198.51.100.0/24"},
                   {"2001:db8:b::/64", "2001:db8:d::/64"}, "removed addresses gone from BIRD")
            # Interface down: its routes are withdrawn; up: announced again.
            ip(ns, "link", "set", "svc0", "down")
            expect({"192.0.2.0/28", "192.0.2.32/28"}, {"2001:db8:d::/64"},
                   "svc0's routes withdrawn when it went down")
            ip(ns, "link", "set", "svc0", "up")
            # The kernel flushed svc0's IPv6 address when it went down (keep_addr_on_down
            # is 0): only the IPv4 route comes back until the address is added again.
            expect({"192.0.2.0/28", "192.0.2.32/28", "198.51.100.0/24"},
                   {"2001:db8:d::/64"}, "svc0's IPv4 route back when up")
            ip(ns, "addr", "add", "2001:db8:b::1/64", "dev", "svc0")
            expect({"192.0.2.0/28", "192.0.2.32/28", "198.51.100.0/24"},
                   {"2001:db8:b::/64", "2001:db8:d::/64"}, "svc0's IPv6 route back")
            # BIRD got them from us, with our address as next hop.
            route = next(r for r in bird.routes("master4", "ours4")
                         if r["prefix"] == "198.51.100.0/24")
            assert route["bgp_next_hop"] == [topo.ours_v4]
            assert route["as_path"] == [OUR_AS]
            stats = ours.ctl("GetNetlinkImportStats")
            assert stats["routes"] == 5
            assert stats["errors"] == 0
            assert stats["withdrawn"] >= 4 and stats["imported"] >= 9


# ------------------------------------------------------------------------------------------
# VRF import: [[vrfs]] with RD and export RTs, [vrfs.netlink-import]; GoBGP gets VPNv4.
# ------------------------------------------------------------------------------------------

VRF_IMPORT = """
[[vrfs]]
  [vrfs.config]
    name = "red"
    rd = "65002:10"
    export-rt-list = ["65002:100"]
    import-rt-list = ["65002:200"]
    table-id = 110
  [vrfs.netlink-import]
    enabled = true
    interface-list = ["red*"]

[netlink.import]
  enabled = true
  interface-list = ["lb0"]
"""


def test_vrf_import_vpnv4_to_gobgp() -> None:
    with topology("e2e-vrf") as topo:
        ns = topo.ns_ours
        dummy(ns, "lb0", "192.0.2.1/28")
        dummy(ns, "red0", "172.16.10.1/24")
        # GoBGP speaks both families with us; it is passive.
        gobgp_conf = gobgp_config(PEER_AS, topo.daemon_v4, [GobgpPeer(
            topo.ours_v4, OUR_AS, passive=True,
            families=("ipv4-unicast", "l3vpn-ipv4-unicast"))])
        config = ours_toml(OUR_AS, topo.ours_v4, [Neighbor(
            topo.daemon_v4, PEER_AS, ("ipv4-unicast", "l3vpn-ipv4-unicast"))], VRF_IMPORT)
        with Gobgp(topo.ns_daemon, gobgp_conf) as gobgp, Netlinkbgpd(ns, config) as ours:
            ours.wait_established(topo.daemon_v4)
            vpn = gobgp.wait_rib(lambda rs: any(r["prefix"] == "172.16.10.0/24" for r in rs),
                                 family="vpnv4")
            plain = gobgp.wait_rib(lambda rs: any(r["prefix"] == "192.0.2.0/28" for r in rs),
                                   family="ipv4")
            # A VRF interface added later is imported into the VRF too.
            dummy(ns, "red1", "172.16.11.1/24")
            vpn = gobgp.wait_rib(lambda rs: {r["prefix"] for r in rs} == {
                "172.16.10.0/24", "172.16.11.0/24"}, family="vpnv4")
            imported = ours.ctl("ListNetlinkImport")
    assert [r["prefix"] for r in plain] == ["192.0.2.0/28"]  # not leaked into unicast
    for route in vpn:
        assert route["rd"] == "65002:10"
        assert route["labels"] == [16]  # the first VRF's label
        assert route["ext_communities"] == ["(rt, 65002, 100)"]
        assert route["next_hop"] == topo.ours_v4
        assert route["as_path"] == [OUR_AS]
    by_prefix = {r["prefix"]: r for r in imported}
    assert by_prefix["172.16.10.0/24"]["rd"] == "65002:10"
    assert by_prefix["172.16.10.0/24"]["vrf"] == "red"
    assert by_prefix["172.16.10.0/24"]["ext_communities"] == ["rt:65002:100"]
    assert "rd" not in by_prefix["192.0.2.0/28"]
