import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CANDIDATE_BYTES,
  OFFER_BYTES,
  PHASE_MEASURED,
  candidate,
  mixed,
  offer,
  readStamp,
} from '../bench/payloads.js';
import { parseMessage } from '../src/protocol/message.js';

// The benchmark claims to measure the forwarding path of realistic, valid messages: these
// fail if its payloads stop being valid, stop being forwarded byte for byte, or lose the stamp.

test('benchmark payloads are valid, pristine messages of the advertised sizes', () => {
  for (const text of [offer(PHASE_MEASURED, 1), candidate(PHASE_MEASURED, 1)]) {
    const parsed = parseMessage(text);
    assert.equal(parsed.kind, 'ok');
    assert.equal(parsed.kind === 'ok' && parsed.pristine, true);
  }
  assert.ok(OFFER_BYTES >= 2000 && OFFER_BYTES <= 2200, `offer ${OFFER_BYTES} B`);
  assert.ok(CANDIDATE_BYTES >= 180 && CANDIDATE_BYTES <= 240, `candidate ${CANDIDATE_BYTES} B`);
});

test('the send stamp survives the trip and is read back exactly', () => {
  for (let i = 0; i < 10; i++) {
    const micros = 123_456_789_012 + i * 7919;
    const stamp = readStamp(Buffer.from(mixed(i, PHASE_MEASURED, micros)));
    assert.deepEqual(stamp, { phase: PHASE_MEASURED, micros });
  }
  assert.equal(readStamp(Buffer.from('{"type":"control","action":"x"}')), undefined);
});
