"""The daemon's TOML configuration: documented examples, errors with key and line, fuzzing."""

from __future__ import annotations

import re
import textwrap
import tomllib
from ipaddress import ip_network
from pathlib import Path
from typing import NoReturn

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netlinkbgp import ConfigError, DaemonConfig, VrfConfig, parse_config
from netlinkbgp import config as config_module
from netlinkbgp.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST, VPNV4, VPNV6
from netlinkbgp.config_locate import KeyLocator
from netlinkbgp.errors import InvalidValueError
from netlinkbgp.route import RouteDistinguisher, parse_community, parse_route_target

DOCS = Path(__file__).resolve().parent.parent / "docs"
GLOBAL = '[global.config]\nas = 65001\nrouter-id = "10.0.0.1"\n'
_RST_BLOCK = re.compile(r"^( *)\.\. code-block:: toml\n((?:\1 *:.*\n)*)\n", re.M)
_MD_BLOCK = re.compile(r"^```toml\n(.*?)^```", re.M | re.S)


def toml_blocks(path: Path) -> list[tuple[int, str]]:
    """Every TOML block of a documentation file as (line of its directive, text)."""
    text = path.read_text()
    blocks: list[tuple[int, str]] = []
    for found in _RST_BLOCK.finditer(text):
        indent = len(found.group(1))
        body: list[str] = []
        for line in text[found.end():].split("\n"):
            if line.strip() and len(line) - len(line.lstrip()) <= indent:
                break
            body.append(line)
        blocks.append((text.count("\n", 0, found.start()) + 1,
                       textwrap.dedent("\n".join(body)).strip() + "\n"))
    for found in _MD_BLOCK.finditer(text):
        blocks.append((text.count("\n", 0, found.start()) + 1, found.group(1)))
    return blocks


def doc_blocks() -> list[tuple[str, str]]:
    return [(f"{path.name}:{line}", block) for path in sorted(DOCS.glob("*.rst"))
            for line, block in toml_blocks(path)]


def block_after(title: str) -> str:
    """The first TOML block of docs/config.rst after a section title."""
    text = (DOCS / "config.rst").read_text()
    start = text.index(f"\n{title}\n") + 1
    line = text.count("\n", 0, start) + 1
    return next(block for at, block in toml_blocks(DOCS / "config.rst") if at > line)


def load(text: str) -> DaemonConfig:
    return parse_config(textwrap.dedent(text))


# -- the documentation --------------------------------------------------------------------------

def test_docs_have_toml_blocks() -> None:
    names = {name.split(":")[0] for name, _ in doc_blocks()}
    assert {"config.rst", "import.rst", "export.rst"} <= names
    assert len([n for n in doc_blocks() if n[0].startswith("config.rst")]) >= 8


@pytest.mark.parametrize(("where", "block"), doc_blocks(), ids=[n for n, _ in doc_blocks()])
def test_every_documented_block_loads(where: str, block: str) -> None:
    """Fragments without ``[global.config]`` get one, as docs/config.rst says."""
    text = block if "[global.config]" in block else GLOBAL + block
    assert isinstance(parse_config(text, where), DaemonConfig)


def test_doc_minimal() -> None:
    config = parse_config(block_after("A minimal file"))
    assert config.speaker.asn == 65001 and config.speaker.router_id == "192.0.2.1"
    assert config.speaker.listen_address is None
    (peer,) = config.speaker.peers
    assert (peer.address, peer.peer_asn, peer.hold_time) == ("192.0.2.254", 65000, 90)
    assert peer.families == (IPV4_UNICAST, IPV6_UNICAST)
    assert config.importer is None and config.exporter is None and config.vrfs == ()
    assert config.graceful_restart is False


def test_doc_global_import() -> None:
    config = parse_config(block_after("Global table import"))
    assert config.importer is not None
    assert config.importer.interfaces == ("lo", "eth1") and config.importer.vrf == ""
    assert config.importer.vrfs == ()


def test_doc_globs() -> None:
    config = parse_config(block_after("Glob patterns"))
    assert config.importer is not None
    assert config.importer.interfaces == ("lb*", "bond0.[0-9]*")
    assert config.speaker.peers == ()


