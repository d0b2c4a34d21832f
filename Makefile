# patternalarm — the two commands a new user needs are `make run` and `make test`.
.PHONY: setup run test test-unit lint up down status lock

setup:            ## install everything missing (idempotent; a second run takes seconds)
	@bash scripts/setup.sh

run: setup        ## the main job: the whole stack, traffic with injected fraud, a live view
	@bin/patternalarm demo $(ARGS)

test: setup       ## the test suite on the real local stack (started if it is not up)
	@mvn -q -B -f java/pom.xml test
	@bin/patternalarm stack up
	@.venv/bin/pytest $(PYTEST_ARGS)

test-unit: setup  ## only the fast tests that need no services (and the Java functions' tests)
	@mvn -q -B -f java/pom.xml test
	@.venv/bin/pytest tests/unit tests/dags $(PYTEST_ARGS)

lint: setup
	@.venv/bin/ruff check .

up: setup
	@bin/patternalarm stack up
down:
	@bin/patternalarm stack down
status:
	@bin/patternalarm stack status

lock:             ## re-resolve requirements*.in into the pinned locks
	@bash scripts/lock.sh
