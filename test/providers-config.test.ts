// The providers file: every mistake is reported with the field that holds it, and never with a secret.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadProvidersFile, parseProviders, ProviderRegistry, ProvidersConfigError } from '../providers/config.js';

const good = { id: 'gh', type: 'github', clientId: 'client-id', clientSecret: 'very-secret-value', tokenUrl: 'https://github.com/login/oauth/access_token' };

/** The ProvidersConfigError thrown by `fn`; fails if it returned or threw anything else. */
function configError(fn: () => unknown): ProvidersConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ProvidersConfigError) return err;
    throw err;
  }
  throw new Error('expected a ProvidersConfigError');
}

const dir = mkdtempSync(join(tmpdir(), 'extauth-providers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('parseProviders', () => {
  it('accepts a valid provider and fills the documented defaults', () => {
    const [provider] = parseProviders([good]);
    expect(provider).toEqual({
      ...good,
      clientAuth: 'body',
      refreshAheadSeconds: 300,
      activeWindowSeconds: 86_400,
      keepAliveSeconds: 0,
      refreshTokenWarnSeconds: 7 * 86_400,
      reuseGraceSeconds: 0,
      refreshEndsOldAccessToken: true,
    });
  });

  it('accepts optional validateUrl, scopes and basic client auth', () => {
    const [provider] = parseProviders([{ ...good, validateUrl: 'http://127.0.0.1:8080/user', scopes: ['repo'], clientAuth: 'basic' }]);
    expect(provider).toMatchObject({ validateUrl: 'http://127.0.0.1:8080/user', scopes: ['repo'], clientAuth: 'basic' });
  });

  it.each(['not a url', 'ftp://example.com/token', 'file:///etc/passwd'])('tokenUrl %j is refused, naming providers[0].tokenUrl', (tokenUrl) => {
    const err = configError(() => parseProviders([{ ...good, tokenUrl }]));
    expect(err.message).toMatch(/providers\[0\]\.tokenUrl: /);
  });

  it.each([
    ['tokenUrl', 'http://github.example.com/login/oauth/access_token'],
    ['validateUrl', 'http://api.github.example.com/user'],
    ['tokenUrl', 'http://10.0.0.5:8080/token'],
    ['tokenUrl', 'http://127.0.0.1.evil.example/token'],
  ])('%s %j: plain http to another host is refused, naming the field and why', (field, url) => {
    const err = configError(() => parseProviders([{ ...good, [field]: url }]));
    expect(err.message).toMatch(new RegExp(`providers\\[0\\]\\.${field}: must use https \\(plain http only to loopback\\), got http://`));
    expect(err.message).toMatch(/network attacker/);
  });

  it('a preset baseUrl over plain http to another host is refused at baseUrl', () => {
    const err = configError(() => parseProviders([{ id: 'ghe', preset: 'github', baseUrl: 'http://ghe.example.com', clientId: 'c', clientSecret: 's' }]));
    expect(err.message).toMatch(/providers\[0\]\.baseUrl: must use https/);
  });

  it.each(['http://127.0.0.1:8080/token', 'http://localhost:9/token', 'http://[::1]:9/token', 'https://github.example.com/token'])(
    'control: %j (https, or http to loopback like the fake providers) is accepted',
    (tokenUrl) => {
      expect(parseProviders([{ ...good, tokenUrl, validateUrl: tokenUrl }])[0]).toMatchObject({ tokenUrl, validateUrl: tokenUrl });
    },
  );

  it.each(['authorizeUrl', 'deviceAuthorizationUrl'])('%s: https or loopback http; plain http elsewhere is refused naming the field', (field) => {
    expect(parseProviders([{ ...good, [field]: 'https://idp.example.com/login' }])[0]).toMatchObject({ [field]: 'https://idp.example.com/login' });
    expect(parseProviders([{ ...good, [field]: 'http://127.0.0.1:9000/login' }])[0]).toMatchObject({ [field]: 'http://127.0.0.1:9000/login' });
    const err = configError(() => parseProviders([{ ...good, [field]: 'http://idp.example.com/login' }]));
    expect(err.message).toMatch(new RegExp(`providers\\[0\\]\\.${field}: must use https \\(plain http only to loopback\\)`));
  });

  it('names the index of the faulty provider and every faulty field at once', () => {
    const err = configError(() => parseProviders([good, { ...good, id: 'gl', type: 'gitea', clientId: '' }]));
    expect(err.message).toMatch(/providers\[1\]\.type: .*github.*gitlab.*oauth2/);
    expect(err.message).toMatch(/providers\[1\]\.clientId: /);
    expect(err.message).not.toMatch(/providers\[0\]/);
  });

  it('names a missing required field', () => {
    const { clientSecret: _omitted, ...withoutSecret } = good;
    expect(configError(() => parseProviders([withoutSecret])).message).toMatch(/providers\[0\]\.clientSecret: /);
  });

  it('refuses an id with characters outside letters, digits, ".", "_" and "-"', () => {
    expect(configError(() => parseProviders([{ ...good, id: 'git hub/1' }])).message).toMatch(/providers\[0\]\.id: letters, digits/);
  });

  it('names an empty scope by its index', () => {
    expect(configError(() => parseProviders([{ ...good, scopes: ['repo', ''] }])).message).toMatch(/providers\[0\]\.scopes\[1\]: /);
  });

  it('refuses an unknown clientAuth', () => {
    expect(configError(() => parseProviders([{ ...good, clientAuth: 'both' }])).message).toMatch(/providers\[0\]\.clientAuth: /);
  });

  it('refuses duplicate ids, naming the second one', () => {
    const err = configError(() => parseProviders([good, { ...good }]));
    expect(err.message).toMatch(/providers\[1\]\.id: duplicate provider id "gh"/);
  });

  it('refuses an empty list and a non-list', () => {
    expect(configError(() => parseProviders([])).message).toMatch(/at least one provider/);
    expect(configError(() => parseProviders({ providers: [good] })).message).toMatch(/providers: .*expected array/);
  });

  it('never repeats a client secret in an error', () => {
    const err = configError(() => parseProviders([{ ...good, tokenUrl: 'nope' }, { ...good, clientSecret: 'other-secret-value', type: 'x' }]));
    expect(err.message).not.toContain('very-secret-value');
    expect(err.message).not.toContain('other-secret-value');
  });
});

