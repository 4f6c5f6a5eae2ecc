/**
 * How the fake provider (dev/fake-provider.ts) behaves as each real provider: endpoint paths, the client
 * authentication it insists on, what a refresh does to the refresh token, token and error shapes, and the
 * validation endpoint's answers. Each flavor follows the provider's documentation (docs/providers.md lists
 * the sources); what could not be confirmed there is marked "assumed".
 */
import { randomBytes, randomUUID } from 'node:crypto';

export const FLAVOR_NAMES = ['github', 'gitlab', 'bitbucket', 'entra', 'google', 'atlassian'] as const;
export type FlavorName = (typeof FLAVOR_NAMES)[number];

export type FieldValue = string | number | number[];
export type Fields = Record<string, FieldValue>;
type Headers = Record<string, string>;

/** A token endpoint answer: fields sent as JSON (or form-encoded, for GitHub without Accept: application/json). */
export interface FlavorOAuthAnswer {
  status: number;
  fields: Fields;
  headers?: Headers;
}

/** An answer of the validation endpoint, already serialized. */
export interface FlavorHttpAnswer {
  status: number;
  body: string;
  contentType: string;
  headers?: Headers;
}

/** What a successful refresh produced, before the provider shapes its answer. */
export interface IssuedTokens {
  access_token: string;
  expires_in: number;
  refresh_token?: string;
  refresh_token_expires_in?: number;
}

export interface ValidationContext {
  familyId: string;
  clientId: string;
  /** Seconds the presented access token has left. */
  remainingSeconds: number;
  /** Request headers, lower-case. */
  requestHeaders: Record<string, string | string[] | undefined>;
}

export interface FakeFlavor {
  name: FlavorName;
  /** The token endpoint path the fake advertises (`tokenUrl`); `isTokenPath` accepts every path it serves it on. */
  tokenPath: string;
  isTokenPath(path: string): boolean;
  validatePath: string;
  isValidatePath(path: string): boolean;
  validateMethods: readonly string[];
  /** `either`: form fields or HTTP Basic (never both); `basic`: HTTP Basic only. */
  clientAuth: 'either' | 'basic';
  /**
   * What a refresh does to the refresh token. rotate: a new one, the old one dies. rotate-keep-old: a new one,
   * the old one stays valid. same: the same one again. omit: the answer carries none, the old one stays valid.
   */
  refreshTokens: 'rotate' | 'rotate-keep-old' | 'same' | 'omit';
  /** A refresh kills the access tokens issued before it (after `oldPairGraceSeconds`, when set). */
  refreshRevokesAccessTokens: boolean;
  /**
   * A reuse grace window (Atlassian's 10-minute leeway): the rotated-away refresh token is answered again with the same
   * new tokens this long (the provider's reuse detection, unless the fake's options set their own), and the access
   * token issued before the refresh keeps working this long (or until its own expiry, if sooner).
   */
  oldPairGraceSeconds?: number;
  accessTokenLifetimeSeconds: number;
  /** Token answers are form-encoded unless the client asks for JSON; otherwise always JSON. */
  formUnlessJson: boolean;
  newAccessToken(): string;
  newRefreshToken(): string;
  tokenAnswer(issued: IssuedTokens): Fields;
  /** The answer to a refresh token the provider does not (or no longer) accept. */
  deadRefreshToken(): FlavorOAuthAnswer;
  /** How it signs users in: the authorization code grant, and the device grant where documented (dev/fake-login.ts). */
  login: FlavorLogin;
  /**
   * `link delete --revoke` (docs/providers.md, "Revoking a grant"): RFC 7009's POST endpoint, or GitHub's
   * `DELETE /applications/{client_id}/grant`. Absent where the provider documents none (Entra, Bitbucket).
   */
  revocation?: FlavorRevocation;
  /** The answer to missing or wrong client credentials (`basic`: they came as HTTP Basic). */
  invalidClient(basic: boolean): FlavorOAuthAnswer;
  validateOk(context: ValidationContext): FlavorHttpAnswer;
  /** The validation endpoint's answer to an unknown, expired or revoked access token. */
  validateRefused(context: Omit<ValidationContext, 'familyId' | 'remainingSeconds'>): FlavorHttpAnswer;
}

