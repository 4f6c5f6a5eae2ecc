// Provider presets: each expands to the provider's documented endpoints and behaviour, explicit fields win, mistakes
// name their field; and end to end, each preset refreshes, validates and serves through a fake of its provider.
import { describe, expect, it } from 'vitest';
import { gitCredentials, PROVIDER_TYPES, type ProviderType } from '../core/git.js';
import type { FlavorName } from '../dev/fake-flavors.js';
import { parseProviders, ProvidersConfigError, type ProviderInput } from '../providers/config.js';
import type { PresetName } from '../providers/presets.js';
import { agentError } from './support/helpers.js';
import { uniqueUser, useWorld } from './support/world.js';

const credentials = { id: 'p', clientId: 'client-id', clientSecret: 'very-secret-value' };
const expand = (entry: Partial<ProviderInput>) => parseProviders([{ ...credentials, ...entry }])[0]!;

function configError(entry: Partial<ProviderInput>): string {
  try {
    parseProviders([{ ...credentials, ...entry }]);
  } catch (err) {
    if (err instanceof ProvidersConfigError) return err.message;
    throw err;
  }
  throw new Error('expected a ProvidersConfigError');
}

const DAY = 86_400;

describe('preset expansion', () => {
  it('github: github.com endpoints, api.github.com validation, github.com for git, monthly keep-alive, no grace', () => {
    expect(expand({ preset: 'github' })).toMatchObject({
      type: 'github',
      tokenUrl: 'https://github.com/login/oauth/access_token',
      validateUrl: 'https://api.github.com/user',
      clientAuth: 'body',
      hosts: ['github.com'],
      keepAliveSeconds: 30 * DAY,
      reuseGraceSeconds: 0,
    });
  });

  it('github with a GitHub Enterprise Server base URL: its own OAuth paths, REST under /api/v3, its host (with port) for git', () => {
    expect(expand({ preset: 'github', baseUrl: 'https://ghe.example.com:8443/' })).toMatchObject({
      type: 'github',
      tokenUrl: 'https://ghe.example.com:8443/login/oauth/access_token',
      validateUrl: 'https://ghe.example.com:8443/api/v3/user',
      hosts: ['ghe.example.com:8443'],
    });
  });

  it('gitlab: gitlab.com endpoints, token info validation', () => {
    expect(expand({ preset: 'gitlab' })).toMatchObject({
      type: 'gitlab',
      tokenUrl: 'https://gitlab.com/oauth/token',
      validateUrl: 'https://gitlab.com/oauth/token/info',
      clientAuth: 'body',
      hosts: ['gitlab.com'],
      keepAliveSeconds: 0,
      reuseGraceSeconds: 0,
    });
  });

  it('gitlab self-managed, also under a relative URL root', () => {
    expect(expand({ preset: 'gitlab', baseUrl: 'https://gitlab.example.com' })).toMatchObject({
      tokenUrl: 'https://gitlab.example.com/oauth/token',
      validateUrl: 'https://gitlab.example.com/oauth/token/info',
      hosts: ['gitlab.example.com'],
    });
    expect(expand({ preset: 'gitlab', baseUrl: 'https://example.com/gitlab/' })).toMatchObject({
      tokenUrl: 'https://example.com/gitlab/oauth/token',
      validateUrl: 'https://example.com/gitlab/oauth/token/info',
      hosts: ['example.com'],
    });
  });

  it('bitbucket: Bitbucket Cloud endpoints with HTTP Basic client authentication', () => {
    expect(expand({ preset: 'bitbucket' })).toMatchObject({
      type: 'bitbucket',
      tokenUrl: 'https://bitbucket.org/site/oauth2/access_token',
      validateUrl: 'https://api.bitbucket.org/2.0/user',
      clientAuth: 'basic',
      hosts: ['bitbucket.org'],
    });
  });

  it('azure-devops: the organizations tenant by default, Azure DevOps scope with offline_access, profile validation, keep-alive inside 90 days', () => {
    const provider = expand({ preset: 'azure-devops' });
    expect(provider).toMatchObject({
      type: 'azure-devops',
      tokenUrl: 'https://login.microsoftonline.com/organizations/oauth2/v2.0/token',
      validateUrl: 'https://app.vssps.visualstudio.com/_apis/profile/profiles/me?api-version=7.1',
      clientAuth: 'body',
      scopes: ['499b84ac-1321-427f-aa17-267ca6975798/.default', 'offline_access'],
      hosts: ['dev.azure.com'],
      reuseGraceSeconds: 0,
    });
    expect(provider.keepAliveSeconds).toBeGreaterThan(0);
    expect(provider.keepAliveSeconds).toBeLessThan(90 * DAY);
  });

  it('azure-devops: a tenant and a sovereign-cloud authority', () => {
    expect(expand({ preset: 'azure-devops', tenant: 'common' }).tokenUrl).toBe('https://login.microsoftonline.com/common/oauth2/v2.0/token');
    expect(expand({ preset: 'azure-devops', baseUrl: 'https://login.microsoftonline.us', tenant: 'contoso.onmicrosoft.com' }).tokenUrl).toBe(
      'https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/token',
    );
  });

  it('google: token endpoint, tokeninfo validation, no git hosts, keep-alive inside six months', () => {
    const provider = expand({ preset: 'google' });
    expect(provider).toMatchObject({
      type: 'google',
      tokenUrl: 'https://oauth2.googleapis.com/token',
      validateUrl: 'https://oauth2.googleapis.com/tokeninfo',
      clientAuth: 'body',
      reuseGraceSeconds: 0,
    });
    expect(provider.hosts).toBeUndefined();
    expect(provider.keepAliveSeconds).toBeGreaterThan(0);
    expect(provider.keepAliveSeconds).toBeLessThan(180 * DAY);
  });

  it('oauth2: nothing assumed beyond the type; the schema defaults apply', () => {
    const provider = expand({ preset: 'oauth2', tokenUrl: 'https://idp.example.com/oauth2/token' });
    expect(provider).toEqual({
      ...credentials,
      type: 'oauth2',
      tokenUrl: 'https://idp.example.com/oauth2/token',
      clientAuth: 'body',
      refreshAheadSeconds: 300,
      activeWindowSeconds: 86_400,
      keepAliveSeconds: 0,
      refreshTokenWarnSeconds: 7 * DAY,
      reuseGraceSeconds: 0,
      // Assume the worst: a refresh may end the old access token (docs/providers.md, "What expiresAt means").
      refreshEndsOldAccessToken: true,
    });
  });

  it('explicit fields win over the preset, every one of them', () => {
    const provider = expand({
      preset: 'gitlab',
      baseUrl: 'https://gitlab.example.com',
      type: 'oauth2',
      validateUrl: 'https://gitlab.example.com/api/v4/user',
      clientAuth: 'basic',
      hosts: ['git.example.com'],
      scopes: ['api'],
      keepAliveSeconds: 600,
      reuseGraceSeconds: 5,
      refreshTokenWarnSeconds: 60,
    });
    expect(provider).toMatchObject({
      type: 'oauth2',
      tokenUrl: 'https://gitlab.example.com/oauth/token',
      validateUrl: 'https://gitlab.example.com/api/v4/user',
      clientAuth: 'basic',
      hosts: ['git.example.com'],
      scopes: ['api'],
      keepAliveSeconds: 600,
      reuseGraceSeconds: 5,
      refreshTokenWarnSeconds: 60,
    });
    // An empty list is explicit too: no git hosts for this one.
    expect(expand({ preset: 'github', hosts: [] }).hosts).toEqual([]);
  });

  it('the expanded provider keeps none of the preset fields', () => {
    const provider = expand({ preset: 'azure-devops', tenant: 'common', baseUrl: 'https://login.microsoftonline.com' });
    expect(provider).not.toHaveProperty('preset');
    expect(provider).not.toHaveProperty('baseUrl');
    expect(provider).not.toHaveProperty('tenant');
  });
});

