/**
 * Realistic signaling payloads with a send timestamp inside a field the server forwards as is
 * (an extra field would be dropped by normalization and change the server's path):
 * - a ~2 KB SDP offer whose o= session id carries the stamp,
 * - a ~200-byte ICE candidate whose foundation carries the stamp.
 * Both have exactly the fields of their shape, so Switchboard can forward the sender's bytes.
 * A stamp is 16 digits: one phase digit (1 warm-up, 2 measured) and 15 digits of microseconds.
 */

export const PHASE_WARMUP = 1;
export const PHASE_MEASURED = 2;

const OFFER_PREFIX = '{"type":"offer","sdp":"v=0\\r\\no=- ';
const CANDIDATE_PREFIX = '{"type":"candidate","candidate":"candidate:';
const STAMP_DIGITS = 16;

function sdpBody(targetBytes: number): string {
  const lines = [
    ' 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=group:BUNDLE 0 1',
    'a=extmap-allow-mixed',
    'a=msid-semantic: WMS stream',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126',
    'c=IN IP4 0.0.0.0',
    'a=rtcp:9 IN IP4 0.0.0.0',
    'a=ice-ufrag:Xk3f',
    'a=ice-pwd:8fJw2Lq9dZ0vN3rT5yU7iO1p',
    'a=ice-options:trickle',
    'a=fingerprint:sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:3D:9A:1B:2C:5E:6F:70:81:92:A3:B4:C5',
    'a=setup:actpass',
    'a=mid:0',
    'a=sendrecv',
    'a=rtcp-mux',
    'a=rtpmap:111 opus/48000/2',
    'a=rtcp-fb:111 transport-cc',
    'a=fmtp:111 minptime=10;useinbandfec=1',
    'm=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99 100 101',
    'c=IN IP4 0.0.0.0',
    'a=mid:1',
    'a=rtpmap:96 VP8/90000',
    'a=rtcp-fb:96 goog-remb',
    'a=rtcp-fb:96 transport-cc',
    'a=rtcp-fb:96 ccm fir',
    'a=rtcp-fb:96 nack',
    'a=rtcp-fb:96 nack pli',
    'a=rtpmap:97 rtx/90000',
    'a=fmtp:97 apt=96',
  ];
  let body = lines.join('\\r\\n');
  let i = 0;
  while (OFFER_PREFIX.length + STAMP_DIGITS + body.length + 4 < targetBytes)
    body += `\\r\\na=ssrc:${1000 + i++} cname:benchcname`;
  return body;
}

const OFFER_SUFFIX = sdpBody(2048) + '\\r\\n"}';
const CANDIDATE_SUFFIX =
  ' 1 udp 2122260223 192.168.1.23 54321 typ host generation 0 ufrag Xk3f network-id 1 network-cost 10 raddr 0.0.0.0 rport 0' +
  '","sdpMid":"0","sdpMLineIndex":0}';

function stamp(phase: number, micros: number): string {
  return String(phase) + String(Math.round(micros)).padStart(STAMP_DIGITS - 1, '0');
}

export function offer(phase: number, micros: number): string {
  return OFFER_PREFIX + stamp(phase, micros) + OFFER_SUFFIX;
}

export function candidate(phase: number, micros: number): string {
  return CANDIDATE_PREFIX + stamp(phase, micros) + CANDIDATE_SUFFIX;
}

/** One message of the mix: an SDP offer, then four ICE candidates, repeating. */
export function mixed(i: number, phase: number, micros: number): string {
  return i % 5 === 0 ? offer(phase, micros) : candidate(phase, micros);
}

export const OFFER_BYTES = offer(PHASE_WARMUP, 0).length;
export const CANDIDATE_BYTES = candidate(PHASE_WARMUP, 0).length;

const O = 0x6f; // 'o' at index 9: {"type":"offer"
const C = 0x63; // 'c' at index 9 and 'a' at 10: {"type":"candidate"
const A = 0x61;

/** The stamp of a received frame: phase and microseconds, or undefined if it carries none. */
export function readStamp(buf: Buffer): { phase: number; micros: number } | undefined {
  let at: number;
  if (buf[9] === O) at = OFFER_PREFIX.length;
  else if (buf[9] === C && buf[10] === A) at = CANDIDATE_PREFIX.length;
  else return undefined;
  if (buf.length < at + STAMP_DIGITS) return undefined;
  const phase = buf[at]! - 0x30;
  let micros = 0;
  for (let i = at + 1; i < at + STAMP_DIGITS; i++) micros = micros * 10 + (buf[i]! - 0x30);
  return { phase, micros };
}
