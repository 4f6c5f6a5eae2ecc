// `npm start`'s demo: seeds links on a fake GitHub-style provider with injected faults and runs simulated agents.
import type { Pool } from 'pg';
import { AgentClient } from '../client/agent-client.js';
import type { ExtauthClient } from '../client/index.js';
import { ExtauthError } from '../client/errors.js';
import { createAgentKey } from '../store/agent-keys.js';
import { putLink } from '../store/links.js';
import type { TokenCipher } from '../store/token-cipher.js';
import type { FakeOAuthProvider } from './fake-provider.js';

/** The git host the demo provider's tokens are for: git's credential helper answers it and no other (.test is reserved). */
export const DEMO_GIT_HOST = 'git.demo.test';
export const DEMO_USERS = ['alice', 'bob', 'carol', 'dave', 'erin'];
/** Its grant is revoked at the provider: the one demo link that ends in reauth_required. */
export const DEMO_REVOKED_USER = 'mallory';
/** No agent asks for it after the demo opens its run: its tokens are refreshed ahead of expiry by the run alone. */
export const DEMO_UNATTENDED_USER = 'frank';
export const DEMO_TOKEN_LIFETIME_SECONDS = 40;
const AGENTS = 4;

export interface DemoTally {
  requests: number;
  served: number;
  reauth: number;
  unavailable: number;
  /** Tokens the provider refused before the expiresAt the agent was told (docs/providers.md, "What expiresAt means"). */
  diedBeforeTold: number;
}

/** How often the demo checks the tokens its agents hold at the (fake) provider. */
const HELD_TOKEN_CHECK_MS = 1_000;

/**
 * The tokens agents were handed, each until the expiresAt they were told: the demo checks them at the provider, as an
 * agent's next API call would, and counts any that died before that time (GitHub ends the old token at each refresh).
 */
function watchHeldTokens(provider: FakeOAuthProvider, tally: DemoTally): { hold(token: string, expiresAt: string | null): void; stop(): void } {
  const held = new Map<string, number>();
  const timer = setInterval(() => {
    const now = Date.now();
    for (const [token, until] of held) {
      if (now >= until) held.delete(token);
      else if (!provider.isAccessTokenValid(token)) {
        tally.diedBeforeTold++;
        held.delete(token);
      }
    }
  }, HELD_TOKEN_CHECK_MS);
  return {
    hold: (token, expiresAt) => void (expiresAt && held.set(token, Date.parse(expiresAt))),
    stop: () => clearInterval(timer),
  };
}

export async function seedDemoLinks(pool: Pool, provider: FakeOAuthProvider, providerId: string, cipher: TokenCipher | undefined): Promise<void> {
  for (const [i, user] of [...DEMO_USERS, DEMO_REVOKED_USER, DEMO_UNATTENDED_USER].entries()) {
    const grant = provider.issueGrant({ familyId: user, accessTokenLifetimeSeconds: DEMO_TOKEN_LIFETIME_SECONDS });
    // Staggered expiry, some already expired, so refreshes start at once and keep coming.
    const expiresIn = user === DEMO_REVOKED_USER ? -5 : user === DEMO_UNATTENDED_USER ? DEMO_TOKEN_LIFETIME_SECONDS : -5 + i * 8;
    await putLink(pool, { providerId, userId: user }, {
      accessToken: grant.accessToken,
      refreshToken: grant.refreshToken,
      tokenType: 'bearer',
      expiresAt: new Date(Date.now() + expiresIn * 1000).toISOString(),
      extra: { expires_in: DEMO_TOKEN_LIFETIME_SECONDS },
    }, cipher);
  }
  provider.revokeFamily(DEMO_REVOKED_USER);
}

/**
 * Slow answers always; validation fails with a 502 right after most refreshes (the very case that locked
 * users out in the reference), and now and then the token endpoint answers 503.
 */
function injectFaults(provider: FakeOAuthProvider): () => void {
  provider.setLatency('token', 150);
  provider.setLatency('validate', 80);
  provider.onRotate = (familyId) => {
    if (Math.random() < 0.7) provider.injectFault('validate', { kind: 'status', status: 502 }, { familyId, times: 1 + Math.floor(Math.random() * 2) });
  };
  const token = setInterval(() => provider.injectFault('token', { kind: 'status', status: 503 }), 11_000);
  return () => {
    provider.onRotate = undefined;
    clearInterval(token);
  };
}

