/* global Switchboard, document, location, navigator, window, URLSearchParams */
/**
 * Demo: join a room, see the peers, open one RTCDataChannel per peer (PeerMesh does the
 * offer/answer/candidate exchange through the server) and chat over them.
 * Query parameters: ?room=ID&server=ws://a,ws://b&autojoin=1&camera=1
 * State is exposed as window.demo for the end-to-end tests.
 */
(() => {
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const wsOrigin = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host;
  $('server').value = params.get('server') ?? wsOrigin;
  $('room').value = params.get('room') ?? 'demo';
  $('camera').checked = params.get('camera') === '1';

  const demo = {
    client: undefined,
    mesh: undefined,
    /** peerId → RTCDataChannel */
    channels: new Map(),
    /** { from, text } received over data channels */
    received: [],
    /** signaling events, for diagnosing a failed test */
    trace: [],
    /** how many times the signaling connection was (re)admitted */
    welcomes: 0,
    resumes: 0,
    openChannels: () => [...demo.channels.values()].filter((c) => c.readyState === 'open').length,
  };
  window.demo = demo;

  /** Keep the last 300 signaling events (bounded, the page may stay open for hours). */
  function trace(line) {
    demo.trace.push(line);
    if (demo.trace.length > 300) demo.trace.splice(0, demo.trace.length - 300);
  }

  function log(text, cls) {
    const li = document.createElement('li');
    li.textContent = text;
    if (cls) li.className = cls;
    $('log').append(li);
  }

  function renderPeers() {
    const ul = $('peers');
    ul.replaceChildren();
    for (const [id, dc] of demo.channels) {
      const li = document.createElement('li');
      li.textContent = `${id} — channel ${dc.readyState}`;
      li.className = dc.readyState;
      ul.append(li);
    }
    $('send').disabled = demo.openChannels() === 0;
  }

  async function join(event) {
    event.preventDefault();
    const urls = $('server')
      .value.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const media = $('camera').checked
      ? await navigator.mediaDevices.getUserMedia({ video: true, audio: false })
      : undefined;
    const client = Switchboard.connect({
      url: urls,
      roomId: $('room').value,
      protocol: 2,
      token: params.get('token') ?? undefined,
    });
    demo.client = client;
    client.on('welcome', (w) => {
      demo.welcomes++;
      $('me').textContent = w.peerId;
      $('state').textContent = 'joined';
      log(`joined ${w.roomId} as ${w.peerId} with ${w.peers.length} peer(s)`, 'me');
    });
    client.on('resumed', (w) => {
      demo.resumes++;
      $('state').textContent = 'joined';
      log(`resumed as ${w.peerId}: connections kept`, 'me');
    });
    client.on('peer-joined', (id) => log(`${id} joined`, 'me'));
    client.on('peer-left', (id) => log(`${id ?? 'a peer'} left`, 'me'));
    client.on('close', (c) => {
      $('state').textContent = c.willRetry
        ? `reconnecting in ${c.retryInMs} ms (${c.code} ${c.reason})`
        : `closed (${c.code} ${c.reason})`;
    });

    demo.mesh = new Switchboard.PeerMesh(client, {
      setup(peer) {
        // Both sides create the same pre-negotiated channel: no need to wait for ondatachannel,
        // and the simultaneous offers this causes are what perfect negotiation resolves.
        const dc = peer.pc.createDataChannel('chat', { negotiated: true, id: 0 });
        demo.channels.set(peer.id, dc);
        dc.onopen = dc.onclose = renderPeers;
        dc.onmessage = (e) => {
          demo.received.push({ from: peer.id, text: String(e.data) });
          log(`${peer.id}: ${e.data}`);
        };
        peer.pc.addEventListener('icecandidate', (e) =>
          trace(`local candidate for ${peer.id}: ${e.candidate?.candidate || 'end'}`),
        );
        peer.pc.addEventListener('signalingstatechange', () =>
          trace(`${peer.id} signaling ${peer.pc.signalingState}`),
        );
        if (media) for (const track of media.getTracks()) peer.pc.addTrack(track, media);
        peer.pc.ontrack = (e) => {
          let video = document.getElementById(`video-${peer.id}`);
          if (!video) {
            video = document.createElement('video');
            video.id = `video-${peer.id}`;
            video.autoplay = video.muted = video.playsInline = true;
            $('videos').append(video);
          }
          video.srcObject = e.streams[0];
        };
        renderPeers();
      },
    });
    demo.mesh.on('error', (id, err) => console.error(`negotiation with ${id} failed:`, err));
    demo.mesh.on('glare', (id, how) => trace(`glare ${id} ${how}`));
    client.on('message', (m) => trace(`recv ${m.type} from ${m.from}`));
    demo.mesh.on('peer-closed', (id) => {
      demo.channels.delete(id);
      document.getElementById(`video-${id}`)?.remove();
      renderPeers();
    });
    $('join').disabled = true;
    $('leave').disabled = false;
    $('state').textContent = 'connecting';
  }

  function leave() {
    demo.mesh?.close();
    demo.client?.close();
    demo.channels.clear();
    renderPeers();
    $('join').disabled = false;
    $('leave').disabled = true;
  }

  function send(event) {
    event.preventDefault();
    const text = $('text').value;
    if (!text) return;
    for (const dc of demo.channels.values()) if (dc.readyState === 'open') dc.send(text);
    log(`me: ${text}`, 'me');
    $('text').value = '';
  }

  $('join-form').addEventListener('submit', join);
  $('leave').addEventListener('click', leave);
  $('chat-form').addEventListener('submit', send);
  if (params.get('autojoin') === '1') $('join').click();
})();