def test_doc_import_into_vrf() -> None:
    config = parse_config(block_after("Import into a VRF"))
    assert config.importer is not None
    assert config.importer.vrf == "red" and config.importer.interfaces == ("eth2",)
    (vrf,) = config.importer.vrfs
    assert vrf.name == "red" and vrf.rd == RouteDistinguisher.parse("65001:100")
    assert vrf.export_rts == (parse_route_target("65001:100"),) and vrf.interfaces == ()
    assert config.speaker.peers[0].families == (VPNV4,)
    assert config.vrfs == (VrfConfig("red", RouteDistinguisher(0, 65001, 100), ("65001:100",),
                                     ("65001:100",)),)


def test_doc_hybrid_import() -> None:
    config = parse_config(block_after("Hybrid import: global and VRFs"))
    importer = config.importer
    assert importer is not None and importer.interfaces == ("lb*",) and importer.vrf == ""
    assert [(v.name, v.interfaces) for v in importer.vrfs] == [("red", ("red*",)),
                                                               ("blue", ("blue*",))]
    assert importer.vrfs[1].export_rts == (parse_route_target("65001:200"),)
    targets = importer.targets()
    assert [(pattern, vrf and vrf.name) for pattern, vrf in targets] == [
        (("lb*",), None), (("red*",), "red"), (("blue*",), "blue")]
    assert config.speaker.peers[0].families == (IPV4_UNICAST, VPNV4)


def test_doc_per_vrf_import() -> None:
    config = parse_config(block_after("Per-VRF import with RD and route targets"))
    (vrf,) = config.vrfs
    assert vrf == VrfConfig("hub", RouteDistinguisher.parse("10.0.0.1:1"), ("65001:2",),
                            ("65001:1",), 101, ("hub0", "hub-*"))
    assert vrf.rd.type == 1
    assert config.importer is not None and config.importer.interfaces == ()
    assert config.importer.vrfs[0].export_rts == (parse_route_target("65001:1"),)
    assert config.exporter is None


def test_doc_export_rules() -> None:
    config = parse_config(block_after("Export rules"))
    export = config.exporter
    assert export is not None and export.enabled
    assert (export.dampening_interval, export.route_protocol, export.state_file) == (
        100, 186, "/var/lib/netlinkbgp/export.json")
    rules = {rule.name: rule for rule in export.rules}
    assert list(rules) == ["vips", "everything", "red", "multi-a", "multi-b"]
    assert rules["vips"].community_list == ("65000:100",)
    assert rules["vips"].large_community_list == ("65000:1:100",)
    assert (rules["vips"].table_id, rules["vips"].metric) == (100, 20)
    assert rules["everything"].validate_nexthop is False and rules["everything"].metric == 50
    assert (rules["red"].vrf, rules["red"].table_id) == ("red", 0)
    assert (rules["multi-a"].table_id, rules["multi-b"].table_id) == (300, 301)
    assert [(v.name, v.table_id, v.import_route_targets) for v in export.vrfs] == [
        ("red", 200, ("65000:100",))]
    assert config.importer is None


def test_doc_full_neighbor() -> None:
    config = parse_config(block_after("A neighbor with everything"))
    assert config.speaker.listen_address == "10.0.0.1" and config.speaker.listen_port == 179
    assert config.graceful_restart is True
    (peer,) = config.speaker.peers
    assert (peer.peer_asn, peer.local_asn, peer.name) == (65002, 65001, "edge-1")
    assert peer.md5_password == "correct horse"
    assert (peer.hold_time, peer.connect_retry_time) == (30, 10.0)
    assert peer.passive and peer.local_address == "10.0.0.1"
    assert peer.ttl_security and peer.ttl_hops == 1
    assert peer.graceful_restart and peer.restart_time == 90
    assert peer.families == (IPV4_UNICAST, IPV6_UNICAST, VPNV6)
    assert (peer.next_hop_v4, peer.next_hop_v6, peer.med) == ("10.0.0.1", "2001:db8::1", 10)
    assert peer.communities == (parse_community("65001:100"), parse_community("no-export"))
    assert peer.large_communities == ((65001, 1, 1),)
    assert peer.import_filter.accept == (ip_network("10.0.0.0/8"), ip_network("2001:db8::/32"))
    assert peer.import_filter.reject == (ip_network("10.255.0.0/16"),)
    assert peer.export_filter.accept == (ip_network("192.0.2.0/24"),)
    assert not peer.export_filter.reject


def test_doc_export_rst() -> None:
    (_, block), = toml_blocks(DOCS / "export.rst")
    config = parse_config(GLOBAL + block)
    assert config.exporter is not None
    assert [r.name for r in config.exporter.rules] == ["service-vips", "everything-else", "red"]
    assert config.exporter.rules[0].community_list == ("65000:100", "4259905636")


