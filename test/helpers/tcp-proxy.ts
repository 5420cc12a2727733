/**
 * A TCP proxy in front of a server, for cutting a client's connection the way a network does:
 * `sever()` destroys both sockets of every connection, so neither end receives a WebSocket
 * close frame (the server sees 1006), while the proxy keeps accepting new connections.
 */
import net from 'node:net';

export class TcpProxy {
  private constructor(
    private readonly server: net.Server,
    readonly port: number,
    private readonly pairs: Set<[net.Socket, net.Socket]>,
    private readonly state: { down: boolean },
  ) {}

  /** While down, new connections are reset at once (the network is still away). */
  set down(down: boolean) {
    this.state.down = down;
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    const pairs = new Set<[net.Socket, net.Socket]>();
    const state = { down: false };
    const server = net.createServer((client) => {
      if (state.down) return void client.resetAndDestroy();
      const upstream = net.connect(targetPort, '127.0.0.1');
      const pair: [net.Socket, net.Socket] = [client, upstream];
      pairs.add(pair);
      const drop = () => {
        pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new TcpProxy(server, (server.address() as net.AddressInfo).port, pairs, state);
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  /** Cut every connection: both sockets destroyed, no close frame either way. */
  sever(): void {
    for (const [a, b] of this.pairs) {
      a.resetAndDestroy();
      b.resetAndDestroy();
    }
    this.pairs.clear();
  }

  async close(): Promise<void> {
    this.sever();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
