"""``netlinkbgp announce`` against BIRD 2 from a shell script (``announce_bird.sh``).

The script runs as a process in ``topo.ns_ours`` (``ip netns exec``), BIRD in
``topo.ns_daemon``; the test reads BIRD's table with ``birdc`` while the prefix is announced
and after the script exited, and checks the exit status and what the script printed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.interop.daemons import (
    POLL_INTERVAL_SECONDS,
    Bird,
    BirdPeer,
    DaemonError,
    Topology,
    bird_config,
    topology,
)

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("bird_available")]

SCRIPT = Path(__file__).with_name("announce_bird.sh")
ROOT = Path(__file__).resolve().parents[2]
BIRD_AS = 65001
OUR_AS = 4200000002
PREFIX = "10.9.0.0/24"
#: Seconds for anything the script should do promptly (it takes well under 2 s here; the
#: bound turns a hang into a readable failure).
WAIT_SECONDS = 20.0


def _script(topo: Topology, local_as: int, seconds: float, connect_timeout: float,
            peer: str | None = None) -> subprocess.Popen[str]:
    """Start the script in our namespace, running this checkout's ``netlinkbgp``."""
    env = dict(os.environ, NETLINKBGP=f"{sys.executable} -m netlinkbgp",
               CONNECT_TIMEOUT=str(connect_timeout),
               PYTHONPATH=os.pathsep.join(filter(None, (str(ROOT),
                                                        os.environ.get("PYTHONPATH")))))
    return subprocess.Popen(
        ["ip", "netns", "exec", topo.ns_ours, "sh", str(SCRIPT), peer or topo.daemon_v4,
         str(local_as), str(BIRD_AS), PREFIX, str(seconds)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=WAIT_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise DaemonError(f"the script did not exit within {WAIT_SECONDS} s; "
                          f"stdout: {out!r}; stderr: {err!r}") from None
    return proc.returncode, out, err


def _wait_prefix(bird: Bird, proc: subprocess.Popen[str]) -> list[str]:
    """Poll BIRD until it has our prefix from protocol ``ours`` (fails early when the script
    exits first)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        prefixes = [r["prefix"] for r in bird.routes("master4", "ours")]
        if PREFIX in prefixes:
            return prefixes
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                proc.kill()
            code, out, err = _finish(proc)
            raise DaemonError(f"{PREFIX} never reached BIRD (script exit {code}; stdout "
                              f"{out!r}; stderr {err!r}); BIRD: {bird.protocol_state('ours')}")
        time.sleep(POLL_INTERVAL_SECONDS)


def _bird(topo: Topology, expects_as: int) -> Bird:
    peer = BirdPeer("ours", topo.ours_v4, expects_as, local_address=topo.daemon_v4, ipv6=False,
                    passive=True)
    return Bird(topo.ns_daemon, bird_config(BIRD_AS, topo.daemon_v4, [peer]))


def test_script_announces_then_withdraws_on_sigterm() -> None:
    with topology("ab-ok") as topo, _bird(topo, OUR_AS) as bird:
        # --for is long: the script ends because it is told to (SIGTERM), as from a service
        proc = _script(topo, OUR_AS, seconds=300, connect_timeout=WAIT_SECONDS)
        while_announced = _wait_prefix(bird, proc)
        proc.send_signal(signal.SIGTERM)
        code, out, err = _finish(proc)
        after = [r["prefix"] for r in bird.routes("master4", "ours")]
        info = bird.protocol_info("ours")

    assert code == 0, (out, err)
    assert while_announced == [PREFIX]
    assert after == []
    assert out.splitlines() == [
        f"announced: prefixes=['{PREFIX}'] peer={topo.daemon_v4} "
        f"local_address={topo.ours_v4} hold_time=90",
        f"withdrawn: prefixes=['{PREFIX}']",
        f"{PREFIX} was announced to {topo.daemon_v4} and withdrawn",
    ], err
    assert err == ""
    # The session ended with our Cease / Administrative Shutdown, not a failure.
    assert "Administrative shutdown" in info.get("Last error", ""), info


def test_script_reports_the_notification_when_bird_expects_another_as() -> None:
    with topology("ab-as") as topo, _bird(topo, 65098) as bird:
        proc = _script(topo, OUR_AS, seconds=300, connect_timeout=3)
        code, out, err = _finish(proc)
        prefixes = [r["prefix"] for r in bird.routes("master4", "ours")]

    assert code == 4, (out, err)
    assert out == ""
    # each refused attempt is logged as it happens (a warning); then the summary
    lines = err.splitlines()[-2:]
    assert lines[0].startswith(f"netlinkbgp announce: no session with {topo.daemon_v4}: "
                               "NOTIFICATION received: OPEN_MESSAGE_ERROR / BAD_PEER_AS "
                               "(code 2, subcode 2)"), err
    assert lines[0].endswith("gave up after 3 s)"), err
    assert lines[1] == f"no BGP session with {topo.daemon_v4}: {PREFIX} was never announced"
    assert prefixes == []


def test_script_reports_why_when_nobody_listens() -> None:
    with topology("ab-none") as topo:
        proc = _script(topo, OUR_AS, seconds=300, connect_timeout=2)
        code, out, err = _finish(proc)

    assert code == 4, (out, err)
    assert out == ""
    assert err.startswith(f"netlinkbgp announce: no session with {topo.daemon_v4}: cannot "
                          f"connect to {topo.daemon_v4} port 179: Connection refused"), err
    assert err.endswith(f"no BGP session with {topo.daemon_v4}: {PREFIX} was never announced\n")
