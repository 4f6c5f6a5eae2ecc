// One list of secret field names (core/secret-fields.ts) guards both the logs and the payloads the codec server
// shows the Web UI: every name, in snake case, camel case and upper case, at the top level and nested.
import { describe, expect, it } from 'vitest';
import { redactSecrets } from '../codec/redact.js';
import { createLogger } from '../config/logger.js';
import { fingerprint } from '../core/fingerprint.js';

const SECRET_NAMES = [
  'access_token', 'accessToken', 'ACCESS_TOKEN',
  'refresh_token', 'refreshToken', 'RefreshToken',
  'id_token', 'idToken',
  'token', 'bearerToken',
  'client_secret', 'clientSecret', 'CLIENT-SECRET', 'secret',
  'password', 'Password',
  'authorization', 'Authorization', 'cookie',
  'key', 'agentKey', 'apiKey', 'privateKey', 'codecKey', 'dbKey', 'workerKey', 'codecServerToken',
  'EXTAUTH_AGENT_KEY', 'EXTAUTH_CODEC_KEY', 'EXTAUTH_DB_KEY', 'EXTAUTH_WORKER_KEY', 'EXTAUTH_CODEC_SERVER_TOKEN', 'TEMPORAL_API_KEY',
];
/** Names that look close but hold no secret: they must stay readable, or the redaction hides what operators need. */
const PLAIN_NAMES = ['tokenType', 'keyId', 'provider', 'link', 'expiresAt', 'tokenVersion', 'username'];

const secretFor = (name: string) => `s3cr3t-value-of-${name}-${'x'.repeat(8)}`;

function logLines(write: (logger: ReturnType<typeof createLogger>) => void): string {
  const lines: string[] = [];
  write(createLogger({ write: (line: string) => void lines.push(line) }));
  return lines.join('');
}

describe('log redaction (the real pino logger, a write sink)', () => {
  it.each(SECRET_NAMES)('%s is redacted at the top level, nested, in arrays and in child bindings', (name) => {
    const secret = secretFor(name);
    const out = logLines((logger) => {
      logger.warn({ [name]: secret }, 'top level');
      logger.warn({ cause: { request: { [name]: secret } } }, 'nested');
      logger.warn({ attempts: [{ [name]: secret }] }, 'in an array');
      logger.child({ [name]: secret }).warn('child binding');
    });
    expect(out).not.toContain(secret);
    expect(out.match(/\[redacted\]/g)).toHaveLength(4);
  });

  it.each(PLAIN_NAMES)('control: %s is logged as is (the sink sees values; the list is not "everything")', (name) => {
    const value = secretFor(name);
    expect(logLines((logger) => logger.warn({ [name]: value, nested: { [name]: value } }, 'plain'))).toContain(value);
  });

  it('an object under a secret-looking name is walked, not erased: a LinkKey under `key` stays readable', () => {
    const out = logLines((logger) => logger.warn({ key: { providerId: 'gh', userId: 'alice' }, tokens: { accessToken: 'ghu_abc', tokenType: 'bearer' } }, 'x'));
    expect(JSON.parse(out)).toMatchObject({ key: { providerId: 'gh', userId: 'alice' }, tokens: { accessToken: '[redacted]', tokenType: 'bearer' } });
  });

  it('an error’s own properties are redacted too (pino serializes errors outside its formatters)', () => {
    const err = Object.assign(new Error('provider call failed'), { headers: { Authorization: 'Bearer ghu_inError' }, refresh_token: 'ghr_inError' });
    const out = logLines((logger) => logger.warn({ err }, 'failed'));
    expect(out).toContain('provider call failed');
    expect(out).not.toContain('ghu_inError');
    expect(out).not.toContain('ghr_inError');
  });

  it('the caller’s object is not modified', () => {
    const fields = { clientSecret: 'kept-in-the-caller' };
    logLines((logger) => logger.warn(fields, 'x'));
    expect(fields.clientSecret).toBe('kept-in-the-caller');
  });
});

describe('codec server payload redaction', () => {
  it.each(SECRET_NAMES)('%s is shown as its fingerprint, nested too', (name) => {
    const secret = secretFor(name);
    const shown = JSON.stringify(redactSecrets({ [name]: secret, nested: { list: [{ [name]: secret }] } }));
    expect(shown).not.toContain(secret);
    expect(shown).toContain(`[sha256:${fingerprint(secret)}]`);
  });

  it.each(PLAIN_NAMES)('control: %s is shown as is', (name) => {
    const value = secretFor(name);
    expect(JSON.stringify(redactSecrets({ [name]: value }))).toContain(value);
  });
});
