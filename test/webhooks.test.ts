// Link events posted to webhook endpoints (docs/webhooks.md): signed per Standard Webhooks and verified here with the
// specification's reference library, delivered durably (a receiver down for two minutes, a worker SIGKILLed during
// the retries), each webhook-id delivered once, no token or secret in any of them. Worker PROCESSES on a private
// cluster (test/faults/support/cluster.ts), configured as an operator would: EXTAUTH_WEBHOOK_URL / _SECRET.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Webhook } from 'standardwebhooks';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { makeCodecKeys, parseCodecKey } from '../codec/keys.js';
import { TokenSealer } from '../codec/seal.js';
import { createLogger } from '../config/logger.js';
import { makeDeliverWebhook } from '../activities/webhook-delivery.js';
import { closeActivityDeps, createActivityDeps } from '../worker/activity-deps.js';
import { WEBHOOK_DELIVERY_OPTIONS } from '../workflows/policies.js';
import { linkWorkflowId } from '../core/ids.js';
import { ConfigError } from '../config/env.js';
import { webhookEndpoints } from '../config/webhooks.js';
import { loadProvidersFile } from '../providers/config.js';
import { startCluster, type Cluster } from './faults/support/cluster.js';
import { agentError, until } from './support/helpers.js';
import { startWebhookReceiver, type ReceivedAttempt, type WebhookReceiver } from './support/webhook-receiver.js';
import { uniqueUser } from './support/world.js';

const TUNING = { exchangeAttemptMs: 3_000, exchangeBudgetMs: 30_000, validateAttemptMs: 2_000, validateBudgetMs: 10_000, retryInitialMs: 100, retryMaxMs: 500 };
const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
/** The receiver is down (503) this long for users named `slow-…`: the two minutes. */
const OUTAGE_MS = 120_000;
const ROOT = fileURLToPath(new URL('../', import.meta.url));

let cluster: Cluster;
let receiver: WebhookReceiver;
const started = Date.now();
/** Users named `kill-…` get 503 until the test releases them. */
let killReleased = false;

beforeAll(async () => {
  receiver = await startWebhookReceiver(({ user }) => {
    if (user.startsWith('slow-') && Date.now() < started + OUTAGE_MS) return 503;
    if (user.startsWith('kill-') && !killReleased) return 503;
    return 204;
  });
  cluster = await startCluster({ tuning: TUNING, workerEnv: { EXTAUTH_WEBHOOK_URL: receiver.url, EXTAUTH_WEBHOOK_SECRET: SECRET } });
  await cluster.startWorker({ hooked: true }).waitFor('worker started');
});
afterAll(async () => {
  expect(cluster.leakedTokens()).toEqual([]);
  expect(cluster.workerLines.filter((l) => l.includes('Failing workflow task'))).toEqual([]);
  await cluster.stop();
  await receiver.close();
});

const get = (user: string) => cluster.client.getToken({ provider: cluster.providerId, user, minValidSeconds: 60 });
const ofUser = (user: string, type?: string) => (a: ReceivedAttempt) => a.user === user && (type === undefined || a.type === `link.${type}`);
/** Standard Webhooks' reference library verifies the attempt (it throws otherwise) and returns the event. */
const verified = (a: ReceivedAttempt, secret = SECRET) => new Webhook(secret).verify(a.body, a.headers) as { type: string; data: Record<string, unknown> };

/** A link whose grant the provider revoked: the agent hears reauth_required. */
async function revokedLink(user: string): Promise<void> {
  await cluster.seedLink(user, { expiresInSeconds: -10 });
  cluster.provider.revokeFamily(user);
  expect((await agentError(get(user))).code).toBe('reauth_required');
}

/** The user re-authenticates (the row is rewritten, the open run told) and an agent is served. */
async function relink(user: string): Promise<void> {
  await cluster.seedLink(user);
  await cluster.client.relinked({ provider: cluster.providerId, user });
  await get(user);
}