export interface FlavorRevocation {
  style: 'rfc7009' | 'github-grant';
  /** The path the fake advertises (`revocationUrl`); GitHub's carries `{client_id}`. */
  path: string;
  /** For github-grant: the client id in the path; for rfc7009: '' when the path matches; undefined: not this endpoint. */
  match(path: string): string | undefined;
  /** RFC 7009 2.2 answers an unknown or invalid token with 200; Google answers 400 `invalid_token` (its own documentation). */
  unknownToken?: () => FlavorOAuthAnswer;
}

/** A flavor's sign-in endpoints and the shapes of their answers (docs/providers.md, "Connecting a link"). */
export interface FlavorLogin {
  /** The authorization endpoint (GET, answers with a redirect to redirect_uri). */
  authorizePath: string;
  isAuthorizePath(path: string): boolean;
  /** The device authorization endpoint (POST); undefined where the provider documents no device flow. */
  device?: {
    path: string;
    isPath(path: string): boolean;
    /** Where the user types the code (verification_uri); Google's field is `verification_url`. */
    verificationUri: string;
    verificationField: 'verification_uri' | 'verification_url';
    expiresIn: number;
    interval: number;
    /** The HTTP status of pending/slow_down/denied/expired answers: GitHub 200, RFC 8628 3.5 says 400. */
    errorStatus: number;
    /** The token request may come with client_id alone (public client): GitHub, GitLab, Entra. */
    publicClient: boolean;
    newUserCode(): string;
  };
  /** The answer to a wrong, used or expired authorization code (RFC 6749 5.2 invalid_grant; GitHub: 200 bad_verification_code). */
  badCode(): FlavorOAuthAnswer;
}

// --- shared helpers -------------------------------------------------------------

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length)) {
      // 248 = 4 * 62: rejecting larger bytes keeps the alphabet unbiased.
      if (byte < 248 && out.length < length) out += BASE62[byte % 62];
    }
  }
  return out;
}

const hex = (bytes: number): string => randomBytes(bytes).toString('hex');
const base64url = (bytes: number): string => randomBytes(bytes).toString('base64url');
const exactly = (expected: string) => (path: string) => path === expected;
/** User codes: RFC 8628 6.1 recommends base-20 letters without vowels; GitHub shows XXXX-XXXX. */
const userCode = (groups: number[]): string => {
  const letters = 'BCDFGHJKLMNPQRSTVWXZ';
  return groups.map((n) => Array.from(randomBytes(n), (b) => letters[b % letters.length]).join('')).join('-');
};
const invalidGrantCode = (): FlavorOAuthAnswer =>
  oauthError(400, { error: 'invalid_grant', error_description: 'The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.' });

function json(status: number, body: object, headers?: Headers): FlavorHttpAnswer {
  return { status, body: JSON.stringify(body), contentType: 'application/json; charset=utf-8', headers };
}

function oauthError(status: number, fields: Fields, headers?: Headers): FlavorOAuthAnswer {
  return { status, fields, headers };
}

/** GitHub's rate-limit headers on a normal answer. */
export function quotaHeaders(): Headers {
  return {
    'x-ratelimit-limit': '5000',
    'x-ratelimit-remaining': '4999',
    'x-ratelimit-used': '1',
    'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 3600),
  };
}

// --- the flavors ----------------------------------------------------------------

export const GITHUB_ERROR_URI =
  'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors';
export const GITHUB_DOCS_URL = 'https://docs.github.com/rest';
/** GitHub's `refresh_token_expires_in`: about six months. */
export const GITHUB_REFRESH_TOKEN_LIFETIME_SECONDS = 15_897_600;

/**
 * GitHub App user tokens (github.com and GHES): single-use rotation, 8 h access tokens, a dead refresh token
 * answered with HTTP 200 `bad_refresh_token`, form-encoded answers unless JSON is asked for. GHES serves the REST
 * API under /api/v3. "Once you use a refresh token, that refresh token and the old user access token will no longer
 * work": a refresh ends every access token issued before it.
 */
