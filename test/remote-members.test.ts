import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Envelope } from '../src/backend/backend.js';
import { RemoteMembers } from '../src/backend/remote-members.js';

const ME = 'server:me';
const env = (senderId: string, origin: string, event?: 'join' | 'leave'): Envelope => ({
  senderId,
  data: event === 'leave' ? { type: 'peer-disconnected' } : { type: 'control', action: 'x' },
  originServerId: origin,
  ...(event ? { event } : {}),
});

test('join results are kept for the subscription that follows; own members are not remote', () => {
  const m = new RemoteMembers(ME);
  assert.deepEqual(m.joined('r', ['a', 'server:1', 'me', ME]), ['a', 'me']);
  assert.equal(m.knows('r', 'a'), false, 'not subscribed yet');
  m.subscribed('r');
  assert.equal(m.ownerOf('r', 'a'), 'server:1');
  assert.equal(m.knows('r', 'me'), false);
  m.unsubscribed('r');
  assert.equal(m.knows('r', 'a'), false);
});

test('an admission undone before subscribing drops the staged owners', () => {
  const m = new RemoteMembers(ME);
  m.joined('r', ['a', 'server:1']);
  m.left('r');
  m.subscribed('r');
  assert.equal(m.knows('r', 'a'), false);
});

test('envelopes teach and unteach members; a known join is a duplicate', () => {
  const m = new RemoteMembers(ME);
  m.subscribed('r');
  assert.equal(m.track('r', env('a', 'server:1', 'join')), true);
  assert.equal(m.track('r', env('a', 'server:1', 'join')), false, 'duplicate');
  assert.equal(m.track('r', env('b', 'server:2')), true);
  assert.equal(m.ownerOf('r', 'b'), 'server:2');
  assert.equal(m.track('r', env('a', 'server:3', 'leave')), true);
  assert.equal(m.knows('r', 'a'), false);
});

test('reconcile reports what was missed, leaves alone what envelopes told since, runs once', () => {
  const m = new RemoteMembers(ME);
  m.joined('r', ['gone', 'server:1', 'stays', 'server:1', 'mine', ME]);
  m.subscribed('r');
  m.track('r', env('fresh', 'server:2', 'join')); // newer than the snapshot below
  const snapshot = { stays: 'server:1', missed: 'server:2', mine: ME };
  assert.deepEqual(m.reconcile('r', snapshot), {
    joined: [['missed', 'server:2']],
    left: ['gone'],
  });
  assert.equal(m.knows('r', 'fresh'), true);
  assert.equal(m.knows('r', 'missed'), true);
  assert.deepEqual(m.reconcile('r', {}), { joined: [], left: [] });
  assert.equal(m.knows('r', 'stays'), true);
});

test('after an outage: missed joins at once, absent members only suspects (with their node), detached ones left to resume', () => {
  const m = new RemoteMembers(ME);
  m.joined('r', ['left', 'server:1', 'lost', 'server:1', 'back', 'server:2', 'away', '']);
  m.subscribed('r');
  m.reconcile('r', { left: 'server:1', lost: 'server:1', back: 'server:2', away: '' });
  assert.deepEqual(m.resubscribed(), ['r']);
  // Redis restarted empty: nobody's record is there yet but a join missed meanwhile.
  assert.deepEqual(m.reconcileAfterOutage('r', { missed: 'server:2' }), {
    joined: [['missed', 'server:2']],
    suspects: [
      ['left', 'server:1'],
      ['lost', 'server:1'],
      ['back', 'server:2'],
    ],
  });
  assert.equal(m.knows('r', 'lost'), true, 'a suspect is still a member');
  m.track('r', env('lost', 'server:1', 'join')); // told about since: the snapshot is older
  // A lease later: `back` was registered again; `left` and `lost` are still absent, but an
  // envelope told about `lost` after the outage.
  const later = { back: 'server:2', missed: 'server:2' };
  assert.deepEqual(m.stillAbsent('r', later, ['left', 'lost', 'back']), ['left']);
  m.gone('r', ['left']);
  assert.deepEqual(
    [m.knows('r', 'left'), m.knows('r', 'lost'), m.knows('r', 'back')],
    [false, true, true],
  );
  m.settled('r');
  assert.deepEqual(m.stillAbsent('r', {}, ['back']), [], 'nothing once settled');
});

test('a leave that arrives after a reconciliation told it is dropped once; a later return is news', () => {
  const m = new RemoteMembers(ME);
  m.joined('r', ['x', 'server:1', 'y', 'server:1']);
  m.subscribed('r');
  assert.deepEqual(m.reconcile('r', { y: 'server:1' }).left, ['x']);
  assert.equal(m.track('r', env('x', 'server:1', 'leave')), false, 'told already');
  assert.equal(m.track('r', env('x', 'server:1', 'leave')), true, 'only once');
  m.resubscribed();
  m.reconcileAfterOutage('r', {});
  m.gone('r', m.stillAbsent('r', {}, ['y']));
  assert.equal(m.track('r', env('y', 'server:1', 'leave')), false, 'told already');
  assert.equal(m.track('r', env('y', 'server:3', 'join')), true, 'back on another node');
  assert.equal(m.track('r', env('y', 'server:3', 'leave')), true, 'its next leave is news');
});

test('an unreadable snapshot after an outage changes nothing', () => {
  const m = new RemoteMembers(ME);
  m.joined('r', ['x', 'server:1']);
  m.subscribed('r');
  m.reconcile('r', { x: 'server:1' });
  m.resubscribed();
  assert.deepEqual(m.reconcileAfterOutage('r', undefined), { joined: [], suspects: [] });
  assert.equal(m.knows('r', 'x'), true);
});
