// The official livekit-client SDK in headless Chromium against a real livekit-server node: page A
// publishes the fake camera and microphone, page B subscribes, decodes video, receives audio and a
// reliable data message, sees A's camera muted and sees A leave. A and B connect with the SDK's
// default path, single-PeerConnection /rtc/v1, and must not fall back (no /rtc socket, no validate
// request); C opts out and uses the two-PC /rtc. On failure a screenshot of B is saved in
// artifacts/.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  chromiumVersion,
  joinToken,
  launchChromium,
  saveActorTree,
  screenshot,
  startNode,
  startPageServer,
  waitFor,
} from '../lib/harness.js';

const roomName = 'e2e-pubsub';
let node;
let pages;
let browser;
let pageA;
let pageB;
let pageC;
/** Per page, the signalling WebSocket paths opened and the HTTP paths under /rtc requested. */
const signalling = { A: [], B: [], C: [] };

before(async () => {
  // GCM only: libwebrtc takes AES-CM whenever it is offered; this proves Chromium works with GCM.
  node = await startNode('pubsub', ['--srtp-gcm-only']);
  pages = await startPageServer();
  browser = await launchChromium();
  pageA = await browser.context.newPage();
  pageB = await browser.context.newPage();
  pageC = await browser.context.newPage();
  for (const [name, page] of [['A', pageA], ['B', pageB], ['C', pageC]]) {
    page.on('console', (msg) => {
      if (msg.type() === 'error' || msg.type() === 'warning') {
        console.log(`[page ${name} ${msg.type()}] ${msg.text().slice(0, 240)}`);
      }
    });
    page.on('pageerror', (err) => console.log(`[page ${name} pageerror] ${err}`));
    page.on('websocket', (ws) => signalling[name].push(`ws ${new URL(ws.url()).pathname}`));
    page.on('request', (req) => {
      const u = new URL(req.url());
      if (u.pathname.startsWith('/rtc')) signalling[name].push(`http ${u.pathname}`);
    });
    await page.goto(pages.url);
  }
  console.log(`${chromiumVersion()}; node ${node.httpURL} (pid ${node.pid}, udp ${node.udpPort})`);
});

after(async () => {
  await browser?.close();
  await pages?.close();
  const res = await node?.stop();
  if (res) console.log(`livekit-server pid ${node.pid} stopped: ${JSON.stringify(res)}`);
});

/** Runs fn; on failure saves screenshots of the pages, B's event log and the actor tree, then rethrows. */
async function step(t, fn) {
  try {
    await fn();
  } catch (err) {
    const name = t.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
    await screenshot(pageB, `failure-${name}-B`);
    await screenshot(pageA, `failure-${name}-A`);
    await screenshot(pageC, `failure-${name}-C`);
    const events = await pageB.evaluate(() => window.e2e.state.events).catch(() => []);
    console.log(`page B events: ${JSON.stringify(events)}`);
    await saveActorTree(node, `failure-${name}-actors`);
    throw err;
  }
}

/** Connects page as identity with livekit-client's defaults unless roomOptions are given. */
const connect = (page, identity, roomOptions) => page.evaluate(
  ([u, tok, opts]) => window.e2e.connect(u, tok, opts),
  [node.wsURL, joinToken(roomName, identity), roomOptions],
);

/** Resolves with page's inbound stats once it decodes video and audio packets keep growing. */
async function expectMediaFlowing(page, who) {
  const first = await waitFor(`${who} to decode video frames`, async () => {
    const s = await page.evaluate(() => window.e2e.inbound());
    return s.video && s.video.framesDecoded > 0 && s.videoWidth > 0 ? s : null;
  }, 20000);
  await waitFor(`${who} framesDecoded to grow`, async () => {
    const s = await page.evaluate(() => window.e2e.inbound());
    return s.video.framesDecoded >= first.video.framesDecoded + 10;
  }, 10000);
  const audio0 = (await page.evaluate(() => window.e2e.inbound())).audio;
  assert.ok(audio0, `${who} has inbound audio stats`);
  await waitFor(`${who} audio packets to grow`, async () => {
    const s = await page.evaluate(() => window.e2e.inbound());
    return s.audio.packetsReceived > audio0.packetsReceived + 10;
  }, 10000);
  return page.evaluate(() => window.e2e.inbound());
}

const events = (page, name) => page.evaluate((n) => window.e2e.state.events.filter((e) => e.name === n), name);

let publishStartedAt = 0;

