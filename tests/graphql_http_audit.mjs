// The graphql-http package's server audit (GraphQL over HTTP), against a running server.
//
//   node tests/graphql_http_audit.mjs <url> <api key>
//
// Every request carries the key (`Authorization: Bearer`), so the audit sees what a
// caller with a key sees. Prints one JSON array on stdout: each audit's id, name and
// status (ok, notice for a MAY, warn for a SHOULD, error for a MUST) and, when it did not
// pass, the reason and the response (status, content type and body) the audit judged.
// tests/test_graphql_http_audit.py runs it; `npm ci --prefix tests/node` installs the
// pinned package it imports.
import { createRequire } from 'node:module';

const require = createRequire(new URL('./node/package.json', import.meta.url));
const { auditServer } = await import(require.resolve('graphql-http'));

const [url, key] = process.argv.slice(2);
if (!url || !key) {
  console.error('usage: node graphql_http_audit.mjs <url> <api key>');
  process.exit(2);
}

function withKey(input, init = {}) {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${key}`);
  return fetch(input, { ...init, headers });
}

const results = await auditServer({ url, fetchFn: withKey });
const report = [];
for (const result of results) {
  const entry = { id: result.id, name: result.name, status: result.status };
  if (result.status !== 'ok') {
    const response = result.response;
    let body = null;
    try {
      body = await response.text();
    } catch {
      body = null; // the audit read the body already
    }
    entry.reason = result.reason;
    entry.response = {
      status: response.status,
      contentType: response.headers.get('content-type'),
      body,
    };
  }
  report.push(entry);
}
process.stdout.write(JSON.stringify(report));
