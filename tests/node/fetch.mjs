// SPDX-License-Identifier: MIT
// A real Node.js client for the sluice integration tests: fetches one HTTPS URL through the
// proxy with undici's ProxyAgent (proxy URL given explicitly) or EnvHttpProxyAgent (proxy taken
// from HTTPS_PROXY / https_proxy, the way sandboxed workloads are configured).
//
// usage: node fetch.mjs proxy-agent PROXY_URL TARGET_URL CA_FILE [PROXY_CA_FILE]
//        node fetch.mjs env-agent TARGET_URL CA_FILE
// PROXY_CA_FILE: the proxy speaks TLS (an https:// PROXY_URL) with a certificate of that CA.
// Prints one JSON object {"status": N, "body": "..."} on stdout and exits 0 when a response
// arrived; prints the error (with its cause chain) on stderr and exits 1 otherwise.

import { readFileSync } from 'node:fs';
import { EnvHttpProxyAgent, ProxyAgent, fetch } from 'undici';

function usage() {
  process.stderr.write(
    'usage: node fetch.mjs proxy-agent PROXY_URL TARGET_URL CA_FILE [PROXY_CA_FILE]\n' +
      '       node fetch.mjs env-agent TARGET_URL CA_FILE\n',
  );
  process.exit(2);
}

function describe(err) {
  const parts = [];
  for (let e = err; e; e = e.cause) {
    parts.push(`${e.name || 'Error'}: ${e.message}${e.code ? ` (${e.code})` : ''}`);
  }
  return parts.join('\n  caused by ');
}

const [mode, ...rest] = process.argv.slice(2);
let dispatcher;
let target;
if (mode === 'proxy-agent' && (rest.length === 3 || rest.length === 4)) {
  const [proxyUrl, targetUrl, caFile, proxyCaFile] = rest;
  const ca = readFileSync(caFile);
  const options = { uri: proxyUrl, requestTls: { ca } };
  if (proxyCaFile) options.proxyTls = { ca: readFileSync(proxyCaFile) };
  dispatcher = new ProxyAgent(options);
  target = targetUrl;
} else if (mode === 'env-agent' && rest.length === 2) {
  const [targetUrl, caFile] = rest;
  const ca = readFileSync(caFile);
  // No proxy URL here on purpose: EnvHttpProxyAgent must find it in the environment.
  dispatcher = new EnvHttpProxyAgent({ requestTls: { ca } });
  target = targetUrl;
} else {
  usage();
}

try {
  const res = await fetch(target, { dispatcher, signal: AbortSignal.timeout(30000) });
  const body = await res.text();
  process.stdout.write(JSON.stringify({ status: res.status, body }) + '\n');
  await dispatcher.close();
  process.exit(0);
} catch (err) {
  process.stderr.write(describe(err) + '\n');
  process.exit(1);
}
