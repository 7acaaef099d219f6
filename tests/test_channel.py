"""The sans-IO channel: sequence numbers, ACKs, batches and dumps, with hand-made replies."""

from __future__ import annotations

import struct
from ipaddress import ip_network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netlinkbgp.codec import DoneMessage, ErrorMessage, RouteMessage, encode_message
from netlinkbgp.codec.channel import BatchReply, Channel, Reply
from netlinkbgp.codec.constants import NlmFlag, RtmType
from netlinkbgp.codec.messages import HDR, build_route, dump_request
from netlinkbgp.errors import LocalProtocolError


def ack(seq: int, error: int = 0, text: str = "") -> bytes:
    """The NLMSG_ERROR the kernel sends for request ``seq`` (capped, with ext-ack text)."""
    attrs = ((1, text),) if text else ()
    flags = NlmFlag.NLM_F_CAPPED | (NlmFlag.NLM_F_ACK_TLVS if attrs else 0)
    echo = HDR.pack(40, RtmType.RTM_NEWROUTE, 5, seq, 0)
    return encode_message(ErrorMessage(flags, seq, 0, error, echo, attrs))


def route(seq: int, flags: int = NlmFlag.NLM_F_MULTI) -> bytes:
    msg = build_route(RtmType.RTM_NEWROUTE, ip_network(f"10.{seq % 250}.0.0/16"), seq=seq)
    return encode_message(msg._replace(flags=flags))


def test_request_gets_its_ack() -> None:
    channel = Channel()
    seq, data = channel.request(build_route(RtmType.RTM_NEWROUTE, ip_network("10.0.0.0/8")))
    flags = struct.unpack_from("=H", data, 6)[0]
    assert flags & NlmFlag.NLM_F_REQUEST and flags & NlmFlag.NLM_F_ACK
    assert channel.pending == 1
    (reply,) = channel.receive(ack(seq))
    assert reply == Reply(seq)
    assert channel.pending == 0


def test_error_carries_errno_and_extack() -> None:
    channel = Channel()
    seq, _ = channel.request(build_route(RtmType.RTM_NEWROUTE, ip_network("10.0.0.0/8")))
    (reply,) = channel.receive(ack(seq, -101, "Nexthop has invalid gateway"))
    assert isinstance(reply, Reply) and reply.error is not None
    assert (reply.error.errno, reply.error.extack) == (101, "Nexthop has invalid gateway")


def test_quiet_requests_settle_with_a_later_ack() -> None:
    channel = Channel()
    quiet = [channel.request(build_route(RtmType.RTM_NEWROUTE, ip_network(f"10.{i}.0.0/16")),
                             ack=False)[0] for i in range(3)]
    last, _ = channel.request(build_route(RtmType.RTM_NEWROUTE, ip_network("11.0.0.0/8")))
    replies = channel.receive(ack(quiet[1], -17) + ack(last))
    assert [r.seq for r in replies if isinstance(r, Reply)] == [quiet[1], quiet[0], quiet[2], last]
    errors = {r.seq: r.error for r in replies if isinstance(r, Reply)}
    assert errors[quiet[1]] is not None and errors[quiet[1]].errno == 17
    assert errors[quiet[0]] is None and errors[quiet[2]] is None and errors[last] is None
    assert channel.pending == 0


def test_dump_collects_until_done_and_notes_interruption() -> None:
    channel = Channel()
    seq, _ = channel.request(dump_request(RtmType.RTM_GETROUTE), ack=False)
    assert channel.receive(route(seq) + route(seq)) == []
    intr = NlmFlag.NLM_F_MULTI | NlmFlag.NLM_F_DUMP_INTR
    (reply,) = channel.receive(route(seq) + encode_message(DoneMessage(intr, seq, 0, 0)))
    assert isinstance(reply, Reply)
    assert len(reply.messages) == 3 and all(isinstance(m, RouteMessage) for m in reply.messages)
    assert reply.interrupted and reply.error is None


def test_failed_dump() -> None:
    channel = Channel()
    seq, _ = channel.request(dump_request(RtmType.RTM_GETROUTE), ack=False)
    (reply,) = channel.receive(encode_message(DoneMessage(2, seq, 0, -22)))
    assert isinstance(reply, Reply) and reply.error is not None and reply.error.errno == 22


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 300), st.sets(st.integers(0, 299)), st.integers(0, 2**32 - 1))
def test_batch_reports_exactly_the_failures(count: int, failing: set[int], start: int) -> None:
    channel = Channel(first_seq=start)
    first = channel.reserve(count)
    assert first >= 1 and first + count - 1 <= 0xFFFFFFFF
    failing = {i for i in failing if i < count}
    data = b"".join(ack(first + i, -3, "nope") for i in sorted(failing) if i != count - 1)
    data += ack(first + count - 1, -3 if count - 1 in failing else 0)
    (reply,) = channel.receive(data)
    assert isinstance(reply, BatchReply)
    assert (reply.first, reply.count) == (first, count)
    assert {seq - first for seq in reply.errors} == failing
    assert channel.pending == 0


def test_batch_encodes_ack_on_last_only() -> None:
    channel = Channel()
    msgs = [build_route(RtmType.RTM_NEWROUTE, ip_network(f"10.{i}.0.0/16")) for i in range(4)]
    first, data = channel.batch(msgs)
    flags, offset = [], 0
    while offset < len(data):
        length, _, flag, seq, _ = HDR.unpack_from(data, offset)
        flags.append((seq - first, bool(flag & NlmFlag.NLM_F_ACK)))
        offset += (length + 3) & ~3
    assert flags == [(0, False), (1, False), (2, False), (3, True)]


def test_stray_replies_are_counted_not_raised() -> None:
    channel = Channel()
    assert channel.receive(ack(999)) == []
    assert channel.stray == 1


def test_abandon_and_bad_reserve() -> None:
    channel = Channel()
    channel.request(dump_request(RtmType.RTM_GETLINK), ack=False)
    first = channel.reserve(10)
    assert len(channel.abandon()) == 11 and channel.pending == 0
    assert channel.receive(ack(first + 9)) == []
    with pytest.raises(LocalProtocolError):
        channel.reserve(0)


def test_refused_dump_reports_the_kernels_text() -> None:
    """Captured from the kernel: a strict dump request with bad header values is refused with
    NLMSG_DONE (-EINVAL plus extended-ack text), not NLMSG_ERROR."""
    import json
    from pathlib import Path

    vector = json.loads((Path(__file__).parent / "vectors" / "netlink" /
                         "done_strict_dump_error.json").read_text())
    data = bytes.fromhex(vector["hex"])
    channel = Channel(first_seq=vector["expected"]["header"]["seq"])
    seq, _ = channel.request(dump_request(RtmType.RTM_GETROUTE), ack=False)
    (reply,) = channel.receive(data)
    assert isinstance(reply, Reply) and reply.seq == seq and reply.error is not None
    assert reply.error.errno == 22
    assert reply.error.extack == "Invalid values in header for FIB dump request"
