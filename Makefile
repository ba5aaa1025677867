# `make compare` and `make test` each build (once per machine) the cached virtualenv, install this
# checkout into it, then run. Extra arguments: make compare ARGS="--methods protobert --episodes 5"
.PHONY: setup compare test
SETUP = bash scripts/setup_env.sh

setup:
	@$(SETUP) >/dev/null

compare:
	@venv=$$($(SETUP)) && "$$venv/bin/python" -m benchmarks.compare $(ARGS)

test:
	@venv=$$($(SETUP)) && "$$venv/bin/python" -m pytest $(PYTEST_ARGS)
