# The course's commands. Start with `make lab` (students) or `make check` (instructors).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
PORT ?= 8888
DEMO_PORT ?= 8866

.PHONY: help install lab check check-all check-section check-colab check-latest check-browser test notebooks new-section \
        syllabus grade grade-merge demo bench clean distclean lock

help:
	@echo "make lab        install if needed, then start JupyterLab on the course (prints the URL)"
	@echo "make check      install if needed, then the stages lint, unit, integration, notebook (about 10 min)"
	@echo "make check-all  make check, then the stages colab and browser (what CI runs)"
	@echo "make check-section S=01   everything of one section: lint, its tests, its notebooks, grading both ways"
	@echo "make check-colab  run every notebook in the Colab-like environment (.venv-colab, built once)"
	@echo "make check-latest  every notebook and the unit tests on the newest releases (.venv-latest, resolved daily; not in make check)"
	@echo "make check-browser  every notebook in JupyterLab and every demo page in Voila, in Chromium"
	@echo "make test       the unit tests only (no kernel, no subprocess, no browser)"
	@echo "make notebooks  regenerate solutions/ and exercises/ from notebooks/*.py (S=01 for one section)"
	@echo "make new-section N=08 SLUG=my_topic TITLE=\"My topic\"   the skeleton of a new section"
	@echo "make syllabus   regenerate the README's syllabus table (runtimes from build/bench.json)"
	@echo "make grade      grade a class: make grade SUBMISSIONS=folder|moodle.zip|canvas.zip|nbgrader-course [SECTION=01]"
	@echo "                [ROSTER=roster.csv] [GRADES=grades] [JOBS=n] [REGRADE=all|STUDENT_ID [REASON=...]]"
	@echo "                [SHARD=I/N] [UNSANDBOXED=1]; writes GRADES/gradebook.csv, feedback/, moodle/ or canvas/"
	@echo "make grade-merge  the class's outputs from every shard: make grade-merge SHARDS=\"grades/shard-*\" GRADES=grades"
	@echo "make demo       serve every widget demo with Voila on 127.0.0.1:\$$DEMO_PORT (SECTION=01 for one page)"
	@echo "make bench      time notebooks, widget redraws and trained models against budgets; writes build/bench.json"
	@echo "make install    create .venv and install the pinned environment"
	@echo "make clean      remove caches and build outputs (never a notebook)"

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

lab: install
	$(VENV)/bin/jupyter lab --no-browser --ip=127.0.0.1 --port=$(PORT) $(ROOT_FLAG) --ServerApp.root_dir=.

check: install
	@bash scripts/check.sh

check-all: install
	@bash scripts/check.sh lint unit integration notebook colab browser

check-section: install
	@test -n "$(S)" || { echo "usage: make check-section S=NN" >&2; exit 2; }
	@bash scripts/check_section.sh $(S)

check-colab: install
	@bash scripts/check.sh colab

check-latest: install
	@bash scripts/check_latest.sh

check-browser: install
	@bash scripts/check.sh browser

test: install
	$(PY) -m pytest -q -n 2 -m unit tests

notebooks: install
	$(PY) -m course_tools.build $(S)

new-section: install
	@test -n "$(N)" -a -n "$(SLUG)" -a -n "$(TITLE)" || \
	  { echo 'usage: make new-section N=08 SLUG=my_topic TITLE="My topic"' >&2; exit 2; }
	$(PY) -m course_tools.new_section "$(N)" "$(SLUG)" "$(TITLE)"

syllabus: install
	$(PY) -m course_tools.syllabus

demo: install
	$(PY) -m course_tools.demo serve --port $(DEMO_PORT) $(if $(SECTION),--section $(SECTION))

bench: install
	$(PY) -m course_tools.bench

GRADES ?= grades
# REGRADE=all (or 1) grades everyone again; REGRADE=<student id> grades one student again and logs it (REASON=...).
REGRADE_FLAG = $(if $(REGRADE),$(if $(filter all 1,$(REGRADE)),--regrade,--regrade-student "$(REGRADE)"))
grade: install
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=folder|moodle.zip|canvas.zip|nbgrader-course [SECTION=01] [ROSTER=roster.csv] [GRADES=grades] [JOBS=n] [REGRADE=all|STUDENT_ID [REASON=...]] [SHARD=I/N] [UNSANDBOXED=1]" >&2; exit 2; }
	$(PY) -m course_tools.grade "$(SUBMISSIONS)" --out "$(GRADES)" $(if $(SECTION),--section $(SECTION)) \
	  $(if $(ROSTER),--roster "$(ROSTER)") $(if $(CONFIG),--config "$(CONFIG)") $(if $(JOBS),--jobs $(JOBS)) \
	  $(REGRADE_FLAG) $(if $(REASON),--reason "$(REASON)") $(if $(SHARD),--shard $(SHARD)) \
	  $(if $(UNSANDBOXED),--unsandboxed)

grade-merge: install
	@test -n "$(SHARDS)" || { echo 'usage: make grade-merge SHARDS="grades/shard-*" GRADES=grades' >&2; exit 2; }
	$(PY) -m course_tools.grade --merge $(SHARDS) --out "$(GRADES)"

lock: install
	$(PY) scripts/lock.py

clean:
	rm -rf build .pytest_cache .ruff_cache .import_linter_cache course_utils.egg-info
	find . -path './$(VENV)*' -prune -o -name __pycache__ -type d -print0 | xargs -0 rm -rf
	find . -path './$(VENV)*' -prune -o -name .ipynb_checkpoints -type d -print0 | xargs -0 rm -rf

distclean: clean
	rm -rf $(VENV) .venv-colab .venv-latest
