/**
 * The least of a STUN/TURN client (RFC 5389, RFC 5766) over UDP with node:dgram, to check TURN
 * credentials against a real coturn without a browser: Binding (is the server up), and
 * Allocate with the long-term credential mechanism (a first Allocate is answered 401 with
 * REALM and NONCE; the second carries USERNAME, REALM, NONCE and MESSAGE-INTEGRITY, an
 * HMAC-SHA1 keyed with MD5(username:realm:password)).
 * Hand-written because no maintained npm package speaks TURN Allocate; it is test code only.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';

const MAGIC = 0x2112a442;
const ATTR = {
  username: 0x0006,
  messageIntegrity: 0x0008,
  errorCode: 0x0009,
  realm: 0x0014,
  nonce: 0x0015,
  xorRelayedAddress: 0x0016,
  requestedTransport: 0x0019,
} as const;
const BINDING_REQUEST = 0x0001;
const ALLOCATE_REQUEST = 0x0003;
const SUCCESS = 0x0100;
const ERROR = 0x0110;

export interface StunResponse {
  /** 'success' or 'error' (class of the response). */
  kind: 'success' | 'error';
  errorCode: number | undefined;
  reason: string | undefined;
  attrs: Map<number, Buffer>;
}

function attr(type: number, value: Buffer): Buffer {
  const pad = (4 - (value.length % 4)) % 4;
  const b = Buffer.alloc(4 + value.length + pad);
  b.writeUInt16BE(type, 0);
  b.writeUInt16BE(value.length, 2);
  value.copy(b, 4);
  return b;
}

function header(type: number, length: number, tid: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(type, 0);
  h.writeUInt16BE(length, 2);
  h.writeUInt32BE(MAGIC, 4);
  tid.copy(h, 8);
  return h;
}

/** A request; with `key`, MESSAGE-INTEGRITY is appended (length counted as RFC 5389 §15.4 says). */
function request(type: number, attrs: Buffer[], key?: Buffer): Buffer {
  const tid = randomBytes(12);
  const body = Buffer.concat(attrs);
  if (!key) return Buffer.concat([header(type, body.length, tid), body]);
  const withoutMi = Buffer.concat([header(type, body.length + 24, tid), body]);
  const mi = createHmac('sha1', key).update(withoutMi).digest();
  return Buffer.concat([withoutMi, attr(ATTR.messageIntegrity, mi)]);
}

function parse(msg: Buffer): { tid: Buffer; response: StunResponse } | undefined {
  if (msg.length < 20 || msg.readUInt32BE(4) !== MAGIC) return undefined;
  const type = msg.readUInt16BE(0);
  const cls = type & 0x0110;
  if (cls !== SUCCESS && cls !== ERROR) return undefined;
  const attrs = new Map<number, Buffer>();
  let off = 20;
  const end = Math.min(msg.length, 20 + msg.readUInt16BE(2));
  while (off + 4 <= end) {
    const t = msg.readUInt16BE(off);
    const len = msg.readUInt16BE(off + 2);
    if (off + 4 + len > end) break;
    if (!attrs.has(t)) attrs.set(t, msg.subarray(off + 4, off + 4 + len));
    off += 4 + len + ((4 - (len % 4)) % 4);
  }
  let errorCode: number | undefined;
  let reason: string | undefined;
  const ec = attrs.get(ATTR.errorCode);
  if (ec && ec.length >= 4) {
    errorCode = (ec[2]! & 0x7) * 100 + ec[3]!;
    reason = ec.subarray(4).toString('utf8');
  }
  return {
    tid: msg.subarray(8, 20),
    response: { kind: cls === SUCCESS ? 'success' : 'error', errorCode, reason, attrs },
  };
}

/** One UDP socket talking to one STUN/TURN server. Close it when done. */
export class TurnClient {
  private readonly sock = dgram.createSocket('udp4');
  private readonly waiting = new Map<string, (r: StunResponse) => void>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {
    this.sock.on('message', (msg) => {
      const parsed = parse(msg);
      if (!parsed) return;
      const key = parsed.tid.toString('hex');
      const resolve = this.waiting.get(key);
      this.waiting.delete(key);
      resolve?.(parsed.response);
    });
    this.sock.on('error', () => undefined);
  }

  /** Send with UDP retransmission (every 250 ms, `tries` times); reject when nothing answers. */
  private send(message: Buffer, tries = 8): Promise<StunResponse> {
    const key = message.subarray(8, 20).toString('hex');
    return new Promise((resolve, reject) => {
      let sent = 0;
      let timer: NodeJS.Timeout | undefined;
      const attempt = () => {
        if (timer) this.timers.delete(timer);
        if (this.closed) return;
        if (sent === tries) {
          this.waiting.delete(key);
          reject(new Error(`no STUN answer from ${this.host}:${this.port}`));
          return;
        }
        sent++;
        this.sock.send(message, this.port, this.host);
        timer = setTimeout(attempt, 250);
        this.timers.add(timer);
      };
      this.waiting.set(key, (r) => {
        clearTimeout(timer);
        if (timer) this.timers.delete(timer);
        resolve(r);
      });
      attempt();
    });
  }

  binding(tries?: number): Promise<StunResponse> {
    return this.send(request(BINDING_REQUEST, []), tries);
  }

  /**
   * A TURN Allocate (UDP relay) with the long-term credential mechanism. Resolves to the
   * authenticated answer: success (with the relayed address) or the error (401 and so on).
   */
  async allocate(username: string, password: string): Promise<StunResponse> {
    const transport = attr(ATTR.requestedTransport, Buffer.from([17, 0, 0, 0]));
    const challenge = await this.send(request(ALLOCATE_REQUEST, [transport]));
    if (challenge.kind !== 'error' || challenge.errorCode !== 401)
      throw new Error(`expected a 401 challenge, got ${challenge.kind} ${challenge.errorCode}`);
    const realm = challenge.attrs.get(ATTR.realm);
    const nonce = challenge.attrs.get(ATTR.nonce);
    if (!realm || !nonce) throw new Error('401 challenge without REALM/NONCE');
    const key = createHash('md5').update(`${username}:${realm.toString()}:${password}`).digest();
    return this.send(
      request(
        ALLOCATE_REQUEST,
        [
          transport,
          attr(ATTR.username, Buffer.from(username)),
          attr(ATTR.realm, realm),
          attr(ATTR.nonce, nonce),
        ],
        key,
      ),
    );
  }

  /** The XOR-RELAYED-ADDRESS of a successful Allocate, as "ip:port". */
  static relayedAddress(r: StunResponse): string | undefined {
    const v = r.attrs.get(ATTR.xorRelayedAddress);
    if (!v || v.length < 8 || v[1] !== 0x01) return undefined;
    const port = v.readUInt16BE(2) ^ (MAGIC >>> 16);
    const ip = (v.readUInt32BE(4) ^ MAGIC) >>> 0;
    return `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}:${port}`;
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const resolve of this.waiting.values())
      resolve({ kind: 'error', errorCode: undefined, reason: 'closed', attrs: new Map() });
    this.waiting.clear();
    this.sock.close();
  }
}
