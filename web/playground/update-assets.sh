#!/usr/bin/env bash
# update-assets.sh re-downloads the pinned third-party playground assets from
# the npm registry and copies them into web/playground/assets/.
#
# It is NOT run in CI: the assets are committed so that pago builds and serves
# the playground without any network access. Run it by hand after bumping a
# version below, then update the matching constants in playground.go (the
# file names carry the version) and run `go test ./web/playground/`.
#
# Requirements: bash, npm (only `npm pack` is used, against the configured
# registry), tar, sed, sha256sum.
set -euo pipefail

# Pinned versions. Keep in sync with GraphiQLVersion / ReactVersion in
# playground.go.
GRAPHIQL_VERSION=3.9.0
REACT_VERSION=18.3.1

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
assets="$here/assets"
licenses="$here/licenses"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

fetch() { # fetch <pkg@version> -> extracts to $tmp/<name>/package
	local spec="$1" name="${1%@*}"
	mkdir -p "$tmp/$name"
	(cd "$tmp/$name" && npm pack --silent "$spec" >/dev/null && tar xzf ./*.tgz)
}

fetch "graphiql@$GRAPHIQL_VERSION"
fetch "react@$REACT_VERSION"
fetch "react-dom@$REACT_VERSION"

# copy <src> <dest-name>: copies a file, dropping its sourceMappingURL comment
# (the .map files are not shipped, so the comment would only cause 404s when
# browser dev tools are open).
copy() {
	sed -e '/^\/[/*][#@] sourceMappingURL=/d' "$1" >"$assets/$2"
}

mkdir -p "$assets" "$licenses"
# Remove previously vendored files (init.js and playground.css are ours and stay).
find "$assets" -maxdepth 1 -type f ! -name init.js ! -name playground.css -delete

copy "$tmp/graphiql/package/graphiql.min.js" "graphiql-$GRAPHIQL_VERSION.min.js"
copy "$tmp/graphiql/package/graphiql.min.css" "graphiql-$GRAPHIQL_VERSION.min.css"
copy "$tmp/react/package/umd/react.production.min.js" "react-$REACT_VERSION.production.min.js"
copy "$tmp/react-dom/package/umd/react-dom.production.min.js" "react-dom-$REACT_VERSION.production.min.js"

cp "$tmp/graphiql/package/LICENSE" "$licenses/graphiql.LICENSE"
cp "$tmp/react/package/LICENSE" "$licenses/react.LICENSE"
cp "$tmp/react-dom/package/LICENSE" "$licenses/react-dom.LICENSE"

# Fail loudly if a new version started loading things from a CDN at runtime.
if grep -Eho '(https?:)?//(cdn|unpkg|esm\.sh|fonts\.googleapis|fonts\.gstatic|cdnjs|jsdelivr)[^"'"'"' )]*' "$assets"/*; then
	echo "update-assets.sh: the bundles above reference a CDN; check before committing" >&2
	exit 1
fi

(cd "$assets" && ls -l && sha256sum -- *)
