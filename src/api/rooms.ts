/**
 * The room routes of the server API (SPEC.md §14). Every answer comes from the backend (Redis
 * with the redis backend), so it is the same whichever node is asked; actions travel as
 * RoomCommands to the node(s) holding the members (room-control.ts acts on them). A detached
 * member (SPEC.md §13) is held by no node: a removal ends its session from here (resume.ts).
 */
import type { IncomingMessage } from 'node:http';
import { InvalidCursorError, type Backend, type RoomCommand } from '../backend/backend.js';
import type { Config } from '../config.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { type SignalMessage, validateMessage } from '../protocol/message.js';
import { isValidRoomId } from '../protocol/room-id.js';
import { ApiError, ApiErrors } from './errors.js';
import { readJsonBody } from './http-io.js';
import type { ApiReply, Route, RouteParams } from './router.js';

export const LIST_LIMIT_DEFAULT = 100;
export const LIST_LIMIT_MAX = 1000;
/** Peer ids are `client:<uuid>`; anything longer or outside the room id alphabet is unknown. */
const PEER_ID_MAX_LENGTH = 256;
/** A request body may exceed MESSAGE_MAX_BYTES by this much (the `{"message":…,"to":…}` around it). */
const BODY_OVERHEAD_BYTES = 1024;

/** Ends detached sessions (server/resume.ts `Resumption`). */
export interface DetachedSessions {
  /** End peerId's session if it is detached (announced as a leave); false if it is not. */
  remove(roomId: string, peerId: string): Promise<boolean>;
  /** Originate an API message in a room with detached members: kept for them, then published. */
  sendApiMessage(
    roomId: string,
    message: SignalMessage,
    to: string | undefined,
    detached: readonly string[],
  ): void;
}