def test_doc_import_rst() -> None:
    (_, block), = toml_blocks(DOCS / "import.rst")
    config = parse_config(GLOBAL + block)
    assert config.importer is not None and config.importer.interfaces == ("lb*", "eth0")
    assert config.vrfs[0].import_interfaces == ("red*",)


# -- mappings -------------------------------------------------------------------------------

@pytest.mark.parametrize(("extra", "address", "port"), [
    ("", None, 179),
    ("port = 1179", "::", 1179),
    ("port = 0", "::", 0),
    ("port = -1", None, 179),
    ('local-address-list = ["192.0.2.1"]', "192.0.2.1", 179),
    ('local-address-list = ["0.0.0.0", "::"]', "::", 179),
    ('local-address-list = ["2001:db8::1"]\nport = 10179', "2001:db8::1", 10179),
])
def test_listening(extra: str, address: str | None, port: int) -> None:
    config = parse_config(GLOBAL + extra + "\n")
    assert (config.speaker.listen_address, config.speaker.listen_port) == (address, port)


def test_graceful_restart_is_inherited() -> None:
    config = load("""\
        [global.config]
        as = 1
        router-id = "10.0.0.1"
        [global.graceful-restart.config]
        enabled = true
        restart-time = 200
        [[neighbors]]
        [neighbors.config]
        neighbor-address = "10.0.0.2"
        peer-as = 2
        [[neighbors]]
        [neighbors.config]
        neighbor-address = "10.0.0.3"
        peer-as = 3
        [neighbors.graceful-restart.config]
        enabled = false
        """)
    first, second = config.speaker.peers
    assert (first.graceful_restart, first.restart_time) == (True, 200)
    assert second.graceful_restart is False


def test_neighbor_details() -> None:
    config = load("""\
        [global.config]
        as = 65001
        router-id = "10.0.0.1"
        [[neighbors]]
          [neighbors.config]
          neighbor-address = "fe80::1"
          peer-as = 65002
          [neighbors.timers.config]
          hold-time = 0
          keepalive-interval = 0
          idle-hold-time-after-reset = 2.5
          [neighbors.transport.config]
          remote-port = 1179
          bind-interface = "vrf-red"
          [neighbors.ttl-security.config]
          enabled = true
          ttl-min = 253
          [neighbors.ebgp-multihop.config]
          enabled = false
          multihop-ttl = 3
          [[neighbors.afi-safis]]
            [neighbors.afi-safis.config]
            afi-safi-name = "ipv4-labeled-unicast"
          [[neighbors.afi-safis]]
            [neighbors.afi-safis.config]
            afi-safi-name = "ipv6-unicast"
            enabled = false
          [neighbors.netlinkbgp]
          next-hop-ipv6-link-local = "fe80::2"
          local-pref = 200
        """)
    (peer,) = config.speaker.peers
    assert (peer.hold_time, peer.idle_hold_time, peer.port) == (0, 2.5, 1179)
    assert peer.bind_device == "vrf-red" and peer.ttl_hops == 3
    assert [str(f) for f in peer.family_set] == [str(config.speaker.peers[0].families[0])]
    assert (peer.next_hop_v6_link_local, peer.local_pref) == ("fe80::2", 200)
    assert peer.name == "fe80::1"


def test_exporter_disabled_or_absent() -> None:
    assert parse_config(GLOBAL).exporter is None
    config = parse_config(GLOBAL + "[netlink.export]\nroute-protocol = 200\n"
                          "[[netlink.export.rules]]\nname = 'x'\n")
    assert config.exporter is None
    config = parse_config(GLOBAL + "[netlink.export]\nenabled = true\n")
    assert config.exporter is not None and config.exporter.rules == ()


def test_import_disabled_gives_no_importer() -> None:
    config = parse_config(GLOBAL + "[netlink.import]\ninterface-list = ['lb*']\n")
    assert config.importer is None


def test_source_is_kept() -> None:
    assert parse_config(GLOBAL, "/etc/netlinkbgp.toml").source == "/etc/netlinkbgp.toml"


def test_dotted_and_inline_forms() -> None:
    config = parse_config(
        'global.config = { as = 7, router-id = "10.0.0.1" }\n'
        "[[neighbors]]\n"
        'config.neighbor-address = "10.0.0.2"\n'
        "config.peer-as = 8\n"
        'netlinkbgp = { community-list = ["7:1"] }\n')
    assert config.speaker.asn == 7 and config.speaker.peers[0].peer_asn == 8
    assert config.speaker.peers[0].communities == (parse_community("7:1"),)


