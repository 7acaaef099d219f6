"""``netlinkbgp route ...`` and ``netlinkbgp demo``, run in private network namespaces."""

from __future__ import annotations

import contextlib
import ctypes
import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from netlinkbgp import testing
from netlinkbgp.cli import build_parser, main
from netlinkbgp.demo import run_demo

pytestmark = pytest.mark.usefixtures("netns")


def _run(*commands: list[str], stdin: str = "") -> list[tuple[int, str, str]]:
    """Run CLI invocations in one namespace with t0 (10.0.0.1/24) set up."""
    testing.veth_pair("t0", "t1")
    testing.ip("addr", "add", "10.0.0.1/24", "dev", "t0")
    testing.ip("-6", "addr", "add", "2001:db8::1/64", "dev", "t0", "nodad")
    results = []
    for argv in commands:
        out, err = io.StringIO(), io.StringIO()
        sys.stdin = io.StringIO(stdin)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
        results.append((code, out.getvalue(), err.getvalue()))
    return results


def test_add_show_replace_delete() -> None:
    results = testing.run_in_netns(
        _run,
        ["route", "add", "192.0.2.0/24", "via", "10.0.0.2", "table", "100", "metric", "20",
         "proto", "bgp"],
        ["route", "add", "2001:db8:9::/48", "via", "2001:db8::2", "dev", "t0", "table", "70000"],
        ["route", "show", "table", "100"],
        ["--json", "route", "show", "table", "all", "proto", "bgp"],
        ["route", "replace", "192.0.2.0/24", "via", "10.0.0.3", "table", "100", "metric", "20",
         "proto", "bgp"],
        ["route", "show", "table", "100", "--json"],
        ["route", "del", "192.0.2.0/24", "table", "100", "metric", "20", "proto", "bgp"],
        ["route", "show", "table", "100"],
        ["route", "show", "2001:db8:9::/48", "table", "70000"],
    )
    codes = [r[0] for r in results]
    assert codes == [0] * 9, results
    assert results[2][1] == "192.0.2.0/24 via 10.0.0.2 dev t0 table 100 proto bgp metric 20\n"
    shown = json.loads(results[3][1])
    assert [(r["dst"], r["table"], r["protocol"]) for r in shown] == [
        ("192.0.2.0/24", "100", "bgp")
    ]
    assert json.loads(results[5][1])[0]["gateway"] == "10.0.0.3"
    assert results[7][1] == ""
    assert results[8][1].startswith("2001:db8:9::/48 via 2001:db8::2 dev t0 table 70000")


def test_errors_have_readable_text_and_exit_codes() -> None:
    results = testing.run_in_netns(
        _run,
        ["route", "add", "192.0.2.0/24", "via", "10.99.0.1"],  # unreachable gateway
        ["route", "add", "192.0.2.0/24", "via", "bogus"],
        ["route", "add", "192.0.2.1/24"],  # host bits
        ["route", "add", "192.0.2.0/24", "dev", "nope0"],
        ["route", "del", "198.51.100.0/24", "proto", "bgp"],
        ["route", "flush", "table", "100"],  # without proto: refused
        ["route", "frobnicate"],
    )
    codes = [r[0] for r in results]
    assert codes == [1, 2, 2, 2, 1, 2, 2]
    assert "Nexthop has invalid gateway" in results[0][2]
    assert "'bogus' is not an IP address" in results[1][2]
    assert "host bits" in results[2][2]
    assert "no network device named 'nope0'" in results[3][2]
    assert "ESRCH" in results[4][2]
    assert "proto" in results[5][2]


