import type { ActivityDeps } from './deps.js';
import { makeExchangeRefreshToken } from './exchange.js';
import { makeLoadLink } from './load.js';
import { makePersistRotatedTokens } from './persist.js';
import { makeRecordRefreshFailure } from './record-failure.js';
import { makeValidateAccessToken } from './validate.js';

export type { ActivityDeps } from './deps.js';

export function createActivities(deps: ActivityDeps) {
  return {
    loadLink: makeLoadLink(deps),
    exchangeRefreshToken: makeExchangeRefreshToken(deps),
    persistRotatedTokens: makePersistRotatedTokens(deps),
    validateAccessToken: makeValidateAccessToken(deps),
    recordRefreshFailure: makeRecordRefreshFailure(deps),
  };
}

export type ExtauthActivities = ReturnType<typeof createActivities>;
