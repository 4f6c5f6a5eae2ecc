import { createHash } from 'node:crypto';

/** First 12 hex characters of SHA-256: enough to compare tokens in logs and status, useless to an attacker. */
export function fingerprint(secret: string): string {
  return createHash('sha256').update(secret).digest('hex').slice(0, 12);
}
