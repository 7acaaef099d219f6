"""The rtnetlink codec: round trips, hostile input, views, and the fast request encoder."""

from __future__ import annotations

import contextlib
import socket
import struct
from ipaddress import ip_address, ip_network

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netlinkbgp.codec import (
    AddressMessage,
    DoneMessage,
    ErrorMessage,
    LinkMessage,
    RouteMessage,
    Unknown,
    build_route,
    decode_messages,
    encode_message,
)
from netlinkbgp.codec.constants import Ifla, IflaInfo, NlmFlag, Rta, RtmType, RtTable
from netlinkbgp.codec.messages import with_header
from netlinkbgp.codec.route_requests import (
    PackedRoutes,
    RouteSpec,
    encode_route_requests,
    pack_prefix,
    unpack_prefix,
)
from netlinkbgp.errors import DecodeError, LocalProtocolError
from tests import strategies as s

FAST = settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)


@FAST
@given(s.message)
def test_message_round_trip(msg: object) -> None:
    data = encode_message(msg)  # type: ignore[arg-type]
    assert len(data) % 4 == 0
    (back,) = decode_messages(data)
    assert back == msg
    assert type(back) is type(msg)
    assert encode_message(back) == data


@FAST
@given(st.lists(s.message, min_size=1, max_size=5))
def test_datagram_of_many_messages(msgs: list[object]) -> None:
    data = b"".join(encode_message(m) for m in msgs)  # type: ignore[arg-type]
    assert decode_messages(data) == msgs


@FAST
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_decode_error(data: bytes) -> None:
    try:
        decode_messages(data)
    except DecodeError as exc:
        assert 0 <= exc.offset <= len(data)


@FAST
@given(s.message, st.data())
def test_truncation_raises_only_decode_error(msg: object, data: st.DataObject) -> None:
    encoded = encode_message(msg)  # type: ignore[arg-type]
    length = struct.unpack_from("=I", encoded)[0]
    cut = data.draw(st.integers(1, length - 1))
    with pytest.raises(DecodeError):
        decode_messages(encoded[:cut])


@FAST
@given(s.message, st.data())
def test_corrupted_lengths_raise_only_decode_error(msg: object, data: st.DataObject) -> None:
    encoded = bytearray(encode_message(msg))  # type: ignore[arg-type]
    position = data.draw(st.integers(0, len(encoded) - 1))
    encoded[position] = data.draw(st.integers(0, 255))
    with contextlib.suppress(DecodeError):  # anything else propagates and fails the test
        decode_messages(bytes(encoded))


def test_unknown_attribute_kept_byte_for_byte() -> None:
    raw = build_route(RtmType.RTM_NEWROUTE, ip_network("10.0.0.0/8"))
    msg = raw._replace(attrs=(*raw.attrs, (0x8000 | 300, Unknown(b"\x01\x02\x03"))))
    data = encode_message(msg)
    (back,) = decode_messages(data)
    assert back.attrs[-1] == (0x8000 | 300, Unknown(b"\x01\x02\x03"))
    assert encode_message(back) == data


def test_wrong_size_of_a_known_attribute_is_a_decode_error() -> None:
    msg = build_route(RtmType.RTM_NEWROUTE, ip_network("10.0.0.0/8"), metric=5)
    data = bytearray(encode_message(msg))
    # RTA_PRIORITY is the last attribute: give it 3 bytes instead of 4.
    struct.pack_into("=H", data, len(data) - 8, 7)
    with pytest.raises(DecodeError, match="4 bytes"):
        decode_messages(bytes(data))


def test_route_views() -> None:
    msg = build_route(
        RtmType.RTM_NEWROUTE, ip_network("2001:db8::/32"), gateway=ip_address("fe80::1"),
        oif=3, table=1000, metric=20, protocol=186,
    )
    assert msg.table == RtTable.RT_TABLE_COMPAT and msg.table_id == 1000
    assert msg.dst == ip_network("2001:db8::/32")
    assert msg.gateway == ip_address("fe80::1")
    assert (msg.oif, msg.priority, msg.protocol) == (3, 20, 186)


def test_ipv4_via_ipv6_uses_rta_via() -> None:
    msg = build_route(RtmType.RTM_NEWROUTE, ip_network("10.9.0.0/24"),
                      gateway=ip_address("fe80::1"), oif=2)
    assert msg.get(Rta.RTA_GATEWAY) is None
    assert msg.get(Rta.RTA_VIA).family == socket.AF_INET6
    assert msg.gateway == ip_address("fe80::1")


