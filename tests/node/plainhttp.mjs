// SPDX-License-Identifier: MIT
// A real Node.js client for the sluice plain-HTTP tests: sends http:// requests through the
// proxy with undici's ProxyAgent in forward-proxy mode (proxyTunnel: false, so each request
// goes to the proxy in absolute-form, GET http://host/path, instead of through CONNECT), one
// after the other on the same agent, so that undici may keep the proxy connection alive.
//
// usage: node plainhttp.mjs PROXY_URL REQUESTS_JSON
//   REQUESTS_JSON: [{"method": "GET", "url": "http://...", "body": "text or absent"}, ...]
// Prints one JSON array [{"status": N, "headers": {...}, "body": "..."}, ...] on stdout and
// exits 0 when every response arrived; prints the error (with its cause chain) on stderr and
// exits 1 otherwise.

import { ProxyAgent, request } from 'undici';

function describe(err) {
  const parts = [];
  for (let e = err; e; e = e.cause) {
    parts.push(`${e.name || 'Error'}: ${e.message}${e.code ? ` (${e.code})` : ''}`);
  }
  return parts.join('\n  caused by ');
}

const [proxyUrl, requestsJson] = process.argv.slice(2);
if (!proxyUrl || !requestsJson) {
  process.stderr.write('usage: node plainhttp.mjs PROXY_URL REQUESTS_JSON\n');
  process.exit(2);
}

const dispatcher = new ProxyAgent({ uri: proxyUrl, proxyTunnel: false });
const results = [];
try {
  for (const r of JSON.parse(requestsJson)) {
    const res = await request(r.url, {
      method: r.method,
      body: r.body,
      dispatcher,
      headersTimeout: 30000,
      bodyTimeout: 30000,
    });
    const body = await res.body.text();
    results.push({ status: res.statusCode, headers: res.headers, body });
  }
  process.stdout.write(JSON.stringify(results) + '\n');
  await dispatcher.close();
  process.exit(0);
} catch (err) {
  process.stderr.write(describe(err) + '\n');
  process.exit(1);
}
