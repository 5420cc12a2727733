/**
 * Publishes whose reply Redis never sends (issue 11, "fewer wake-ups on the sending node").
 *
 * A PUBLISH answers with the number of receivers, which the node never uses; reading it costs
 * the node a wake-up, a read and a command object per message, and costs Redis a write. Each
 * PUBLISH of a single Redis is therefore written as `CLIENT REPLY SKIP` + `PUBLISH` straight
 * onto the command connection's socket (RESP, encoded here: a dozen lines that ioredis does
 * not expose without also queueing a reply it would wait for). Neither command answers, so
 * ioredis' queue of awaited replies is untouched, and because it is the same socket the order
 * against the scripts (resume's keep before its publish, SPEC.md §13) is unchanged.
 *
 * What the circuit breaker still sees (SPEC.md §7): a connection that is not ready fails the
 * publish at once, as before; and one publish per CHECK_EVERY_MS, and every publish while the
 * circuit is not closed, is sent the ordinary way and reports its outcome, so a Redis that
 * stops answering (a hung server, a cut network) opens the breaker as it did. On each
 * connection every publish reports back until one has succeeded (so how many are checked does
 * not depend on how fast the first reply comes), and an error reply (a Redis that refuses
 * PUBLISH, an ACL without it) turns skipping off until the next connect, so every refused
 * publish counts.
 * What is left unseen: a refusal of some channels only (an ACL channel pattern) between two
 * reported publishes.
 *
 * On every (re)connect, `CLIENT REPLY ON` is sent the ordinary way first: it changes nothing,
 * and it succeeds only where `CLIENT REPLY` is known and allowed (Redis ≥ 3.2, an ACL user with
 * `client|reply`). Until it has succeeded on the current connection, every publish asks for
 * its reply. A refused SKIP would otherwise send replies ioredis does not expect.
 */
import { ReplyError, type Redis } from 'ioredis';

/** At least one publish per this interval is sent with its reply, for the breaker. */
export const CHECK_EVERY_MS = 1000;

const SKIP = '*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n';

/** `CLIENT REPLY SKIP` then `PUBLISH channel message`, as RESP. */
export function skipPublishCommand(channel: string, message: string): string {
  return (
    SKIP +
    '*3\r\n$7\r\nPUBLISH\r\n$' +
    Buffer.byteLength(channel) +
    '\r\n' +
    channel +
    '\r\n$' +
    Buffer.byteLength(message) +
    '\r\n' +
    message +
    '\r\n'
  );
}

export class ReplySkippingPublisher {
  /** `CLIENT REPLY ON` succeeded on the connection that is up now. */
  private replyOn = false;
  /** ... and a publish on it has succeeded since: publishes may skip their reply. */
  private allowed = false;
  /** Bumped on every connect, so a probe answering for an old connection is ignored. */
  private generation = 0;
  private lastChecked = -Infinity;

  constructor(
    private readonly client: Redis,
    private readonly now: () => number = () => performance.now(),
  ) {
    client.on('ready', () => this.probe());
    client.on('close', () => {
      this.replyOn = this.allowed = false;
      this.generation++;
    });
    if (client.status === 'ready') this.probe();
  }

  /** `CLIENT REPLY ON` succeeded on the connection that is up now. */
  get probed(): boolean {
    return this.replyOn;
  }

  /** Publishes may go without their reply now (probed, and one has succeeded since). */
  get skipping(): boolean {
    return this.allowed;
  }

  /**
   * The batch, in order. The promises are those of the publishes sent with their reply (none,
   * one, or all of them): `checked` asks for every reply (the circuit is not closed).
   */
  publish(batch: [channel: string, message: string][], checked: boolean): Promise<unknown>[] {
    const client = this.client;
    const replies: Promise<unknown>[] = [];
    const stream = client.status === 'ready' ? client.stream : undefined;
    stream?.cork();
    for (const [channel, message] of batch) {
      if (stream === undefined || !this.allowed || checked || this.due()) {
        const reply = client.publish(channel, message);
        if (this.replyOn && !this.allowed) reply.then(this.answered(this.generation), this.refused);
        else reply.catch(this.refused);
        replies.push(reply);
      } else {
        stream.write(skipPublishCommand(channel, message));
      }
    }
    stream?.uncork();
    return replies;
  }

  /**
   * An error reply (not a lost connection) to a publish: Redis refuses publishes (an ACL
   * without `publish`, say), which a skipped reply would hide. Every publish asks for its reply
   * again until the next connect, so each failure reaches the breaker as before.
   */
  private readonly refused = (err: unknown): void => {
    if (err instanceof ReplyError) this.replyOn = this.allowed = false;
  };

  /** A publish on connection `generation` succeeded: from now on replies may be skipped. */
  private answered(generation: number): () => void {
    return () => {
      if (generation === this.generation && this.replyOn) this.allowed = true;
    };
  }

  private due(): boolean {
    const t = this.now();
    if (t - this.lastChecked < CHECK_EVERY_MS) return false;
    this.lastChecked = t;
    return true;
  }

  private probe(): void {
    const generation = ++this.generation;
    this.replyOn = this.allowed = false;
    this.client.client('REPLY', 'ON').then(
      () => {
        if (generation === this.generation) this.replyOn = true;
      },
      () => undefined,
    );
  }
}
