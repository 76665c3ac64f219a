# Two commands on a fresh clone (Python 3.11+): `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements-dev.txt functions/shared/requirements.txt constraints.txt pyproject.toml | cksum | cut -d' ' -f1)
DEMO_DIR ?= demo
PYTEST_ARGS ?= -n 2
# The installer itself is pinned too: an unpinned upgrade would run whatever pip was newest that day.
PIP_VERSION := 26.3

.PHONY: install test lint audit demo bench lock clean

# constraints.txt pins every package (direct and transitive) so that CI and every clone install the
# same versions; `make lock` refreshes it from the ranges in the requirements files.
$(STAMP): requirements-dev.txt functions/shared/requirements.txt constraints.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found " + sys.version.split()[0] + "); name one with: make PYTHON=python3.12 ...")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q pip==$(PIP_VERSION)
	$(BIN)/python -m pip install -r requirements-dev.txt -c constraints.txt
	# The local tools and the deployed package they run, editable: `proctoring run DIR` from any folder.
	$(BIN)/python -m pip install --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/cfn-lint template.yaml
	$(BIN)/statelint --ignore=URI,FLOAT statemachine/proctoring.asl.json statemachine/rescore.asl.json
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy
	@echo "most complex functions (McCabe; ruff fails the lint past max-complexity in pyproject.toml):"
	@$(BIN)/ruff check --select C901 --config 'lint.mccabe.max-complexity=8' --output-format concise --exit-zero . \
	  | sed -nE 's/^([^:]+):([0-9]+):[0-9]+: C901 `([^`]+)` is too complex \(([0-9]+) > 8\)/  \4  \3  \1:\2/p' | sort -rn

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# IaC security scan (checkov, suppressions carry their reason in template.yaml) and dependency audit.
AUDIT_VENV := .venv-audit
audit: $(STAMP)
	@test -x $(AUDIT_VENV)/bin/checkov || ($(PYTHON) -m venv $(AUDIT_VENV) && $(AUDIT_VENV)/bin/python -m pip install -q -r .ci/audit-requirements.txt)
	$(AUDIT_VENV)/bin/checkov -f template.yaml --framework cloudformation --compact --quiet --skip-download
	$(AUDIT_VENV)/bin/pip-audit --path "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"

demo: $(STAMP)
	$(BIN)/proctoring demo $(DEMO_DIR)

bench: $(STAMP)
	$(BIN)/proctoring bench

# The layer's pins first (what `sam build` deploys), then everything else around them.
LOCK := $(BIN)/pip-compile --quiet --upgrade --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links
lock: $(STAMP)
	$(BIN)/python -m pip install -q pip-tools
	cd functions/shared && ../../$(LOCK) -o requirements.txt requirements.in
	$(LOCK) -o constraints.txt requirements-dev.txt

clean:
	rm -rf $(DEMO_DIR) .pytest_cache .ruff_cache .hypothesis $(AUDIT_VENV)
