// A provider's answer as it crosses workflow history: sealed by the exchange, opened by persist and by recovery.
import type { LinkKey, SealedTokenSet, TokenSet } from '../core/types.js';
import type { TokenSealer } from '../codec/seal.js';

/** What history holds of an exchange's answer: sealed, or a plain TokenSet recorded before sealing existed. */
export type RecordedTokenSet = SealedTokenSet | TokenSet;

export function sealTokenSet(sealer: TokenSealer, link: LinkKey, tokens: TokenSet): SealedTokenSet {
  const { refreshToken, extra, ...readable } = tokens;
  return { ...readable, refreshTokenExpiresAt: readable.refreshTokenExpiresAt ?? null, sealed: sealer.seal({ refreshToken, extra }, link) };
}

/** Throws a SealedValueError naming the worker key id when the answer was sealed with a key that is not configured. */
export function openTokenSet(sealer: TokenSealer, link: LinkKey, tokens: RecordedTokenSet): TokenSet {
  if (!('sealed' in tokens)) return tokens; // recorded before sealing: a run open across the upgrade
  const { sealed, ...readable } = tokens;
  const opened = sealer.open<Pick<TokenSet, 'refreshToken' | 'extra'>>(sealed, link, `the exchange answer of link ${link.providerId}/${link.userId}`);
  return { ...readable, refreshToken: opened.refreshToken, extra: opened.extra };
}
