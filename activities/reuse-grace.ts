// Replaying an ambiguous exchange inside the provider's refresh-token reuse grace window.

/** Longest wait before the replay: the provider's window is already counting. */
const MAX_GRACE_RETRY_DELAY_MS = 100;

/**
 * An exchange whose answer was lost after the request may have reached the provider (which may have rotated the
 * refresh token) can be replayed with the same refresh token: a provider with a reuse grace window
 * (`reuseGraceSeconds`) answers a replay inside the window with the same new tokens instead of treating it as theft.
 * The window is counted from the earliest unanswered send still inside it (the provider rotates after the send, so
 * this errs early). Returns a retry delay that leaves three quarters of what remains for the replay to arrive, or
 * undefined when there is no window or it has passed: the declared backoff applies then, and a refusal says the
 * provider may have rotated.
 */
export function graceRetryDelayMs(
  reuseGraceSeconds: number,
  sentAtMs: number,
  earlierUnanswered: Date | null,
  nowMs = Date.now(),
): number | undefined {
  if (reuseGraceSeconds <= 0) return undefined;
  const graceMs = reuseGraceSeconds * 1000;
  const earlier = earlierUnanswered?.getTime();
  const from = earlier !== undefined && earlier < sentAtMs && nowMs - earlier < graceMs ? earlier : sentAtMs;
  const delay = Math.floor(Math.min(MAX_GRACE_RETRY_DELAY_MS, (from + graceMs - nowMs) / 4));
  return delay >= 1 ? delay : undefined;
}
