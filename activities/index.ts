import { ApplicationFailure } from '@temporalio/activity';
import { ActivityFailure } from '../core/failures.js';
import { TokenKeyError } from '../store/token-cipher.js';
import type { ActivityDeps } from './deps.js';
import { makeDeleteLinkRow, makeReadLinkForDelete } from './delete-link.js';
import { makeExchangeRefreshToken } from './exchange.js';
import { makeKeepAliveSweep } from './keep-alive.js';
import { makeLoadLink } from './load.js';
import { makePersistRotatedTokens } from './persist.js';
import { makeRecordRefreshFailure } from './record-failure.js';
import { makeRevokeGrant } from './revoke.js';
import { makeValidateAccessToken } from './validate.js';
import { makeAcknowledgeRecovery } from './acknowledge-recovery.js';
import { makeDeliverWebhook, makeWebhookEndpoints } from './webhook-delivery.js';

export type { ActivityDeps } from './deps.js';

export function createActivities(deps: ActivityDeps) {
  return wrapActivities(deps, {
    loadLink: makeLoadLink(deps),
    exchangeRefreshToken: makeExchangeRefreshToken(deps),
    persistRotatedTokens: makePersistRotatedTokens(deps),
    validateAccessToken: makeValidateAccessToken(deps),
    recordRefreshFailure: makeRecordRefreshFailure(deps),
    keepAliveSweep: makeKeepAliveSweep(deps),
    acknowledgeRecovery: makeAcknowledgeRecovery(deps),
    webhookEndpoints: makeWebhookEndpoints(deps),
    deliverWebhook: makeDeliverWebhook(deps),
    readLinkForDelete: makeReadLinkForDelete(deps),
    deleteLink: makeDeleteLinkRow(deps),
    revokeGrant: makeRevokeGrant(deps),
  });
}

export type ExtauthActivities = ReturnType<typeof createActivities>;

/** Every activity goes through the failure rule below. */
function wrapActivities<T extends Record<string, (...args: any[]) => Promise<unknown>>>(deps: ActivityDeps, activities: T): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, activity] of Object.entries(activities)) {
    wrapped[name] = async (...args: unknown[]) => {
      try {
        return await activity(...args);
      } catch (err) {
        throw failFastOnUnreadableTokens(deps, name, args, err);
      }
    };
  }
  return wrapped as T;
}

/**
 * A stored token sealed with a database key that is not configured stays unreadable however often it is
 * retried, so the activity fails at once, non-retryably, with the reason (naming the key id) and one error
 * log. The agent hears it immediately, the workflow keeps serving other requests, and the next request reads
 * the row again (e.g. once the key is in EXTAUTH_DB_DECRYPT_KEYS). Retrying instead would hold the link's
 * request queue for the whole budget, and persist and record-failure retry without limit.
 */
function failFastOnUnreadableTokens(deps: ActivityDeps, name: string, args: unknown[], err: unknown): unknown {
  if (!(err instanceof TokenKeyError)) return err;
  const { providerId, userId } = (args[0] ?? {}) as { providerId?: string; userId?: string };
  deps.logger.error(
    { provider: providerId, link: userId, step: name, keyId: err.keyId, cause: err.message },
    err.keyId === null
      ? 'stored token is plaintext and EXTAUTH_DB_STRICT refuses it; failing the request'
      : 'stored token cannot be decrypted: its database key is not configured; failing the request',
  );
  return ApplicationFailure.nonRetryable(err.message, ActivityFailure.TokenKeyUnavailable);
}