/** One AgentClient per demo user: each holds a key scoped to that user's link, as a workspace agent would. */
async function agentClients(pool: Pool, agentUrl: string, providerId: string): Promise<Map<string, AgentClient>> {
  const clients = new Map<string, AgentClient>();
  for (const user of [...DEMO_USERS, DEMO_REVOKED_USER]) {
    const { key } = await createAgentKey(pool, { providerId, userId: user, name: `demo agent of ${user}`, ttlSeconds: 86_400 });
    clients.set(user, new AgentClient({ url: agentUrl, key }));
  }
  return clients;
}

async function agent(
  clients: Map<string, AgentClient>,
  providerId: string,
  tally: DemoTally,
  held: ReturnType<typeof watchHeldTokens>,
  stopped: () => boolean,
): Promise<void> {
  while (!stopped()) {
    const user = Math.random() < 0.1 ? DEMO_REVOKED_USER : DEMO_USERS[Math.floor(Math.random() * DEMO_USERS.length)]!;
    tally.requests++;
    try {
      const grant = await clients.get(user)!.getToken({ provider: providerId, user, minValidSeconds: 15 });
      held.hold(grant.accessToken, grant.expiresAt);
      tally.served++;
    } catch (err) {
      if (err instanceof ExtauthError && err.code === 'reauth_required') tally.reauth++;
      else tally.unavailable++;
    }
    await new Promise((r) => setTimeout(r, 300 + Math.random() * 700));
  }
}

/** `client` (trusted, direct to Temporal) only opens frank's run; the agents ask the agent endpoint at `agentUrl` with keys. */
export async function startDemo(options: {
  client: ExtauthClient;
  pool: Pool;
  agentUrl: string;
  provider: FakeOAuthProvider;
  providerId: string;
  uiUrl: string | null;
}): Promise<{ stop(): Promise<void> }> {
  const { client, provider, providerId } = options;
  const tally: DemoTally = { requests: 0, served: 0, reauth: 0, unavailable: 0, diedBeforeTold: 0 };
  let stopped = false;
  const clients = await agentClients(options.pool, options.agentUrl, providerId);
  const stopFaults = injectFaults(provider);
  const held = watchHeldTokens(provider, tally);
  const agents = Array.from({ length: AGENTS }, () => agent(clients, providerId, tally, held, () => stopped));
  // Opens frank's run once (as a status check would); from then on nobody asks for frank's token.
  client.status({ provider: providerId, user: DEMO_UNATTENDED_USER }).catch(() => undefined);

  const tty = process.stdout.isTTY;
  const line = () =>
    `demo: requests=${tally.requests} served=${tally.served} refreshes=${provider.stats.rotations} ` +
    `retries=${provider.stats.faultsServed} reauth=${tally.reauth} unavailable=${tally.unavailable} ` +
    `${DEMO_UNATTENDED_USER}_refreshed_unasked=${provider.stats.tokenCallsByFamily.get(DEMO_UNATTENDED_USER) ?? 0} ` +
    `died_before_told_expiry=${tally.diedBeforeTold}`;
  const summary = setInterval(() => {
    if (tty) process.stdout.write(`\r\x1b[K${line()}`);
    else console.log(line());
  }, tty ? 1_000 : 5_000);
  console.log(
    `demo: ${AGENTS} agents (through the agent endpoint ${options.agentUrl}, one key per link) on ${DEMO_USERS.length + 1} links of provider "${providerId}" (tokens live ${DEMO_TOKEN_LIFETIME_SECONDS}s; ` +
      `"${DEMO_REVOKED_USER}" was revoked and needs re-authentication; nobody asks for "${DEMO_UNATTENDED_USER}", whose run refreshes it ahead of expiry)${options.uiUrl ? `; watch them at ${options.uiUrl}` : ''}`,
  );

  return {
    async stop() {
      stopped = true;
      clearInterval(summary);
      held.stop();
      stopFaults();
      if (tty) process.stdout.write('\n');
      console.log(line());
      // Agents finish the request they are in (bounded by the caller's timeout), then stop.
      await Promise.allSettled(agents);
    },
  };
}
