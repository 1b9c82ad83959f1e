# The detox lab: `make lab` runs the lab, `make test` runs every test. Both set up .venv first.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PY := .venv/bin/python
STAMP := .venv/.installed-$(shell cat requirements.txt pyproject.toml | sha1sum | cut -c1-12)
TORCH := $(shell grep -oE '^torch==[^ ]+' requirements.txt)
PIP_QUIET := 2>&1 | { grep -v "^WARNING: Location" || true; }
LAB_PROFILE ?= auto
export LAB_PROFILE

.PHONY: setup lab test world regenerate rehearse clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install --quiet --upgrade pip $(PIP_QUIET)
	$(PY) -m pip install --quiet $(TORCH) $(PIP_QUIET)   # torch first: the CPU wheel, never a CUDA download
	$(PY) -m pip install --quiet -r requirements.txt $(PIP_QUIET)
	$(PY) -m pip install --quiet --no-deps -e . $(PIP_QUIET)   # lab_utils, importable from notebooks/
	rm -f .venv/.installed-* && touch $@

world: setup  ## rebuild the embedded offline world (checkpoints/tiny/, committed) after changing its recipe; commit the result
	$(PY) -m lab_utils.tiny

lab: setup  ## run the main lab notebook headless on LAB_PROFILE (auto: full when the hub answers, else tiny)
	$(PY) -m tools.regenerate --only lab3 --out "results/{profile}"

regenerate: setup  ## instructors: execute every notebook on LAB_PROFILE into notebooks/executed/<profile>/
	$(PY) -m tools.regenerate

test: setup  ## unit tests + the graded notebooks (nbval), always on the tiny profile, never the network
	bash tests/run.sh

rehearse: setup  ## the full profile rehearsed offline: real hub ids and shapes (random weights) from a loopback hub; CLI, missing adapter, notebook
	$(PY) -m rehearsal --notebook

clean:
	rm -rf .venv checkpoints/tiny.* checkpoints/standin checkpoints/standin.* results   # checkpoints/tiny/ is committed