test('B and A connect through the default path: single PC on /rtc/v1, no fallback', async (t) => {
  await step(t, async () => {
    const b = await connect(pageB, 'bob');
    const a = await connect(pageA, 'alice');
    console.log(`connect time: B ${b.connectMs.toFixed(0)} ms, A ${a.connectMs.toFixed(0)} ms (room.connect, server ${a.serverVersion})`);
    assert.equal(a.room, roomName);
    assert.match(a.sid, /^PA_/);
    assert.deepEqual(a.remotes, ['bob']);
    await waitFor('B to see alice join', async () => (await events(pageB, 'ParticipantConnected')).some((e) => e.detail.identity === 'alice'));
    assert.deepEqual(signalling.A, ['ws /rtc/v1'], 'A signals on /rtc/v1 only');
    assert.deepEqual(signalling.B, ['ws /rtc/v1'], 'B signals on /rtc/v1 only');
  });
});

test('A publishes camera and microphone; B decodes video and receives audio', async (t) => {
  await step(t, async () => {
    const pub = await pageA.evaluate(() => window.e2e.publish());
    publishStartedAt = pub.startedAt;
    console.log(`publish (enableCameraAndMicrophone) took ${pub.publishMs} ms`);
    await waitFor('B to subscribe to audio and video', async () => {
      const subs = await events(pageB, 'TrackSubscribed');
      return subs.some((e) => e.detail.kind === 'video' && e.detail.identity === 'alice')
        && subs.some((e) => e.detail.kind === 'audio' && e.detail.identity === 'alice');
    });
    await waitFor('B to see the first decoded frame', () => pageB.evaluate(() => window.e2e.state.firstFrameAt), 20000);
    const st = await pageB.evaluate(() => ({ firstFrameAt: window.e2e.state.firstFrameAt, subAt: window.e2e.state.videoSubscribedAt }));
    console.log(`time to first decoded frame: ${st.firstFrameAt - publishStartedAt} ms from A's publish start, ${st.firstFrameAt - st.subAt} ms from B's TrackSubscribed`);
    const s = await expectMediaFlowing(pageB, 'B');
    console.log(`B inbound: video ${s.videoWidth}x${s.videoHeight}, ${s.video.framesDecoded} frames decoded; audio ${s.audio.packetsReceived} packets; SRTP ${s.srtpCipher || 'unknown'}`);
    assert.match(s.srtpCipher, /GCM/, 'the node runs with --srtp-gcm-only, so SRTP must be AEAD-AES-GCM');
  });
});

test('C joins late straight on /rtc (dual PC, no v1 probe) and receives the published media', async (t) => {
  await step(t, async () => {
    const c = await connect(pageC, 'carol', { singlePeerConnection: false });
    console.log(`connect time: C ${c.connectMs.toFixed(0)} ms (direct /rtc)`);
    assert.deepEqual(signalling.C, ['ws /rtc'], 'C signals on /rtc only');
    assert.deepEqual([...c.remotes].sort(), ['alice', 'bob']);
    const s = await expectMediaFlowing(pageC, 'C');
    console.log(`C inbound: video ${s.videoWidth}x${s.videoHeight}, ${s.video.framesDecoded} frames decoded; audio ${s.audio.packetsReceived} packets`);
  });
});

test('A sends a reliable data message; B receives it from alice', async (t) => {
  await step(t, async () => {
    await pageA.evaluate(() => window.e2e.sendData('hello from alice', 'e2e'));
    const msg = await waitFor('B to receive the data message', async () => {
      const data = await pageB.evaluate(() => window.e2e.state.data);
      return data.find((d) => d.text === 'hello from alice');
    });
    assert.equal(msg.identity, 'alice');
    assert.equal(msg.topic, 'e2e');
    const atC = await waitFor('C to receive the data message', async () => {
      const data = await pageC.evaluate(() => window.e2e.state.data);
      return data.find((d) => d.text === 'hello from alice');
    });
    assert.equal(atC.identity, 'alice');
  });
});

test('A mutes the camera, B sees TrackMuted; A unmutes, B sees TrackUnmuted', async (t) => {
  await step(t, async () => {
    await pageA.evaluate(() => window.e2e.muteCamera(true));
    await waitFor('B to see alice camera muted', async () => (await events(pageB, 'TrackMuted'))
      .some((e) => e.detail.identity === 'alice' && e.detail.kind === 'video'));
    await pageA.evaluate(() => window.e2e.muteCamera(false));
    await waitFor('B to see alice camera unmuted', async () => (await events(pageB, 'TrackUnmuted'))
      .some((e) => e.detail.identity === 'alice' && e.detail.kind === 'video'));
  });
});

test('A disconnects; B sees ParticipantDisconnected', async (t) => {
  await step(t, async () => {
    await pageA.evaluate(() => window.e2e.disconnect());
    await waitFor('B to see alice leave', async () => (await events(pageB, 'ParticipantDisconnected'))
      .some((e) => e.detail.identity === 'alice'));
    await waitFor('C to see alice leave', async () => (await events(pageC, 'ParticipantDisconnected'))
      .some((e) => e.detail.identity === 'alice'));
    assert.equal((await events(pageB, 'Disconnected')).length, 0, 'B itself stays connected');
    assert.equal((await events(pageC, 'Disconnected')).length, 0, 'C itself stays connected');
  });
});
