// The demo's device-flow re-link of mallory (whose grant the fake provider revoked): after a while, mallory signs in
// again with the OAuth device grant (RFC 8628) exactly as `extauth link login --device` does, the fake provider's
// "user" approves the code, and the new grant is stored and the link's run told, so mallory's agents are served again.
import type { Pool } from 'pg';
import type { ExtauthClient } from '../client/index.js';
import { pollForDeviceToken, requestDeviceAuthorization } from '../cli/login/device-grant.js';
import { parseTokenAnswer } from '../cli/commands/token-answer.js';
import type { ProviderConfig } from '../providers/config.js';
import { putLink } from '../store/links.js';
import type { TokenCipher } from '../store/token-cipher.js';
import type { FakeOAuthProvider } from './fake-provider.js';

/** Long enough for mallory to be found in reauth_required first (Web UI, `links list`; test/browser/web-ui.test.ts). */
export const DEMO_RELINK_AFTER_MS = 120_000;
/** How long the demo's "user" takes to type the code. */
const USER_TYPES_CODE_MS = 2_000;

export function relinkByDeviceLater(options: {
  client: ExtauthClient;
  pool: Pool;
  cipher: TokenCipher | undefined;
  fake: FakeOAuthProvider;
  provider: ProviderConfig;
  user: string;
  afterMs?: number;
}): { stop(): Promise<void> } {
  const abort = new AbortController();
  const done = (async () => {
    await delay(options.afterMs ?? DEMO_RELINK_AFTER_MS, abort.signal);
    await relinkByDevice(options, abort.signal);
  })().catch((err: unknown) => {
    if (!abort.signal.aborted) console.log(`demo: the device-flow re-link of ${options.user} failed: ${(err as Error).message}`);
  });
  return {
    async stop() {
      abort.abort();
      await done;
    },
  };
}

async function relinkByDevice(options: Parameters<typeof relinkByDeviceLater>[0], signal: AbortSignal): Promise<void> {
  const { provider, user } = options;
  const authorization = await requestDeviceAuthorization(provider);
  console.log(`demo: ${user} re-links with the device flow: open ${authorization.verificationUri} and enter ${authorization.userCode} (the fake's user approves it)`);
  const approve = delay(USER_TYPES_CODE_MS, signal).then(() => options.fake.login.approveDevice(authorization.userCode, `${user}-device-relink`));
  const [fields] = await Promise.all([pollForDeviceToken(provider, authorization, signal), approve]);
  const parsed = parseTokenAnswer(fields);
  if ('problems' in parsed) throw new Error(`the device token answer is not usable: ${parsed.problems}`);
  const { answer } = parsed;
  const key = { providerId: provider.id, userId: user };
  const row = await putLink(options.pool, key, {
    accessToken: answer.accessToken,
    refreshToken: answer.refreshToken,
    tokenType: answer.tokenType ?? 'bearer',
    expiresAt: new Date(Date.now() + (answer.expiresIn ?? 0) * 1000).toISOString(),
    extra: { ...answer.extra, ...(answer.expiresIn ? { expires_in: answer.expiresIn } : {}) },
  }, options.cipher);
  const told = await options.client.relinked({ provider: provider.id, user });
  console.log(`demo: ${user} re-linked by the device flow (version ${row.tokenVersion})${told ? '; its run reloads it and waiting agents are served' : ''}`);
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), reject(signal.reason)), { once: true });
  });
}