# -- errors: exact key and line -------------------------------------------------------------

NEIGHBOR = """\
[global.config]
as = 65001
router-id = "10.0.0.1"

[[neighbors]]
  [neighbors.config]
  neighbor-address = "10.0.0.2"
  peer-as = 65002
"""  # line 9 is the first line after this

VRF = """\
[[vrfs]]
  [vrfs.config]
  name = "red"
  rd = "65001:1"
  import-rt-list = ["65001:1"]
"""

ERRORS: list[tuple[str, str, str, int | None]] = [
    # (id, text, key, line)
    ("syntax", GLOBAL + "peer-as = \n", "", 4),
    ("syntax-header", GLOBAL + "[neighbors\n", "", 4),
    ("syntax-at-end", GLOBAL + "x = [1,\n2", "", 5),
    ("unknown-top", GLOBAL + "[zebra.config]\nenabled = true\n", "zebra", 4),
    ("unknown-global", GLOBAL + "router_id = 'x'\n", "global.config.router_id", 4),
    ("unknown-neighbor-key", NEIGHBOR + "  peer_as = 1\n", "neighbors[0].config.peer_as", 9),
    ("unknown-timer", NEIGHBOR + "  [neighbors.timers.config]\n  hold-tme = 30\n",
     "neighbors[0].timers.config.hold-tme", 10),
    ("missing-as", '[global.config]\nrouter-id = "10.0.0.1"\n', "global.config.as", 1),
    ("missing-global", "[[neighbors]]\n", "global.config.as", None),
    ("as-zero", GLOBAL.replace("65001", "0"), "global.config.as", 2),
    ("as-big", GLOBAL.replace("65001", "4294967296"), "global.config.as", 2),
    ("as-bool", GLOBAL.replace("65001", "true"), "global.config.as", 2),
    ("as-string", GLOBAL.replace("65001", '"65001"'), "global.config.as", 2),
    ("router-id-bad", GLOBAL.replace("10.0.0.1", "10.0.0.256"), "global.config.router-id", 3),
    ("router-id-v6", GLOBAL.replace("10.0.0.1", "::1"), "global.config.router-id", 3),
    ("router-id-zero", GLOBAL.replace("10.0.0.1", "0.0.0.0"), "global.config.router-id", 3),
    ("port-range", GLOBAL + "port = 70000\n", "global.config.port", 4),
    ("listen-two", GLOBAL + 'local-address-list = ["10.0.0.1", "10.0.0.2"]\n',
     "global.config.local-address-list", 4),
    ("listen-bad", GLOBAL + 'local-address-list = ["x"]\n',
     "global.config.local-address-list[0]", 4),
    ("listen-and-no-port", GLOBAL + 'port = -1\nlocal-address-list = ["10.0.0.1"]\n',
     "global.config.local-address-list", 5),
    ("peer-as-zero", NEIGHBOR.replace("65002", "0"), "neighbors[0].config.peer-as", 8),
    ("peer-as-big", NEIGHBOR.replace("65002", "4294967296"), "neighbors[0].config.peer-as", 8),
    ("peer-as-missing", NEIGHBOR.replace("  peer-as = 65002\n", ""),
     "neighbors[0].config.peer-as", 6),
    ("address-missing", NEIGHBOR.replace('  neighbor-address = "10.0.0.2"\n', ""),
     "neighbors[0].config.neighbor-address", 6),
    ("address-bad", NEIGHBOR.replace("10.0.0.2", "10.0.0.x"),
     "neighbors[0].config.neighbor-address", 7),
    ("local-as-bool", NEIGHBOR + "  local-as = false\n", "neighbors[0].config.local-as", 9),
    ("password-long", NEIGHBOR + f'  auth-password = "{"x" * 81}"\n',
     "neighbors[0].config.auth-password", 9),
    ("hold-1", NEIGHBOR + "  [neighbors.timers.config]\n  hold-time = 1\n",
     "neighbors[0].timers.config.hold-time", 10),
    ("hold-2", NEIGHBOR + "  [neighbors.timers.config]\n  hold-time = 2\n",
     "neighbors[0].timers.config.hold-time", 10),
    ("keepalive", NEIGHBOR + "  [neighbors.timers.config]\n  keepalive-interval = 20\n",
     "neighbors[0].timers.config.keepalive-interval", 10),
    ("connect-retry-zero", NEIGHBOR + "  [neighbors.timers.config]\n  connect-retry = 0\n",
     "neighbors[0].timers.config.connect-retry", 10),
    ("connect-retry-nan", NEIGHBOR + "  [neighbors.timers.config]\n  connect-retry = nan\n",
     "neighbors[0].timers.config.connect-retry", 10),
    ("passive-string", NEIGHBOR + '  [neighbors.transport.config]\n  passive-mode = "yes"\n',
     "neighbors[0].transport.config.passive-mode", 10),
    ("remote-port-zero", NEIGHBOR + "  [neighbors.transport.config]\n  remote-port = 0\n",
     "neighbors[0].transport.config.remote-port", 10),
    ("ttl-min", NEIGHBOR + "  [neighbors.ttl-security.config]\n  ttl-min = 1\n",
     "neighbors[0].ttl-security.config.ttl-min", 10),
    ("ttl-and-multihop", NEIGHBOR + "  [neighbors.ttl-security.config]\n  enabled = true\n"
     "  [neighbors.ebgp-multihop.config]\n  enabled = true\n",
     "neighbors[0].ebgp-multihop.config.enabled", 12),
    ("family", NEIGHBOR + "  [[neighbors.afi-safis]]\n  [neighbors.afi-safis.config]\n"
     '  afi-safi-name = "l2vpn-evpn"\n', "neighbors[0].afi-safis[0].config.afi-safi-name", 11),
    ("family-second", NEIGHBOR + "  [[neighbors.afi-safis]]\n  [neighbors.afi-safis.config]\n"
     '  afi-safi-name = "ipv4-unicast"\n  [[neighbors.afi-safis]]\n'
     '  [neighbors.afi-safis.config]\n  afi-safi-name = "ipv4-flowspec"\n',
     "neighbors[0].afi-safis[1].config.afi-safi-name", 14),
    ("family-missing", NEIGHBOR + "  [[neighbors.afi-safis]]\n  [neighbors.afi-safis.config]\n",
     "neighbors[0].afi-safis[0].config.afi-safi-name", 10),
    ("restart-time", NEIGHBOR + "  [neighbors.graceful-restart.config]\n  restart-time = 5000\n",
     "neighbors[0].graceful-restart.config.restart-time", 10),
    ("community", NEIGHBOR + '  [neighbors.netlinkbgp]\n  community-list = ["65000:99999"]\n',
     "neighbors[0].netlinkbgp.community-list[0]", 10),
    ("large-community", NEIGHBOR + "  [neighbors.netlinkbgp]\n"
     '  large-community-list = ["1:2:3", "1:2"]\n',
     "neighbors[0].netlinkbgp.large-community-list[1]", 10),
    ("community-not-string", NEIGHBOR + "  [neighbors.netlinkbgp]\n  community-list = [1]\n",
     "neighbors[0].netlinkbgp.community-list[0]", 10),
    ("filter-prefix", NEIGHBOR + "  [neighbors.netlinkbgp]\n"
     '  import-accept-list = ["10.0.0.0/8", "10.0.0.1/8"]\n',
     "neighbors[0].netlinkbgp.import-accept-list[1]", 10),
    ("filter-garbage", NEIGHBOR + '  [neighbors.netlinkbgp]\n  export-reject-list = ["x"]\n',
     "neighbors[0].netlinkbgp.export-reject-list[0]", 10),
    ("next-hop-version", NEIGHBOR + '  [neighbors.netlinkbgp]\n  next-hop-ipv4 = "::1"\n',
     "neighbors[0].netlinkbgp.next-hop-ipv4", 10),
    ("link-local", NEIGHBOR + '  [neighbors.netlinkbgp]\n  next-hop-ipv6-link-local = "::1"\n',
     "neighbors[0].netlinkbgp.next-hop-ipv6-link-local", 10),
    ("med-range", NEIGHBOR + "  [neighbors.netlinkbgp]\n  med = -1\n",
     "neighbors[0].netlinkbgp.med", 10),
    ("duplicate-neighbor", NEIGHBOR + NEIGHBOR.split("\n", 4)[4],
     "neighbors[1].config.neighbor-address", 11),
    ("duplicate-neighbor-v6", NEIGHBOR.replace("10.0.0.2", "2001:db8::1")
     + NEIGHBOR.split("\n", 4)[4].replace("10.0.0.2", "2001:DB8:0::1"),
     "neighbors[1].config.neighbor-address", 11),
    ("neighbors-not-array", "neighbors = 1\n" + GLOBAL, "neighbors", 1),
    ("neighbors-entry-not-table", "neighbors = [1]\n" + GLOBAL, "neighbors[0]", 1),
    ("config-not-table", GLOBAL + "[[neighbors]]\nconfig = 1\n", "neighbors[0].config", 5),
    ("vrf-rd", GLOBAL + VRF.replace("65001:1\"\n  import", "65001\"\n  import"),
     "vrfs[0].config.rd", 7),
    ("vrf-rd-missing", GLOBAL + VRF.replace('  rd = "65001:1"\n', ""), "vrfs[0].config.rd", 5),
    ("vrf-rt", GLOBAL + VRF.replace('["65001:1"]', '["65001:1", "x:1"]'),
     "vrfs[0].config.import-rt-list[1]", 8),
    ("vrf-duplicate", GLOBAL + VRF + VRF, "vrfs[1].config.name", 11),
    ("vrf-table-zero", GLOBAL + VRF + "  table-id = 0\n", "vrfs[0].config.table-id", 9),
    ("vrf-interface", GLOBAL + VRF + '  [vrfs.netlink-import]\n  interface-list = ["a b"]\n',
     "vrfs[0].netlink-import.interface-list[0]", 10),
    ("vrf-unknown", GLOBAL + VRF + "  [vrfs.netlink-import]\n  enable = true\n",
     "vrfs[0].netlink-import.enable", 10),
    ("import-vrf", GLOBAL + '[netlink.import]\nenabled = true\nvrf = "red"\n',
     "netlink.import.vrf", 6),
    ("import-list-type", GLOBAL + '[netlink.import]\nenabled = true\ninterface-list = "lb*"\n',
     "netlink.import.interface-list", 6),
    ("protocol-zero", GLOBAL + "[netlink.export]\nroute-protocol = 0\n",
     "netlink.export.route-protocol", 5),
    ("protocol-256", GLOBAL + "[netlink.export]\nenabled = true\nroute-protocol = 256\n",
     "netlink.export.route-protocol", 6),
    ("dampening-negative", GLOBAL + "[netlink.export]\ndampening-interval = -1\n",
     "netlink.export.dampening-interval", 5),
    ("rule-community", GLOBAL + "[netlink.export]\nenabled = true\n"
     '[[netlink.export.rules]]\nname = "a"\n[[netlink.export.rules]]\n'
     'community-list = ["65000:99999"]\n', "netlink.export.rules[1].community-list[0]", 9),
    ("rule-vrf-unknown", GLOBAL + "[netlink.export]\nenabled = true\n"
     '[[netlink.export.rules]]\nvrf = "blue"\n', "netlink.export.rules[0].vrf", 7),
    ("rule-vrf-table-unknown", GLOBAL + VRF + "[netlink.export]\nenabled = true\n"
     '[[netlink.export.rules]]\nvrf = "red"\n', "netlink.export.rules[0].vrf", 12),
    ("rule-vrf-table-zero", GLOBAL + VRF + "[netlink.export]\n"
     '[[netlink.export.rules]]\nvrf = "red"\ntable-id = 0\n',
     "netlink.export.rules[0].table-id", 12),
    ("rule-metric", GLOBAL + "[netlink.export]\n[[netlink.export.rules]]\nmetric = 1.5\n",
     "netlink.export.rules[0].metric", 6),
    ("rule-unknown", GLOBAL + "[netlink.export]\n[[netlink.export.rules]]\ntable = 100\n",
     "netlink.export.rules[0].table", 6),
    ("inline-rule", GLOBAL + "[netlink.export]\nrules = [\n  {name = 'a'},\n"
     "  {vrf = 'nope'},\n]\n", "netlink.export.rules[1].vrf", 5),
]