describe('configuration', () => {
  it('an http URL to another host, a secret without whsec_, and half a configuration are refused with advice', () => {
    const refused = (env: NodeJS.ProcessEnv, file?: unknown) => {
      try {
        webhookEndpoints(env, file);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      throw new Error('accepted');
    };
    expect(refused({ EXTAUTH_WEBHOOK_URL: 'http://hooks.example.com/x', EXTAUTH_WEBHOOK_SECRET: SECRET })).toMatch(/EXTAUTH_WEBHOOK_URL must use https \(plain http only to loopback\)/);
    expect(refused({ EXTAUTH_WEBHOOK_URL: 'https://hooks.example.com/x', EXTAUTH_WEBHOOK_SECRET: 'hunter2-hunter2-hunter2-hunter2' })).toMatch(/EXTAUTH_WEBHOOK_SECRET must be a Standard Webhooks secret: "whsec_"/);
    expect(refused({ EXTAUTH_WEBHOOK_URL: 'https://hooks.example.com/x', EXTAUTH_WEBHOOK_SECRET: 'whsec_c2hvcnQ=' })).toMatch(/holds 5 bytes/);
    expect(refused({ EXTAUTH_WEBHOOK_URL: 'https://hooks.example.com/x' })).toMatch(/EXTAUTH_WEBHOOK_SECRET is not: set both, or neither/);
    expect(refused({}, [{ name: 'b', url: 'http://10.0.0.1/x', secret: SECRET }])).toMatch(/webhooks\[0\] \("b"\)\.url must use https/);
    expect(refused({}, [{ name: 'b', url: 'https://h.example.com/x', secretEnv: 'B_SECRET' }])).toMatch(/B_SECRET is not set/);
    expect(refused({}, [{ name: 'b', url: 'https://h.example.com/x', secret: 'nope' }])).toMatch(/webhooks\[0\] \("b"\)\.secret must be a Standard Webhooks secret/);
    // Control: the same configurations with https (or loopback http) and a whsec_ secret are accepted.
    expect(webhookEndpoints({ EXTAUTH_WEBHOOK_URL: 'https://hooks.example.com/x', EXTAUTH_WEBHOOK_SECRET: SECRET }).map((e) => e.name)).toEqual(['default']);
    const file = [{ name: 'b', url: 'http://127.0.0.1:9/x', secretEnv: 'B_SECRET', events: ['link.reauth_required'] }];
    expect(webhookEndpoints({ B_SECRET: SECRET }, file).map((e) => [e.name, e.url])).toEqual([['b', 'http://127.0.0.1:9/x']]);
  });

  it('the providers file may be {providers, webhooks}; the worker refuses a bad endpoint at start (exit 1, what to fix)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'extauth-webhooks-'));
    try {
      const provider = { id: 'gh', type: 'github', clientId: 'c', clientSecret: 's', tokenUrl: 'https://github.com/login/oauth/access_token' };
      const file = join(dir, 'providers.json');
      await writeFile(file, JSON.stringify({ providers: [provider], webhooks: [{ name: 'ops', url: 'http://hooks.example.com/in', secret: SECRET }] }));
      expect(loadProvidersFile(file).map((p) => p.id)).toEqual(['gh']);
      const child = spawn(process.execPath, [join(ROOT, 'bin/extauth.js'), 'worker'], {
        cwd: dir,
        env: { PATH: process.env.PATH ?? '', HOME: dir, TEMPORAL_ADDRESS: '127.0.0.1:1', DATABASE_URL: 'postgres://127.0.0.1:1/x', EXTAUTH_PROVIDERS: file, EXTAUTH_DB_KEY: inject('dbKey') },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(code).toBe(1);
      expect(stderr).toMatch(/invalid webhook configuration:\n.*webhooks\[0\] \("ops"\)\.url must use https \(plain http only to loopback\)/);
      expect(stderr).not.toContain(SECRET);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('events reach the receiver', () => {
  it.concurrent('a revoked grant: one link.reauth_required, verified; after a re-link (the run ended meanwhile), one link.recovered', async () => {
    const user = uniqueUser('revoked');
    await revokedLink(user);
    await until(() => receiver.delivered(ofUser(user, 'reauth_required')).length > 0, 30_000, 'reauth_required delivered');
    const [attempt] = receiver.delivered(ofUser(user, 'reauth_required'));
    const event = verified(attempt!);
    expect(event).toMatchObject({ type: 'link.reauth_required', data: { provider: cluster.providerId, user, link: linkWorkflowId(cluster.key(user)) } });
    expect(event.data.reason).toMatch(/the user must re-authenticate/);
    expect(Date.parse((event as unknown as { timestamp: string }).timestamp)).toBeGreaterThan(started);
    // Controls: the reference library rejects another secret and an altered body.
    expect(() => verified(attempt!, `whsec_${randomBytes(32).toString('base64')}`)).toThrow(/No matching signature/);
    expect(() => verified({ ...attempt!, body: attempt!.body.replace(user, `${user}x`) })).toThrow(/No matching signature/);

    // More requests while it stays revoked: no more events (once per entry, not per request).
    expect((await agentError(get(user))).code).toBe('reauth_required');
    expect((await agentError(get(user))).code).toBe('reauth_required');
    // The run ends (as an idle one would): the row, not the run, remembers that a recovery is due.
    await cluster.temporal.workflow.getHandle(linkWorkflowId(cluster.key(user))).terminate('test: the run ended');
    await relink(user);
    await until(() => receiver.delivered(ofUser(user, 'recovered')).length > 0, 30_000, 'recovered delivered');
    expect(verified(receiver.delivered(ofUser(user, 'recovered'))[0]!)).toMatchObject({ type: 'link.recovered', data: { provider: cluster.providerId, user } });
    await get(user);
    await relink(user); // served again, and re-linked again without a failure: nothing to announce
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(receiver.attempts.filter(ofUser(user)).map((a) => a.type)).toEqual(['link.reauth_required', 'link.recovered']);
    expect((await cluster.row(user)).reauthRequiredSince).toBeNull();
  }, 120_000);

  it.concurrent('the receiver answers 503 for two minutes: then every event arrives, each webhook-id delivered exactly once', async () => {
    const [a, b] = [uniqueUser('slow-a'), uniqueUser('slow-b')];
    await Promise.all([revokedLink(a), revokedLink(b)]);
    await relink(a);
    const mine = (x: ReceivedAttempt) => x.user === a || x.user === b;
    await until(() => new Set(receiver.attempts.filter(mine).map((x) => x.id)).size === 3, 60_000, 'three events attempted');
    await until(() => receiver.delivered(mine).length === 3, OUTAGE_MS + 60_000, 'three events delivered');
    const ids = [...new Set(receiver.attempts.filter(mine).map((x) => x.id))];
    for (const id of ids) {
      const attempts = receiver.attempts.filter((x) => x.id === id);
      // Retried while the receiver was down, every attempt with the same webhook-id and body; then exactly one 2xx.
      expect(attempts.filter((x) => x.status === 503).length).toBeGreaterThanOrEqual(3);
      expect(new Set(attempts.map((x) => x.body)).size).toBe(1);
      expect(attempts.filter((x) => x.status === 204)).toHaveLength(1);
      expect(attempts.at(-1)!.status).toBe(204);
      // Back within the longest retry interval (30 s) of the outage's end.
      expect(attempts.at(-1)!.at).toBeLessThan(started + OUTAGE_MS + 35_000);
      verified(attempts.at(-1)!);
    }
    expect(ids.map((id) => receiver.attempts.find((x) => x.id === id)!.type).sort()).toEqual(['link.reauth_required', 'link.reauth_required', 'link.recovered']);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(receiver.delivered(mine)).toHaveLength(3);
  }, OUTAGE_MS + 120_000);

  it.concurrent('a refresh token expiring within the warning window: one link.refresh_expiring, also when a second run warns again', async () => {
    const user = uniqueUser('expiring');
    const refreshTokenExpiresAt = new Date(Date.now() + 86_400_000).toISOString();
    await cluster.seedLink(user, { refreshTokenExpiresAt }); // the default warning window is 7 days
    await get(user);
    await until(() => receiver.delivered(ofUser(user, 'refresh_expiring')).length > 0, 30_000, 'refresh_expiring delivered');
    expect(verified(receiver.delivered(ofUser(user, 'refresh_expiring'))[0]!)).toMatchObject({ data: { user, refreshTokenExpiresAt } });
    // A new run of the link warns again (its log line), but the occurrence was announced: no second event.
    const handle = cluster.temporal.workflow.getHandle(linkWorkflowId(cluster.key(user)));
    await handle.terminate('test: a new run');
    await get(user);
    const warned = () => cluster.workerLines.filter((l) => l.includes(`"link":"${user}"`) && l.includes('refresh token expires soon')).length;
    await until(() => warned() === 2, 30_000, 'the new run warned');
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(receiver.attempts.filter(ofUser(user)).map((a) => a.type)).toEqual(['link.refresh_expiring']);
  }, 90_000);

  it.concurrent('link delete --revoke: one link.revoked once the grant is revoked at the provider', async () => {
    const user = uniqueUser('deleted');
    await cluster.seedLink(user);
    const deleted = await cluster.client.deleteLink({ provider: cluster.providerId, user }, { revoke: true });
    expect(deleted.revocationWorkflowId).toBeTruthy();
    expect(await cluster.client.revocationOutcome(deleted.revocationWorkflowId!, 30_000)).toMatchObject({ outcome: 'revoked' });
    await until(() => receiver.delivered(ofUser(user, 'revoked')).length > 0, 30_000, 'revoked delivered');
    expect(verified(receiver.delivered(ofUser(user))[0]!)).toMatchObject({
      type: 'link.revoked',
      data: { provider: cluster.providerId, user, reason: 'the link was deleted and its grant revoked at the provider' },
    });
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(receiver.attempts.filter(ofUser(user))).toHaveLength(1);
  }, 90_000);

  // Not concurrent: it kills every worker of the cluster, which would stall the other tests' runs and deliveries.
  it('the worker is SIGKILLed while a delivery is being retried: a new worker delivers it, once', async () => {
    const user = uniqueUser('kill');
    await revokedLink(user);
    await until(() => receiver.attempts.filter(ofUser(user)).length >= 2, 30_000, 'two refused attempts');
    for (const worker of cluster.liveWorkers()) await worker.kill('SIGKILL');
    const refusedBefore = receiver.attempts.filter(ofUser(user)).length;
    killReleased = true;
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(receiver.attempts.filter(ofUser(user))).toHaveLength(refusedBefore); // nobody left to deliver it
    await cluster.startWorker({ hooked: true }).waitFor('worker started');
    await until(() => receiver.delivered(ofUser(user)).length > 0, 60_000, 'delivered by the new worker');
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const attempts = receiver.attempts.filter(ofUser(user));
    expect(new Set(attempts.map((x) => x.id)).size).toBe(1);
    expect(receiver.delivered(ofUser(user))).toHaveLength(1);
    expect(verified(receiver.delivered(ofUser(user))[0]!).type).toBe('link.reauth_required');
  }, 120_000);
});

describe('what events carry', () => {
  /** Every token the provider issued, the signing secret and its key, and the client secret: where they appear. */
  const secrets = () => [...cluster.provider.issuedTokens(), SECRET, SECRET.slice('whsec_'.length), cluster.provider.clientSecret];
  const leaks = (attempts: ReceivedAttempt[]) =>
    attempts.flatMap((a) => {
      const text = `${JSON.stringify(a.headers)}\n${a.body}`;
      return secrets().filter((s) => text.includes(s));
    });

  it('no token or secret in any delivered body or header, nor in any worker log line', () => {
    expect(receiver.attempts.length).toBeGreaterThanOrEqual(6);
    expect(leaks(receiver.attempts)).toEqual([]);
    expect(cluster.workerLines.filter((l) => l.includes(SECRET.slice('whsec_'.length)))).toEqual([]);
    // Control: the same scan finds a token put into an event.
    const token = cluster.provider.issuedTokens()[0]!;
    const planted = { ...receiver.attempts[0]!, body: receiver.attempts[0]!.body.replace('"data":{', `"data":{"accessToken":"${token}",`) };
    expect(leaks([planted])).toEqual([token]);
    // Each outcome is a log line naming endpoint, type, webhook-id, status and attempt (the metric counts the same).
    const delivered = cluster.workerLines.filter((l) => l.includes('webhook delivered'));
    expect(delivered.length).toBeGreaterThanOrEqual(receiver.delivered().length);
    expect(JSON.parse(delivered[0]!)).toMatchObject({ endpoint: 'default', event: expect.stringMatching(/^link\./), webhookId: expect.stringMatching(/^msg_/), status: 204, attempt: expect.any(Number), outcome: 'delivered' });
    expect(cluster.workerLines.some((l) => l.includes('"outcome":"retry"') && l.includes('"status":503'))).toBe(true);
  });
});

describe('each delivery attempt: one outcome, counted and logged', () => {
  it('2xx delivered, 503 retry (failed once out of retries), 410 failed: extauth_webhook_deliveries_total and one line each', async () => {
    const statuses: Record<string, number> = { ok: 204, down: 503, gone: 410 };
    const local = await startWebhookReceiver(({ user }) => statuses[user] ?? 500);
    const lines: string[] = [];
    const logger = createLogger({ write: (line: string) => void lines.push(line) }, 'info');
    const deps = createActivityDeps({
      databaseUrl: 'postgres://127.0.0.1:1/unused', // the delivery touches no database
      providers: [],
      logger,
      cipher: null,
      sealer: new TokenSealer(makeCodecKeys(parseCodecKey(inject('workerKey'), 'workerKey'))),
      webhooks: webhookEndpoints({ EXTAUTH_WEBHOOK_URL: local.url, EXTAUTH_WEBHOOK_SECRET: SECRET }),
    });
    try {
      const deliver = makeDeliverWebhook(deps);
      const info = { attempt: 3, scheduledTimestampMs: Date.now(), scheduleToCloseTimeoutMs: Number(WEBHOOK_DELIVERY_OPTIONS.scheduleToCloseTimeout), retryPolicy: WEBHOOK_DELIVERY_OPTIONS.retry };
      const send = (user: string, more: Partial<typeof info> = {}) =>
        new MockActivityEnvironment({ ...info, ...more }).run(deliver, {
          endpoint: 'default',
          event: { id: `msg_${user}`, type: 'link.reauth_required' as const, timestamp: new Date().toISOString(), data: { provider: 'p', user, link: `extauth-link:p:${user}` } },
        });
      await send('ok');
      await expect(send('down')).rejects.toMatchObject({ type: 'WebhookUnavailable', nonRetryable: false });
      await expect(send('gone')).rejects.toMatchObject({ type: 'WebhookFailed', nonRetryable: true });
      // Three days after it was scheduled, the next backoff would end past the budget: this attempt is the last.
      await expect(send('down', { scheduledTimestampMs: Date.now() - Number(WEBHOOK_DELIVERY_OPTIONS.scheduleToCloseTimeout) + 1_000 })).rejects.toMatchObject({ type: 'WebhookFailed', nonRetryable: true });
      await send('ok');
      // An endpoint no longer configured (the worker restarted without it): failed, not retried.
      const removed = { id: 'msg_x', type: 'link.recovered' as const, timestamp: new Date().toISOString(), data: { provider: 'p', user: 'ok', link: 'extauth-link:p:ok' } };
      await expect(new MockActivityEnvironment(info).run(deliver, { endpoint: 'removed', event: removed })).rejects.toMatchObject({ type: 'WebhookFailed', nonRetryable: true });
      const counts = Object.fromEntries((await deps.metrics.webhookDeliveries.get()).values.map((v) => [`${v.labels.event}/${v.labels.outcome}`, v.value]));
      expect(counts).toEqual({ 'link.reauth_required/delivered': 2, 'link.reauth_required/retry': 1, 'link.reauth_required/failed': 2, 'link.recovered/failed': 1 });
      const outcomes = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.step === 'webhook');
      expect(outcomes.map((l) => [l.webhookId, l.outcome, l.status ?? null])).toEqual([
        ['msg_ok', 'delivered', 204],
        ['msg_down', 'retry', 503],
        ['msg_gone', 'failed', 410],
        ['msg_down', 'failed', 503],
        ['msg_ok', 'delivered', 204],
        ['msg_x', 'failed', null],
      ]);
      expect(outcomes.every((l) => l.endpoint && l.event && l.attempt === 3)).toBe(true);
      expect(lines.filter((l) => l.includes(SECRET.slice('whsec_'.length)) || l.includes(local.url))).toEqual([]);
    } finally {
      await closeActivityDeps(deps);
      await local.close();
    }
  });
});
