// Standard Webhooks signing (https://www.standardwebhooks.com, "Signature scheme"): HMAC-SHA256 over
// `${id}.${timestamp}.${body}` keyed with the secret's decoded bytes, sent as `v1,<base64>`. Receivers verify with the
// specification's libraries (test/webhooks.test.ts checks ours against the reference one).
import { createHmac } from 'node:crypto';

export interface SignedHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/** `timestampSeconds`: the attempt's time (receivers refuse stale ones); the id stays the same on every attempt. */
export function signWebhook(key: Buffer, id: string, timestampSeconds: number, body: string): SignedHeaders {
  const timestamp = String(timestampSeconds);
  const signature = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${signature}` };
}