@pytest.mark.parametrize(("text", "key", "line"), [e[1:] for e in ERRORS],
                         ids=[e[0] for e in ERRORS])
def test_error_names_key_and_line(text: str, key: str, line: int | None) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert (info.value.key, info.value.line) == (key, line), str(info.value)
    assert info.value.reason


def test_unknown_key_suggests() -> None:
    with pytest.raises(ConfigError, match="did you mean 'peer-as'"):
        parse_config(NEIGHBOR + "  peer-asn = 1\n")
    with pytest.raises(ConfigError, match="did you mean 'neighbors'"):
        parse_config(GLOBAL + "[[neighbor]]\n")


def test_error_message_reads_well() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(NEIGHBOR.replace("65002", "0"))
    assert str(info.value) == "neighbors[0].config.peer-as (line 8): 0 is outside 1..4294967295"
    with pytest.raises(ConfigError) as info:
        parse_config(GLOBAL + "peer-as = \n")
    assert str(info.value) == "line 4: not valid TOML: Invalid value (column 11)"


def _refuse(*args: object, **kwargs: object) -> NoReturn:
    raise InvalidValueError("refused by the class itself")


@pytest.mark.parametrize(("name", "text", "key", "line"), [
    ("PeerConfig", NEIGHBOR, "neighbors[0].config", 6),
    ("SpeakerConfig", NEIGHBOR, "global.config", 1),
    ("ExportRule", GLOBAL + "[netlink.export]\n[[netlink.export.rules]]\nname = 'a'\n",
     "netlink.export.rules[0]", 5),
    ("ExportConfig", GLOBAL + "[netlink.export]\nenabled = true\n", "netlink.export", 4),
    ("ImportConfig", GLOBAL + "[netlink.import]\nenabled = true\ninterface-list = ['x']\n",
     "netlink.import", 4),
])
def test_class_checks_become_config_errors(monkeypatch: pytest.MonkeyPatch, name: str,
                                           text: str, key: str, line: int) -> None:
    """A check of a config class that the parser did not make first still names the table."""
    monkeypatch.setattr(config_module, name, _refuse)
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert (info.value.key, info.value.line) == (key, line)
    assert info.value.reason == "refused by the class itself"


