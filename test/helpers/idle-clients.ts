/**
 * Child process for the idle-connection flood test: opens COUNT raw WebSocket connections to
 * 127.0.0.1:PORT (each in its own room), never answers a ping, and reports over IPC:
 * { open: n } once every handshake is done, then { closed: n } as the server drops them.
 * Runs in its own process so the server process keeps its file descriptors to itself.
 */
import net from 'node:net';
import { upgradeRequest } from './raw-ws.js';

const [port, count, batch] = process.argv.slice(2).map(Number) as [number, number, number];
const sockets: net.Socket[] = [];
let closed = 0;
let failed = 0;

function open(i: number): Promise<void> {
  return new Promise((resolve) => {
    // Spread over a few loopback source addresses so ephemeral ports never run short.
    const s = net.connect({ port, host: '127.0.0.1', localAddress: `127.0.1.${(i % 4) + 1}` });
    sockets.push(s);
    let head = '';
    const onData = (d: Buffer) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      s.off('data', onData);
      if (!head.startsWith('HTTP/1.1 101')) failed++;
      s.resume(); // read and discard everything (pings included): never a pong
      resolve();
    };
    s.on('data', onData);
    s.on('error', () => undefined);
    s.on('close', () => {
      closed++;
      if (closed % 1000 === 0 || closed === count) process.send?.({ closed });
      resolve();
    });
    s.on('connect', () => s.write(upgradeRequest(`/?roomId=idle-${i}`)));
  });
}

for (let i = 0; i < count; i += batch)
  await Promise.all(Array.from({ length: Math.min(batch, count - i) }, (_, j) => open(i + j)));
process.send?.({ open: sockets.length - closed, failed, ms: Math.round(performance.now()) });
process.on('disconnect', () => {
  for (const s of sockets) s.destroy();
  process.exit(0);
});
