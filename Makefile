# Mingjing: `make run` opens the app, `make test` runs the tests.
# Both create the virtual environment (.venv) the first time.
# `make translations` refreshes ui/i18n/*.ts from the tr() calls and compiles the .qm files.
# `make gpu` puts llama.cpp's Vulkan build into .venv, `make cpu` the CPU build back.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench translations clean-venv package package-check package-check-root \
	package-check-cpus package-gpu gpu cpu

$(STAMP): pyproject.toml packaging/llama_wheel.py packaging/vulkan_prereqs.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# llama.cpp for the portable x86-64 baseline (AVX2; never -march=native, never AMX),
	@# built once per flag set (~8 min on 2 cores) into ~/.cache/mingjing/wheels; or the
	@# build `make gpu` chose ($(VENV)/.llama-profile), which falls back to portable if it
	@# can no longer be built.
	$(PY) packaging/llama_wheel.py install current
	@# torch first and pinned, so sentence-transformers does not pull a CUDA build.
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

# llama.cpp with its Vulkan backend (packaging/README.md, "GPU"): the prerequisites are
# checked first, in seconds, and nothing changes if one is missing; then the usual set-up,
# then the build (~12 min on 2 cores, once, cached like the CPU one). The environment keeps
# it for `make run`/`make test` until `make cpu`.
gpu:
	$(PYTHON) packaging/vulkan_prereqs.py
	$(MAKE) --no-print-directory $(STAMP)
	$(PY) packaging/llama_wheel.py install vulkan

cpu: $(STAMP)
	$(PY) packaging/llama_wheel.py install portable

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

# Translations: every Python file in ui/ and app/ is scanned for tr()/translate() calls.
# lupdate keeps existing translations, marks new strings unfinished (translate them in the
# .ts, e.g. with pyside6-linguist) and drops strings no longer in the code (-no-obsolete).
# No source locations are stored, so editing code does not churn the .ts files. Rerunning
# on unchanged sources changes nothing. The .qm files are committed: the app never needs
# lrelease. Only PySide6's own tools are used, so this does not depend on $(STAMP).
TS_FILES := ui/i18n/mingjing_zh_CN.ts
# English needs only the plural forms of "%n token(s)" messages (-pluralonly).
EN_TS := ui/i18n/mingjing_en.ts
I18N_SOURCES = $(sort $(wildcard ui/*.py ui/*/*.py app/*.py app/*/*.py))
LUPDATE ?= $(VENV)/bin/pyside6-lupdate
LRELEASE ?= $(VENV)/bin/pyside6-lrelease

translations:
	$(LUPDATE) -no-obsolete -locations none -source-language en $(I18N_SOURCES) -ts $(TS_FILES)
	$(LUPDATE) -pluralonly -no-obsolete -locations none -source-language en -target-language en $(I18N_SOURCES) -ts $(EN_TS)
	$(LRELEASE) -nounfinished $(TS_FILES) $(EN_TS)

clean-venv:
	rm -rf $(VENV)

# Installer (packaging/README.md): the PyInstaller bundle dist/mingjing/ and, on Debian or
# Ubuntu, dist/mingjing_<version>_<arch>.deb. Uses its own environment, packaging/build/venv.
package:
	PYTHON=$(PYTHON) packaging/build.sh

# The GPU variant: llama.cpp's Vulkan backend beside the CPU variants, dist/vulkan/mingjing/
# and dist/mingjing_<version>+vulkan_<arch>.deb (needs what `make gpu` needs to build).
package-gpu:
	MINGJING_GPU=vulkan PYTHON=$(PYTHON) packaging/build.sh

# Build the bundle and check it answers `mingjing ask` offline from an empty data folder.
package-check:
	PYTHON=$(PYTHON) packaging/check_bundle.sh --build

# The bundle under emulated older CPUs (qemu-user): Haswell answers, Nehalem and Sandy
# Bridge get one line and exit code 2.
package-check-cpus:
	packaging/check_cpu_compat.sh

# Install the .deb into a clean Debian root; run it there offline and under Xvfb (root).
package-check-root:
	packaging/check_clean_root.sh