def test_batch_file_reports_each_bad_line(tmp_path: Path) -> None:
    lines = ["# routes for the test", ""]
    lines += [f"route add 20.0.{i}.0/24 via 10.0.0.2 table 300 proto 186" for i in range(200)]
    lines[50] = "add 20.9.9.0/24 via 10.77.0.1 table 300 proto 186"  # kernel refuses
    lines[60] = "add 20.9.9.300/24 table 300"  # we refuse
    lines += ["del 20.0.7.0/24 table 300 proto 186",
              "replace 20.0.8.0/24 via 10.0.0.3 table 300 proto 186"]
    batch = tmp_path / "routes.txt"
    batch.write_text("\n".join(lines) + "\n")
    results = testing.run_in_netns(
        _run, ["route", "-b", str(batch), "--json"], ["--json", "route", "show", "table", "300"],
        ["route", "flush", "table", "300", "proto", "186"], ["route", "show", "table", "300"],
    )
    code, out, err = results[0]
    assert code == 1
    report = json.loads(out)
    assert [f["line"] for f in report["failed"]] == [51, 61]
    assert "line 51:" in err and "line 61:" in err
    shown = {r["dst"]: r for r in json.loads(results[1][1])}
    assert len(shown) == 198 - 1  # 200 adds, 2 bad, one deleted
    assert "20.0.7.0/24" not in shown
    assert shown["20.0.8.0/24"]["gateway"] == "10.0.0.3"
    assert results[2][1] == "deleted 197 routes\n"
    assert results[3][1] == ""


def test_batch_from_stdin() -> None:
    results = testing.run_in_netns(
        _run, ["route", "-b", "-"], ["route", "show"],
        stdin="add 192.0.2.0/24 via 10.0.0.2\nadd 198.51.100.0/24 dev t0\n",
    )
    assert results[0][0] == 0
    assert "192.0.2.0/24 via 10.0.0.2 dev t0" in results[1][1]
    assert "198.51.100.0/24 dev t0 scope link" in results[1][1]


def _monitor() -> list[str]:
    # Only `lo` (up before this runs): a new veth would add IPv6 routes a moment later, when
    # its carrier comes up, and the monitor would rightly print those too.
    read_fd, write_fd = os.pipe()
    child = os.fork()
    if child == 0:  # the monitor, printing JSON lines into the pipe
        os.close(read_fd)
        signal.alarm(30)  # never outlive a broken test
        with os.fdopen(write_fd, "w") as pipe, contextlib.redirect_stdout(pipe):
            os._exit(main(["route", "monitor", "count", "2", "--json"]))
    os.close(write_fd)
    # The monitor needs a moment to subscribe: change routes until it has seen two changes
    # and exited (bounded: 20 s).
    for attempt in range(400):
        testing.ip("route", "add", f"192.0.2.{attempt % 250}", "dev", "lo")
        testing.ip("route", "del", f"192.0.2.{attempt % 250}", "dev", "lo")
        if os.waitpid(child, os.WNOHANG)[0]:
            break
        time.sleep(0.05)
    else:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
    with os.fdopen(read_fd) as pipe:
        return pipe.read().splitlines()


def test_monitor_prints_changes() -> None:
    lines = [json.loads(line) for line in testing.run_in_netns(_monitor)]
    assert len(lines) == 2, lines
    events = {line["event"] for line in lines}
    assert events <= {"add", "delete"} and all(line["dst"].startswith("192.0.2.") for line in lines)


