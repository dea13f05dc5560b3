// The node's /debug/ page rendered in Chromium: a room created through the Room API (Twirp JSON)
// and a livekit-client participant in it must show up in the live actor tree. The screenshot is
// kept in artifacts/debug-page.png; with UPDATE_TESTDATA=1 it also replaces
// testkit/testdata/debug-page.png, the picture the README shows.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  artifactsDir,
  joinToken,
  launchChromium,
  mintToken,
  repoRoot,
  roomService,
  screenshot,
  startNode,
  startPageServer,
  waitFor,
} from '../lib/harness.js';

const roomName = 'demo-room';
const identity = 'alice';
let node;
let pages;
let browser;

before(async () => {
  node = await startNode('debugpage');
  pages = await startPageServer();
  browser = await launchChromium({ viewport: { width: 1000, height: 700 } });
});

after(async () => {
  await browser?.close();
  await pages?.close();
  await node?.stop();
});

test('the /debug/ page shows a Room API room and its participants', async () => {
  const created = await roomService(node, 'CreateRoom', { name: roomName, empty_timeout: 300 },
    mintToken({ video: { roomCreate: true } }));
  assert.equal(created.name, roomName);
  assert.match(created.sid, /^RM_/);

  const pageA = await browser.context.newPage();
  await pageA.goto(pages.url);
  const joined = await pageA.evaluate(([u, tok]) => window.e2e.connect(u, tok), [node.wsURL, joinToken(roomName, identity)]);
  assert.equal(joined.room, roomName);
  await pageA.evaluate(() => window.e2e.publish());
  // A subscriber, so the page also shows down tracks.
  const pageB = await browser.context.newPage();
  await pageB.goto(pages.url);
  await pageB.evaluate(([u, tok]) => window.e2e.connect(u, tok), [node.wsURL, joinToken(roomName, 'bob')]);

  const listed = await roomService(node, 'ListParticipants', { room: roomName },
    mintToken({ video: { room: roomName, roomAdmin: true } }));
  assert.deepEqual(listed.participants.map((p) => p.identity).sort(), [identity, 'bob']);

  const debug = await browser.context.newPage();
  await debug.goto(`${node.httpURL}/debug/`);
  try {
    await waitFor('the debug page to show the room and its participants', async () => {
      const text = await debug.locator('body').innerText();
      return text.includes(roomName) && text.includes(identity) && text.includes('bob');
    }, 15000, 250);
  } catch (err) {
    await screenshot(debug, 'failure-debug-page');
    throw err;
  }
  // Let a few stats ticks pass so the screenshot shows live bitrates (not asserted).
  await new Promise((r) => setTimeout(r, 2500));
  const file = path.join(artifactsDir, 'debug-page.png');
  await debug.screenshot({ path: file });
  // The README shows testkit/testdata/debug-page.png. Refresh it only on request (or when it is
  // missing) so that a test run leaves the work tree clean.
  const readmeCopy = path.join(repoRoot, 'testkit', 'testdata', 'debug-page.png');
  if (process.env.UPDATE_TESTDATA === '1' || !fs.existsSync(readmeCopy)) {
    fs.copyFileSync(file, readmeCopy);
  }
  await pageB.evaluate(() => window.e2e.disconnect());
  await pageA.evaluate(() => window.e2e.disconnect());
});
