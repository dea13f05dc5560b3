// Harness for the browser end-to-end tests: builds and starts bin/livekit-server on free loopback
// ports, serves the test page and livekit-client's bundle from a local HTTP server, mints access
// tokens, and launches Debian's Chromium through playwright-core. Nothing here talks to anything but
// 127.0.0.1.

import { spawn, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Directory of the npm project (testkit/browser). */
export const projectDir = path.resolve(here, '..');
/** Root of the Go module (the repository). */
export const repoRoot = path.resolve(projectDir, '..', '..');
/** Where screenshots and node logs go; gitignored. */
export const artifactsDir = path.join(projectDir, 'artifacts');

/** API key and secret that `livekit-server --dev` accepts. */
export const devKey = 'devkey';
export const devSecret = 'secret';

/** Chromium binary; Debian's package by default, never a downloaded browser. */
export const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

/** Flags for headless Chromium on a machine without network, with fake camera and microphone. */
export const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--allow-loopback-in-peer-connection',
  '--autoplay-policy=no-user-gesture-required',
];

fs.mkdirSync(artifactsDir, { recursive: true });

/**
 * Returns the path of a livekit-server binary: $LIVEKIT_SERVER_BIN when set (make e2e builds it
 * first), otherwise bin/livekit-server built now with `go build` (incremental, so cheap when fresh).
 */
