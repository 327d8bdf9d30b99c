#!/bin/sh
# hoist command provider example: list POOL.
# Prints the pool's machines as a JSON array: [{"name", "status", "id", "addr"}].
set -eu
exec "${HOIST_BIN:-hoist}" local list --pool "$1"
