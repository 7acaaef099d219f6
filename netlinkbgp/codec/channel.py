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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from netlinkbgp.codec.constants import NlmFlag
from netlinkbgp.codec.messages import (
    DoneMessage,
    ErrorMessage,
    Message,
    decode_messages,
    encode_message,
    with_header,
)
from netlinkbgp.errors import NetlinkError

__all__ = ["MAX_BATCH_BYTES", "Channel", "Reply"]

#: Bytes per ``send`` for batches: the kernel's default netlink send buffer limit leaves room
#: for 64 KiB datagrams, and replies to one of them fit a default receive buffer.
MAX_BATCH_BYTES = 64 * 1024
#: Sequence numbers are u32; 0 is what the kernel uses for unsolicited events, so skip it.
_SEQ_LIMIT = 0xFFFFFFFF


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
        #: messages that matched no pending request (late replies of abandoned requests).
        self.stray = 0

    @property
    def pending(self) -> int:
        """Requests sent whose outcome is not known yet."""
        return len(self._pending)

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

    def batch(
        self, messages: Sequence[Message], max_bytes: int = MAX_BATCH_BYTES
    ) -> Iterator[tuple[list[int], bytes]]:
        """Prepare many requests, packed into datagrams of at most ``max_bytes``.

        Only the last request of each datagram asks for an ACK; errors still come back per
        request. Yields ``(sequence numbers, datagram)`` lazily, so the caller can send a
        datagram and read its replies before the next one is built.
        """
        count = len(messages)
        seqs: list[int] = []
        parts: list[bytes] = []
        size = 0
        for index, msg in enumerate(messages):
            seq, data = self.request(msg, ack=False)
            if parts and size + len(data) > max_bytes:
                self._ask_ack(seqs[-1], parts)
                yield seqs, b"".join(parts)
                seqs, parts, size = [], [], 0
            seqs.append(seq)
            parts.append(data)
            size += len(data)
            if index == count - 1:
                self._ask_ack(seq, parts)
                yield seqs, b"".join(parts)

    def _ask_ack(self, seq: int, parts: list[bytes]) -> None:
        """Turn the NLM_F_ACK bit on in the last prepared request of a datagram."""
        last = bytearray(parts[-1])
        flags = int.from_bytes(last[6:8], "little") | NlmFlag.NLM_F_ACK
        last[6:8] = flags.to_bytes(2, "little")
        parts[-1] = bytes(last)
        self._by_seq[seq].acked = True

    def abandon(self) -> list[int]:
        """Forget every pending request (after a socket error); returns their numbers."""
        seqs = [p.seq for p in self._pending]
        self._pending.clear()
        self._by_seq.clear()
        return seqs

    def receive(self, data: bytes) -> list[Reply]:
        """Feed one received datagram.

        Returns:
            Replies completed by it, in request order.

        Raises:
            DecodeError: the datagram is malformed.
        """
        done: list[Reply] = []
        for msg in decode_messages(data):
            pending = self._by_seq.get(msg.seq)
            if pending is None:
                self.stray += 1
                continue
            if isinstance(msg, ErrorMessage):
                error = None
                if msg.error:
                    error = NetlinkError(msg.errno, msg.extack, msg.extack_offset)
                self._settle(pending, error, done)
            elif isinstance(msg, DoneMessage):
                error = NetlinkError(-msg.error, "") if msg.error and msg.error < 0 else None
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

    def _settle(self, pending: _Pending, error: NetlinkError | None, out: list[Reply]) -> None:
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
