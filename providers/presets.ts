// Provider presets: a preset name (+ a base URL or tenant where the provider has several deployments) expands
// to the provider's documented endpoints and behaviour. Sources are listed per preset and in docs/providers.md.
import type { ProviderType } from '../core/git.js';

export const PRESET_NAMES = ['github', 'gitlab', 'bitbucket', 'azure-devops', 'google', 'oauth2'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

/** What a preset may fill in; every field a providers-file entry sets explicitly wins over it. */
export interface PresetDefaults {
  type: ProviderType;
  tokenUrl?: string;
  validateUrl?: string;
  clientAuth?: 'body' | 'basic';
  scopes?: string[];
  /** `link login --browser` / `--device` endpoints (docs/providers.md, "Connecting a link"). */
  authorizeUrl?: string;
  deviceAuthorizationUrl?: string;
  /** `link delete --revoke` (docs/providers.md, "Revoking a grant"). */
  revocationUrl?: string;
  revocation?: 'rfc7009' | 'github-grant';
  authorizeParams?: Record<string, string>;
  hosts?: string[];
  keepAliveSeconds?: number;
  refreshTokenWarnSeconds?: number;
  reuseGraceSeconds?: number;
  /** A refresh ends the access token issued before it (docs/providers.md, "What expiresAt means"). */
  refreshEndsOldAccessToken?: boolean;
}

/** The inputs a preset derives its endpoints from (already validated as URLs / tenant names). */
export interface PresetInput {
  baseUrl?: string;
  tenant?: string;
}

const DAY = 86_400;
/** Refreshing an idle link monthly keeps refresh tokens that die of inactivity (or six months after issue) alive. */
const MONTHLY_KEEP_ALIVE = 30 * DAY;

/** The Azure DevOps resource (its Entra application id): `<resource>/.default` asks for the app's configured scopes. */
export const AZURE_DEVOPS_RESOURCE = '499b84ac-1321-427f-aa17-267ca6975798';

interface Preset {
  /** Which of `baseUrl` / `tenant` the preset understands; any other is a configuration error. */
  accepts: ReadonlyArray<keyof PresetInput>;
  expand(input: PresetInput): PresetDefaults;
}

export const PRESETS: Record<PresetName, Preset> = {
  // https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/refreshing-user-access-tokens
  // Access tokens live 8 h, refresh tokens 6 months (`refresh_token_expires_in`), both single-use: rotation with no
  // grace. GHES serves the same OAuth paths on its own host and the REST API under /api/v3.
  github: {
    accepts: ['baseUrl'],
    expand({ baseUrl }) {
      const base = trimSlash(baseUrl ?? 'https://github.com');
      const dotCom = new URL(base).host === 'github.com';
      return {
        type: 'github',
        tokenUrl: `${base}/login/oauth/access_token`,
        // https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-user-access-token-for-a-github-app
        // (web application flow with PKCE, and the device flow once enabled in the app's settings).
        authorizeUrl: `${base}/login/oauth/authorize`,
        deviceAuthorizationUrl: `${base}/login/device/code`,
        validateUrl: dotCom ? 'https://api.github.com/user' : `${base}/api/v3/user`,
        // https://docs.github.com/en/rest/apps/oauth-applications#delete-an-app-authorization: HTTP Basic with the
        // client id and secret, a valid access token in the JSON body; deletes every token of the grant. No RFC 7009.
        revocationUrl: `${dotCom ? 'https://api.github.com' : `${base}/api/v3`}/applications/{client_id}/grant`,
        revocation: 'github-grant',
        clientAuth: 'body',
        hosts: [new URL(base).host],
        // The refresh token expires six months after it was issued; each refresh issues a new one.
        keepAliveSeconds: MONTHLY_KEEP_ALIVE,
        reuseGraceSeconds: 0,
        // "Once you use a refresh token, that refresh token and the old user access token will no longer work."
        refreshEndsOldAccessToken: true,
      };
    },
  },
  // https://docs.gitlab.com/api/oauth2/ — a refresh "invalidates the existing access_token and refresh_token"; access
  // tokens live 2 h. Token info (GET /oauth/token/info) answers 401 {"error":"invalid_token"} for a dead token.
  gitlab: {
    accepts: ['baseUrl'],
    expand({ baseUrl }) {
      const base = trimSlash(baseUrl ?? 'https://gitlab.com');
      return {
        type: 'gitlab',
        tokenUrl: `${base}/oauth/token`,
        // https://docs.gitlab.com/api/oauth2/ (authorization code with PKCE; device authorization grant, GitLab 17.1+).
        authorizeUrl: `${base}/oauth/authorize`,
        deviceAuthorizationUrl: `${base}/oauth/authorize_device`,
        validateUrl: `${base}/oauth/token/info`,
        // https://docs.gitlab.com/api/oauth2/ "Revoke a token": POST /oauth/revoke with client_id, client_secret, token (RFC 7009).
        revocationUrl: `${base}/oauth/revoke`,
        clientAuth: 'body',
        hosts: [new URL(base).host],
        keepAliveSeconds: 0,
        reuseGraceSeconds: 0,
        refreshEndsOldAccessToken: true,
      };
    },
  },
  // https://developer.atlassian.com/cloud/bitbucket/oauth-2/ — client credentials as HTTP Basic (`curl -u key:secret`),
  // access tokens live 2 h; git over HTTPS takes `x-token-auth` + the access token.
  bitbucket: {
    accepts: [],
    expand() {
      return {
        type: 'bitbucket',
        tokenUrl: 'https://bitbucket.org/site/oauth2/access_token',
        // Bitbucket Cloud documents the authorization code grant only (no device flow).
        authorizeUrl: 'https://bitbucket.org/site/oauth2/authorize',
        validateUrl: 'https://api.bitbucket.org/2.0/user',
        clientAuth: 'basic',
        hosts: ['bitbucket.org'],
        keepAliveSeconds: 0,
        reuseGraceSeconds: 0,
      };
    },
  },
  // Microsoft Entra ID for Azure DevOps:
  // https://learn.microsoft.com/en-us/azure/devops/integrate/get-started/authentication/entra-oauth (no Microsoft
  // accounts, hence the `organizations` tenant), https://learn.microsoft.com/en-us/entra/identity-platform/refresh-tokens
  // (refresh tokens rotate, the old one is not revoked, they expire after 90 days of inactivity). `baseUrl` is the
  // authority (sovereign clouds), default https://login.microsoftonline.com.
  'azure-devops': {
    accepts: ['baseUrl', 'tenant'],
    expand({ baseUrl, tenant }) {
      const authority = trimSlash(baseUrl ?? 'https://login.microsoftonline.com');
      return {
        type: 'azure-devops',
        tokenUrl: `${authority}/${tenant ?? 'organizations'}/oauth2/v2.0/token`,
        // https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow and v2-oauth2-device-code.
        authorizeUrl: `${authority}/${tenant ?? 'organizations'}/oauth2/v2.0/authorize`,
        deviceAuthorizationUrl: `${authority}/${tenant ?? 'organizations'}/oauth2/v2.0/devicecode`,
        // The token's audience is Azure DevOps, so Graph's /me would refuse it: ask Azure DevOps who the user is
        // (https://learn.microsoft.com/en-us/rest/api/azure/devops/profile/profiles/get, scope vso.profile).
        validateUrl: 'https://app.vssps.visualstudio.com/_apis/profile/profiles/me?api-version=7.1',
        clientAuth: 'body',
        scopes: [`${AZURE_DEVOPS_RESOURCE}/.default`, 'offline_access'],
        hosts: ['dev.azure.com'],
        // 90 days of inactivity kill the refresh token: refresh an idle link well inside that.
        keepAliveSeconds: MONTHLY_KEEP_ALIVE,
        reuseGraceSeconds: 0,
        // Entra access tokens cannot be revoked and stay valid until they expire; a refresh leaves them alone. Entra has
        // no RFC 7009 endpoint (refresh tokens are revoked through Microsoft Graph's revokeSignInSessions, per user): no revocationUrl.
        refreshEndsOldAccessToken: false,
      };
    },
  },
  // https://developers.google.com/identity/protocols/oauth2/web-server#offline and #expiration — refreshing returns no
  // new refresh token (the old one stays), which expires after six months unused. Token info answers
  // 400 {"error":"invalid_token"} for a dead token. Google hosts no git repositories: no hosts.
  google: {
    accepts: [],
    expand() {
      return {
        type: 'google',
        tokenUrl: 'https://oauth2.googleapis.com/token',
        // https://developers.google.com/identity/protocols/oauth2/native-app (loopback, PKCE) and .../limited-input-device.
        // A refresh token comes only with access_type=offline; prompt=consent issues one again on a re-link.
        authorizeUrl: 'https://accounts.google.com/o/oauth2/v2/auth',
        deviceAuthorizationUrl: 'https://oauth2.googleapis.com/device/code',
        authorizeParams: { access_type: 'offline', prompt: 'consent' },
        validateUrl: 'https://oauth2.googleapis.com/tokeninfo',
        // https://developers.google.com/identity/protocols/oauth2/web-server#tokenrevoke: POST token=… to /revoke.
        revocationUrl: 'https://oauth2.googleapis.com/revoke',
        clientAuth: 'body',
        keepAliveSeconds: MONTHLY_KEEP_ALIVE,
        reuseGraceSeconds: 0,
      };
    },
  },
  // Any RFC 6749 provider: nothing assumed, the entry gives tokenUrl (and validateUrl, reuseGraceSeconds, …) itself.
  oauth2: {
    accepts: [],
    expand() {
      return { type: 'oauth2' };
    },
  },
};

export function isPresetName(value: unknown): value is PresetName {
  return typeof value === 'string' && (PRESET_NAMES as readonly string[]).includes(value);
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
