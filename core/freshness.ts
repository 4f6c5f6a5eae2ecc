// When a token is fresh enough for a request: the one rule, used by the workflow and by clients' fast path.

/**
 * True when a token expiring at `expiresAt` (ISO, or null for "no known expiry") still has `minValidSeconds`
 * left at `nowMs`. The margin is capped at half the token's own lifetime: a margin longer than the token's
 * life would make every request refresh again.
 */
export function freshEnough(
  token: { expiresAt: string | null; lifetimeSeconds: number | null },
  minValidSeconds: number,
  nowMs: number,
): boolean {
  if (!token.expiresAt) return true;
  const remaining = (Date.parse(token.expiresAt) - nowMs) / 1000;
  const cap = token.lifetimeSeconds ? token.lifetimeSeconds / 2 : minValidSeconds;
  return remaining >= Math.min(minValidSeconds, cap);
}
