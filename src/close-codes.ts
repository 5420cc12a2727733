/**
 * Every close code and reason the server sends (SPEC.md §1, §2, §6, §9, and the security
 * additions documented in README). Call sites name an entry; no literal is repeated elsewhere.
 * Reasons are part of the public interface: clients match on them.
 */
export const Close = {
  serviceUnavailable: { code: 1013, reason: 'Service unavailable' },
  rateLimited: { code: 1013, reason: 'Rate limited' },
  invalidRoomId: { code: 1008, reason: 'Invalid roomId' },
  originNotAllowed: { code: 1008, reason: 'Origin not allowed' },
  subprotocolRequired: { code: 1008, reason: 'Subprotocol required' },
  wssRequired: { code: 1008, reason: 'WSS required' },
  unauthorized: { code: 1008, reason: 'Unauthorized' },
  forbidden: { code: 1008, reason: 'Forbidden' },
  tokenExpired: { code: 1008, reason: 'Token expired' },
  roomFull: { code: 1000, reason: 'Room is full' },
  internalError: { code: 1011, reason: 'Internal error' },
  messageTooBig: { code: 1009, reason: 'Message too big' },
  serverOverloaded: { code: 1013, reason: 'Server overloaded' },
  tooManyConnections: { code: 1013, reason: 'Too many connections' },
  tooManyRooms: { code: 1013, reason: 'Too many rooms' },
  goingAway: { code: 1001, reason: 'Going away' },
  /** Removed through the server API (SPEC.md §14); never resumable. */
  removed: { code: 4001, reason: 'Removed' },
} as const satisfies Record<string, { code: number; reason: string }>;

export type CloseName = keyof typeof Close;
export type CloseEntry = (typeof Close)[CloseName];
