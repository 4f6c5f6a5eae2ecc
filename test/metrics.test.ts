import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveMetrics } from '../worker/metrics.js';
import { startWorld, uniqueUser, type World } from './support/world.js';

let world: World;
let server: Server;
let url: string;
beforeAll(async () => {
  world = await startWorld();
  server = await serveMetrics({ port: 0, metrics: world.metrics });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await world.stop();
});

function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && wanted.every((w) => l.includes(w)));
  return line ? Number(line.split(' ').at(-1)) : undefined;
}

describe('Prometheus metrics', () => {
  it('count exchanges, retries by class, latencies and links needing re-auth; never a token', async () => {
    const provider = world.providerId;
    const ok = uniqueUser('m-ok');
    const dead = uniqueUser('m-dead');
    await world.seedLink(ok, { expiresInSeconds: -5 });
    await world.seedLink(dead, { expiresInSeconds: -5 });
    world.provider.revokeFamily(dead);
    world.provider.injectFault('validate', { kind: 'status', status: 502 }, { familyId: ok });
    world.provider.injectFault('token', { kind: 'rate_limit', retryAfterSeconds: 0 }, { familyId: ok });
    await world.client.getToken({ provider, user: ok });
    await expect(world.client.getToken({ provider, user: dead })).rejects.toMatchObject({ code: 'reauth_required' });

    const text = await (await fetch(url)).text();
    expect(sample(text, 'extauth_exchanges_total', { provider, outcome: 'exchanged' })).toBe(1);
    expect(sample(text, 'extauth_exchanges_total', { provider, outcome: 'rejected' })).toBe(1);
    expect(sample(text, 'extauth_retries_total', { provider, step: 'exchange', class: 'http_429' })).toBe(1);
    expect(sample(text, 'extauth_retries_total', { provider, step: 'validate', class: 'http_5xx' })).toBe(1);
    expect(sample(text, 'extauth_validations_total', { provider, outcome: 'valid' })).toBe(1);
    expect(sample(text, 'extauth_exchange_duration_seconds_count', { provider, outcome: 'exchanged' })).toBe(1);
    expect(sample(text, 'extauth_links_reauth_required', { provider })).toBe(1);
    // No refresh-token expiry known for these links: the configured provider reports 0, not nothing.
    expect(sample(text, 'extauth_refresh_tokens_expiring', { provider })).toBe(0);
    for (const token of world.provider.issuedTokens()) expect(text).not.toContain(token);
  });
});
