# Mingjing: `make run` opens the app, `make test` runs the tests.
# Both create the virtual environment (.venv) the first time.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean-venv package package-check package-check-root

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# torch first and pinned, so sentence-transformers does not pull a CUDA build.
	$(PY) -m pip install --quiet "torch==2.13.0"
	@# llama-cpp-python builds llama.cpp from source (~8 min on 2 cores, cached afterwards).
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

run: $(STAMP)
	$(VENV)/bin/mingjing

test: $(STAMP)
	$(VENV)/bin/ruff check --no-cache .
	$(VENV)/bin/mypy
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check --no-cache .
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) -m bench

clean-venv:
	rm -rf $(VENV)

# Installer (packaging/README.md): the PyInstaller bundle dist/mingjing/ and, on Debian or
# Ubuntu, dist/mingjing_<version>_<arch>.deb. Uses its own environment, packaging/build/venv.
package:
	PYTHON=$(PYTHON) packaging/build.sh

# Build the bundle and check it answers `mingjing ask` offline from an empty data folder.
package-check:
	PYTHON=$(PYTHON) packaging/check_bundle.sh --build

# Install the .deb into a clean Debian root; run it there offline and under Xvfb (root).
package-check-root:
	packaging/check_clean_root.sh