def test_multipath_weights() -> None:
    msg = build_route(
        RtmType.RTM_NEWROUTE, ip_network("10.0.0.0/24"),
        nexthops=[(ip_address("10.1.0.1"), 2, 1), (ip_address("10.2.0.1"), 3, 5)],
    )
    (back,) = decode_messages(encode_message(msg))
    assert [(h.ifindex, h.hops + 1) for h in back.multipath] == [(2, 1), (3, 5)]
    with pytest.raises(LocalProtocolError, match="weight"):
        build_route(RtmType.RTM_NEWROUTE, ip_network("10.0.0.0/24"),
                    nexthops=[(None, 2, 300)])


def test_link_vrf_table_from_constructed_message() -> None:
    # The vrf driver is not loaded on every machine: build what the kernel sends for
    # `ip link add red type vrf table 1001` and check the parse.
    table = struct.pack("=I", 1001)
    info = ((IflaInfo.IFLA_INFO_KIND, "vrf"), (IflaInfo.IFLA_INFO_DATA, ((1, Unknown(table)),)))
    msg = LinkMessage(RtmType.RTM_NEWLINK, 0, 0, 0, 0, 1, 7, 1, 0,
                      ((Ifla.IFLA_IFNAME, "red"), (Ifla.IFLA_LINKINFO, info)))
    (back,) = decode_messages(encode_message(msg))
    assert (back.ifname, back.kind, back.vrf_table, back.ifindex) == ("red", "vrf", 1001, 7)
    slave = msg._replace(attrs=((Ifla.IFLA_IFNAME, "eth1"), (Ifla.IFLA_MASTER, 7)))
    assert decode_messages(encode_message(slave))[0].master == 7


def test_error_with_extended_ack() -> None:
    request = struct.pack("=IHHII", 44, RtmType.RTM_NEWROUTE, 0x605, 42, 0)
    ext = ((1, "Nexthop has invalid gateway"), (2, 36))
    msg = ErrorMessage(NlmFlag.NLM_F_CAPPED | NlmFlag.NLM_F_ACK_TLVS, 42, 0, -101, request, ext)
    (back,) = decode_messages(encode_message(msg))
    assert isinstance(back, ErrorMessage)
    assert (back.errno, back.extack, back.extack_offset, back.request_seq) == (
        101, "Nexthop has invalid gateway", 36, 42)


def test_uncapped_error_echoes_the_whole_request() -> None:
    request = encode_message(build_route(RtmType.RTM_NEWROUTE, ip_network("10.0.0.0/8"), seq=9))
    msg = ErrorMessage(0, 9, 0, -17, request)
    (back,) = decode_messages(encode_message(msg))
    assert back.request == request and back.errno == 17
    assert back.request_seq == 9


def test_done_variants() -> None:
    assert decode_messages(encode_message(DoneMessage(2, 1, 0, None))) == [
        DoneMessage(2, 1, 0, None)
    ]
    assert decode_messages(encode_message(DoneMessage(2, 1, 0, -4)))[0].error == -4


def test_address_views() -> None:
    msg = AddressMessage(RtmType.RTM_NEWADDR, 0, 0, 0, socket.AF_INET, 24, 0x80, 0, 2, (
        (1, bytes([10, 0, 0, 1])), (2, bytes([10, 0, 0, 1])), (3, "eth0"), (8, 0x280)))
    assert msg.address == ip_address("10.0.0.1")
    assert msg.network == ip_network("10.0.0.0/24")
    assert msg.all_flags == 0x280


def test_encode_rejects_bad_values() -> None:
    msg = build_route(RtmType.RTM_NEWROUTE, ip_network("10.0.0.0/8"))
    with pytest.raises(LocalProtocolError):
        encode_message(msg._replace(attrs=((Rta.RTA_OIF, -1),)))
    with pytest.raises(LocalProtocolError):
        encode_message(msg._replace(attrs=((Rta.RTA_DST, b"\x01\x02"),)))
    with pytest.raises(LocalProtocolError):
        encode_message(msg._replace(attrs=((500, 7),)))  # unknown type needs Unknown
    with pytest.raises(LocalProtocolError):
        encode_message(msg._replace(dst_len=300))


