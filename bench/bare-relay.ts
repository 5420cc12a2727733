/**
 * The ceiling: a WebSocket relay with nothing but a rooms map, written with `ws` like Switchboard.
 * Every text frame is forwarded as is to the other members of the sender's room; no parsing, no
 * validation, no limits, no metrics. A `?v=2` client gets a one-line welcome once it is in its
 * room, so "admission complete" means the same thing here as on Switchboard.
 * Run by bench/run.ts (compiled to bench/results/build/bare-relay.mjs): PORT, HOST from env.
 */
import { WebSocket, WebSocketServer } from 'ws';

const rooms = new Map<string, Set<WebSocket>>();
const WELCOME = Buffer.from('{"type":"control","action":"welcome"}');

const wss = new WebSocketServer({
  host: process.env.HOST ?? '127.0.0.1',
  port: Number(process.env.PORT ?? 0),
  perMessageDeflate: false,
  clientTracking: false,
});

wss.on('connection', (ws, req) => {
  const params = new URL(req.url ?? '/', 'http://localhost').searchParams;
  const roomId = params.get('roomId') ?? '';
  let room = rooms.get(roomId);
  if (!room) rooms.set(roomId, (room = new Set()));
  room.add(ws);
  if (params.get('v') === '2') ws.send(WELCOME);
  ws.on('message', (data: Buffer) => {
    for (const peer of room) if (peer !== ws) peer.send(data, { binary: false });
  });
  ws.on('error', () => undefined);
  ws.on('close', () => {
    room.delete(ws);
    if (room.size === 0) rooms.delete(roomId);
  });
});

wss.on('listening', () => {
  const addr = wss.address();
  process.stdout.write(
    `bare relay listening on ${typeof addr === 'object' && addr ? addr.port : addr}\n`,
  );
});

process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