const github: FakeFlavor = {
  name: 'github',
  tokenPath: '/login/oauth/access_token',
  isTokenPath: exactly('/login/oauth/access_token'),
  validatePath: '/user',
  isValidatePath: (path) => path === '/user' || path === '/api/v3/user',
  validateMethods: ['GET'],
  clientAuth: 'either',
  refreshTokens: 'rotate',
  refreshRevokesAccessTokens: true,
  accessTokenLifetimeSeconds: 28_800,
  formUnlessJson: true,
  newAccessToken: () => `ghu_${randomBase62(36)}`,
  newRefreshToken: () => `ghr_${randomBase62(76)}`,
  tokenAnswer({ access_token, expires_in, refresh_token, refresh_token_expires_in }): Fields {
    if (refresh_token === undefined) return { access_token, expires_in, scope: '', token_type: 'bearer' };
    const lifetime = refresh_token_expires_in ?? GITHUB_REFRESH_TOKEN_LIFETIME_SECONDS;
    return { access_token, expires_in, refresh_token, refresh_token_expires_in: lifetime, scope: '', token_type: 'bearer' };
  },
  deadRefreshToken: () =>
    oauthError(200, { error: 'bad_refresh_token', error_description: 'The refresh token passed is incorrect or expired.', error_uri: GITHUB_ERROR_URI }),
  login: {
    authorizePath: '/login/oauth/authorize',
    isAuthorizePath: exactly('/login/oauth/authorize'),
    device: {
      path: '/login/device/code',
      isPath: exactly('/login/device/code'),
      verificationUri: 'https://github.com/login/device',
      verificationField: 'verification_uri',
      expiresIn: 899,
      interval: 5,
      errorStatus: 200,
      publicClient: true,
      newUserCode: () => userCode([4, 4]),
    },
    badCode: () =>
      oauthError(200, { error: 'bad_verification_code', error_description: 'The code passed is incorrect or expired.', error_uri: GITHUB_ERROR_URI }),
  },
  invalidClient: (basic) =>
    oauthError(
      401,
      { error: 'invalid_client', error_description: 'Client authentication failed.', error_uri: GITHUB_ERROR_URI },
      basic ? { 'www-authenticate': 'Basic realm="fake-provider"' } : undefined,
    ),
  // https://docs.github.com/en/rest/apps/oauth-applications#delete-an-app-authorization: 204, 422 for an invalid token.
  revocation: {
    style: 'github-grant',
    path: '/applications/{client_id}/grant',
    match: (path) => /^\/(?:api\/v3\/)?applications\/([^/]+)\/grant$/.exec(path)?.[1],
  },
  validateOk: ({ familyId }) => json(200, { login: `fake-user-${familyId}`, id: 123 }, quotaHeaders()),
  validateRefused: () => json(401, { message: 'Bad credentials', documentation_url: GITHUB_DOCS_URL }),
};

const DOORKEEPER_INVALID_GRANT =
  'The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.';

/**
 * GitLab (gitlab.com and self-managed, Doorkeeper underneath): a refresh invalidates the existing access and refresh
 * token; 2 h access tokens; JSON answers with `created_at`; token info at /oauth/token/info answering a dead token
 * with 401 `invalid_token` (Doorkeeper's shape).
 */
const gitlab: FakeFlavor = {
  name: 'gitlab',
  tokenPath: '/oauth/token',
  isTokenPath: exactly('/oauth/token'),
  validatePath: '/oauth/token/info',
  isValidatePath: exactly('/oauth/token/info'),
  validateMethods: ['GET'],
  clientAuth: 'either',
  refreshTokens: 'rotate',
  refreshRevokesAccessTokens: true,
  accessTokenLifetimeSeconds: 7_200,
  formUnlessJson: false,
  newAccessToken: () => hex(32),
  newRefreshToken: () => hex(32),
  tokenAnswer: ({ access_token, expires_in, refresh_token }) => ({
    access_token,
    token_type: 'Bearer',
    expires_in,
    ...(refresh_token === undefined ? {} : { refresh_token }),
    scope: 'api',
    created_at: Math.floor(Date.now() / 1000),
  }),
  deadRefreshToken: () => oauthError(400, { error: 'invalid_grant', error_description: DOORKEEPER_INVALID_GRANT }),
  login: {
    authorizePath: '/oauth/authorize',
    isAuthorizePath: exactly('/oauth/authorize'),
    device: {
      path: '/oauth/authorize_device',
      isPath: exactly('/oauth/authorize_device'),
      verificationUri: 'https://gitlab.com/oauth/device',
      verificationField: 'verification_uri',
      expiresIn: 300,
      interval: 5,
      errorStatus: 400,
      publicClient: true,
      newUserCode: () => randomBase62(8),
    },
    badCode: () => oauthError(400, { error: 'invalid_grant', error_description: DOORKEEPER_INVALID_GRANT }),
  },
  invalidClient: () =>
    oauthError(401, {
      error: 'invalid_client',
      error_description: 'Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.',
    }),
  // https://docs.gitlab.com/api/oauth2/ "Revoke a token": POST /oauth/revoke (Doorkeeper, RFC 7009: 200 for an unknown token).
  revocation: { style: 'rfc7009', path: '/oauth/revoke', match: (path) => (path === '/oauth/revoke' ? '' : undefined) },
  validateOk: ({ clientId, remainingSeconds }) =>
    json(200, {
      resource_owner_id: 1,
      scope: ['api'],
      expires_in: remainingSeconds,
      application: { uid: clientId },
      created_at: Math.floor(Date.now() / 1000) - 1,
    }),
  validateRefused: () =>
    json(
      401,
      { error: 'invalid_token', error_description: 'The access token is invalid', state: 'unauthorized' },
      { 'www-authenticate': 'Bearer realm="Doorkeeper", error="invalid_token", error_description="The access token is invalid"' },
    ),
};

