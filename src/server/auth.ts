/**
 * The authentication contract at admission (SPEC.md §1 step 7, §10) and for in-band token
 * refresh. The implementation is jwt-auth.ts; tests inject their own.
 */
import type { IncomingMessage } from 'node:http';
import type { CloseEntry } from '../close-codes.js';

export type AuthResult =
  | {
      ok: true;
      /** ms since epoch, when the token expires */
      expiresAt: number | undefined;
      /** The token's `sub`, when it has one (the TURN user, SPEC.md §12; the server API's member listing, §14). */
      subject?: string;
    }
  | { ok: false; close: CloseEntry };

export interface Authenticator {
  /** Check the request's token for roomId. Never throws; never logs the token. */
  authenticate(req: IncomingMessage, roomId: string): Promise<AuthResult>;
  /** Validate a token refreshed in-band for roomId. */
  verifyToken(token: string, roomId: string): Promise<AuthResult>;
  close?(): void;
}
