"""BGP-4 wire numbers, named as in the RFCs that assign them.

Every value is an :class:`enum.IntEnum` member (or a module constant) with a ``#:`` comment
naming the RFC section that defines it, so a hex dump can be read against the spec.
"""

from __future__ import annotations

import enum

__all__ = [
    "AFI",
    "AS_TRANS",
    "BGP_VERSION",
    "EXTENDED_MAX_MESSAGE_SIZE",
    "HEADER_SIZE",
    "MARKER",
    "MAX_MESSAGE_SIZE",
    "MIN_MESSAGE_SIZE",
    "SAFI",
    "AsPathSegmentType",
    "AttrFlag",
    "AttrType",
    "CapabilityCode",
    "CeaseSubcode",
    "ErrorCode",
    "FsmErrorSubcode",
    "MessageHeaderSubcode",
    "MessageType",
    "OpenSubcode",
    "RouteRefreshErrorSubcode",
    "RouteRefreshSubtype",
    "UpdateSubcode",
    "WellKnownCommunity",
]

#: RFC 4271 §4.1: the 16-octet marker, all ones.
MARKER = b"\xff" * 16
#: RFC 4271 §4.1: marker (16) + length (2) + type (1).
HEADER_SIZE = 19
#: RFC 4271 §4.1: "The value of the Length field MUST always be at least 19".
MIN_MESSAGE_SIZE = 19
#: RFC 4271 §4.1: "... and no greater than 4096".
MAX_MESSAGE_SIZE = 4096
#: RFC 8654 §4: with the Extended Message capability the limit is 65535.
EXTENDED_MAX_MESSAGE_SIZE = 65535
#: RFC 4271 §4.2: the current BGP version.
BGP_VERSION = 4
#: RFC 6793 §9: the reserved 2-octet AS number standing in for a 4-octet one.
AS_TRANS = 23456


class MessageType(enum.IntEnum):
    """BGP message types (RFC 4271 §4.1)."""

    OPEN = 1  #: RFC 4271 §4.2
    UPDATE = 2  #: RFC 4271 §4.3
    NOTIFICATION = 3  #: RFC 4271 §4.5
    KEEPALIVE = 4  #: RFC 4271 §4.4
    ROUTE_REFRESH = 5  #: RFC 2918 §3


class AttrFlag(enum.IntFlag):
    """Path attribute flag bits (RFC 4271 §4.3)."""

    OPTIONAL = 0x80  #: RFC 4271 §4.3, high-order bit (bit 0)
    TRANSITIVE = 0x40  #: RFC 4271 §4.3, bit 1
    PARTIAL = 0x20  #: RFC 4271 §4.3, bit 2
    EXTENDED_LENGTH = 0x10  #: RFC 4271 §4.3, bit 3


class AttrType(enum.IntEnum):
    """Path attribute type codes (IANA "BGP Path Attributes")."""

    ORIGIN = 1  #: RFC 4271 §5.1.1
    AS_PATH = 2  #: RFC 4271 §5.1.2
    NEXT_HOP = 3  #: RFC 4271 §5.1.3
    MULTI_EXIT_DISC = 4  #: RFC 4271 §5.1.4
    LOCAL_PREF = 5  #: RFC 4271 §5.1.5
    ATOMIC_AGGREGATE = 6  #: RFC 4271 §5.1.6
    AGGREGATOR = 7  #: RFC 4271 §5.1.7
    COMMUNITIES = 8  #: RFC 1997
    ORIGINATOR_ID = 9  #: RFC 4456 §8
    CLUSTER_LIST = 10  #: RFC 4456 §8
    MP_REACH_NLRI = 14  #: RFC 4760 §3
    MP_UNREACH_NLRI = 15  #: RFC 4760 §4
    EXTENDED_COMMUNITIES = 16  #: RFC 4360 §2
    AS4_PATH = 17  #: RFC 6793 §3
    AS4_AGGREGATOR = 18  #: RFC 6793 §3
    LARGE_COMMUNITY = 32  #: RFC 8092 §3