# -- the locator ----------------------------------------------------------------------------

def test_locator_forms() -> None:
    text = textwrap.dedent('''\
        title = """
        [[neighbors]]
        peer-as = 1
        """
        [ "a" . b ]   # a comment [x]
        "c.d" = 1
        e.f = [
          1,
          2,
        ]
        g = 'x = 1'
        [[a.b.list]]
        [[a.b.list]]
        h = {i = 1}
        ''')
    locator = KeyLocator(text)
    assert locator.line("title") == 1
    assert locator.line("neighbors[0]") is None
    assert locator.line("a.b") == 5
    assert locator.line("a.b.c.d") == 6
    assert locator.line("a.b.e.f") == 7
    assert locator.line("a.b.e") == 7
    assert locator.line("a.b.g") == 11
    assert locator.line("a.b.list[1].h") == 14
    assert locator.line("a.b.list[1].h.i") == 14
    assert locator.line("a.b.list[0]") == 12
    assert locator.line("a.b.list[7]") == 12
    assert locator.line("nothing") is None


def _leaves(value: object, path: str) -> list[tuple[str, str]]:
    """(dotted path, key name) of every non-table value under ``value``."""
    if isinstance(value, dict):
        return [leaf for key, item in value.items()
                for leaf in _leaves(item, f"{path}.{key}" if path else key)]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [leaf for i, item in enumerate(value) for leaf in _leaves(item, f"{path}[{i}]")]
    return [(path, path.rpartition(".")[2])]


