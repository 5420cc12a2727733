/**
 * Every error the server API answers (SPEC.md §14), in one table after fastify's FST_ERR_*:
 * a stable `code` clients match on, the HTTP status, and the message. The body is always
 * `{"error":{"code":CODE,"message":MESSAGE}}`. A message never quotes the request (no key,
 * no body, no path).
 */
export const ApiErrors = {
  notFound: { status: 404, code: 'not_found', message: 'No such route' },
  unauthorized: {
    status: 401,
    code: 'unauthorized',
    message: 'Missing or invalid API key (Authorization: Bearer <API_KEY>)',
  },
  methodNotAllowed: {
    status: 405,
    code: 'method_not_allowed',
    message: 'Method not allowed on this route',
  },
  invalidRoomId: {
    status: 400,
    code: 'invalid_room_id',
    message: 'Room id must match /^[A-Za-z0-9_\\-:.]+$/ within ROOM_ID_MAX_LENGTH',
  },
  invalidQuery: {
    status: 400,
    code: 'invalid_query',
    message: 'prefix must be a room id prefix; limit an integer from 1 to 1000',
  },
  invalidCursor: {
    status: 400,
    code: 'invalid_cursor',
    message: 'cursor is not one this API returned',
  },
  unsupportedMediaType: {
    status: 415,
    code: 'unsupported_media_type',
    message: 'Request body must be application/json',
  },
  bodyTooLarge: { status: 413, code: 'body_too_large', message: 'Request body is too large' },
  invalidJson: { status: 400, code: 'invalid_json', message: 'Request body is not valid JSON' },
  invalidBody: {
    status: 400,
    code: 'invalid_body',
    message: 'Body must be {"message": MESSAGE, "to"?: PEER_ID}',
  },
  invalidMessage: {
    status: 400,
    code: 'invalid_message',
    message: 'message matches no shape of SPEC.md §2 (offer, answer, candidate, control)',
  },
  messageTooLarge: {
    status: 413,
    code: 'message_too_large',
    message: 'message is larger than MESSAGE_MAX_BYTES',
  },
  roomNotFound: { status: 404, code: 'room_not_found', message: 'Room has no members' },
  peerNotFound: {
    status: 404,
    code: 'peer_not_found',
    message: 'Peer is not a member of the room',
  },
  backendUnavailable: {
    status: 503,
    code: 'backend_unavailable',
    message: 'Room state is unavailable (Redis); retry later',
  },
  internal: { status: 500, code: 'internal_error', message: 'Internal error' },
} as const satisfies Record<string, ApiErrorEntry>;

export interface ApiErrorEntry {
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

/** Thrown by a route handler to answer with one of ApiErrors. */
export class ApiError extends Error {
  constructor(readonly entry: ApiErrorEntry) {
    super(entry.message);
    this.name = 'ApiError';
  }
}

export function errorBody(entry: ApiErrorEntry): string {
  return JSON.stringify({ error: { code: entry.code, message: entry.message } });
}
