/**
 * How did the server answer a client: admitted into a room, or refused with a close frame?
 * A client counts as admitted when the server holds an open peer for its socket.
 */
import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import type { Closed, TestClient, TestServer } from './server.js';

function localPort(ws: WebSocket): number | undefined {
  return (ws as unknown as { _socket?: Socket })._socket?.localPort;
}

export function isAdmitted(t: TestServer, c: TestClient): boolean {
  const port = localPort(c.ws);
  if (port === undefined) return false;
  for (const room of t.server.hub.rooms.values())
    for (const p of room.peers.values())
      if (
        p.state === 'open' &&
        (p.ws as unknown as { _socket?: Socket })._socket?.remotePort === port
      )
        return true;
  return false;
}

/** 'admitted' (the client is left open) or the close the server sent. Bounded at `ms`. */
export async function admission(
  t: TestServer,
  c: TestClient,
  ms = 3000,
): Promise<'admitted' | Closed> {
  const deadline = performance.now() + ms; // monotonic: holds when a test mocks Date
  for (;;) {
    if (c.ws.readyState !== WebSocket.OPEN) return c.closed;
    if (isAdmitted(t, c)) return 'admitted';
    if (performance.now() > deadline)
      throw new Error(`neither admitted nor refused within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