describe('loadProvidersFile', () => {
  it('loads a valid file', () => {
    const providers = loadProvidersFile(file('ok.json', JSON.stringify([good])));
    expect(providers.map((p) => p.id)).toEqual(['gh']);
  });

  it('names the file in paths of field errors', () => {
    const path = file('bad-field.json', JSON.stringify([good, { ...good, id: 'other', tokenUrl: 'x' }]));
    expect(configError(() => loadProvidersFile(path)).message).toContain(`${path}[1].tokenUrl: `);
  });

  it('reports bad JSON with the file name', () => {
    const path = file('bad.json', '[{"id": "gh",]');
    const err = configError(() => loadProvidersFile(path));
    expect(err.message).toContain(path);
    expect(err.message).toMatch(/not valid JSON/);
  });

  it('reports duplicate ids from a file', () => {
    const path = file('dup.json', JSON.stringify([good, good]));
    expect(configError(() => loadProvidersFile(path)).message).toContain(`${path}[1].id: duplicate provider id "gh"`);
  });

  it('reports a missing file, pointing at EXTAUTH_PROVIDERS', () => {
    const path = join(dir, 'missing.json');
    const err = configError(() => loadProvidersFile(path));
    expect(err.message).toContain(path);
    expect(err.message).toMatch(/EXTAUTH_PROVIDERS/);
  });
});

describe('ProviderRegistry', () => {
  it('finds configured ids and nothing else', () => {
    const registry = new ProviderRegistry(parseProviders([good, { ...good, id: 'gl', type: 'gitlab' }]));
    expect(registry.get('gl')?.type).toBe('gitlab');
    expect(registry.get('nope')).toBeUndefined();
    expect(registry.ids()).toEqual(['gh', 'gl']);
  });
});
