/**
 * The OpenAPI 3.1 document of the server API (SPEC.md §14), served at /api/v1/openapi.json.
 * test/api-openapi.test.ts drives every operation into every status listed here and validates
 * each answer against the schema given for it, so the document cannot drift from the code.
 */
import { LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX } from './rooms.js';

const ROOM_ID_PATTERN = '^[A-Za-z0-9_\\-:.]+$';

const error = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});
const E = {
  400: error('Invalid room id, query, cursor, body or message'),
  401: error('Missing or invalid API key'),
  404: error('Unknown room, peer or route'),
  413: error('Request body or message too large'),
  415: error('Request body is not application/json'),
  503: error('Room state unavailable (Redis down or circuit breaker open)'),
};

const roomIdParam = {
  name: 'roomId',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: ROOM_ID_PATTERN, minLength: 1 },
};

export function openApiDocument(roomIdMaxLength: number): Record<string, unknown> {
  const roomId = { ...roomIdParam, schema: { ...roomIdParam.schema, maxLength: roomIdMaxLength } };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Switchboard server API',
      version: '1',
      description:
        'See, and steer, the rooms of a Switchboard cluster from an application backend. ' +
        'The same answer from every node. Enabled by API_KEYS.',
    },
    servers: [{ url: '/' }],
    security: [{ apiKey: [] }],
    paths: {
      '/api/v1/openapi.json': {
        get: {
          operationId: 'getOpenApi',
          summary: 'This document',
          responses: {
            200: {
              description: 'OpenAPI 3.1',
              content: {
                'application/json': { schema: { type: 'object', required: ['openapi', 'paths'] } },
              },
            },
            401: E[401],
          },
        },
      },
      '/api/v1/rooms': {
        get: {
          operationId: 'listRooms',
          summary: 'One page of the rooms with members',
          description:
            'Cursor iteration: a room that exists (with a matching id) from the first page ' +
            'to the last is listed at least once; rooms created or removed meanwhile may or ' +
            'may not be. Work per page is bounded, so a page may hold fewer than `limit` ' +
            'rooms (even none) while `cursor` is not null; the listing ends when it is null.',
          parameters: [
            {
              name: 'prefix',
              in: 'query',
              schema: { type: 'string', pattern: ROOM_ID_PATTERN, maxLength: roomIdMaxLength },
              description: 'Only rooms whose id starts with this',
            },
            {
              name: 'limit',
              in: 'query',
              schema: {
                type: 'integer',
                minimum: 1,
                maximum: LIST_LIMIT_MAX,
                default: LIST_LIMIT_DEFAULT,
              },
            },
            {
              name: 'cursor',
              in: 'query',
              schema: { type: 'string' },
              description: 'From the previous page',
            },
          ],
          responses: {
            200: {
              description: 'A page of rooms',
              content: {
                'application/json': { schema: { $ref: '#/components/schemas/RoomPage' } },
              },
            },
            400: E[400],
            401: E[401],
            503: E[503],
          },
        },
      },
      '/api/v1/rooms/{roomId}': {
        parameters: [roomId],
        get: {
          operationId: 'getRoom',
          summary: 'The members of a room, across every node',
          responses: {
            200: {
              description: 'The room and its members, in order of joining',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/Room' } } },
            },
            400: E[400],
            401: E[401],
            404: E[404],
            503: E[503],
          },
        },
        delete: {
          operationId: 'closeRoom',
          summary: 'Close every member with 4001 "Removed"; end detached members\' sessions',
          responses: {
            204: {
              description:
                'Detached members ended (an ordinary leave, never resumable); removal of the others handed to the nodes holding them',
            },
            400: E[400],
            401: E[401],
            404: E[404],
            503: E[503],
          },
        },
      },
      '/api/v1/rooms/{roomId}/messages': {
        parameters: [roomId],
        post: {
          operationId: 'sendMessage',
          summary: 'Send a message to the room, or to one member, as from peer id `server`',
          requestBody: {
            required: true,
            content: {
              'application/json': { schema: { $ref: '#/components/schemas/MessageRequest' } },
            },
          },
          responses: {
            202: { description: 'Handed to the node(s) holding the recipients' },
            400: E[400],
            401: E[401],
            404: E[404],
            413: E[413],
            415: E[415],
            503: E[503],
          },
        },
      },
      '/api/v1/rooms/{roomId}/peers/{peerId}': {
        parameters: [
          roomId,
          { name: 'peerId', in: 'path', required: true, schema: { type: 'string' } },
        ],
        delete: {
          operationId: 'removePeer',
          summary: 'Close one member with 4001 "Removed" (never resumable)',
          responses: {
            204: {
              description:
                'Removal handed to the node holding the member; a detached member is ended at once (an ordinary leave)',
            },
            400: E[400],
            401: E[401],
            404: E[404],
            503: E[503],
          },
        },
      },
    },
    components: {
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', description: 'One of API_KEYS' },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          additionalProperties: false,
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              additionalProperties: false,
              properties: { code: { type: 'string' }, message: { type: 'string' } },
            },
          },
        },
        RoomPage: {
          type: 'object',
          required: ['rooms', 'cursor'],
          additionalProperties: false,
          properties: {
            rooms: {
              type: 'array',
              maxItems: LIST_LIMIT_MAX,
              items: {
                type: 'object',
                required: ['roomId', 'members'],
                additionalProperties: false,
                properties: {
                  roomId: { type: 'string', pattern: ROOM_ID_PATTERN },
                  members: { type: 'integer', minimum: 1 },
                },
              },
            },
            cursor: { type: ['string', 'null'] },
          },
        },
        Room: {
          type: 'object',
          required: ['roomId', 'members'],
          additionalProperties: false,
          properties: {
            roomId: { type: 'string', pattern: ROOM_ID_PATTERN },
            members: { type: 'array', minItems: 1, items: { $ref: '#/components/schemas/Member' } },
          },
        },
        Member: {
          type: 'object',
          required: ['peerId', 'joinedAt', 'version'],
          additionalProperties: false,
          properties: {
            peerId: { type: 'string' },
            joinedAt: { type: 'string', format: 'date-time' },
            version: { type: 'integer', enum: [1, 2] },
            subject: { type: 'string', description: "The token's `sub` (auth on)" },
            detached: { type: 'boolean', description: 'Waiting to resume (SPEC.md §13)' },
          },
        },
        MessageRequest: {
          type: 'object',
          required: ['message'],
          properties: {
            message: { $ref: '#/components/schemas/Message' },
            to: { type: 'string', description: 'Deliver to this member only' },
          },
        },
        Message: {
          description: 'A message of SPEC.md §2; fields not listed are dropped',
          oneOf: [
            {
              type: 'object',
              required: ['type', 'sdp'],
              properties: {
                type: { enum: ['offer', 'answer'] },
                sdp: { type: 'string', minLength: 1 },
              },
            },
            {
              type: 'object',
              required: ['type', 'candidate'],
              properties: {
                type: { const: 'candidate' },
                candidate: { type: 'string', minLength: 1 },
                sdpMid: { type: 'string' },
                sdpMLineIndex: { type: 'integer', minimum: 0 },
              },
            },
            {
              type: 'object',
              required: ['type', 'action'],
              properties: {
                type: { const: 'control' },
                action: { type: 'string', minLength: 1 },
                payload: {},
              },
            },
          ],
        },
      },
    },
  };
}
