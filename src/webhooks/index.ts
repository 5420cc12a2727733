export { Webhooks, type WebhooksOptions } from './webhooks.js';
export type { LeaveCause, WebhookEvent, WebhookEventType } from './events.js';
export { parseSecret } from './signer.js';
