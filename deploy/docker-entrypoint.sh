#!/bin/sh
# Docker/Kubernetes secrets: for every VAR_FILE=/path in the environment, export VAR with the file's
# content (trailing newline dropped) unless VAR is already set, then run the command. The apps keep
# reading plain environment variables, parsed once by #libs/config.
set -eu
for pair in $(env | sed -n 's/^\([A-Z][A-Z0-9_]*\)_FILE=.*/\1/p'); do
  file=$(printenv "${pair}_FILE")
  if [ -n "$(printenv "$pair" || true)" ]; then
    echo "docker-entrypoint: both $pair and ${pair}_FILE are set; using $pair" >&2
    continue
  fi
  if [ ! -r "$file" ]; then
    echo "docker-entrypoint: ${pair}_FILE=$file is not a readable file" >&2
    exit 78
  fi
  value=$(cat "$file")
  export "$pair=$value"
  unset "${pair}_FILE"
done
exec "$@"
