// In-page side of the browser end-to-end tests: a minimal livekit-client app that the node test
// drives through page.evaluate(window.e2e.<method>). It records what the SDK reports so the test can
// assert on it, and shows it on the page so a failure screenshot tells the story.
/* global LivekitClient */
'use strict';

const { Room, RoomEvent, Track } = LivekitClient;

const state = {
  events: [],
  data: [],
  videoElements: [],
  firstFrameAt: 0,
  videoSubscribedAt: 0,
};
let room = null;

function note(name, detail) {
  const entry = { at: Date.now(), name, detail };
  state.events.push(entry);
  document.getElementById('log').textContent += `${new Date(entry.at).toISOString()} ${name} ${JSON.stringify(detail ?? '')}\n`;
}

function onTrackSubscribed(track, pub, participant) {
  note('TrackSubscribed', { kind: track.kind, source: pub.source, trackSid: pub.trackSid, identity: participant.identity });
  const el = track.attach();
  document.getElementById('media').appendChild(el);
  if (track.kind === Track.Kind.Video) {
    state.videoSubscribedAt = Date.now();
    state.videoElements.push(el);
    el.requestVideoFrameCallback(() => {
      if (!state.firstFrameAt) {
        state.firstFrameAt = Date.now();
        note('FirstVideoFrame', { videoWidth: el.videoWidth, videoHeight: el.videoHeight });
      }
    });
  }
}

window.e2e = {
  state,

  /**
   * Connects; with no roomOptions that is livekit-client's default path (single PC on /rtc/v1;
   * { singlePeerConnection: false } means /rtc). Returns the room.connect duration and what the SDK learnt at join.
   */
  async connect(url, token, roomOptions) {
    room = new Room(roomOptions);
    room
      .on(RoomEvent.ParticipantConnected, (p) => note('ParticipantConnected', { identity: p.identity }))
      .on(RoomEvent.ParticipantDisconnected, (p) => note('ParticipantDisconnected', { identity: p.identity }))
      .on(RoomEvent.TrackPublished, (pub, p) => note('TrackPublished', { kind: pub.kind, identity: p.identity }))
      .on(RoomEvent.TrackSubscribed, onTrackSubscribed)
      .on(RoomEvent.TrackSubscriptionFailed, (sid, p, err) => note('TrackSubscriptionFailed', { sid, identity: p?.identity, err: String(err) }))
      .on(RoomEvent.TrackMuted, (pub, p) => note('TrackMuted', { kind: pub.kind, source: pub.source, identity: p.identity }))
      .on(RoomEvent.TrackUnmuted, (pub, p) => note('TrackUnmuted', { kind: pub.kind, source: pub.source, identity: p.identity }))
      .on(RoomEvent.DataReceived, (payload, p, kind, topic) => {
        const msg = { text: new TextDecoder().decode(payload), identity: p?.identity, kind, topic };
        state.data.push(msg);
        note('DataReceived', msg);
      })
      .on(RoomEvent.Reconnecting, () => note('Reconnecting'))
      .on(RoomEvent.Reconnected, () => note('Reconnected', { sid: room.localParticipant.sid }))
      .on(RoomEvent.SignalReconnecting, () => note('SignalReconnecting'))
      .on(RoomEvent.Disconnected, (reason) => note('Disconnected', { reason }));
    const t0 = performance.now();
    await room.connect(url, token);
    const connectMs = performance.now() - t0;
    document.getElementById('who').textContent = `${room.localParticipant.identity} in ${room.name}`;
    note('Connected', { connectMs, serverVersion: room.serverInfo?.version });
    return {
      connectMs,
      identity: room.localParticipant.identity,
      sid: room.localParticipant.sid,
      room: room.name,
      serverVersion: room.serverInfo?.version ?? '',
      remotes: [...room.remoteParticipants.values()].map((p) => p.identity),
    };
  },

  /** Publishes the fake camera and microphone; returns when both publications are acknowledged. */
  async publish() {
    const startedAt = Date.now();
    await room.localParticipant.enableCameraAndMicrophone();
    return { startedAt, publishMs: Date.now() - startedAt };
  },

  /** Inbound RTP statistics of every subscribed remote track, plus the video elements' sizes. */
  async inbound() {
    const out = { video: null, audio: null, videoWidth: 0, videoHeight: 0, srtpCipher: '' };
    for (const p of room.remoteParticipants.values()) {
      for (const pub of p.trackPublications.values()) {
        if (!pub.track) continue;
        const report = await pub.track.getRTCStatsReport();
        report?.forEach((s) => {
          if (s.type === 'transport' && s.srtpCipher) out.srtpCipher = s.srtpCipher;
          if (s.type !== 'inbound-rtp') return;
          out[s.kind] = {
            packetsReceived: s.packetsReceived ?? 0,
            bytesReceived: s.bytesReceived ?? 0,
            framesDecoded: s.framesDecoded ?? 0,
            frameWidth: s.frameWidth ?? 0,
            codecId: s.codecId ?? '',
          };
        });
      }
    }
    for (const el of state.videoElements) {
      out.videoWidth = Math.max(out.videoWidth, el.videoWidth);
      out.videoHeight = Math.max(out.videoHeight, el.videoHeight);
    }
    return out;
  },

  /** Sends a reliable data packet to everyone in the room. */
  async sendData(text, topic) {
    await room.localParticipant.publishData(new TextEncoder().encode(text), { reliable: true, topic });
  },

  /** Mutes (or unmutes) the published camera track. */
  async muteCamera(muted = true) {
    const pub = room.localParticipant.getTrackPublication(Track.Source.Camera);
    if (!pub) throw new Error('no camera publication');
    await (muted ? pub.mute() : pub.unmute());
  },

  /** Runs one of livekit-client's test scenarios (room.simulateScenario), e.g. 'signal-reconnect'. */
  async simulate(scenario) {
    await room.simulateScenario(scenario);
  },

  /** The local participant's current sid. */
  sid() {
    return room.localParticipant.sid;
  },

  async disconnect() {
    await room.disconnect();
  },
};
