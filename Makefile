# netlinkbgp developer tasks. `make test` is what CI runs (see .ci/run).
PYTHON ?= python3
PYTEST_ARGS ?=

.PHONY: test lint typecheck docs unit demo daemons bench-smoke install

install:
	$(PYTHON) -m pip install -q -e '.[test]'

# BIRD 2 and GoBGP for the interop tests: installed when missing and we are root.
daemons:
	@if ! command -v bird >/dev/null || ! command -v gobgpd >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bird2 gobgpd iproute2; \
	  else echo "note: bird2/gobgpd missing and not root: interop tests will skip (fail under CI=true)"; fi; \
	fi

lint:
	$(PYTHON) -m ruff check netlinkbgp tests benchmarks

typecheck:
	$(PYTHON) -m mypy --strict netlinkbgp

docs:
	$(PYTHON) -m sphinx -W -q -b html docs docs/_build/html

unit:
	$(PYTHON) -m pytest -q $(PYTEST_ARGS)

test: daemons lint typecheck docs unit

demo:
	$(PYTHON) -m netlinkbgp demo

bench-smoke:
	$(PYTHON) benchmarks/bench_netlink.py --json --routes 5000
	PYTHONPATH=. $(PYTHON) benchmarks/bench_bgp.py --small
	$(PYTHON) benchmarks/bench_speaker.py --small