/**
 * Bitbucket Cloud: client credentials as HTTP Basic (the only form its documentation shows; that form fields are
 * refused is assumed), 2 h access tokens, `invalid_grant` for a dead refresh token, 401 from /2.0/user. Whether a
 * refresh rotates the refresh token is not documented; the fake answers the same one again (assumed).
 */
const bitbucket: FakeFlavor = {
  name: 'bitbucket',
  tokenPath: '/site/oauth2/access_token',
  isTokenPath: exactly('/site/oauth2/access_token'),
  validatePath: '/2.0/user',
  isValidatePath: exactly('/2.0/user'),
  validateMethods: ['GET'],
  clientAuth: 'basic',
  refreshTokens: 'same',
  refreshRevokesAccessTokens: false,
  accessTokenLifetimeSeconds: 7_200,
  formUnlessJson: false,
  newAccessToken: () => base64url(96),
  newRefreshToken: () => randomBase62(24),
  tokenAnswer: ({ access_token, expires_in, refresh_token }) => ({
    access_token,
    scopes: 'account repository',
    token_type: 'bearer',
    expires_in,
    state: 'refresh_token',
    ...(refresh_token === undefined ? {} : { refresh_token }),
  }),
  deadRefreshToken: () => oauthError(400, { error_description: 'Invalid refresh_token', error: 'invalid_grant' }),
  login: { authorizePath: '/site/oauth2/authorize', isAuthorizePath: exactly('/site/oauth2/authorize'), badCode: invalidGrantCode },
  invalidClient: () => oauthError(401, { error_description: 'Invalid OAuth client credentials', error: 'invalid_client' }),
  validateOk: ({ familyId }) =>
    json(200, { type: 'user', username: `fake-${familyId}`, display_name: 'Fake User', uuid: `{${randomUUID()}}`, account_id: '123' }),
  validateRefused: () =>
    json(401, { type: 'error', error: { message: 'Access token expired. Use your refresh token to obtain a new access token.' } }),
};

/** Microsoft Entra's error body: `error_codes`, trace and correlation ids, the AADSTS code in the description. */
function entraError(status: number, error: string, code: number, text: string): FlavorOAuthAnswer {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  return oauthError(status, {
    error,
    error_description: `AADSTS${code}: ${text} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
    error_codes: [code],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: `https://login.microsoftonline.com/error?code=${code}`,
  });
}

/**
 * Microsoft Entra ID issuing tokens for Azure DevOps: token endpoint /{tenant}/oauth2/v2.0/token, each refresh returns
 * a new refresh token and the old one stays valid, ~1 h access tokens, `invalid_grant` with AADSTS codes; validation
 * is Azure DevOps' profile endpoint, which answers a refused token with 401 (TF400813) when asked not to redirect
 * (`X-TFS-FedAuthRedirect: Suppress`) and with 203 and a sign-in page otherwise.
 */
