/**
 * Standard Webhooks signing (https://www.standardwebhooks.com/, SPEC.md §15):
 * `webhook-signature: v1,<base64 HMAC-SHA256(secret bytes, "id.timestamp.body")>` where the
 * secret is the base64 after `whsec_`. Hand-written because it is one HMAC: the reference
 * `standardwebhooks` package is used in the tests to verify every delivery independently.
 */
import { createHmac } from 'node:crypto';

const PREFIX = 'whsec_';

/**
 * The secret's bytes, or undefined when `secret` is not `whsec_` + canonical base64 of at
 * least 16 bytes (Standard Webhooks: 24 to 64 bytes recommended).
 */
export function parseSecret(secret: string): Buffer | undefined {
  if (!secret.startsWith(PREFIX)) return undefined;
  const b64 = secret.slice(PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(b64, 'base64');
  if (bytes.length < 16 || bytes.toString('base64') !== b64) return undefined;
  return bytes;
}

export type SignedHeaders = Record<
  'webhook-id' | 'webhook-timestamp' | 'webhook-signature' | 'content-type',
  string
>;

export class WebhookSigner {
  constructor(private readonly key: Buffer) {}

  /** Headers for one attempt; `timestampSeconds` is the attempt's (unix seconds). */
  headers(id: string, timestampSeconds: number, body: string): SignedHeaders {
    const ts = String(timestampSeconds);
    const mac = createHmac('sha256', this.key).update(`${id}.${ts}.${body}`).digest('base64');
    return {
      'webhook-id': id,
      'webhook-timestamp': ts,
      'webhook-signature': `v1,${mac}`,
      'content-type': 'application/json',
    };
  }
}
