// How each provider family wants an access token checked, and what its "this token is dead" answer looks like.
// The generic rules (classify.ts: 200 valid, 401 retried then invalid, 403/429 rate limits) apply underneath.
import type { ProviderType } from '../core/git.js';
import { classifyValidation, type Validity } from './classify.js';

export interface ValidationRequest {
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
}

/** The request that presents `accessToken` to the family's validation URL: always in a header, never in the URL. */
export function validationRequest(type: ProviderType, accessToken: string): ValidationRequest {
  const headers = { authorization: `Bearer ${accessToken}`, accept: 'application/json', 'user-agent': 'extauth' };
  switch (type) {
    case 'google':
      // Google's tokeninfo, as google-auth-library's getTokenInfo calls it: POST, the token as a Bearer header.
      return { method: 'POST', headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, body: '' };
    case 'azure-devops':
      // Without it Azure DevOps answers a refused token with 203 and a sign-in page instead of a 401.
      return { method: 'GET', headers: { ...headers, 'x-tfs-fedauthredirect': 'Suppress' } };
    default:
      return { method: 'GET', headers };
  }
}

/**
 * A validation answer, read per family: Google's tokeninfo answers a dead token with 400 `invalid_token`, Azure
 * DevOps (when it still redirects) with 203 and a sign-in page; both mean what a 401 means. GitLab's token info,
 * Bitbucket, Microsoft Graph and GitHub answer 401, which the generic rules already read.
 */
export function classifyValidationAnswer(type: ProviderType, status: number, headers: Headers, body: string): Validity {
  if (type === 'google' && status === 400 && errorCode(body) === 'invalid_token') return 'unauthorized';
  if (type === 'azure-devops' && status === 203) return 'unauthorized';
  return classifyValidation(status, headers);
}

function errorCode(body: string): string | undefined {
  try {
    const value: unknown = JSON.parse(body);
    const error = value && typeof value === 'object' ? (value as Record<string, unknown>).error : undefined;
    return typeof error === 'string' ? error : undefined;
  } catch {
    return undefined;
  }
}
