/**
 * A raw WebSocket client over a TCP socket, for what a well-behaved client library will not do:
 * look at the raw upgrade response, claim a huge frame length without sending it, never answer
 * a ping, stall a handshake. Hand-written on purpose: `ws` refuses to misbehave.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  socket: net.Socket;
  /** Bytes received after the response head. */
  rest: Buffer;
}

export interface RawOptions {
  headers?: Record<string, string>;
  localAddress?: string;
  timeoutMs?: number;
}

/** Send an upgrade request for `path` and resolve with the response head. */
export function rawUpgrade(
  port: number,
  path: string,
  opts: RawOptions = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: opts.localAddress });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no upgrade response'));
    }, opts.timeoutMs ?? 5000);
    let buf = Buffer.alloc(0);
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('data', function onData(chunk: Buffer) {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      clearTimeout(timer);
      const [statusLine, ...lines] = buf.subarray(0, end).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const i = line.indexOf(':');
        headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      resolve({
        status: Number(statusLine!.split(' ')[1]),
        headers,
        socket,
        rest: buf.subarray(end + 4),
      });
    });
    socket.on('connect', () => socket.write(upgradeRequest(path, opts.headers)));
  });
}

export function upgradeRequest(path: string, headers: Record<string, string> = {}): string {
  const all: Record<string, string> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
    ...headers,
  };
  return (
    `GET ${path} HTTP/1.1\r\n` +
    Object.entries(all)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('') +
    '\r\n'
  );
}

export const Opcode = { cont: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

/** A masked client frame. `declaredLength` lies about the payload length when given. */
export function clientFrame(
  opcode: number,
  payload: Buffer,
  opts: { fin?: boolean; declaredLength?: number } = {},
): Buffer {
  const len = opts.declaredLength ?? payload.length;
  let head: Buffer;
  if (len < 126) {
    head = Buffer.alloc(2);
    head[1] = 0x80 | len;
  } else if (len < 65536) {
    head = Buffer.alloc(4);
    head[1] = 0x80 | 126;
    head.writeUInt16BE(len, 2);
  } else {
    head = Buffer.alloc(10);
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  head[0] = (opts.fin === false ? 0 : 0x80) | opcode;
  const mask = randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i]! ^= mask[i % 4]!;
  return Buffer.concat([head, mask, body]);
}

export interface ServerFrame {
  opcode: number;
  payload: Buffer;
}

/**
 * Collect the server's (unmasked) frames from a socket. `closed` resolves with the close
 * frame's code and reason, or code 1006 when the TCP connection ends without one.
 */
export class FrameReader {
  readonly frames: ServerFrame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private buf: Buffer;

  constructor(
    readonly socket: net.Socket,
    initial: Buffer = Buffer.alloc(0),
  ) {
    this.buf = initial;
    this.closed = new Promise((resolve) => {
      const onData = (chunk: Buffer) => {
        this.buf = Buffer.concat([this.buf, chunk]);
        for (let f = this.take(); f; f = this.take()) {
          this.frames.push(f);
          if (f.opcode === Opcode.close)
            resolve({
              code: f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005,
              reason: f.payload.subarray(2).toString(),
            });
        }
      };
      socket.on('data', onData);
      socket.on('close', () => resolve({ code: 1006, reason: '' }));
      socket.on('error', () => undefined);
      if (initial.length) onData(Buffer.alloc(0));
    });
  }

  private take(): ServerFrame | undefined {
    const b = this.buf;
    if (b.length < 2) return undefined;
    let len = b[1]! & 0x7f;
    let off = 2;
    if (len === 126) {
      if (b.length < 4) return undefined;
      len = b.readUInt16BE(2);
      off = 4;
    } else if (len === 127) {
      if (b.length < 10) return undefined;
      len = Number(b.readBigUInt64BE(2));
      off = 10;
    }
    if (b.length < off + len) return undefined;
    this.buf = b.subarray(off + len);
    return { opcode: b[0]! & 0x0f, payload: b.subarray(off, off + len) };
  }
}
