/**
 * The replay of a resume (pure logic): mailbox then buffer, each message once, each origin's
 * messages in its sequence order, membership events only where the welcome's list differs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Envelope } from '../src/backend/backend.js';
import { replayFrames } from '../src/server/resume-replay.js';
import { RoomResume } from '../src/server/resume-state.js';

const msg = (origin: string, seq: number, from = 'client:q', to?: string): Envelope => ({
  senderId: from,
  data: { type: 'control', action: `${origin}${seq}` },
  originServerId: origin,
  seq,
  ...(to === undefined ? {} : { to }),
});
const member = (senderId: string, event: 'join' | 'leave'): Envelope => ({
  senderId,
  data: { type: 'peer-disconnected' },
  originServerId: '',
  event,
});
const actions = (frames: Buffer[]) =>
  frames.map((f) => {
    const m = JSON.parse(f.toString()) as {
      action?: string;
      type: string;
      payload?: unknown;
      peerId?: string;
    };
    return m.action ?? `${m.type}:${m.peerId}`;
  });

test(
  'mailbox then buffer, each message once, relayed copies back in their origin order',
  { timeout: 5000 },
  () => {
    // B3 relayed late (after B4, B5 kept by B itself); B5 also heard live; A1 only live.
    const mailbox = [msg('B', 4), msg('B', 5), msg('B', 3)].map((e) => JSON.stringify(e));
    const buffer = [msg('B', 5), msg('A', 1), msg('B', 6)];
    const { frames, upTo } = replayFrames('client:p', mailbox, buffer, ['client:p', 'client:q']);
    assert.deepEqual(actions(frames), ['B3', 'B4', 'B5', 'A1', 'B6']);
    assert.deepEqual([...upTo].sort(), [
      ['A', 1],
      ['B', 6],
    ]);
    assert.deepEqual(JSON.parse(frames[0]!.toString()), {
      type: 'control',
      action: 'B3',
      from: 'client:q',
    });
  },
);

test('only what concerns the peer: not its own, not directed elsewhere', { timeout: 5000 }, () => {
  const buffer = [
    msg('A', 1, 'client:p'),
    msg('A', 2, 'client:q', 'client:r'),
    msg('A', 3, 'client:q', 'client:p'),
  ];
  assert.deepEqual(actions(replayFrames('client:p', [], buffer, []).frames), ['A3']);
});

test(
  'membership events replayed only where the welcome list does not already say so',
  { timeout: 5000 },
  () => {
    const buffer = [
      member('client:x', 'join'), // already listed: skipped
      member('client:y', 'join'), // not listed: replayed
      member('client:y', 'leave'), // then gone: replayed
      member('client:z', 'leave'), // not listed: already gone, skipped
    ];
    assert.deepEqual(
      actions(replayFrames('client:p', [], buffer, ['client:p', 'client:x']).frames),
      ['peer-joined', 'peer-disconnected:client:y'],
    );
  },
);

test(
  'a live copy of a replayed message is dropped for the resumed peer only, until a newer one of its origin',
  { timeout: 5000 },
  () => {
    const rr = new RoomResume();
    rr.replayed.set('client:p', { upTo: new Map([['B', 5]]), since: 0 });
    assert.deepEqual(rr.replayedCopyFor(msg('B', 4)), ['client:p']);
    assert.deepEqual(rr.replayedCopyFor(msg('B', 5)), ['client:p']);
    assert.equal(rr.replayedCopyFor(msg('A', 1)), undefined, 'another origin');
    assert.equal(rr.replayedCopyFor(msg('B', 2, 'client:q', 'client:r')), undefined, 'not for p');
    assert.equal(rr.replayedCopyFor(msg('B', 6)), undefined, 'newer: passes');
    assert.equal(rr.replayed.size, 0, 'and the filter is gone');
    assert.equal(rr.empty, true);
  },
);
