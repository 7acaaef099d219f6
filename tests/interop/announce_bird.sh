#!/bin/sh
# Announce one prefix to a BGP peer (BIRD, or any other) with `netlinkbgp announce`, keep it
# announced for SECONDS (or until this script gets SIGINT/SIGTERM), withdraw it, and say how
# it went. The exit status is the one of `netlinkbgp announce`:
#   0  announced, then withdrawn cleanly
#   4  no session (wrong AS, nobody listening...): the reason is on standard error
#   5  the session went down while the prefix was announced
#   2  bad usage
#
# usage: announce_bird.sh PEER LOCAL_AS PEER_AS PREFIX [SECONDS]
#   NETLINKBGP       the command to run (default: netlinkbgp)
#   CONNECT_TIMEOUT  seconds to wait for the session (default: 30)
#
# e.g.   announce_bird.sh 10.77.0.1 4200000002 65001 10.9.0.0/24 60
#
# tests/interop/test_announce_bird.py runs it against BIRD 2 in a network namespace.

set -u

if [ $# -lt 4 ] || [ $# -gt 5 ]; then
    echo "usage: $0 PEER LOCAL_AS PEER_AS PREFIX [SECONDS]" >&2
    exit 2
fi
peer=$1
local_as=$2
peer_as=$3
prefix=$4
seconds=${5:-30}

# Started in the background so that a signal to this script reaches it: on SIGINT/SIGTERM
# `netlinkbgp announce` withdraws the prefix and closes the session before it exits.
# NETLINKBGP is split into words on purpose ("python3 -m netlinkbgp" works).
# shellcheck disable=SC2086
${NETLINKBGP:-netlinkbgp} announce "$prefix" --peer "$peer" \
    --local-as "$local_as" --peer-as "$peer_as" \
    --for "$seconds" --connect-timeout "${CONNECT_TIMEOUT:-30}" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' INT TERM

# A trapped signal interrupts `wait` (status > 128) while the child is still withdrawing:
# wait again until it is really gone, then its own status is the one we got.
while :; do
    wait "$child"
    status=$?
    kill -0 "$child" 2>/dev/null || break
done

case $status in
    0) echo "$prefix was announced to $peer and withdrawn" ;;
    4) echo "no BGP session with $peer: $prefix was never announced" >&2 ;;
    5) echo "the session with $peer went down while $prefix was announced" >&2 ;;
    *) echo "netlinkbgp announce failed (exit status $status)" >&2 ;;
esac
exit "$status"
