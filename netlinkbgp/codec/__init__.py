"""rtnetlink codec: pure bytes <-> frozen values (DESIGN §1, §4).

Stable entry points: :func:`decode_messages` and :func:`encode_message`.
"""

from netlinkbgp.codec.attrs import (
    AddrCacheInfo,
    Attr,
    AttrValue,
    Kind,
    RouteCacheInfo,
    RtNextHop,
    RtVia,
    Unknown,
)
from netlinkbgp.codec.messages import (
    AddressMessage,
    DoneMessage,
    ErrorMessage,
    LinkMessage,
    Message,
    RawMessage,
    RouteMessage,
    build_route,
    decode_messages,
    dump_request,
    encode_message,
)

__all__ = [
    "AddrCacheInfo",
    "AddressMessage",
    "Attr",
    "AttrValue",
    "DoneMessage",
    "ErrorMessage",
    "Kind",
    "LinkMessage",
    "Message",
    "RawMessage",
    "RouteCacheInfo",
    "RouteMessage",
    "RtNextHop",
    "RtVia",
    "Unknown",
    "build_route",
    "decode_messages",
    "dump_request",
    "encode_message",
]
