/**
 * A real webhook receiver: an HTTP server on 127.0.0.1 that verifies every request with the
 * `standardwebhooks` package (an independent implementation of the spec) and records it.
 * What it answers is up to the test (`respond`): a status, `hang` (never answers until the
 * client gives up or the receiver stops), or `destroy` (drops the connection). It can be
 * stopped and started again on the same port (a receiver that is down for a while).
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { until } from './server.js';

export interface Delivery {
  id: string;
  timestamp: number;
  type: string;
  body: { type: string; timestamp: string; data: Record<string, unknown> };
  /** 1 for the first request carrying this webhook-id, 2 for its first retry, ... */
  attempt: number;
  /** Answered 2xx (what the sender counts as delivered). */
  accepted: boolean;
}

export type Answer = number | 'hang' | 'destroy';

export const TEST_SECRET =
  'whsec_' + Buffer.from('switchboard-test-secret-32-bytes').toString('base64');

export class WebhookReceiver {
  /** Every verified request, in arrival order. */
  readonly requests: Delivery[] = [];
  /** Requests that failed verification (must stay empty). */
  readonly invalid: string[] = [];
  respond: (d: Delivery) => Answer = () => 204;
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  private readonly verifier: Webhook;
  private readonly hanging = new Set<http.ServerResponse>();
  port = 0;

  constructor(secret = TEST_SECRET) {
    this.verifier = new Webhook(secret);
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
  }

  static async start(secret?: string): Promise<WebhookReceiver> {
    const r = new WebhookReceiver(secret);
    await r.listen(0);
    return r;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        const addr = this.server.address();
        this.port = typeof addr === 'object' && addr ? addr.port : 0;
        resolve();
      });
    });
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const payload = Buffer.concat(chunks).toString('utf8');
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
      let body: Delivery['body'];
      try {
        body = this.verifier.verify(payload, headers) as Delivery['body'];
      } catch (err) {
        this.invalid.push(`${(err as Error).message}: ${payload}`);
        res.writeHead(400).end();
        return;
      }
      const id = headers['webhook-id']!;
      const d: Delivery = {
        id,
        timestamp: Number(headers['webhook-timestamp']),
        type: body.type,
        body,
        attempt: this.requests.filter((r) => r.id === id).length + 1,
        accepted: false,
      };
      this.requests.push(d);
      const answer = this.respond(d);
      if (answer === 'hang') {
        this.hanging.add(res);
        res.once('close', () => this.hanging.delete(res));
        return;
      }
      if (answer === 'destroy') return void req.socket.destroy();
      d.accepted = answer >= 200 && answer < 300;
      res.writeHead(answer).end();
    });
  }

  /** Deliveries answered 2xx, in order (what the application saw). */
  get accepted(): Delivery[] {
    return this.requests.filter((r) => r.accepted);
  }

  /** Accepted deliveries of one room, in order. */
  room(roomId: string): Delivery[] {
    return this.accepted.filter((d) => d.body.data.roomId === roomId);
  }

  async waitFor(pred: (r: WebhookReceiver) => boolean, ms = 15_000, what = 'deliveries') {
    await until(() => pred(this), ms, what);
  }

  /** Close the port and every connection (the sender sees connection errors). */
  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  /** Listen again on the same port. */
  async restart(): Promise<void> {
    await this.listen(this.port);
  }
}