@pytest.mark.parametrize(("where", "block"), doc_blocks(), ids=[n for n, _ in doc_blocks()])
def test_locator_finds_every_documented_key(where: str, block: str) -> None:
    """Every value of every documented example is located on the line that sets it."""
    lines = block.split("\n")
    locator = KeyLocator(block)
    for path, name in _leaves(tomllib.loads(block), ""):
        line = locator.line(path)
        assert line is not None, path
        assert lines[line - 1].lstrip().startswith(name + " "), (path, line)


_NAMES = st.one_of(st.from_regex(r"[a-z][a-z0-9_-]{0,6}", fullmatch=True),
                   st.sampled_from(["as", "peer-as", "k y", "x=1", "#c", "[t]", "1"]))
_SCALARS = st.one_of(st.integers(-5, 5), st.text(max_size=8), st.booleans(),
                     st.lists(st.integers(0, 3), max_size=3))
_TREES = st.recursive(
    st.dictionaries(_NAMES, _SCALARS, max_size=3),
    lambda children: st.dictionaries(
        _NAMES, st.one_of(_SCALARS, children, st.lists(children, min_size=1, max_size=3)),
        max_size=3),
    max_leaves=12)


def _escaped(text: str) -> str:
    """The body of a TOML basic string holding ``text``."""
    return "".join(f"\\{c}" if c in '"\\' else f"\\u{ord(c):04x}"
                   if ord(c) < 0x20 or ord(c) == 0x7F else c for c in text)


def _toml_key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else f'"{_escaped(name)}"'