const entra: FakeFlavor = {
  name: 'entra',
  tokenPath: '/organizations/oauth2/v2.0/token',
  isTokenPath: (path) => /^\/[A-Za-z0-9][A-Za-z0-9.-]*\/oauth2\/v2\.0\/token$/.test(path),
  validatePath: '/_apis/profile/profiles/me',
  isValidatePath: exactly('/_apis/profile/profiles/me'),
  validateMethods: ['GET'],
  clientAuth: 'either',
  refreshTokens: 'rotate-keep-old',
  refreshRevokesAccessTokens: false,
  accessTokenLifetimeSeconds: 3_599,
  formUnlessJson: false,
  newAccessToken: () => `eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.${base64url(180)}.${base64url(64)}`,
  newRefreshToken: () => `1.AVEA${base64url(240)}`,
  tokenAnswer: ({ access_token, expires_in, refresh_token }) => ({
    token_type: 'Bearer',
    scope: '499b84ac-1321-427f-aa17-267ca6975798/user_impersonation',
    expires_in,
    ext_expires_in: expires_in,
    access_token,
    ...(refresh_token === undefined ? {} : { refresh_token }),
  }),
  deadRefreshToken: () =>
    entraError(400, 'invalid_grant', 50173, 'The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.'),
  login: {
    authorizePath: '/organizations/oauth2/v2.0/authorize',
    isAuthorizePath: (path) => /^\/[A-Za-z0-9][A-Za-z0-9.-]*\/oauth2\/v2\.0\/authorize$/.test(path),
    device: {
      path: '/organizations/oauth2/v2.0/devicecode',
      isPath: (path) => /^\/[A-Za-z0-9][A-Za-z0-9.-]*\/oauth2\/v2\.0\/devicecode$/.test(path),
      verificationUri: 'https://microsoft.com/devicelogin',
      verificationField: 'verification_uri',
      expiresIn: 900,
      interval: 5,
      errorStatus: 400,
      publicClient: true,
      newUserCode: () => userCode([9]),
    },
    badCode: () => entraError(400, 'invalid_grant', 70008, 'The provided authorization code or refresh token has expired due to inactivity.'),
  },
  invalidClient: () => entraError(401, 'invalid_client', 7000215, 'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.'),
  validateOk: ({ familyId }) =>
    json(200, { displayName: 'Fake User', publicAlias: randomUUID(), emailAddress: `${familyId}@example.com`, coreRevision: 1, timeStamp: new Date().toISOString(), id: randomUUID(), revision: 1 }),
  validateRefused: ({ requestHeaders }) => {
    if (String(requestHeaders['x-tfs-fedauthredirect'] ?? '').toLowerCase() !== 'suppress') {
      return { status: 203, body: '<!DOCTYPE html><html><head><title>Azure DevOps Services | Sign In</title></head><body></body></html>', contentType: 'text/html; charset=utf-8' };
    }
    return json(401, {
      $id: '1',
      innerException: null,
      message: "TF400813: The user '' is not authorized to access this resource.",
      typeName: 'Microsoft.TeamFoundation.Framework.Server.UnauthorizedRequestException, Microsoft.TeamFoundation.Framework.Server',
      typeKey: 'UnauthorizedRequestException',
      errorCode: 0,
      eventId: 3000,
    });
  },
};

/**
 * Google: a refresh returns a new access token and no refresh token (the old one stays valid), ~1 h access tokens,
 * `invalid_grant` "Token has been expired or revoked."; tokeninfo (GET, or POST as google-auth-library sends it)
 * answers a dead token with HTTP 400 `invalid_token`.
 */
