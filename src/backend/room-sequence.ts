/**
 * The memory backend's room listing (SPEC.md §14 `GET /api/v1/rooms`): rooms in creation order,
 * each stamped with a sequence number when created. A cursor is the last sequence number a page
 * looked at, so a room that exists throughout a listing is listed exactly once however many
 * rooms come and go meanwhile (a room deleted and created again is a new room with a new number).
 * Finding a cursor's place is a binary search and a page looks at a bounded number of entries,
 * so the work per page does not grow with the number of rooms. Deletion leaves a tombstone,
 * swept when they are half the array: O(1) amortized per room created or deleted.
 */

interface Entry {
  readonly seq: number;
  readonly roomId: string;
  live: boolean;
}

export interface SequencePage {
  roomIds: string[];
  /** The last sequence number looked at; undefined when the end was reached. */
  next: number | undefined;
}

export class RoomSequence {
  private entries: Entry[] = [];
  private readonly byRoom = new Map<string, Entry>();
  private lastSeq = 0;
  private dead = 0;

  get size(): number {
    return this.byRoom.size;
  }

  add(roomId: string): void {
    if (this.byRoom.has(roomId)) return;
    const entry: Entry = { seq: ++this.lastSeq, roomId, live: true };
    this.entries.push(entry);
    this.byRoom.set(roomId, entry);
  }

  delete(roomId: string): void {
    const entry = this.byRoom.get(roomId);
    if (!entry) return;
    entry.live = false;
    this.byRoom.delete(roomId);
    if (++this.dead > 1024 && this.dead * 2 > this.entries.length) {
      this.entries = this.entries.filter((e) => e.live);
      this.dead = 0;
    }
  }

  /**
   * Up to `limit` live rooms starting with `prefix` after sequence number `after`, looking at
   * no more than `budget` entries.
   */
  page(prefix: string, limit: number, after: number, budget: number): SequencePage {
    const entries = this.entries;
    let lo = 0;
    let hi = entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (entries[mid]!.seq <= after) lo = mid + 1;
      else hi = mid;
    }
    const roomIds: string[] = [];
    let i = lo;
    for (; i < entries.length && roomIds.length < limit && i - lo < budget; i++) {
      const e = entries[i]!;
      if (e.live && e.roomId.startsWith(prefix)) roomIds.push(e.roomId);
    }
    return { roomIds, next: i < entries.length ? entries[i - 1]!.seq : undefined };
  }
}