class AsPathSegmentType(enum.IntEnum):
    """AS_PATH segment types."""

    AS_SET = 1  #: RFC 4271 §4.3
    AS_SEQUENCE = 2  #: RFC 4271 §4.3
    AS_CONFED_SEQUENCE = 3  #: RFC 5065 §3
    AS_CONFED_SET = 4  #: RFC 5065 §3


class AFI(enum.IntEnum):
    """Address Family Identifiers (IANA "Address Family Numbers", used by RFC 4760)."""

    IPV4 = 1  #: RFC 4760 §3 / IANA Address Family Numbers
    IPV6 = 2  #: RFC 4760 §3 / IANA Address Family Numbers


class SAFI(enum.IntEnum):
    """Subsequent Address Family Identifiers (IANA "SAFI Values")."""

    UNICAST = 1  #: RFC 4760 §6
    MULTICAST = 2  #: RFC 4760 §6
    LABELED_UNICAST = 4  #: RFC 8277 §2
    MPLS_VPN = 128  #: RFC 4364 §4.3.4 / RFC 4659 §3.2


class CapabilityCode(enum.IntEnum):
    """Capability codes (IANA "Capability Codes", RFC 5492)."""

    MULTIPROTOCOL = 1  #: RFC 4760 §8
    ROUTE_REFRESH = 2  #: RFC 2918 §2
    EXTENDED_NEXT_HOP = 5  #: RFC 8950 §3
    EXTENDED_MESSAGE = 6  #: RFC 8654 §3
    GRACEFUL_RESTART = 64  #: RFC 4724 §3
    FOUR_OCTET_AS = 65  #: RFC 6793 §9
    ADD_PATH = 69  #: RFC 7911 §4
    ENHANCED_ROUTE_REFRESH = 70  #: RFC 7313 §3.1
    FQDN = 73  #: draft-walton-bgp-hostname-capability §3


class ErrorCode(enum.IntEnum):
    """NOTIFICATION error codes (RFC 4271 §4.5)."""

    MESSAGE_HEADER_ERROR = 1  #: RFC 4271 §4.5
    OPEN_MESSAGE_ERROR = 2  #: RFC 4271 §4.5
    UPDATE_MESSAGE_ERROR = 3  #: RFC 4271 §4.5
    HOLD_TIMER_EXPIRED = 4  #: RFC 4271 §4.5
    FSM_ERROR = 5  #: RFC 4271 §4.5
    CEASE = 6  #: RFC 4271 §4.5
    ROUTE_REFRESH_MESSAGE_ERROR = 7  #: RFC 7313 §5


class MessageHeaderSubcode(enum.IntEnum):
    """Message Header Error subcodes (RFC 4271 §6.1)."""

    UNSPECIFIC = 0  #: RFC 4271 §4.5 (no subcode)
    CONNECTION_NOT_SYNCHRONIZED = 1  #: RFC 4271 §6.1
    BAD_MESSAGE_LENGTH = 2  #: RFC 4271 §6.1
    BAD_MESSAGE_TYPE = 3  #: RFC 4271 §6.1


class OpenSubcode(enum.IntEnum):
    """OPEN Message Error subcodes (RFC 4271 §6.2)."""

    UNSPECIFIC = 0  #: RFC 4271 §4.5 (no subcode)
    UNSUPPORTED_VERSION_NUMBER = 1  #: RFC 4271 §6.2
    BAD_PEER_AS = 2  #: RFC 4271 §6.2
    BAD_BGP_IDENTIFIER = 3  #: RFC 4271 §6.2
    UNSUPPORTED_OPTIONAL_PARAMETER = 4  #: RFC 4271 §6.2
    UNACCEPTABLE_HOLD_TIME = 6  #: RFC 4271 §6.2
    UNSUPPORTED_CAPABILITY = 7  #: RFC 5492 §5
    ROLE_MISMATCH = 11  #: RFC 9234 §4.2