describe('sign-in endpoints of the presets (link login)', () => {
  it.each([
    ['github', {}, 'https://github.com/login/oauth/authorize', 'https://github.com/login/device/code'],
    ['github', { baseUrl: 'https://ghe.example.com' }, 'https://ghe.example.com/login/oauth/authorize', 'https://ghe.example.com/login/device/code'],
    ['gitlab', { baseUrl: 'https://gitlab.example.com' }, 'https://gitlab.example.com/oauth/authorize', 'https://gitlab.example.com/oauth/authorize_device'],
    ['azure-devops', { tenant: 'contoso.onmicrosoft.com' }, 'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize', 'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/devicecode'],
    ['google', {}, 'https://accounts.google.com/o/oauth2/v2/auth', 'https://oauth2.googleapis.com/device/code'],
    ['bitbucket', {}, 'https://bitbucket.org/site/oauth2/authorize', undefined],
  ] as const)('%s %j: authorizeUrl and deviceAuthorizationUrl', (preset, extra, authorizeUrl, deviceAuthorizationUrl) => {
    const provider = expand({ preset, ...extra });
    expect([provider.authorizeUrl, provider.deviceAuthorizationUrl]).toEqual([authorizeUrl, deviceAuthorizationUrl]);
  });

  it('google asks for offline access (a refresh token) and consent; oauth2 sets no sign-in endpoint', () => {
    expect(expand({ preset: 'google' }).authorizeParams).toEqual({ access_type: 'offline', prompt: 'consent' });
    const generic = expand({ preset: 'oauth2', tokenUrl: 'https://idp.example.com/token' });
    expect([generic.authorizeUrl, generic.deviceAuthorizationUrl]).toEqual([undefined, undefined]);
  });
});

