# Replik: the front door. Every target creates .venv and installs the project on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PELICAN := $(BIN)/pelican
INPUTDIR := content
OUTPUTDIR := output
CONFFILE := pelicanconf.py
PUBLISHCONF := publishconf.py
# `make serve HOST=… PORT=…` remembers its address in .serve.mk, so that a later
# `make html` or `make regenerate` builds for the server that is running.
SERVE_MK := .serve.mk
-include $(SERVE_MK)
HOST ?= 127.0.0.1
PORT ?= 8000
SSH_HOST ?= localhost
SSH_PORT ?= 22
SSH_USER ?= root
SSH_TARGET_DIR ?= /var/www
S3_BUCKET ?= my_s3_bucket
PYTEST_ARGS ?=

.PHONY: help html clean regenerate serve devserver remember-address publish rsync_upload s3_upload \
	test test-fast bench lint venv

help:
	@echo 'Replik — a commentary blog on Pelican with moderated comments'
	@echo ''
	@echo 'Usage:'
	@echo '   make venv             create .venv; then `. .venv/bin/activate` puts replik on PATH'
	@echo '   make html             (re)build the site into $(OUTPUTDIR)/ for http://$(HOST):$(PORT)'
	@echo '   make clean            remove the generated files'
	@echo '   make regenerate       rebuild on every change to content/ or theme/'
	@echo '   make serve            build, then serve site + comment intake + moderation'
	@echo '                         on http://$(HOST):$(PORT) (HOST=… PORT=… are remembered)'
	@echo '   make devserver        serve, and rebuild whenever content/ or theme/ change'
	@echo '   make publish          build with publishconf.py for production'
	@echo '   make rsync_upload     publish and upload via rsync over SSH'
	@echo '   make s3_upload        publish and upload to S3'
	@echo '   make test             run the test suite'
	@echo '   make test-fast        the suite without browser and slow tests'
	@echo '   make bench            run the benchmarks'
	@echo '   make lint             ruff'
	@echo ''

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# The local server's own address goes into the pages (form action, feed links).
LOCAL_URL = '"http://$(HOST):$(PORT)"'
LOCAL_BUILD = $(PELICAN) $(INPUTDIR) -o $(OUTPUTDIR) -s $(CONFFILE) \
	-e SITEURL=$(LOCAL_URL) FEED_DOMAIN=$(LOCAL_URL)

html: $(STAMP)
	$(LOCAL_BUILD)

clean:
	rm -rf $(OUTPUTDIR) .replik-cache

regenerate: $(STAMP)
	$(LOCAL_BUILD) --autoreload

remember-address:
	@printf 'HOST ?= %s\nPORT ?= %s\n' '$(HOST)' '$(PORT)' > $(SERVE_MK)

serve: $(STAMP) remember-address
	$(LOCAL_BUILD)
	$(BIN)/replik serve --host $(HOST) --port $(PORT)

# Pelican watches content/ and theme/ and rebuilds; the server restarts on code changes.
# Both stop together (Ctrl-C, or either one ending).
devserver: $(STAMP) remember-address
	$(LOCAL_BUILD)
	$(LOCAL_BUILD) --autoreload & watcher=$$!; \
	trap 'kill $$watcher 2>/dev/null' EXIT INT TERM; \
	$(BIN)/replik serve --host $(HOST) --port $(PORT) --reload

publish: $(STAMP)
	$(PELICAN) $(INPUTDIR) -o $(OUTPUTDIR) -s $(PUBLISHCONF)

# Uploads build without sending linkbacks, upload, and only then tell the linked blogs:
# they fetch our post at once, so it must be online first.
UPLOAD_BUILD = REPLIK_SEND_LINKBACKS=no $(PELICAN) $(INPUTDIR) -o $(OUTPUTDIR) -s $(PUBLISHCONF)
SEND_LINKBACKS = $(BIN)/replik --settings $(PUBLISHCONF) linkbacks send

rsync_upload: $(STAMP)
	$(UPLOAD_BUILD)
	rsync -e "ssh -p $(SSH_PORT)" -P -rvzc --include tags --cvs-exclude --delete \
		"$(OUTPUTDIR)"/ "$(SSH_USER)@$(SSH_HOST):$(SSH_TARGET_DIR)"
	$(SEND_LINKBACKS)

s3_upload: $(STAMP)
	$(UPLOAD_BUILD)
	aws s3 sync "$(OUTPUTDIR)"/ s3://$(S3_BUCKET) --delete
	$(SEND_LINKBACKS)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

# For a quick round while working: no Chromium, no test that takes more than a few seconds.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 -m "not browser and not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check plugins tests

bench: $(STAMP)
	$(BIN)/python -m benchmarks