export function serverBinary() {
  if (process.env.LIVEKIT_SERVER_BIN) {
    return path.resolve(process.env.LIVEKIT_SERVER_BIN);
  }
  const out = path.join(repoRoot, 'bin', 'livekit-server');
  const res = spawnSync('go', ['build', '-o', out, './cmd/livekit-server'], {
    cwd: repoRoot,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (res.status !== 0) {
    throw new Error(`go build ./cmd/livekit-server failed (status ${res.status}, ${res.error || ''})`);
  }
  return out;
}

/** A free TCP port on 127.0.0.1 (closed again before it is returned). */
export function freeTCPPort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** A free UDP port on 127.0.0.1 (closed again before it is returned). */
export function freeUDPPort() {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4');
    sock.once('error', reject);
    sock.bind(0, '127.0.0.1', () => {
      const { port } = sock.address();
      sock.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts livekit-server --dev (plus extraArgs) on free ports and waits until its health check answers. The node's
 * log goes to artifacts/<name>-node.log. stop() sends SIGTERM to that PID and SIGKILL after 10 s.
 */
export async function startNode(name, extraArgs = []) {
  const bin = serverBinary();
  const port = await freeTCPPort();
  const udpPort = await freeUDPPort();
  const logPath = path.join(artifactsDir, `${name}-node.log`);
  const logFd = fs.openSync(logPath, 'w');
  const child = spawn(bin, ['--dev', '--port', String(port), '--udp-port', String(udpPort), ...extraArgs], {
    cwd: repoRoot,
    stdio: ['ignore', logFd, logFd],
  });
  fs.closeSync(logFd);
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
  });
  const httpURL = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15000;
  for (;;) {
    if (exited) {
      throw new Error(`livekit-server exited early (${JSON.stringify(exited)}); see ${logPath}`);
    }
    try {
      const res = await fetch(`${httpURL}/`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      process.kill(child.pid, 'SIGKILL');
      throw new Error(`livekit-server did not answer on ${httpURL} within 15 s; see ${logPath}`);
    }
    await sleep(50);
  }
  return {
    pid: child.pid,
    port,
    udpPort,
    httpURL,
    wsURL: `ws://127.0.0.1:${port}`,
    logPath,
    async stop() {
      if (exited) return exited;
      process.kill(child.pid, 'SIGTERM');
      const timer = setTimeout(() => {
        if (!exited) process.kill(child.pid, 'SIGKILL');
      }, 10000);
      const res = await exitPromise;
      clearTimeout(timer);
      return res;
    },
  };
}

const b64url = (buf) => Buffer.from(buf).toString('base64url');

/**
 * Mints an HS256 access token in LiveKit's claim layout: iss = API key, sub = identity (omitted
 * for service tokens), nbf/exp, and the `video` grant object as given.
 */
export function mintToken({ identity, name, video, ttlSeconds = 600, key = devKey, secret = devSecret }) {
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: key, nbf: now - 5, exp: now + ttlSeconds, video };
  if (identity) claims.sub = identity;
  if (name) claims.name = name;
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = b64url(JSON.stringify(claims));
  const sig = createHmac('sha256', secret).update(`${header}.${payload}`).digest();
  return `${header}.${payload}.${b64url(sig)}`;
}

/** A join token with the grants a normal publishing and subscribing participant has. */
export function joinToken(room, identity) {
  return mintToken({
    identity,
    video: { room, roomJoin: true, canPublish: true, canSubscribe: true, canPublishData: true },
  });
}

/** Calls a RoomService method through Twirp's JSON encoding and returns the decoded reply. */
export async function roomService(node, method, body, token) {
  const res = await fetch(`${node.httpURL}/twirp/livekit.RoomService/${method}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) {
    throw new Error(`RoomService.${method}: HTTP ${res.status}: ${text}`);
  }
  return JSON.parse(text);
}

const staticFiles = {
  '/': { file: path.join(projectDir, 'page', 'index.html'), type: 'text/html; charset=utf-8' },
  '/app.js': { file: path.join(projectDir, 'page', 'app.js'), type: 'text/javascript; charset=utf-8' },
  '/livekit-client.umd.js': {
    file: path.join(projectDir, 'node_modules', 'livekit-client', 'dist', 'livekit-client.umd.js'),
    type: 'text/javascript; charset=utf-8',
  },
};

/**
 * Serves the test page and livekit-client's UMD bundle on 127.0.0.1 (a different origin from the
 * node, as a real app would be, so the node's CORS answers are exercised).
 */
export async function startPageServer() {
  const server = http.createServer((req, res) => {
    const entry = staticFiles[new URL(req.url, 'http://x').pathname];
    if (!entry) {
      res.writeHead(404).end('not found');
      return;
    }
    fs.readFile(entry.file, (err, data) => {
      if (err) {
        res.writeHead(500).end(String(err));
        return;
      }
      res.writeHead(200, { 'Content-Type': entry.type, 'Cache-Control': 'no-store' }).end(data);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/**
 * Launches Chromium with a fresh profile directory. Returns the playwright BrowserContext and a
 * close() that also removes the profile.
 */
export async function launchChromium({ viewport = { width: 1000, height: 700 } } = {}) {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lk-e2e-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    args: chromiumArgs,
    viewport,
  });
  return {
    context,
    version: chromiumVersion(),
    async close() {
      await context.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** The version line of the Chromium binary, e.g. "Chromium 156.0.8078.79 built on Debian ...". */
export function chromiumVersion() {
  const res = spawnSync(chromiumPath, ['--version'], { encoding: 'utf8' });
  return (res.stdout || '').trim();
}

/** Saves a full-page screenshot of page into artifacts/<name>.png; never throws. */
export async function screenshot(page, name) {
  const file = path.join(artifactsDir, `${name}.png`);
  try {
    await page.screenshot({ path: file, fullPage: true });
    return file;
  } catch (err) {
    console.error(`screenshot ${name} failed: ${err}`);
    return '';
  }
}

/** Saves the node's /debug/actors JSON (the live actor tree with media counters); never throws. */
export async function saveActorTree(node, name) {
  const file = path.join(artifactsDir, `${name}.json`);
  try {
    const res = await fetch(`${node.httpURL}/debug/actors`);
    fs.writeFileSync(file, JSON.stringify(await res.json(), null, 2));
    return file;
  } catch (err) {
    console.error(`saving the actor tree failed: ${err}`);
    return '';
  }
}

/** Polls fn until it returns a truthy value, or throws with what after timeoutMs. */
export async function waitFor(what, fn, timeoutMs = 15000, intervalMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(intervalMs);
  }
}
