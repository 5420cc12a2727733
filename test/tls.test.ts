/**
 * Native TLS (TLS_CERT_FILE/TLS_KEY_FILE): wss works, REQUIRE_WSS, certificate reload without
 * dropping connections, both through reloadTls() and through SIGHUP to the real CLI process.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { Close } from '../src/close-codes.js';
import { admission } from './helpers/admission.js';
import { connect, join, startServer, until, type TestClient } from './helpers/server.js';
import { makeCert, tempDir, type Cert } from './helpers/tls.js';

const tmp = tempDir('sb-tls-');
let certA: Cert, certB: Cert;
let live: { certFile: string; keyFile: string };
before(
  () => {
    certA = makeCert(tmp.dir, 'cert-a');
    certB = makeCert(tmp.dir, 'cert-b');
    live = { certFile: path.join(tmp.dir, 'live.crt'), keyFile: path.join(tmp.dir, 'live.key') };
  },
  { timeout: 30_000 },
);
after(() => tmp.remove(), { timeout: 30_000 });

function install(cert: Cert): void {
  copyFileSync(cert.certFile, live.certFile);
  copyFileSync(cert.keyFile, live.keyFile);
}

const servedFingerprint = (c: TestClient) =>
  (
    (c.ws as unknown as { _socket: TLSSocket })._socket.getPeerCertificate() as {
      fingerprint256: string;
    }
  ).fingerprint256;

test('wss with REQUIRE_WSS; reloadTls() swaps the certificate, open connections stay', async () => {
  install(certA);
  const t = await startServer({
    tlsCertFile: live.certFile,
    tlsKeyFile: live.keyFile,
    requireWss: true,
  });
  try {
    assert.ok(t.url.startsWith('wss://'));
    const a = await join(t, 'tls', { ca: certA.cert });
    assert.equal(await admission(t, a), 'admitted', 'TLS satisfies REQUIRE_WSS');
    assert.equal(servedFingerprint(a), certA.fingerprint256);

    install(certB);
    assert.equal(t.server.reloadTls(), true);
    // A client trusting only A now fails; one trusting B connects and is served B.
    const stale = new WebSocket(`${t.url}/?roomId=tls`, { ca: certA.cert });
    await new Promise((resolve) => stale.once('error', resolve));
    const b = await join(t, 'tls', { ca: certB.cert });
    assert.equal(servedFingerprint(b), certB.fingerprint256);
    // The connection made before the reload still works both ways.
    a.send({ type: 'offer', sdp: 'before reload' });
    assert.deepEqual(await b.next(), { type: 'offer', sdp: 'before reload' });
    b.send({ type: 'answer', sdp: 'after reload' });
    assert.deepEqual(await a.next(), { type: 'answer', sdp: 'after reload' });

    // A mismatched pair is refused and the current certificate kept.
    copyFileSync(certA.keyFile, live.keyFile);
    assert.throws(() => t.server.reloadTls());
    const c = await join(t, 'tls', { ca: certB.cert });
    assert.equal(servedFingerprint(c), certB.fingerprint256);
    for (const x of [a, b, c]) await x.close();
  } finally {
    await t.close();
  }
});

test('REQUIRE_WSS on plain ws: refused; X-Forwarded-Proto counts only with TRUST_PROXY', async () => {
  const t = await startServer({ requireWss: true });
  try {
    const plain = await connect(t.url, { roomId: 'r' });
    assert.deepEqual(await admission(t, plain), { ...Close.wssRequired });
    const forged = await connect(t.url, { roomId: 'r', headers: { 'x-forwarded-proto': 'https' } });
    assert.deepEqual(await admission(t, forged), { ...Close.wssRequired });
  } finally {
    await t.close();
  }
  const p = await startServer({ requireWss: true, trustProxy: true });
  try {
    const viaProxy = await connect(p.url, {
      roomId: 'r',
      headers: { 'x-forwarded-proto': 'https' },
    });
    assert.equal(await admission(p, viaProxy), 'admitted');
    await viaProxy.close();
    const httpHop = await connect(p.url, { roomId: 'r', headers: { 'x-forwarded-proto': 'http' } });
    assert.deepEqual(await admission(p, httpHop), { ...Close.wssRequired });
    // Only the last entry is our proxy's: a client-supplied "https" in front does not count.
    const appended = await connect(p.url, {
      roomId: 'r',
      headers: { 'x-forwarded-proto': 'https, http' },
    });
    assert.deepEqual(await admission(p, appended), { ...Close.wssRequired });
    const chain = await connect(p.url, {
      roomId: 'r',
      headers: { 'x-forwarded-proto': 'http, https' },
    });
    assert.equal(await admission(p, chain), 'admitted');
    await chain.close();
  } finally {
    await p.close();
  }
});

test('SIGHUP to the CLI reloads the certificate without dropping connections', async () => {
  install(certA);
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts'], {
    cwd: path.resolve(import.meta.dirname, '..'),
    env: {
      ...process.env,
      WS_PORT: '0',
      HOST: '127.0.0.1',
      TLS_CERT_FILE: live.certFile,
      TLS_KEY_FILE: live.keyFile,
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: { msg?: string; port?: number }[] = [];
  let buf = '';
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) !== -1) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push(JSON.parse(line) as { msg?: string });
      } catch {
        // not a log line
      }
    }
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  try {
    await until(() => lines.some((l) => l.msg?.includes('listening')), 15_000, 'CLI listening');
    const port = lines.find((l) => l.msg?.includes('listening'))!.port!;
    const url = `wss://127.0.0.1:${port}`;
    const a = await connect(url, { roomId: 'hup', ca: certA.cert });
    assert.equal(servedFingerprint(a), certA.fingerprint256);

    install(certB);
    child.kill('SIGHUP');
    await until(() => lines.some((l) => l.msg === 'TLS certificate reloaded'), 5000, 'reload log');
    const b = await connect(url, { roomId: 'hup', ca: certB.cert });
    assert.equal(servedFingerprint(b), certB.fingerprint256);
    // Both admitted into the room (a before, b after the reload): a message crosses.
    let got: unknown;
    const deadline = Date.now() + 3000;
    while (got === undefined && Date.now() < deadline) {
      a.send({ type: 'offer', sdp: 'across the reload' });
      got = await b.next(200).catch(() => undefined);
    }
    assert.deepEqual(got, { type: 'offer', sdp: 'across the reload' });
    assert.equal(a.ws.readyState, WebSocket.OPEN);
    child.kill('SIGTERM');
    assert.deepEqual(await a.closed, { ...Close.goingAway });
    assert.equal(await exited, 0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

test('native TLS: open connections free their handshake slot; a stalled TLS handshake is dropped', async () => {
  install(certA);
  const t = await startServer({
    tlsCertFile: live.certFile,
    tlsKeyFile: live.keyFile,
    maxPendingUpgrades: 2,
    handshakeTimeoutMs: 400,
  });
  try {
    const clients = [];
    for (let i = 0; i < 5; i++) {
      const c = await connect(t.url, { roomId: 'slots', ca: certA.cert });
      assert.equal(await admission(t, c), 'admitted', `connection ${i} past a cap of 2`);
      clients.push(c);
    }
    // A TCP connection that never starts the TLS handshake.
    const stalled = net.connect(t.port, '127.0.0.1');
    stalled.resume();
    const started = Date.now();
    await new Promise((resolve) => stalled.once('close', resolve));
    const ms = Date.now() - started;
    assert.ok(ms >= 300 && ms < 2000, `stalled TLS handshake dropped after ${ms} ms`);
    for (const c of clients) await c.close();
  } finally {
    await t.close();
  }
});
