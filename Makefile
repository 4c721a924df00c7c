# blickfang — `make run` and `make test` set up whatever is missing first.
SHELL := /bin/bash
CARGO ?= cargo
SHARED ?= $(or $(BLICKFANG_SHARED_DIR),$(abspath $(CURDIR)/../shared))
DATA ?= $(or $(BLICKFANG_TEST_DATA),$(SHARED)/data)
DEMO_CLIP ?= $(DATA)/videos_people/intel_preview_face-demographics-walking.transcoded.mp4
PLUGIN_DIR := $(CURDIR)/target/release
PLUGIN_INSTALL_DIR ?= $(shell pkg-config --variable=pluginsdir gstreamer-1.0 2>/dev/null || echo /usr/lib/x86_64-linux-gnu/gstreamer-1.0)
BIN_INSTALL_DIR ?= /usr/local/bin

.PHONY: setup build run test bench bench-gazedwell bench-metadata install inspect clean

setup:
	BLICKFANG_SHARED_DIR=$(SHARED) bash scripts/setup.sh

build: setup
	$(CARGO) build --release --workspace --locked

# The demo: a real clip through facedetect, one JSON line per frame with the faces found.
run: build
	GST_PLUGIN_PATH=$(PLUGIN_DIR) $(PLUGIN_DIR)/blickfang analyze "$(DEMO_CLIP)" --output -

# build first: tests/inspect.rs inspects the plugin file itself (cargo test does not link the cdylib).
test: build
	BLICKFANG_SHARED_DIR=$(SHARED) $(CARGO) test --release --workspace --locked

# facedetect against decode-only and its OpenCV peers; installs the peers first.
bench: build
	BLICKFANG_SHARED_DIR=$(SHARED) bash scripts/setup.sh --bench
	BLICKFANG_SHARED_DIR=$(SHARED) $(CARGO) run --release --locked -p gst-plugin-blickfang --bin blickfang-bench

# gazedwell: head pose per face (FSA-Net vs landmarks) and gazedwell's cost per frame with 6 people.
bench-gazedwell: build
	BLICKFANG_SHARED_DIR=$(SHARED) $(CARGO) run --release --locked -p gst-plugin-blickfang --bin blickfang-bench-gazedwell

# Records per second through metajson, and through metajson ! blickfang-mqttsink
# to a mosquitto it starts on 127.0.0.1 (set BLICKFANG_BENCH_RECORDS, default 50000).
bench-metadata: setup
	$(CARGO) run --release --locked -p gst-plugin-blickfang --bin blickfang-bench-metadata

inspect: build
	GST_PLUGIN_PATH=$(PLUGIN_DIR) gst-inspect-1.0 blickfang-facedetect

# Into the system registry: afterwards no GST_PLUGIN_PATH is needed.
install: build
	install -m 0644 $(PLUGIN_DIR)/libgstblickfang.so $(PLUGIN_INSTALL_DIR)/
	install -m 0755 $(PLUGIN_DIR)/blickfang $(BIN_INSTALL_DIR)/

clean:
	$(CARGO) clean
