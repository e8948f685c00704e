# Thin wrapper around CMake and the scripts in scripts/.  The two commands that do
# everything on a fresh Debian 12 machine:  `make demo`  and  `make test`.
BUILD      ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc)
PG_CONFIG  ?= /usr/lib/postgresql/15/bin/pg_config

.PHONY: all deps configure build install models test unit demo bench fuzz format clean

all: build

deps:
	@scripts/deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DPG_CONFIG=$(PG_CONFIG)

configure: $(BUILD)/CMakeCache.txt

build: configure
	cmake --build $(BUILD) -j $(JOBS)

install: build
	cmake --install $(BUILD)
	scripts/provision_models.sh

models:
	scripts/provision_models.sh

unit: build
	cd $(BUILD) && ctest -L unit --output-on-failure

test: deps
	scripts/test.sh

demo: deps
	scripts/demo.sh

bench: deps
	bench/run.sh

fuzz: deps
	scripts/fuzz.sh $(FUZZ_SECONDS)

format:
	find src tests tools -name '*.cpp' -o -name '*.hpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD)