class UpdateSubcode(enum.IntEnum):
    """UPDATE Message Error subcodes (RFC 4271 §6.3)."""

    UNSPECIFIC = 0  #: RFC 4271 §4.5 (no subcode)
    MALFORMED_ATTRIBUTE_LIST = 1  #: RFC 4271 §6.3
    UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE = 2  #: RFC 4271 §6.3
    MISSING_WELL_KNOWN_ATTRIBUTE = 3  #: RFC 4271 §6.3
    ATTRIBUTE_FLAGS_ERROR = 4  #: RFC 4271 §6.3
    ATTRIBUTE_LENGTH_ERROR = 5  #: RFC 4271 §6.3
    INVALID_ORIGIN_ATTRIBUTE = 6  #: RFC 4271 §6.3
    INVALID_NEXT_HOP_ATTRIBUTE = 8  #: RFC 4271 §6.3
    OPTIONAL_ATTRIBUTE_ERROR = 9  #: RFC 4271 §6.3
    INVALID_NETWORK_FIELD = 10  #: RFC 4271 §6.3
    MALFORMED_AS_PATH = 11  #: RFC 4271 §6.3


class FsmErrorSubcode(enum.IntEnum):
    """Finite State Machine Error subcodes (RFC 6608 §3)."""

    UNSPECIFIED = 0  #: RFC 6608 §3
    UNEXPECTED_MESSAGE_IN_OPENSENT = 1  #: RFC 6608 §3
    UNEXPECTED_MESSAGE_IN_OPENCONFIRM = 2  #: RFC 6608 §3
    UNEXPECTED_MESSAGE_IN_ESTABLISHED = 3  #: RFC 6608 §3


class CeaseSubcode(enum.IntEnum):
    """Cease subcodes (RFC 4486 §4, RFC 8203 §2, RFC 9003)."""

    UNSPECIFIC = 0  #: RFC 4271 §4.5 (no subcode)
    MAXIMUM_NUMBER_OF_PREFIXES_REACHED = 1  #: RFC 4486 §4
    ADMINISTRATIVE_SHUTDOWN = 2  #: RFC 4486 §4, RFC 8203 §2 (shutdown communication)
    PEER_DE_CONFIGURED = 3  #: RFC 4486 §4
    ADMINISTRATIVE_RESET = 4  #: RFC 4486 §4, RFC 8203 §2 (shutdown communication)
    CONNECTION_REJECTED = 5  #: RFC 4486 §4
    OTHER_CONFIGURATION_CHANGE = 6  #: RFC 4486 §4
    CONNECTION_COLLISION_RESOLUTION = 7  #: RFC 4486 §4
    OUT_OF_RESOURCES = 8  #: RFC 4486 §4
    HARD_RESET = 9  #: RFC 8538 §3
    BFD_DOWN = 10  #: RFC 9384 §3


class RouteRefreshErrorSubcode(enum.IntEnum):
    """ROUTE-REFRESH Message Error subcodes (RFC 7313 §5)."""

    RESERVED = 0  #: RFC 7313 §5
    INVALID_MESSAGE_LENGTH = 1  #: RFC 7313 §5


class RouteRefreshSubtype(enum.IntEnum):
    """ROUTE-REFRESH message subtypes, the former Reserved octet (RFC 7313 §3.2)."""

    NORMAL = 0  #: RFC 7313 §3.2 (plain RFC 2918 route refresh request)
    BORR = 1  #: RFC 7313 §3.2, Beginning of Route Refresh
    EORR = 2  #: RFC 7313 §3.2, End of Route Refresh


class WellKnownCommunity(enum.IntEnum):
    """Well-known communities (IANA "BGP Well-known Communities")."""

    GRACEFUL_SHUTDOWN = 0xFFFF0000  #: RFC 8326 §4
    ACCEPT_OWN = 0xFFFF0001  #: RFC 7611 §2
    LLGR_STALE = 0xFFFF0006  #: RFC 9494 §4.1
    NO_LLGR = 0xFFFF0007  #: RFC 9494 §4.2
    BLACKHOLE = 0xFFFF029A  #: RFC 7999 §5
    NO_EXPORT = 0xFFFFFF01  #: RFC 1997
    NO_ADVERTISE = 0xFFFFFF02  #: RFC 1997
    NO_EXPORT_SUBCONFED = 0xFFFFFF03  #: RFC 1997
    NO_PEER = 0xFFFFFF04  #: RFC 3765 §4
