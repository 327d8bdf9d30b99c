#!/bin/sh
# Template: destroy NAME POOL with docker-machine. Missing is not an error.
set -eu
docker-machine status "$1" >/dev/null 2>&1 || exit 0
eval "$(docker-machine env "$1")"
docker swarm leave --force >&2 || true
docker-machine rm -f -y "$1" >&2
