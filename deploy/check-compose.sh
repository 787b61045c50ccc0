#!/bin/sh
# Validate docker-compose.yml and its overrides without a Docker engine: `docker compose config` (Compose
# v2) where the plugin exists, else Debian's `docker-compose` 1.29 (apt-get install docker-compose). Checks
# that the files render with throwaway credentials and that each missing credential is refused by name.
# Usage: deploy/check-compose.sh   (from the repository root)
set -u
cd "$(dirname "$0")/.."

if docker compose version >/dev/null 2>&1; then
  compose="docker compose"
  v2=1
elif command -v docker-compose >/dev/null 2>&1; then
  compose="docker-compose"
  v2=0
else
  echo "neither 'docker compose' nor 'docker-compose' found (apt-get install -y docker-compose)" >&2
  exit 2
fi

required="MINIO_ROOT_USER MINIO_ROOT_PASSWORD REDIS_PASSWORD SWITCHYARD_IDENTITY_SECRET"
creds="MINIO_ROOT_USER=check MINIO_ROOT_PASSWORD=check-password REDIS_PASSWORD=check SWITCHYARD_IDENTITY_SECRET=check"
failed=0
# A .env in the checkout would fill in what this script leaves out: ignore it.
empty_env=$(mktemp)
trap 'rm -f "$empty_env"' EXIT

check() { # description, then compose arguments
  what=$1
  shift
  # shellcheck disable=SC2086
  if out=$(env $creds $compose --env-file "$empty_env" "$@" config -q 2>&1); then
    echo "ok    $what"
  else
    echo "FAIL  $what: $out"
    failed=1
  fi
}

check "docker-compose.yml" -f docker-compose.yml
check "+ deploy/compose.tracing.yml" -f docker-compose.yml -f deploy/compose.tracing.yml
if [ "$v2" = 1 ]; then
  check "+ deploy/compose.cpu-only.yml" -f docker-compose.yml -f deploy/compose.cpu-only.yml
else
  echo "skip  deploy/compose.cpu-only.yml (its !reset tag needs Compose v2.18+)"
fi

for var in $required; do
  others=$(echo "$creds" | tr ' ' '\n' | grep -v "^$var=" | tr '\n' ' ')
  # shellcheck disable=SC2086
  if out=$(env -u "$var" $others $compose --env-file "$empty_env" -f docker-compose.yml config -q 2>&1); then
    echo "FAIL  $var unset was accepted"
    failed=1
  elif echo "$out" | tail -n 1 | grep -q "set $var"; then
    echo "ok    $var unset is refused: set $var ..."
  else
    echo "FAIL  $var unset failed without naming it: $out"
    failed=1
  fi
done
echo "validated with: $($compose version 2>/dev/null | head -n 1)"
exit $failed
