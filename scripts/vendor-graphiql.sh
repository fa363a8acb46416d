#!/usr/bin/env bash
# Refreshes the GraphiQL explorer's vendored files in statusgraph/http/static/graphiql/
# from npm, at the pinned versions below (DESIGN §13: the app serves them itself, never
# a CDN, so /graphql's explorer works offline and under the app's CSP).
#
# Run it by hand after changing a version (`make graphiql-assets`); commit the result.
# Nothing here runs at install or run time: the built files ship in the package.
#
# graphiql's "min" UMD build is not minified (3.5 MB); esbuild minifies the JS and CSS
# (licence comments kept at the end of each file). The graphql-ws client that GraphiQL's
# fetcher uses for subscriptions is bundled inside graphiql's UMD build.
set -euo pipefail

GRAPHIQL=3.8.3
REACT=18.2.0
ESBUILD=0.24.2

here="$(cd "$(dirname "$0")/.." && pwd)"
out="$here/statusgraph/http/static/graphiql"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$work"
npm pack --silent "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT" >/dev/null
for tarball in *.tgz; do
    mkdir -p "${tarball%.tgz}"
    tar xzf "$tarball" -C "${tarball%.tgz}"
done
npm install --silent --no-save --no-audit --no-fund --prefix "$work/tools" "esbuild@$ESBUILD"
esbuild="$work/tools/node_modules/.bin/esbuild"

g="graphiql-$GRAPHIQL/package"
"$esbuild" "$g/graphiql.min.js" --minify --legal-comments=eof --log-level=error \
    --outfile="$out/graphiql.min.js"
"$esbuild" "$g/graphiql.min.css" --minify --legal-comments=eof --log-level=error \
    --outfile="$out/graphiql.min.css"
cp "react-$REACT/package/umd/react.production.min.js" "$out/"
cp "react-dom-$REACT/package/umd/react-dom.production.min.js" "$out/"

{
    echo "# Vendored by scripts/vendor-graphiql.sh; do not edit by hand."
    echo "graphiql $GRAPHIQL (graphiql.min.js, graphiql.min.css; re-minified with esbuild $ESBUILD)"
    echo "react $REACT (umd/react.production.min.js)"
    echo "react-dom $REACT (umd/react-dom.production.min.js)"
    echo
    echo "sha256:"
    (cd "$out" && sha256sum graphiql.min.js graphiql.min.css react.production.min.js \
        react-dom.production.min.js)
} >"$out/VERSIONS"

{
    for package in "graphiql-$GRAPHIQL" "react-$REACT" "react-dom-$REACT"; do
        echo "== ${package%-*} ${package##*-} =="
        cat "$package/package/LICENSE"
        echo
    done
    echo "graphiql's bundle also contains its dependencies (codemirror, graphql-js,"
    echo "graphql-ws, @radix-ui, framer-motion and others), all MIT-licensed; their"
    echo "licence comments are kept at the end of graphiql.min.js."
} >"$out/LICENSES"

ls -l "$out"
