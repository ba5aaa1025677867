# `make compare` and `make test` each build the environment (the shared cached virtualenv once per machine,
# this checkout's .venv overlay once per checkout), then run. Extra arguments: make compare ARGS="--methods protobert --episodes 5"
.PHONY: setup compare test
SETUP = bash scripts/setup_env.sh

setup:
	@$(SETUP) >/dev/null

compare:
	@venv=$$($(SETUP)) && "$$venv/bin/python" -m benchmarks.compare $(ARGS)

test:
	@venv=$$($(SETUP)) && "$$venv/bin/python" -m pytest $(PYTEST_ARGS)
