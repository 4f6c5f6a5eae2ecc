// Standard Webhooks signing (https://www.standardwebhooks.com, "Signature scheme"): HMAC-SHA256 over
// `${id}.${timestamp}.${body}` keyed with the secret's decoded bytes, sent as `v1,<base64>`. Receivers verify with the
// specification's libraries (test/webhooks.test.ts checks ours against the reference one).
import { createHmac, timingSafeEqual } from 'node:crypto';

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

/** Receivers refuse events whose timestamp is further than this from their clock (Standard Webhooks: replay defence). */
export const WEBHOOK_TOLERANCE_SECONDS = 5 * 60;

/**
 * A receiver's check (the demo's; real receivers use the Standard Webhooks libraries): the signature matches one of
 * the `v1,` entries and the timestamp is recent. Returns why not, or undefined when the event is authentic.
 */
export function webhookProblem(key: Buffer, headers: Record<string, string | string[] | undefined>, body: string, nowSeconds = Date.now() / 1000): string | undefined {
  const [id, timestamp, signatures] = ['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((name) => headers[name]);
  if (typeof id !== 'string' || typeof timestamp !== 'string' || typeof signatures !== 'string') return 'missing webhook headers';
  if (!/^\d+$/.test(timestamp) || Math.abs(nowSeconds - Number(timestamp)) > WEBHOOK_TOLERANCE_SECONDS) return 'timestamp too old or too new';
  const expected = Buffer.from(signWebhook(key, id, Number(timestamp), body)['webhook-signature']);
  const match = signatures.split(' ').some((entry) => {
    const given = Buffer.from(entry);
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  return match ? undefined : 'no matching signature';
}