const google: FakeFlavor = {
  name: 'google',
  tokenPath: '/token',
  isTokenPath: exactly('/token'),
  validatePath: '/tokeninfo',
  isValidatePath: exactly('/tokeninfo'),
  validateMethods: ['GET', 'POST'],
  clientAuth: 'either',
  refreshTokens: 'omit',
  refreshRevokesAccessTokens: false,
  accessTokenLifetimeSeconds: 3_599,
  formUnlessJson: false,
  newAccessToken: () => `ya29.a0${base64url(120)}`,
  newRefreshToken: () => `1//0${base64url(75)}`,
  tokenAnswer: ({ access_token, expires_in, refresh_token }) => ({
    access_token,
    expires_in,
    ...(refresh_token === undefined ? {} : { refresh_token }),
    scope: 'https://www.googleapis.com/auth/userinfo.email openid',
    token_type: 'Bearer',
  }),
  deadRefreshToken: () => oauthError(400, { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' }),
  login: {
    authorizePath: '/o/oauth2/v2/auth',
    isAuthorizePath: exactly('/o/oauth2/v2/auth'),
    device: {
      path: '/device/code',
      isPath: exactly('/device/code'),
      verificationUri: 'https://www.google.com/device',
      verificationField: 'verification_url',
      expiresIn: 1800,
      interval: 5,
      // Assumed: RFC 8628's 400 (Google's page lists the error codes; their statuses were not confirmed).
      errorStatus: 400,
      // Google's device flow polls with client_id and client_secret.
      publicClient: false,
      newUserCode: () => userCode([3, 3, 3]),
    },
    badCode: () => oauthError(400, { error: 'invalid_grant', error_description: 'Bad Request' }),
  },
  invalidClient: () => oauthError(401, { error: 'invalid_client', error_description: 'Unauthorized' }),
  // https://developers.google.com/identity/protocols/oauth2/web-server#tokenrevoke: 200 on success, 400 on an error.
  revocation: {
    style: 'rfc7009',
    path: '/revoke',
    match: (path) => (path === '/revoke' ? '' : undefined),
    unknownToken: () => oauthError(400, { error: 'invalid_token', error_description: 'Token expired or revoked' }),
  },
  validateOk: ({ clientId, remainingSeconds }) =>
    json(200, {
      azp: clientId,
      aud: clientId,
      sub: '110169484474386276334',
      scope: 'https://www.googleapis.com/auth/userinfo.email openid',
      exp: String(Math.floor(Date.now() / 1000) + remainingSeconds),
      expires_in: String(remainingSeconds),
      access_type: 'offline',
    }),
  validateRefused: () => json(400, { error: 'invalid_token', error_description: 'Invalid Value' }),
};

/**
 * Atlassian Cloud (OAuth 2.0 3LO, Auth0 underneath): rotating refresh tokens with a 10-minute reuse leeway ("Reuse of
 * old tokens outside the leeway interval invalidates all refresh tokens … The leeway interval is 10 minutes"), 1 h
 * access tokens, token endpoint auth.atlassian.com/oauth/token, identity at api.atlassian.com/me (served on one host
 * here). That the old access token also works for those 10 minutes, then dies, is assumed (the "old pair" reading);
 * Auth0's 403 `invalid_grant` "Unknown or invalid refresh token." for a dead refresh token is assumed too.
 */
const atlassian: FakeFlavor = {
  name: 'atlassian',
  tokenPath: '/oauth/token',
  isTokenPath: exactly('/oauth/token'),
  validatePath: '/me',
  isValidatePath: exactly('/me'),
  validateMethods: ['GET'],
  clientAuth: 'either',
  refreshTokens: 'rotate',
  refreshRevokesAccessTokens: true,
  oldPairGraceSeconds: 600,
  accessTokenLifetimeSeconds: 3_600,
  formUnlessJson: false,
  newAccessToken: () => `eyJraWQiOiJhdXRoLmF0bGFzc2lhbi5jb20i.${base64url(300)}.${base64url(64)}`,
  newRefreshToken: () => `eyJraWQiOiJhdXRoLmF0bGFzc2lhbi5jb20t.${base64url(200)}.${base64url(64)}`,
  tokenAnswer: ({ access_token, expires_in, refresh_token }) => ({
    access_token,
    expires_in,
    token_type: 'Bearer',
    ...(refresh_token === undefined ? {} : { refresh_token }),
    scope: 'read:jira-work offline_access',
  }),
  deadRefreshToken: () => oauthError(403, { error: 'invalid_grant', error_description: 'Unknown or invalid refresh token.' }),
  login: { authorizePath: '/authorize', isAuthorizePath: exactly('/authorize'), badCode: invalidGrantCode },
  invalidClient: () => oauthError(401, { error: 'access_denied', error_description: 'Unauthorized' }),
  validateOk: ({ familyId }) => json(200, { account_type: 'atlassian', account_id: `fake-${familyId}`, email: `${familyId}@example.com`, name: 'Fake User', account_status: 'active' }),
  validateRefused: () => json(401, { code: 401, message: 'Unauthorized' }),
};

export const FLAVORS: Record<FlavorName, FakeFlavor> = { github, gitlab, bitbucket, entra, google, atlassian };