describe('preset mistakes name their field', () => {
  it('an unknown preset names providers[0].preset and lists the known ones', () => {
    expect(configError({ preset: 'gitea' as PresetName })).toMatch(/providers\[0\]\.preset: .*github.*gitlab.*bitbucket.*azure-devops.*google.*oauth2/);
  });

  it.each(['not a url', 'ftp://gitlab.example.com'])('a bad baseUrl %j names providers[0].baseUrl', (baseUrl) => {
    expect(configError({ preset: 'gitlab', baseUrl })).toMatch(/providers\[0\]\.baseUrl: /);
  });

  it.each(['bitbucket', 'google', 'oauth2'] as const)('a baseUrl with the %s preset (fixed endpoints) names providers[0].baseUrl', (preset) => {
    expect(configError({ preset, baseUrl: 'https://example.com', tokenUrl: 'https://example.com/token' })).toMatch(
      new RegExp(`providers\\[0\\]\\.baseUrl: the ${preset} preset takes no baseUrl`),
    );
  });

  it('a baseUrl without a preset names providers[0].baseUrl', () => {
    expect(configError({ type: 'github', tokenUrl: 'https://github.com/login/oauth/access_token', baseUrl: 'https://github.com' })).toMatch(
      /providers\[0\]\.baseUrl: baseUrl is read only with a preset/,
    );
  });

  it('a tenant outside azure-devops, or with odd characters, names providers[0].tenant', () => {
    expect(configError({ preset: 'gitlab', tenant: 'common' })).toMatch(/providers\[0\]\.tenant: the gitlab preset takes no tenant/);
    expect(configError({ preset: 'azure-devops', tenant: 'common/../x' })).toMatch(/providers\[0\]\.tenant: /);
  });

  it('the generic oauth2 preset still needs a tokenUrl', () => {
    expect(configError({ preset: 'oauth2' })).toMatch(/providers\[0\]\.tokenUrl: /);
  });

  it('a preset does not excuse a bad explicit field, and no message repeats the secret', () => {
    const message = configError({ preset: 'github', clientAuth: 'both' as 'basic' });
    expect(message).toMatch(/providers\[0\]\.clientAuth: /);
    expect(message).not.toContain('very-secret-value');
  });
});

describe('git credentials per type', () => {
  const expected: Record<ProviderType, { username: string; password: string }> = {
    github: { username: 'TOKEN', password: '' },
    gitlab: { username: 'oauth2', password: 'TOKEN' },
    bitbucket: { username: 'x-token-auth', password: 'TOKEN' },
    'azure-devops': { username: 'extauth', password: 'TOKEN' },
    google: { username: 'TOKEN', password: '' },
    oauth2: { username: 'TOKEN', password: '' },
  };
  it.each(PROVIDER_TYPES)('%s', (type) => {
    expect(gitCredentials(type, 'TOKEN')).toEqual(expected[type]);
  });
});

// --- end to end: each preset through a fake of its provider ----------------------------------------------------------

interface PresetCase {
  preset: PresetName;
  flavor: FlavorName;
  /** The preset entry, pointed at the fake where the preset's URLs are fixed. */
  entry: (fake: { baseUrl: string; tokenUrl: string; validateUrl: string }) => Partial<ProviderInput>;
  /** A refresh hands out a new refresh token (false: the old one stays, as Google and Bitbucket do). */
  rotates: boolean;
  /** Git credentials for the served access token. */
  git: (token: string) => { username: string; password: string };
  /** The provider's refusal of a revoked refresh token, as it must appear in the reason. */
  refusal: RegExp;
}

