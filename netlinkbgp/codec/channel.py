"""Sans-IO request/response bookkeeping for one netlink socket.

The kernel handles the requests of one socket in order, synchronously, inside ``sendmsg``. So
a reply (ACK, error, or the end of a dump) for sequence number *n* also settles every earlier
request that asked for no ACK: if no error came back for those, they succeeded. That lets a
batch go out with one acknowledged request per send and still give every request its own result.

The channel assigns sequence numbers, turns requests into bytes, and turns received datagrams
into :class:`Reply` values. It never touches a socket.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from netlinkbgp.codec.attrs import find
from netlinkbgp.codec.constants import NlmFlag, NlmsgerrAttr
from netlinkbgp.codec.messages import (
    AddressMessage,
    DoneMessage,
    ErrorMessage,
    LinkMessage,
    Message,
    RouteMessage,
    decode_messages,
    encode_message,
    with_header,
)
from netlinkbgp.codec.route_attrs import RouteShapes
from netlinkbgp.errors import LocalProtocolError, NetlinkError

__all__ = ["BatchReply", "Channel", "Reply"]

#: Sequence numbers are u32; 0 is what the kernel uses for unsolicited events, so skip it.
_SEQ_LIMIT = 0xFFFFFFFF
_DUMP_INTR = int(NlmFlag.NLM_F_DUMP_INTR)


@dataclass(frozen=True, slots=True)
class Reply:
    """The outcome of one request.

    Attributes:
        seq: the request's sequence number.
        messages: data messages received for it (a dump's entries, an echo, a GET answer).
        error: ``None`` on success, else the kernel's error.
        interrupted: NLM_F_DUMP_INTR was set: the dump raced with a change and may be
            inconsistent; repeat it.
    """

    seq: int
    messages: tuple[Message, ...] = ()
    error: NetlinkError | None = None
    interrupted: bool = False


@dataclass(frozen=True, slots=True)
class BatchReply:
    """The outcome of a batch datagram (:meth:`Channel.reserve`).

    Attributes:
        first: the first sequence number of the batch.
        count: how many requests it held.
        errors: the failed ones, by sequence number; every other request succeeded.
    """

    first: int
    count: int
    errors: dict[int, NetlinkError]


@dataclass(slots=True)
class _Batch:
    first: int
    last: int
    errors: dict[int, NetlinkError]


@dataclass(slots=True)
class _Pending:
    seq: int
    acked: bool  # the request asked for an ACK (or is a dump, which ends with NLMSG_DONE)
    dump: bool
    messages: list[Message]
    interrupted: bool = False


class Channel:
    """Sequence numbers and reply matching for one netlink socket (sans-IO).

    Args:
        first_seq: the first sequence number to use.
    """

    def __init__(self, first_seq: int = 1) -> None:
        self._next_seq = first_seq or 1
        self._pending: deque[_Pending] = deque()
        self._by_seq: dict[int, _Pending] = {}
        self._batches: list[_Batch] = []
        self._shapes = RouteShapes()
        #: messages that matched no pending request (late replies of abandoned requests).
        self.stray = 0

    @property
    def pending(self) -> int:
        """Requests sent whose outcome is not known yet."""
        return len(self._pending) + sum(b.last - b.first + 1 for b in self._batches)

    def _seq(self) -> int:
        seq = self._next_seq
        self._next_seq = seq + 1 if seq < _SEQ_LIMIT else 1
        return seq

    def request(self, msg: Message, *, ack: bool = True) -> tuple[int, bytes]:
        """Prepare one request.

        Args:
            msg: the message; its ``seq`` and request/ACK flags are set here.
            ack: ask for an ACK. Without one, success is only known when a later acked
                request of this channel completes.

        Returns:
            ``(seq, bytes to send)``.
        """
        seq = self._seq()
        flags = msg.flags | NlmFlag.NLM_F_REQUEST
        # RTM_GET* types are 2 mod 4 (18, 22, 26): with NLM_F_DUMP they end in NLMSG_DONE.
        get = getattr(msg, "msg_type", 0) % 4 == 2
        dump = get and flags & NlmFlag.NLM_F_DUMP == NlmFlag.NLM_F_DUMP
        flags = flags | NlmFlag.NLM_F_ACK if ack else flags & ~NlmFlag.NLM_F_ACK
        data = encode_message(with_header(msg, seq=seq, flags=flags))
        pending = _Pending(seq, ack or dump, dump, [])
        self._pending.append(pending)
        self._by_seq[seq] = pending
        return seq, data

    def reserve(self, count: int) -> int:
        """Reserve ``count`` consecutive sequence numbers for a batch datagram.

        The caller encodes requests with sequence numbers ``first .. first + count - 1``, only
        the last one asking for an ACK, sends them as one datagram and calls nothing else:
        the outcome arrives as one :class:`BatchReply`.

        Returns:
            The first sequence number.
        """
        if not 0 < count < _SEQ_LIMIT // 2:
            raise LocalProtocolError(f"cannot reserve {count} sequence numbers")
        if self._next_seq + count - 1 > _SEQ_LIMIT:
            self._next_seq = 1  # keep a batch's numbers consecutive across the wrap
        first = self._next_seq
        self._next_seq = first + count if first + count <= _SEQ_LIMIT else 1
        self._batches.append(_Batch(first, first + count - 1, {}))
        return first

    def batch(self, messages: Sequence[Message]) -> tuple[int, bytes]:
        """Encode ``messages`` as one batch datagram (see :meth:`reserve`).

        Returns:
            ``(first sequence number, datagram)``.
        """
        first = self.reserve(len(messages))
        last = len(messages) - 1
        parts = []
        for index, msg in enumerate(messages):
            flags = (msg.flags | NlmFlag.NLM_F_REQUEST) & ~NlmFlag.NLM_F_ACK
            if index == last:
                flags |= NlmFlag.NLM_F_ACK
            parts.append(encode_message(with_header(msg, seq=first + index, flags=flags)))
        return first, b"".join(parts)

    def release(self, first: int) -> None:
        """Forget the batch reserved at ``first`` that was never sent (no reply will come)."""
        self._batches = [b for b in self._batches if b.first != first]

    def abandon(self) -> list[int]:
        """Forget every pending request (after a socket error); returns their numbers."""
        seqs = [p.seq for p in self._pending]
        for batch in self._batches:
            seqs.extend(range(batch.first, batch.last + 1))
        self._pending.clear()
        self._by_seq.clear()
        self._batches.clear()
        return seqs

    def receive(self, data: bytes) -> list[Reply | BatchReply]:
        """Feed one received datagram.

        Returns:
            Replies completed by it, in request order.

        Raises:
            DecodeError: the datagram is malformed.
        """
        done: list[Reply | BatchReply] = []
        by_seq = self._by_seq
        last_seq = -1
        pending: _Pending | None = None
        for msg in decode_messages(data, self._shapes):
            seq = msg.seq
            if seq != last_seq:  # a dump's messages share one number: look it up once
                pending = by_seq.get(seq)
                last_seq = seq
            cls = type(msg)
            if pending is not None and (cls is RouteMessage or cls is LinkMessage
                                        or cls is AddressMessage):
                if msg.flags & _DUMP_INTR:
                    pending.interrupted = True
                pending.messages.append(msg)
                continue
            if pending is None:
                if isinstance(msg, ErrorMessage) and self._batch_reply(msg, done):
                    last_seq = -1  # the batch table changed
                    continue
                self.stray += 1
                continue
            if isinstance(msg, ErrorMessage):
                error = None
                if msg.error:
                    error = NetlinkError(msg.errno, msg.extack, msg.extack_offset)
                self._settle(pending, error, done)
            elif isinstance(msg, DoneMessage):
                # A dump the kernel refuses ends in NLMSG_DONE carrying -errno and, with
                # NLM_F_ACK_TLVS, the extended-ack text (not in an NLMSG_ERROR).
                error = None
                if msg.error is not None and msg.error < 0:
                    text = find(msg.attrs, NlmsgerrAttr.NLMSGERR_ATTR_MSG)
                    error = NetlinkError(-msg.error, text if isinstance(text, str) else "")
                if msg.flags & NlmFlag.NLM_F_DUMP_INTR:
                    pending.interrupted = True
                if pending.dump:
                    self._settle(pending, error, done)
                else:
                    pending.messages.append(msg)
            else:
                if msg.flags & NlmFlag.NLM_F_DUMP_INTR:
                    pending.interrupted = True
                pending.messages.append(msg)
        return done

    def _batch_reply(self, msg: ErrorMessage, out: list[Reply | BatchReply]) -> bool:
        """Account an ACK or error to the batch it belongs to; False if none does."""
        seq = msg.seq
        for position, batch in enumerate(self._batches):
            if batch.first <= seq <= batch.last:
                if msg.error:
                    batch.errors[seq] = NetlinkError(msg.errno, msg.extack, msg.extack_offset)
                if seq == batch.last:
                    del self._batches[position]
                    out.append(BatchReply(batch.first, batch.last - batch.first + 1, batch.errors))
                return True
        return False

    def _settle(
        self, pending: _Pending, error: NetlinkError | None, out: list[Reply | BatchReply]
    ) -> None:
        """Complete ``pending``; quiet requests sent before it succeeded."""
        if not pending.acked and error is not None:
            # An error for a quiet request: it alone is settled, the batch goes on.
            self._remove(pending)
            out.append(Reply(pending.seq, tuple(pending.messages), error, pending.interrupted))
            return
        # Every quiet request sent before this one has been handled by the kernel without an
        # error; acked ones before it (a dump still streaming) keep waiting for their own reply.
        keep: list[_Pending] = []
        while self._pending:
            first = self._pending.popleft()
            if first is pending:
                break
            if first.acked:
                keep.append(first)
                continue
            del self._by_seq[first.seq]
            out.append(Reply(first.seq, tuple(first.messages), None, first.interrupted))
        self._pending.extendleft(reversed(keep))
        del self._by_seq[pending.seq]
        out.append(Reply(pending.seq, tuple(pending.messages), error, pending.interrupted))

    def _remove(self, pending: _Pending) -> None:
        del self._by_seq[pending.seq]
        self._pending.remove(pending)  # _by_seq and _pending always hold the same requests
