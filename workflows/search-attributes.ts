// Typed search attributes operators filter on in the Web UI and CLI, e.g. ExtauthState="reauth_required".
import { defineSearchAttributeKey } from '@temporalio/common';
import type { LinkKey } from '../core/types.js';

export const ExtauthProvider = defineSearchAttributeKey('ExtauthProvider', 'KEYWORD');
export const ExtauthUser = defineSearchAttributeKey('ExtauthUser', 'KEYWORD');
export const ExtauthState = defineSearchAttributeKey('ExtauthState', 'KEYWORD');

/** Whose link a run serves: upserted with the run's first state (and with `deleted`), never changed after. */
export function linkIdentity(key: LinkKey) {
  return [
    { key: ExtauthProvider, value: key.providerId },
    { key: ExtauthUser, value: key.userId },
  ];
}

export const EXTAUTH_SEARCH_ATTRIBUTES = [ExtauthProvider, ExtauthUser, ExtauthState];

/** For `temporal server start-dev --search-attribute`, so that they exist from the first moment. */
export const DEV_SERVER_SEARCH_ATTRIBUTES = Object.fromEntries(EXTAUTH_SEARCH_ATTRIBUTES.map((key) => [key.name, 'Keyword' as const]));
