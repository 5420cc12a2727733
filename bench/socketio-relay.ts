/**
 * The second reference of issue 11: Socket.IO with @socket.io/redis-adapter, written the
 * idiomatic way — the client's room from the handshake query, `socket.join(room)`,
 * `socket.to(room).emit(...)` — websocket transport only, no per-message deflate. With REDIS_URL
 * several processes share rooms through the adapter (its pub/sub), which is how Socket.IO users
 * scale out; without it, one process.
 * Run by bench/run.ts (compiled to bench/results/build/socketio-relay.mjs): PORT, HOST,
 * REDIS_URL from env. The generator speaks Engine.IO v4 to it (generator.ts, `sio`).
 */
import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';

const httpServer = createServer();
const io = new Server(httpServer, {
  transports: ['websocket'],
  serveClient: false,
  perMessageDeflate: false,
  httpCompression: false,
});
if (process.env.REDIS_URL) {
  const pub = new Redis(process.env.REDIS_URL);
  const sub = pub.duplicate();
  io.adapter(createAdapter(pub, sub));
}

io.on('connection', (socket) => {
  const room = String(socket.handshake.query.roomId ?? '');
  void socket.join(room);
  socket.on('signal', (message: unknown) => {
    socket.to(room).emit('signal', message);
  });
});

httpServer.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
