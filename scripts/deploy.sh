#!/usr/bin/env bash
# Validates routes.yaml and deploys it, with the branding assets, to a running Portico through its
# admin API. The GitHub Actions workflow, .gitlab-ci.yml and the Jenkinsfile all call this.
#
#   scripts/deploy.sh validate   check routes.yaml locally (`portico validate`); when PORTICO_URL
#                                and PORTICO_API_KEY are set, also a dry run on the live gateway
#   scripts/deploy.sh deploy     validate, upload branding/*, then replace routes.yaml (If-Match)
#
# Environment:
#   PORTICO_URL            the gateway (https://portal.example.com) or its admin listener
#                          (http://127.0.0.1:9901); the API is under /_portico/admin/
#   PORTICO_API_KEY        ptk_… key with config:read + config:write (+ branding:write for assets),
#                          from the CI secret store; never echoed
#   PORTICO_CONFIG         the file to deploy (default routes.yaml)
#   PORTICO_BRANDING_DIR   assets to upload: *.svg *.png *.ico *.css *.webp, then brand.yaml
#                          (default branding)
#   PORTICO_CLI            how to run portico (default: npx --no-install portico)
#   PORTICO_CURL_OPTS      extra curl options, e.g. "--cacert ca.pem"
# Exits non-zero, with the gateway's answer on stderr, on anything but a 2xx.
set -euo pipefail

command=${1:-}
config=${PORTICO_CONFIG:-routes.yaml}
branding=${PORTICO_BRANDING_DIR:-branding}
read -r -a cli <<<"${PORTICO_CLI:-npx --no-install portico}"
read -r -a curl_opts <<<"${PORTICO_CURL_OPTS:-}"

die() {
  echo "deploy: $*" >&2
  exit 1
}

case "$command" in
validate | deploy) ;;
*) die "usage: $0 validate|deploy" ;;
esac
[ -f "$config" ] || die "$config not found (set PORTICO_CONFIG)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The key goes to curl in a header file, not on its command line (visible in ps).
auth_header() {
  [ -n "${PORTICO_API_KEY:-}" ] || die "PORTICO_API_KEY is not set"
  (umask 077 && printf 'Authorization: Bearer %s\n' "$PORTICO_API_KEY" >"$work/auth")
}

# call METHOD PATH [curl args…]: the body lands in $work/body, headers in $work/headers.
call() {
  local method=$1 path=$2
  shift 2
  local url="${PORTICO_URL%/}/_portico/admin/$path" status
  status=$(curl --silent --show-error --connect-timeout 10 --max-time 120 \
    -X "$method" -H @"$work/auth" -H 'Accept: application/json' \
    -D "$work/headers" -o "$work/body" -w '%{http_code}' "${curl_opts[@]}" "$@" "$url") ||
    die "$method $url: no answer from the gateway"
  if [ "${status:0:1}" != 2 ]; then
    echo "deploy: $method $url answered $status:" >&2
    cat "$work/body" >&2
    echo >&2
    exit 1
  fi
}

header() { grep -i "^$1:" "$work/headers" | tail -n 1 | cut -d' ' -f2- | tr -d '\r'; }

echo "deploy: validating $config"
"${cli[@]}" validate "$config"

if [ -n "${PORTICO_URL:-}" ] && [ -n "${PORTICO_API_KEY:-}" ]; then
  auth_header
  echo "deploy: dry run on ${PORTICO_URL}"
  call POST config/validate -H 'Content-Type: application/yaml' --data-binary @"$config"
elif [ "$command" = deploy ]; then
  die "PORTICO_URL and PORTICO_API_KEY must be set to deploy"
fi
[ "$command" = validate ] && exit 0

# Assets first (a new config may refer to a new logo), brand.yaml after the files it names.
uploaded=0
upload() {
  call PUT "branding/assets/$(basename "$1")" -H 'Content-Type: application/octet-stream' --data-binary @"$1"
  echo "deploy: uploaded $1"
  uploaded=$((uploaded + 1))
}
if [ -d "$branding" ]; then
  for file in "$branding"/*.svg "$branding"/*.png "$branding"/*.ico "$branding"/*.css "$branding"/*.webp; do
    [ -f "$file" ] && upload "$file"
  done
  [ -f "$branding/brand.yaml" ] && upload "$branding/brand.yaml"
fi

call GET config
etag=$(header etag)
[ -n "$etag" ] || die "the gateway sent no ETag for its config"
call PUT config -H 'Content-Type: application/yaml' -H "If-Match: $etag" --data-binary @"$config"
echo "deploy: $config is live (ETag $etag → $(header etag)), $uploaded branding asset(s) uploaded"