@FAST
@given(s.route_spec, st.sampled_from([RtmType.RTM_NEWROUTE, RtmType.RTM_DELROUTE]), s.u32)
def test_fast_route_encoder_matches_general_path(spec: RouteSpec, msg_type: int, seq: int) -> None:
    fast = encode_route_requests([spec], msg_type, NlmFlag.NLM_F_CREATE, seq)
    general = build_route(
        msg_type, ip_network((spec.dst, spec.dst_len), strict=False), table=spec.table,
        gateway=ip_address(spec.gateway) if spec.gateway else None, oif=spec.oif,
        metric=spec.metric, protocol=spec.protocol, route_type=spec.type,
        onlink=spec.onlink, seq=seq,
        flags=NlmFlag.NLM_F_REQUEST | NlmFlag.NLM_F_CREATE | NlmFlag.NLM_F_ACK,
    )
    (decoded,) = decode_messages(fast)
    expected = general._replace(attrs=tuple(
        (t, spec.dst) if t == Rta.RTA_DST else (t, v) for t, v in general.attrs))
    assert decoded == expected


def test_fast_encoder_numbers_requests_and_acks_only_the_last() -> None:
    specs = [RouteSpec.of(ip_network(f"10.{i}.0.0/16"), table=100) for i in range(3)]
    msgs = decode_messages(encode_route_requests(specs, RtmType.RTM_NEWROUTE, 0, 7))
    assert [m.seq for m in msgs] == [7, 8, 9]
    assert [bool(m.flags & NlmFlag.NLM_F_ACK) for m in msgs] == [False, False, True]
    assert all(isinstance(m, RouteMessage) and m.table_id == 100 for m in msgs)


def test_with_header_keeps_everything_else() -> None:
    msg = build_route(RtmType.RTM_NEWROUTE, ip_network("10.0.0.0/8"))
    again = with_header(msg, seq=5, flags=1)
    assert (again.seq, again.flags) == (5, 1) and again.attrs == msg.attrs
    done = with_header(DoneMessage(), seq=3)
    assert isinstance(done, DoneMessage) and done.seq == 3


def test_learned_route_shapes_decode_like_the_walk() -> None:
    """Messages that share a block length and first header but differ later are not mistaken
    for the learned shape; every message decodes as the generic walk does."""
    from netlinkbgp.codec.attrs import decode_attrs
    from netlinkbgp.codec.route_attrs import RouteShapes
    from netlinkbgp.codec.specs import ROUTE_SPEC

    base = build_route(RtmType.RTM_NEWROUTE, ip_network("10.0.0.0/24"), oif=2, metric=5,
                       table=1000)
    twin = base._replace(attrs=tuple((Rta.RTA_MARK, v) if t == Rta.RTA_PRIORITY else (t, v)
                                     for t, v in base.attrs))
    v6 = build_route(RtmType.RTM_NEWROUTE, ip_network("2001:db8::/64"),
                     gateway=ip_address("fe80::1"), oif=3, metric=1024)
    v6 = v6._replace(attrs=(*v6.attrs, (Rta.RTA_CACHEINFO, s.RouteCacheInfo(1, 2, -3)),
                            (Rta.RTA_PREF, 0)))
    msgs = [base, twin, base, v6, twin, v6, base]
    data = b"".join(encode_message(m) for m in msgs)
    shapes = RouteShapes()
    assert decode_messages(data, shapes) == msgs
    assert decode_messages(data, shapes) == msgs  # again, with every shape learned
    for msg in msgs:
        encoded = encode_message(msg)
        assert decode_attrs(encoded, 28, len(encoded), ROUTE_SPEC) == msg.attrs


