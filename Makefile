# hoist's build and test entry points. `make test` is what CI runs (.ci/run).
GO ?= go
BIN ?= bin/hoist
# What `hoist version` says: stamped into release binaries and the image.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS = -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# Platforms of `make release`.
PLATFORMS ?= linux/amd64 linux/arm64
DIST ?= dist

.PHONY: all build test unit check e2e bench clean release image

all: build

build:
	$(GO) build -o $(BIN) ./cmd/hoist

# The whole suite: static checks, unit tests, then the end-to-end tests on the
# real stack (installed and started by scripts/localstack).
test:
	scripts/test

# Static checks: gofmt and go vet.
check:
	scripts/test check

# Unit tests only (no real components needed).
unit:
	scripts/test unit

# End-to-end tests on the real stack (Docker Swarm, machines, Prometheus...).
e2e:
	scripts/test e2e

# Benchmarks of the control plane (figures, not pass/fail).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...

# Static binaries (CGO_ENABLED=0; cmd/hoist builds the time zones in) for PLATFORMS, version
# stamped, with their SHA-256 sums: dist/hoist-VERSION-OS-ARCH.
release:
	@mkdir -p $(DIST)
	@for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; out=$(DIST)/hoist-$(VERSION)-$$os-$$arch; \
		echo "building $$out"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath \
			-ldflags '$(LDFLAGS)' -o $$out ./cmd/hoist || exit 1; \
	done
	cd $(DIST) && sha256sum hoist-$(VERSION)-* > SHA256SUMS-$(VERSION)

# hoist's container image, FROM scratch (deploy/Dockerfile): hoist/hoist:VERSION.
image:
	VERSION=$(VERSION) COMMIT=$(COMMIT) deploy/image hoist/hoist:$(VERSION)

clean:
	rm -rf bin $(DIST)
