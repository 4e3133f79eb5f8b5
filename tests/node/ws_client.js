#!/usr/bin/env node
// A WebSocket client on the `ws` package, driven by the integration tests.
//
//   node ws_client.js URL COUNT [--header 'Name: value']... [--protocol P]
//                               [--insecure]
//
// Prints one JSON line per happening on stdout and exits:
//   {"open": true, "protocol": "..."}         the upgrade succeeded
//   {"message": <the text frame, parsed>}     COUNT times, then closes with 1000
//   {"close": CODE, "reason": "..."}          the server closed first
//   {"refused": STATUS}                       the upgrade got another status
//   {"error": "..."}                          anything else
// Exit status 0 after COUNT messages, 1 otherwise.
'use strict';

const WebSocket = require('ws');

function usage() {
  process.stderr.write('usage: ws_client.js URL COUNT [--header "K: V"]... [--protocol P] [--insecure]\n');
  process.exit(2);
}

const argv = process.argv.slice(2);
if (argv.length < 2) usage();
const url = argv[0];
const count = Number(argv[1]);
if (!Number.isInteger(count) || count < 0) usage();
const headers = {};
const protocols = [];
let insecure = false;
for (let i = 2; i < argv.length; i++) {
  if (argv[i] === '--header' && i + 1 < argv.length) {
    const h = argv[++i];
    const colon = h.indexOf(':');
    if (colon < 1) usage();
    headers[h.slice(0, colon).trim()] = h.slice(colon + 1).trim();
  } else if (argv[i] === '--protocol' && i + 1 < argv.length) {
    protocols.push(argv[++i]);
  } else if (argv[i] === '--insecure') {
    insecure = true;
  } else {
    usage();
  }
}

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

let received = 0;
const ws = new WebSocket(url, protocols, { headers, rejectUnauthorized: !insecure });

ws.on('open', () => {
  out({ open: true, protocol: ws.protocol });
  if (count === 0) ws.close(1000);
});
ws.on('message', (data, isBinary) => {
  let parsed;
  try {
    parsed = isBinary ? { binary: data.length } : JSON.parse(data.toString('utf8'));
  } catch (e) {
    out({ error: 'not JSON: ' + String(e) });
    process.exitCode = 1;
    ws.terminate();
    return;
  }
  out({ message: parsed });
  if (++received === count) ws.close(1000);
});
ws.on('unexpected-response', (req, res) => {
  out({ refused: res.statusCode });
  process.exitCode = 1;
  req.destroy();
});
ws.on('close', (code, reason) => {
  if (received < count) {
    out({ close: code, reason: reason.toString() });
    process.exitCode = 1;
  }
});
ws.on('error', (e) => {
  out({ error: String(e.message || e) });
  process.exitCode = 1;
});