export interface RoomRoutesDeps {
  readonly backend: Backend;
  readonly resume: DetachedSessions;
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

export function roomRoutes(deps: RoomRoutesDeps): Route[] {
  const { backend, resume, config, logger, metrics } = deps;

  /** Backend failures (Redis down, circuit open) answer 503; a bad cursor 400. */
  async function call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof InvalidCursorError) throw new ApiError(ApiErrors.invalidCursor);
      logger.warn({ err: errorMessage(err) }, 'api backend call failed');
      throw new ApiError(ApiErrors.backendUnavailable);
    }
  }

  function roomIdOf(params: RouteParams): string {
    if (!isValidRoomId(params.roomId, config.roomIdMaxLength))
      throw new ApiError(ApiErrors.invalidRoomId);
    return params.roomId;
  }

  async function listRooms(
    _req: IncomingMessage,
    _params: RouteParams,
    query: URLSearchParams,
  ): Promise<ApiReply> {
    const prefix = query.get('prefix') ?? '';
    const limitText = query.get('limit');
    const limit = limitText === null ? LIST_LIMIT_DEFAULT : Number(limitText);
    if (
      (prefix !== '' && !isValidRoomId(prefix, config.roomIdMaxLength)) ||
      (limitText !== null && !/^\d{1,4}$/.test(limitText)) ||
      limit < 1 ||
      limit > LIST_LIMIT_MAX
    )
      throw new ApiError(ApiErrors.invalidQuery);
    const cursor = query.get('cursor') ?? undefined;
    const page = await call(() => backend.listRooms({ prefix, limit, cursor }));
    return { status: 200, body: page };
  }

  async function getRoom(_req: IncomingMessage, params: RouteParams): Promise<ApiReply> {
    const roomId = roomIdOf(params);
    const members = await call(() => backend.roomMembers(roomId));
    if (members.length === 0) throw new ApiError(ApiErrors.roomNotFound);
    members.sort((a, b) => a.joinedAt - b.joinedAt || (a.peerId < b.peerId ? -1 : 1));
    return {
      status: 200,
      body: {
        roomId,
        members: members.map((m) => ({
          peerId: m.peerId,
          joinedAt: new Date(m.joinedAt).toISOString(),
          version: m.version,
          ...(m.subject !== undefined ? { subject: m.subject } : {}),
          ...(m.detached === true ? { detached: true } : {}),
        })),
      },
    };
  }

  async function postMessage(req: IncomingMessage, params: RouteParams): Promise<ApiReply> {
    const roomId = roomIdOf(params);
    const body = await readJsonBody(req, config.messageMaxBytes + BODY_OVERHEAD_BYTES);
    if (body === null || typeof body !== 'object' || Array.isArray(body))
      throw new ApiError(ApiErrors.invalidBody);
    const { message, to } = body as { message?: unknown; to?: unknown };
    if (message === undefined || (to !== undefined && typeof to !== 'string'))
      throw new ApiError(ApiErrors.invalidBody);
    const parsed = validateMessage(message);
    if (parsed.kind !== 'ok') throw new ApiError(ApiErrors.invalidMessage);
    if (Buffer.byteLength(JSON.stringify(parsed.message)) > config.messageMaxBytes)
      throw new ApiError(ApiErrors.messageTooLarge);
    const command: RoomCommand = { op: 'message', message: parsed.message };
    if (await call(() => keptForDetached(roomId, parsed.message, to))) {
      metrics.messagesForwarded.add();
      return { status: 202 };
    }
    if (to === undefined) {
      if (!(await call(() => backend.commandRoom(roomId, command))))
        throw new ApiError(ApiErrors.roomNotFound);
    } else {
      command.to = to;
      if (!isPeerId(to) || !(await call(() => backend.commandPeer(roomId, to, command))))
        throw new ApiError(ApiErrors.peerNotFound);
    }
    metrics.messagesForwarded.add(); // once per message, by the node that accepted it
    return { status: 202 };
  }

  /**
   * A message the room's detached members must get on resume (SPEC.md §13): this node
   * originates it through the resume code's keep path. False when no receiver is detached
   * (then the command path delivers it, or answers an unknown `to`).
   */
  async function keptForDetached(
    roomId: string,
    message: SignalMessage,
    to: string | undefined,
  ): Promise<boolean> {
    if (to !== undefined && !isPeerId(to)) return false;
    const members = await backend.roomMembers(roomId);
    const detached = members.filter((m) => m.detached === true).map((m) => m.peerId);
    if (detached.length === 0 || (to !== undefined && !detached.includes(to))) return false;
    resume.sendApiMessage(roomId, message, to, detached);
    return true;
  }

  async function removePeer(_req: IncomingMessage, params: RouteParams): Promise<ApiReply> {
    const roomId = roomIdOf(params);
    const peerId = params.peerId!;
    const command: RoomCommand = { op: 'remove', peerId };
    if (!isPeerId(peerId)) throw new ApiError(ApiErrors.peerNotFound);
    // Detached: ended here, at once. Otherwise (attached, or it resumed meanwhile) its node
    // closes it; a removed connection leaves, it is never detached (departures.ts).
    if (await call(() => resume.remove(roomId, peerId))) return { status: 204 };
    if (!(await call(() => backend.commandPeer(roomId, peerId, command))))
      throw new ApiError(ApiErrors.peerNotFound);
    return { status: 204 };
  }

  async function removeRoom(_req: IncomingMessage, params: RouteParams): Promise<ApiReply> {
    const roomId = roomIdOf(params);
    // Detached members first (ended here), then the nodes holding the attached ones; one that
    // resumed meanwhile is attached again by then and its new node closes it.
    const members = await call(() => backend.roomMembers(roomId));
    const detached = members.filter((m) => m.detached === true);
    const ended = await call(() =>
      Promise.all(detached.map((m) => resume.remove(roomId, m.peerId))),
    );
    const closed = await call(() => backend.commandRoom(roomId, { op: 'remove' }));
    if (!closed && !ended.includes(true)) throw new ApiError(ApiErrors.roomNotFound);
    return { status: 204 };
  }

  return [
    { method: 'GET', template: '/api/v1/rooms', handler: listRooms },
    { method: 'GET', template: '/api/v1/rooms/:roomId', handler: getRoom },
    { method: 'DELETE', template: '/api/v1/rooms/:roomId', handler: removeRoom },
    { method: 'POST', template: '/api/v1/rooms/:roomId/messages', handler: postMessage },
    { method: 'DELETE', template: '/api/v1/rooms/:roomId/peers/:peerId', handler: removePeer },
  ];
}

function isPeerId(value: string): boolean {
  return isValidRoomId(value, PEER_ID_MAX_LENGTH);
}
