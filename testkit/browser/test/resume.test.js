// Resume with the official livekit-client in headless Chromium: after
// room.simulateScenario('signal-reconnect') (the SDK closes its signalling socket) page A resumes
// with the same sid, emits Reconnected, and page B neither sees A leave nor stops decoding A's
// video. After 'resume-reconnect' (the SDK fails its resume on purpose) A does a full reconnect
// and B decodes A's video again. A signals on /rtc/v1 (single PC, the SDK default) throughout.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  joinToken,
  launchChromium,
  saveActorTree,
  screenshot,
  startNode,
  startPageServer,
  waitFor,
} from '../lib/harness.js';

const roomName = 'e2e-resume';
let node;
let pages;
let browser;
let pageA;
let pageB;
/** Page A's signalling WebSocket URLs (path and query), in order. */
const socketsA = [];

before(async () => {
  node = await startNode('resume');
  pages = await startPageServer();
  browser = await launchChromium();
  pageA = await browser.context.newPage();
  pageB = await browser.context.newPage();
  pageA.on('websocket', (ws) => socketsA.push(new URL(ws.url())));
  for (const [name, page] of [['A', pageA], ['B', pageB]]) {
    page.on('pageerror', (err) => console.log(`[page ${name} pageerror] ${err}`));
    await page.goto(pages.url);
  }
});

after(async () => {
  await browser?.close();
  await pages?.close();
  await node?.stop();
});

/** Runs fn; on failure saves screenshots, both event logs and the actor tree, then rethrows. */
async function step(t, fn) {
  try {
    await fn();
  } catch (err) {
    const name = t.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
    await screenshot(pageA, `failure-${name}-A`);
    await screenshot(pageB, `failure-${name}-B`);
    for (const [who, page] of [['A', pageA], ['B', pageB]]) {
      const events = await page.evaluate(() => window.e2e.state.events).catch(() => []);
      console.log(`page ${who} events: ${JSON.stringify(events)}`);
    }
    await saveActorTree(node, `failure-${name}-actors`);
    throw err;
  }
}

const connect = (page, identity) => page.evaluate(
  ([u, tok]) => window.e2e.connect(u, tok),
  [node.wsURL, joinToken(roomName, identity)],
);
const events = (page, name) => page.evaluate((n) => window.e2e.state.events.filter((e) => e.name === n), name);
const framesDecoded = async (page) => (await page.evaluate(() => window.e2e.inbound())).video?.framesDecoded ?? 0;

/** Waits until B's decoded frame count grows by n within ms. */
async function framesGrow(n, ms) {
  const from = await framesDecoded(pageB);
  await waitFor(`B to decode ${n} more frames`, async () => (await framesDecoded(pageB)) >= from + n, ms);
}

let sidA;

test('A publishes; B decodes', async (t) => {
  await step(t, async () => {
    await connect(pageB, 'bob');
    sidA = (await connect(pageA, 'alice')).sid;
    await pageA.evaluate(() => window.e2e.publish());
    await waitFor('B to see the first decoded frame', () => pageB.evaluate(() => window.e2e.state.firstFrameAt), 20000);
    await framesGrow(10, 10000);
  });
});

test("signal-reconnect: A resumes with the same sid; B sees no disconnect and keeps decoding", async (t) => {
  await step(t, async () => {
    const opened = socketsA.length;
    await pageA.evaluate(() => window.e2e.simulate('signal-reconnect'));
    await waitFor('A to emit Reconnected', async () => (await events(pageA, 'Reconnected')).length > 0, 20000);
    assert.equal(await pageA.evaluate(() => window.e2e.sid()), sidA, 'a resume keeps the sid');
    const resumes = socketsA.slice(opened);
    assert.ok(resumes.length > 0, 'A opened a new signalling socket to resume');
    for (const u of socketsA) assert.equal(u.pathname, '/rtc/v1', 'A signals on /rtc/v1 only, resume included');
    // Decoding goes on within 2 s of Reconnected (a few frames prove it on a loaded 2-core box,
    // where the fake camera's rate drops), then keeps going.
    await framesGrow(5, 2000);
    await framesGrow(20, 10000);
    assert.equal((await events(pageB, 'ParticipantDisconnected')).length, 0, 'B saw A leave');
    assert.equal((await events(pageA, 'Disconnected')).length, 0, 'A disconnected');
  });
});

test('resume-reconnect: A falls back to a full reconnect; B decodes its video again', async (t) => {
  await step(t, async () => {
    const before = (await events(pageA, 'Reconnected')).length;
    await pageA.evaluate(() => window.e2e.simulate('resume-reconnect'));
    await waitFor('A to emit Reconnected again', async () => (await events(pageA, 'Reconnected')).length > before, 30000);
    const sid = await pageA.evaluate(() => window.e2e.sid());
    assert.notEqual(sid, sidA, 'a full reconnect gets a new sid');
    await waitFor('B to decode A video again', async () => {
      const subs = await events(pageB, 'TrackSubscribed');
      return subs.filter((e) => e.detail.kind === 'video' && e.detail.identity === 'alice').length >= 2;
    }, 20000);
    await framesGrow(20, 10000);
    assert.equal((await events(pageA, 'Disconnected')).length, 0, 'A disconnected');
  });
});
