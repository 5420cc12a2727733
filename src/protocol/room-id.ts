const ROOM_ID_PATTERN = /^[A-Za-z0-9_\-:.]+$/;

/** SPEC.md §1: `/^[A-Za-z0-9_\-:.]+$/`, 1..maxLength characters. */
export function isValidRoomId(value: unknown, maxLength: number): value is string {
  return (
    typeof value === 'string' &&
    value.length >= 1 &&
    value.length <= maxLength &&
    ROOM_ID_PATTERN.test(value)
  );
}
