/**
 * The node's side of the server API (SPEC.md §14): RoomCommands for this node's members, from
 * the backend (sent by this node's API or another's). A message is delivered as from peer id
 * `server`; a removal closes the member with 4001 "Removed", an ordinary leave for the others.
 */
import { Close } from '../close-codes.js';
import { API_SENDER_ID, type RoomCommand } from '../backend/backend.js';
import type { ServerContext } from './context.js';
import type { Departures } from './departures.js';

export class RoomControl {
  constructor(
    private readonly ctx: ServerContext,
    private readonly departures: Departures,
  ) {}

  onCommand(roomId: string, command: RoomCommand): void {
    const { hub } = this.ctx;
    const room = hub.get(roomId);
    if (!room) return;
    if (command.op === 'message') {
      hub.deliver(room, API_SENDER_ID, command.message, undefined, command.to);
      return;
    }
    const targets =
      command.peerId === undefined ? [...room.peers.values()] : [room.peers.get(command.peerId)];
    for (const peer of targets) {
      if (peer) this.departures.disconnect(peer, Close.removed, 'removed');
    }
  }
}