def test_remembered_route_blocks_decode_like_the_walk() -> None:
    """Routes differing only by destination reuse the pairs decoded for the first one; any
    other difference (gateway, metric, cacheinfo) is a different template, and past
    MAX_TEMPLATES of them a dump stops remembering. Every message still decodes as the walk
    does."""
    from netlinkbgp.codec.attrs import decode_attrs
    from netlinkbgp.codec.route_attrs import MAX_TEMPLATES, RouteShapes
    from netlinkbgp.codec.specs import ROUTE_SPEC

    msgs = []
    for i in range(MAX_TEMPLATES + 50):
        v6 = build_route(RtmType.RTM_NEWROUTE, ip_network(f"2001:db8:{i:x}::/64"),
                         gateway=ip_address(f"fe80::{i % 3 + 1}"), oif=3, metric=1024)
        msgs.append(v6._replace(attrs=(*v6.attrs,
                                       (Rta.RTA_CACHEINFO, s.RouteCacheInfo(0, 0, i)))))
        msgs.append(build_route(RtmType.RTM_NEWROUTE, ip_network(f"10.{i % 256}.{i // 256}.0/24"),
                                gateway=ip_address("192.0.2.1"), table=100))
    data = b"".join(encode_message(m) for m in msgs)
    shapes = RouteShapes()
    assert decode_messages(data, shapes) == msgs
    # Full: the last 50 were not remembered, and the dump stopped looking templates up.
    assert len(shapes.templates) == MAX_TEMPLATES and not shapes.cuts
    assert decode_messages(data, shapes) == msgs
    for msg in decode_messages(data, shapes)[:8]:
        encoded = encode_message(msg)
        assert decode_attrs(encoded, 28, len(encoded), ROUTE_SPEC) == msg.attrs


def _route_variant(i: int, variant: int) -> bytes:
    """Route message ``i`` of a dump, one of a few variants that differ outside RTA_DST."""
    if variant < 4:  # IPv4: gateway, metric, flags or sequence number differ
        msg = build_route(RtmType.RTM_NEWROUTE, ip_network(f"10.{i % 256}.{i // 256 % 256}.0/24"),
                          gateway=ip_address(f"192.0.2.{1 + variant % 2}"), table=100, oif=3,
                          metric=None if variant < 2 else 7, flags=0x2, seq=5)
        if variant == 3:
            msg = msg._replace(flags=0x2 | int(NlmFlag.NLM_F_DUMP_INTR), seq=6)
        return encode_message(msg)
    v6 = build_route(RtmType.RTM_NEWROUTE, ip_network(f"2001:db8:{i:x}::/64"),
                     gateway=ip_address("fe80::1"), oif=3, metric=1024, flags=0x2, seq=5)
    if variant == 4:  # cacheinfo that varies
        v6 = v6._replace(attrs=(*v6.attrs, (Rta.RTA_CACHEINFO, s.RouteCacheInfo(0, i % 3, 0)),
                                (Rta.RTA_PREF, 0)))
        return encode_message(v6)
    # An unaligned message: RTA_PREF last, its padding left out of nlmsg_len.
    data = encode_message(v6._replace(attrs=(*v6.attrs, (Rta.RTA_PREF, 1))))
    return struct.pack("=I", len(data) - 3) + data[4:]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(1, 40)), min_size=1, max_size=12))
def test_dump_runs_decode_like_one_message_at_a_time(pieces: list[tuple[int, int]]) -> None:
    """A datagram of route messages in runs of like ones (the way dumps come), broken by
    other variants at random places, decodes as each message does alone, twice over (the
    second time everything is remembered)."""
    from netlinkbgp.codec.route_attrs import RouteShapes

    parts = []
    i = 0
    for variant, count in pieces:
        for _ in range(count):
            data = _route_variant(i, variant)
            parts.append(data + bytes(-len(data) % 4))
            i += 1
    alone = [decode_messages(part)[0] for part in parts]
    shapes = RouteShapes()
    datagram = b"".join(parts)
    assert decode_messages(datagram, shapes) == alone
    assert decode_messages(datagram, shapes) == alone
    half = len(parts) // 2
    assert decode_messages(b"".join(parts[:half]), shapes) == alone[:half]
    with pytest.raises(DecodeError):  # a run never takes in a truncated message
        decode_messages(datagram[:-4], shapes)