def _toml_value(value: object, multiline: bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        items = [_toml_value(v, False) for v in value]
        if multiline and items:
            return "[\n  " + ",\n  ".join(items) + ",\n]"
        return f"[{', '.join(items)}]"
    if isinstance(value, str):
        if multiline:
            return f'"""{_escaped(value)}\nk = 1\n[t]\n"""'
        return f'"{_escaped(value)}"'
    return str(value)


def _render(tree: dict[str, object], header: str, out: list[str], draw: st.DataObject) -> None:
    subs = []
    for name, value in tree.items():
        is_tables = isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
        if isinstance(value, dict) or is_tables:
            subs.append((name, value))
            continue
        multiline = draw.draw(st.booleans())
        text = _toml_value(value, multiline)
        comment = draw.draw(st.sampled_from(["", "  # a = [", " #"]))
        out.append(f"{draw.draw(st.sampled_from(['', '  ']))}{_toml_key(name)} = {text}{comment}")
    for name, value in subs:
        path = f"{header}.{_toml_key(name)}" if header else _toml_key(name)
        for item in value if isinstance(value, list) else [value]:
            assert isinstance(item, dict)
            out.append(f"[[{path}]]" if isinstance(value, list) else f"[{path}]")
            _render(item, path, out, draw)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TREES, st.data())
def test_locator_finds_every_generated_key(tree: dict[str, object], draw: st.DataObject) -> None:
    """Random documents (tables, arrays of tables, multi-line values, odd keys): every value
    is located on the line that sets it."""
    out: list[str] = []
    _render(tree, "", out, draw)
    text = "\n".join(out) + "\n"
    data = tomllib.loads(text)
    assert sorted(_leaves(data, "")) == sorted(_leaves(tree, ""))  # rendered as meant
    lines = text.split("\n")
    locator = KeyLocator(text)
    for path, name in _leaves(data, ""):  # no generated name holds a dot
        line = locator.line(path)
        assert line is not None, (path, text)
        assert lines[line - 1].lstrip().startswith(_toml_key(name) + " "), (
            path, line, text)


# -- only ConfigError, whatever the input ---------------------------------------------------

FULL = block_after("A neighbor with everything") + block_after("Hybrid import: global and VRFs") \
    .split("\n", 3)[3].replace('"10.0.0.254"', '"10.0.0.3"') + "[netlink.export]\nenabled = true\n"


def _parse_or_config_error(text: str) -> None:
    try:
        result = parse_config(text)
    except ConfigError as exc:
        assert isinstance(exc.key, str)
        assert exc.line is None or 1 <= exc.line <= text.count("\n") + 1
    else:
        assert isinstance(result, DaemonConfig)


def test_full_example_is_valid() -> None:
    config = parse_config(FULL)
    assert len(config.speaker.peers) == 2 and config.exporter is not None


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_random_text_raises_only_config_error(text: str) -> None:
    _parse_or_config_error(text)


_TOML_ALPHABET = st.sampled_from([*'[]{}=".,#\n 0123456789-:/abcnrtuvx',
    "true", "false", "-1", "4294967296", "nan", "as", "[[neighbors]]", "[netlink.export]",
    "peer-as", "vrf", "table-id", "\"red\"", "'", '"""', "1.5", "[]", "{}"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_config_raises_only_config_error(data: st.DataObject) -> None:
    text = FULL
    for _ in range(data.draw(st.integers(1, 3))):
        start = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(start, min(len(text), start + 40)))
        insert = "".join(data.draw(st.lists(_TOML_ALPHABET, max_size=4)))
        text = text[:start] + insert + text[end:]
    _parse_or_config_error(text)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_values_raise_only_config_error(data: st.DataObject) -> None:
    """Replace one value of the full example by another TOML value of any type."""
    lines = FULL.split("\n")
    candidates = [i for i, line in enumerate(lines) if " = " in line]
    index = data.draw(st.sampled_from(candidates))
    value = data.draw(st.sampled_from([
        "0", "-1", "1", "2", "3", "255", "256", "65536", "4294967295", "4294967296", "true",
        '""', '"x"', '"10.0.0.1"', '"::"', '"fe80::1"', '"1:2"', '"1:2:3"', '"10.0.0.0/8"',
        "[]", '["x"]', "[1]", '["10.0.0.0/33"]', "1.5", "inf", "{}", "1979-05-27"]))
    key = lines[index].split(" = ")[0]
    lines[index] = f"{key} = {value}"
    _parse_or_config_error("\n".join(lines))