const cases: PresetCase[] = [
  {
    // A GitHub Enterprise Server base URL: the preset derives both URLs, the fake serves them.
    preset: 'github',
    flavor: 'github',
    entry: (fake) => ({ preset: 'github', baseUrl: fake.baseUrl }),
    rotates: true,
    git: (token) => ({ username: token, password: '' }),
    refusal: /bad_refresh_token: The refresh token passed is incorrect or expired\. \(HTTP 200\)/,
  },
  {
    // Self-managed GitLab: the preset derives both URLs.
    preset: 'gitlab',
    flavor: 'gitlab',
    entry: (fake) => ({ preset: 'gitlab', baseUrl: fake.baseUrl }),
    rotates: true,
    git: (token) => ({ username: 'oauth2', password: token }),
    refusal: /invalid_grant: The provided authorization grant is invalid.* \(HTTP 400\)/,
  },
  {
    // Fixed endpoints: point them at the fake; the preset still decides client auth (the fake insists on Basic).
    preset: 'bitbucket',
    flavor: 'bitbucket',
    entry: (fake) => ({ preset: 'bitbucket', tokenUrl: fake.tokenUrl, validateUrl: fake.validateUrl }),
    rotates: false,
    git: (token) => ({ username: 'x-token-auth', password: token }),
    refusal: /invalid_grant: Invalid refresh_token \(HTTP 400\)/,
  },
  {
    // The fake stands in for the Entra authority (tenant in the path) and for Azure DevOps' profile endpoint.
    preset: 'azure-devops',
    flavor: 'entra',
    entry: (fake) => ({ preset: 'azure-devops', baseUrl: fake.baseUrl, tenant: 'contoso.onmicrosoft.com', validateUrl: `${fake.validateUrl}?api-version=7.1` }),
    rotates: true,
    git: (token) => ({ username: 'extauth', password: token }),
    refusal: /invalid_grant: AADSTS50173: The provided grant has expired due to it being revoked.* \(HTTP 400\)/,
  },
  {
    preset: 'google',
    flavor: 'google',
    entry: (fake) => ({ preset: 'google', tokenUrl: fake.tokenUrl, validateUrl: fake.validateUrl }),
    rotates: false,
    git: (token) => ({ username: token, password: '' }),
    refusal: /invalid_grant: Token has been expired or revoked\. \(HTTP 400\)/,
  },
  {
    // Generic RFC 6749: nothing assumed; the GitLab fake (Doorkeeper) answers in plain RFC 6749 shapes.
    preset: 'oauth2',
    flavor: 'gitlab',
    entry: (fake) => ({ preset: 'oauth2', tokenUrl: fake.tokenUrl, validateUrl: fake.validateUrl }),
    rotates: true,
    git: (token) => ({ username: token, password: '' }),
    refusal: /invalid_grant: The provided authorization grant is invalid.* \(HTTP 400\)/,
  },
];

describe.each(cases)('preset $preset end to end (fake flavor $flavor)', ({ flavor, entry, rotates, git, refusal }) => {
  const world = useWorld({ provider: { flavor }, providerConfig: entry });
  const get = (user: string) => world.client.getToken({ provider: world.providerId, user, minValidSeconds: 60 });
  const calls = (endpoint: 'token' | 'validate', user: string) =>
    (endpoint === 'token' ? world.provider.stats.tokenCallsByFamily : world.provider.stats.validateCallsByFamily).get(user) ?? 0;

  it('an expired link is refreshed, validated and served; the row holds the live refresh token; git credentials per type', async () => {
    const user = uniqueUser(`p-${flavor}`);
    const seeded = await world.seedLink(user, { expiresInSeconds: -10 });

    const token = await get(user);

    expect(token.accessToken).not.toBe(seeded.accessToken);
    expect(world.provider.isAccessTokenValid(token.accessToken)).toBe(true);
    const row = await world.row(user);
    expect(row.accessToken).toBe(token.accessToken);
    expect(row.refreshToken).toBe(world.provider.liveRefreshToken(user));
    if (rotates) expect(row.refreshToken).not.toBe(seeded.refreshToken);
    else expect(row.refreshToken).toBe(seeded.refreshToken);
    expect(row.failureReason).toBe('');
    expect(calls('token', user)).toBe(1);
    expect(calls('validate', user)).toBe(1);
    expect({ username: token.username, password: token.password }).toEqual(git(token.accessToken));
  });

  it("a revoked refresh token: reauth_required with the provider's own error in the reason, the dead token cleared", async () => {
    const user = uniqueUser(`r-${flavor}`);
    await world.seedLink(user, { expiresInSeconds: -10 });
    world.provider.revokeFamily(user);

    const err = await agentError(get(user));

    expect(err.code).toBe('reauth_required');
    expect(err.reason).toMatch(refusal);
    expect(calls('token', user)).toBe(1);
    const row = await world.row(user);
    expect(row.refreshToken).toBe('');
    expect(row.failureReason).toMatch(refusal);
  });

  it("the provider's answer to a dead access token reads as a refusal, not an outage: tokens saved, no budget spent retrying", async () => {
    const user = uniqueUser(`v-${flavor}`);
    await world.seedLink(user, { expiresInSeconds: -10 });
    world.provider.injectFault('validate', { kind: 'validate_refused' }, { familyId: user, times: 1_000 });

    const err = await agentError(get(user));

    expect(err.code).toBe('provider_unavailable');
    expect(err.reason).toMatch(/rejected the newly issued access token/);
    // Retried only as a refusal is (replication lag: unauthorizedAttempts), not until the validation budget ran out.
    expect(calls('validate', user)).toBe(5);
    const row = await world.row(user);
    expect(row.refreshToken).toBe(world.provider.liveRefreshToken(user));
    expect(calls('token', user)).toBe(1);
  });
});
