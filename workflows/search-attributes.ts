// Typed search attributes operators filter on in the Web UI and CLI, e.g. ExtauthState="reauth_required".
import { defineSearchAttributeKey } from '@temporalio/common';

export const ExtauthProvider = defineSearchAttributeKey('ExtauthProvider', 'KEYWORD');
export const ExtauthUser = defineSearchAttributeKey('ExtauthUser', 'KEYWORD');
export const ExtauthState = defineSearchAttributeKey('ExtauthState', 'KEYWORD');

export const EXTAUTH_SEARCH_ATTRIBUTES = [ExtauthProvider, ExtauthUser, ExtauthState];

/** For `temporal server start-dev --search-attribute`, so that they exist from the first moment. */
export const DEV_SERVER_SEARCH_ATTRIBUTES = Object.fromEntries(EXTAUTH_SEARCH_ATTRIBUTES.map((key) => [key.name, 'Keyword' as const]));