@pytest.mark.skipif(os.geteuid() != 0, reason="named namespaces (ip netns add) need root")
def test_named_netns_option() -> None:
    name = f"nlbgp-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        cmd = [sys.executable, "-m", "netlinkbgp", "--netns", name, "route"]
        add = subprocess.run([*cmd, "add", "198.18.7.0/24", "dev", "lo"], capture_output=True)
        assert add.returncode == 0, add.stderr
        shown = subprocess.run(["ip", "-n", name, "-j", "route", "show"], capture_output=True,
                               text=True, check=True)
        assert any(r["dst"] == "198.18.7.0/24" for r in json.loads(shown.stdout))
        here = subprocess.run(["ip", "-j", "route", "show", "198.18.7.0/24"], capture_output=True,
                              text=True, check=True)
        assert json.loads(here.stdout or "[]") == []  # not in this namespace
        missing = subprocess.run([sys.executable, "-m", "netlinkbgp", "--netns", "no-such-ns",
                                  "route", "show"], capture_output=True, text=True)
        assert missing.returncode == 3 and "no-such-ns" in missing.stderr
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def test_demo_runs_and_says_what_happened() -> None:
    out = subprocess.run([sys.executable, "-m", "netlinkbgp", "demo", "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    steps: dict[str, Any] = {}
    for line in out.stdout.splitlines():
        step = json.loads(line)
        steps[step["step"]] = step
    install = steps["batch-install"]
    assert len(install["failed"]) == 2 and install["routes"] - 2 == steps["dump"]["routes"]
    assert "203.0.113.0/24" in steps["lookup"]["route"]
    assert steps["event"]["events"] and "198.51.100.3" in steps["event"]["events"][0]
    assert steps["delete"]["left"] == 0
    # Two daemons in two namespaces: imported on the left, over BGP, installed on the right.
    assert "[netlink.import]" in steps["two-namespaces"]["configs"]["left"]
    assert [line.split()[:3] for line in steps["announced"]["kernel"]] == [
        ["192.0.2.0/28", "via", "10.0.0.1"]]
    assert steps["announced"]["peer"]["state"] == "Established"
    assert steps["withdrawn"]["kernel"] == []
    assert steps["withdrawn"]["stats"]["left-import"]["imported"] == 1
    assert steps["withdrawn"]["stats"]["right-export"]["exported"] == 1
    assert steps["withdrawn"]["stats"]["right-export"]["withdrawn"] == 1
    assert out.stderr == ""  # nothing alarming printed on a good run


def _demo_as_nobody() -> tuple[int, str, str]:
    """The demo's body as an unprivileged user (it then needs a user namespace)."""
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: /proc/self/*_map writable again
    buffer = io.StringIO()
    code = run_demo(True, buffer)
    return code, buffer.getvalue(), ""


@pytest.mark.skipif(os.geteuid() != 0, reason="already unprivileged: the test above covers it")
def test_demo_runs_unprivileged() -> None:
    code, text, _ = testing.run_forked(_demo_as_nobody)
    steps = {json.loads(line)["step"]: json.loads(line) for line in text.splitlines()}
    assert code == 0
    assert steps["withdrawn"]["stats"]["right-export"]["exported"] == 1


def test_help_lists_the_route_syntax() -> None:
    text = build_parser().format_help()
    assert "route" in text and "demo" in text
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main(["route", "--help"])
    assert "add|del|replace PREFIX [via ADDR] [dev IFNAME] [onlink]" in out.getvalue()


def _announce_against_speaker(extra: list[str]) -> dict[str, object]:
    """Run `netlinkbgp announce` as a process against one of our Speakers (in a namespace)."""
    import asyncio

    from netlinkbgp import PeerConfig, Speaker, SpeakerConfig

    async def main() -> dict[str, object]:
        rx = Speaker(SpeakerConfig(65000, "10.0.0.1", listen_address="127.0.0.1", listen_port=0,
                                   peers=(PeerConfig("127.0.0.2", 65001, passive=True),)))
        await rx.start()
        seen: list[str] = []

        class Sink:
            def apply(self, events: list[object]) -> None:
                seen.extend(f"{e.kind} {e.route.prefix if e.route else ''}"  # type: ignore[attr-defined]
                            for e in events)

        rx.subscribe(Sink())
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "netlinkbgp", "announce", "10.1.0.0/24", "10.2.0.0/24",
            "--peer", "127.0.0.1", "--port", str(rx.listen_port), "--local-as", "65001",
            "--peer-as", "65000", "--local-address", "127.0.0.2", "--community", "65001:7",
            "--json", *extra, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
        await rx.drain()
        await rx.stop()
        return {"code": proc.returncode, "lines": [json.loads(x) for x in stdout.splitlines()],
                "stderr": stderr.decode(), "seen": seen}

    return asyncio.run(main())


def test_announce_establishes_announces_and_withdraws() -> None:
    out = testing.run_in_netns(_announce_against_speaker, ["--for", "0.5"])
    assert out["code"] == 0, out
    events = [line["event"] for line in out["lines"]]  # type: ignore[index]
    assert events == ["announced", "withdrawn"]
    seen = out["seen"]
    assert "announce 10.1.0.0/24" in seen and "withdraw 10.1.0.0/24" in seen  # type: ignore[operator]


def test_announce_reports_why_it_could_not_establish() -> None:
    # the receiver expects AS 65001; claim another one: it answers with a NOTIFICATION
    out = testing.run_in_netns(_announce_against_speaker,
                               ["--for", "5", "--connect-timeout", "2", "--local-as", "65009"])
    assert out["code"] == 4, out
    line = out["lines"][0]  # type: ignore[index]
    assert line["event"] == "not-established"
    assert (line["last_error_code"], line["last_error_subcode"]) == (2, 2)
    assert "NOTIFICATION received" in line["reason"]


def test_batch_lines_parse_as_single_commands() -> None:
    """parse_batch (which cuts ``route OP PREFIX ...`` lines in four and remembers option
    texts) gives, line by line, what parse_route_command gives on the line's words."""
    from netlinkbgp.cli_route import Names, parse_batch, parse_route_command
    from netlinkbgp.errors import InvalidValueError

    lines = [
        "route add 10.0.0.0/24 via 10.0.0.2 table 100 proto 186",
        "route  add   10.0.1.0/24  via  10.0.0.2 table   100 proto 186  ",
        "\troute add 10.0.2.0/24 via 10.0.0.2 table 100 proto 186",
        "add 10.0.3.0/24 via 10.0.0.2 table 100 proto 186",
        "route add 10.0.4.0/24", "route del 10.0.5.0/24 table 100", "route add",
        "route add 10.0.6.1/24 table 100", "route add 10.0.7.0/24 via", "route bogus 1/2 x",
        "route  bogus   1.0.0.0/8   via  x", "route change 2001:db8::/64 via 10.0.0.2",
        "route replace 2001:db8:1::/64 via fe80::1 metric 5 table main", "# comment", "",
        "route", "route add default via 10.0.0.2 onlink", "route add 10.0.8.0/24 dev nosuch",
        "route delete 10.0.9.0/24 table 0", "route append 10.0.9.0/33",
        # prefixes: the usual forms, and those the fast path hands to _prefix
        "route add 10.0.10.0/024 table 100", "route add 10.0.11.1 table 100",
        "route add 2001:db8::1 table 100", "route add 0.0.0.0/0 table 100",
        "route add ::/0 table 100", "route add 0/0 table 100", "route add default6",
        "route add 2001:db8::/129", "route add 2001:db8::1/64", "route add 10.0.12.0/",
        "route add 10.0.12.0/-1", "route add 10.0.12.0/+8", "route add 10.0.12.0/2\u00b2",
        "route add 10.0.256.0/24", "route add 2001:db8:::/64", "route add fe80::1%b0/128",
        "route add 192.0.2.128/25 via 10.0.0.2", "route add 192.0.2.129/25 via 10.0.0.2",
    ]
    names = Names([])
    commands, problems = parse_batch(lines, names)
    got = {n: (op, spec) for n, op, spec in commands} | dict(problems)
    expected: dict[int, object] = {}
    for number, line in enumerate(lines, 1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "route":
            del words[0]
        try:
            expected[number] = parse_route_command(words, names)
        except InvalidValueError as exc:
            expected[number] = str(exc)
    assert got == expected


def test_route_commands_do_not_import_the_speaker() -> None:
    """`netlinkbgp route` starts without the BGP side (start-up is timed against ip -batch);
    every public name still resolves from the package."""
    code = ("import sys, netlinkbgp.cli, netlinkbgp; "
            "heavy = [m for m in ('netlinkbgp.speaker', 'netlinkbgp.bgp', 'netlinkbgp.exporter')"
            " if m in sys.modules]; "
            "assert not heavy, heavy; "
            "assert all(getattr(netlinkbgp, n) for n in netlinkbgp.__all__); "
            "assert set(netlinkbgp.__all__) <= set(dir(netlinkbgp))")
    subprocess.run([sys.executable, "-c", code], check=True)