def test_batched_requests_match_requests_encoded_alone() -> None:
    """Requests packed from a template (same fields but the destination) are the bytes each
    spec gives on its own; the ACK flag aside, which only the last one carries."""
    gw4, gw6 = ip_address("10.0.0.2").packed, ip_address("fe80::1").packed
    specs = []
    for i in range(40):
        specs.append(RouteSpec(2, bytes((20, i, 0, 0)), 16, 100 + i % 2, 186, None, gw4))
        specs.append(RouteSpec(2, bytes((21, i, 0, 0)), 16, 1000, 186, 20 + i % 3, gw4, 2))
        specs.append(RouteSpec(10, bytes(15) + bytes((i,)), 128, 254, 186, 1024, gw6, 3, True))
        specs.append(RouteSpec(2, bytes((22, i, 0, 0)), 24, 100, 186, None, gw6))  # RTA_VIA
        specs.append(RouteSpec(2, bytes((23, i, 0, 0)), 24, 100, 186, None, None, 2))
    for msg_type, flags in ((RtmType.RTM_NEWROUTE, 0x600), (RtmType.RTM_DELROUTE, 0)):
        together = encode_route_requests(specs, msg_type, flags, 9)
        alone = b"".join(encode_route_requests([spec], msg_type, flags, 9 + i)
                         for i, spec in enumerate(specs))
        ack = int(NlmFlag.NLM_F_ACK)
        assert [m._replace(flags=m.flags & ~ack) for m in decode_messages(together)] == [
            m._replace(flags=m.flags & ~ack) for m in decode_messages(alone)]
        assert len(together) == len(alone)
    bad = [specs[0], specs[0]._replace(dst=bytes(3)), specs[0]._replace(table=2**32)]
    with pytest.raises(LocalProtocolError):
        encode_route_requests(bad, RtmType.RTM_NEWROUTE, 0, 1)
    with pytest.raises(LocalProtocolError):
        encode_route_requests([specs[0], specs[0]._replace(dst=bytes(3))],
                              RtmType.RTM_NEWROUTE, 0, 1)


def test_packed_routes_encode_as_their_specs() -> None:
    """PackedRoutes (packed destinations + shared rests) give the bytes, specs, slices,
    delete order and errors of the equivalent list of RouteSpecs."""
    gw4, gw6 = ip_address("10.0.0.2").packed, ip_address("fe80::1").packed
    rests = [(100, 186, None, gw4, 0, False, 1), (1000, 186, 20, gw4, 2, False, 1),
             (254, 186, 1024, gw6, 3, True, 1), (100, 186, None, gw6, 0, False, 1),
             (100, 186, None, None, 2, False, 1), (300, 186, 7, None, 0, False, 1)]
    nets = [ip_network(n) for n in ("20.1.0.0/16", "20.1.0.0/24", "0.0.0.0/0",
                                     "2001:db8::/64", "2001:db8::/48", "255.255.255.255/32",
                                     "ffff::/128", "20.0.0.0/16")]
    prefixes, shared, specs = [], [], []
    for i in range(300):
        net = nets[(i * 7) % len(nets)] if i % 5 else nets[i % len(nets)]
        rest = rests[(i // 3) % len(rests)]
        family = 2 if net.version == 4 else 10
        prefixes.append(pack_prefix(net))
        shared.append(rest)
        specs.append(RouteSpec(family, net.network_address.packed, net.prefixlen, *rest))
    assert [unpack_prefix(p) for p in prefixes] == [s[:3] for s in specs]
    packed = PackedRoutes(prefixes, shared)
    assert list(packed) == specs and len(packed) == len(specs)
    assert list(packed[10:50]) == specs[10:50] and packed[-1] == specs[-1]
    for msg_type, flags in ((RtmType.RTM_NEWROUTE, 0x600), (RtmType.RTM_DELROUTE, 0)):
        assert encode_route_requests(packed, msg_type, flags, 9) == encode_route_requests(
            specs, msg_type, flags, 9)
        assert encode_route_requests(packed[5:6], msg_type, flags, 3) == (
            encode_route_requests(specs[5:6], msg_type, flags, 3))
    order = sorted(range(len(specs)), key=lambda i: (specs[i][0], specs[i][1]), reverse=True)
    assert packed.descending() == order
    assert list(packed.take(order)) == [specs[i] for i in order]
    bad = PackedRoutes([prefixes[0], prefixes[0]], [shared[0], (2**32, 186, None, None, 0,
                                                                False, 1)])
    with pytest.raises(LocalProtocolError, match="does not fit"):
        encode_route_requests(bad, RtmType.RTM_NEWROUTE, 0, 1)
    with pytest.raises(LocalProtocolError, match="does not fit"):
        encode_route_requests(PackedRoutes([prefixes[0]], [shared[0]]), RtmType.RTM_NEWROUTE,
                              0, 2**32)
    with pytest.raises(LocalProtocolError, match="does not fit"):  # the template's pack
        encode_route_requests(PackedRoutes([prefixes[0]] * 2, [shared[0]] * 2),
                              RtmType.RTM_NEWROUTE, 0, 2**32 - 1)
    with pytest.raises(LocalProtocolError):
        PackedRoutes([1], [])
