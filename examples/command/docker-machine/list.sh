#!/bin/sh
# Template: list POOL with docker-machine: the machines named POOL-*.
set -eu
printf '['
sep=''
docker-machine ls --filter "name=^$1-" --format '{{.Name}} {{.State}}' | while read -r name state; do
	case $state in Running) s=running ;; Error) s=failed ;; *) s=creating ;; esac
	printf '%s{"name":"%s","status":"%s"}' "$sep" "$name" "$s"
	sep=','
done
echo ']'
