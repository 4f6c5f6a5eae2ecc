// The authorization code grant with PKCE (RFC 7636, S256) and a loopback redirect (RFC 8252 7.3): a listener on
// 127.0.0.1 with an ephemeral port receives the browser's redirect; `state` must come back unchanged (login CSRF),
// and the code is exchanged with the verifier only this process knows. The listener stops on success, failure,
// timeout and abort (SIGINT/SIGTERM).
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { providerText } from '../../core/provider-text.js';
import type { ProviderConfig } from '../../providers/config.js';
import { ExtauthError } from '../../client/errors.js';
import { refused } from './device-grant.js';
import { NoAnswerError, oauthErrorOf, postToProvider } from './provider-call.js';

export interface BrowserLoginOptions {
  timeoutMs: number;
  signal: AbortSignal;
  /** Called once the listener is up, with the URL the user must open. */
  onAuthorizationUrl(url: string): void;
}

/** RFC 7636 4.1/4.2: a 43-character verifier (32 random bytes) and its S256 challenge. */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier, 'ascii').digest('base64url') };
}

/** Runs the grant; resolves with the token endpoint's answer fields. */
export async function browserLogin(provider: ProviderConfig, options: BrowserLoginOptions): Promise<Record<string, unknown>> {
  const { verifier, challenge } = pkcePair();
  const state = randomBytes(16).toString('base64url');
  const server = createServer();
  try {
    await listen(server);
    const redirectUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`;
    const url = new URL(provider.authorizeUrl!);
    for (const [name, value] of Object.entries(provider.authorizeParams ?? {})) url.searchParams.set(name, value);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('client_id', provider.clientId);
    url.searchParams.set('redirect_uri', redirectUri);
    if (provider.scopes?.length) url.searchParams.set('scope', provider.scopes.join(' '));
    url.searchParams.set('state', state);
    url.searchParams.set('code_challenge', challenge);
    url.searchParams.set('code_challenge_method', 'S256');
    const callback = waitForCallback(server, provider, options);
    options.onAuthorizationUrl(url.toString());
    return await callback(async (query) => {
      // Compared before anything else is read: an answer to another request (or a forged one) stores nothing.
      if (query.get('state') !== state) {
        throw new ExtauthError('reauth_required', `provider ${provider.id}: the sign-in answer came back with ${query.has('state') ? 'another' : 'no'} state (not this login's request); nothing stored, run link login again`);
      }
      const error = oauthErrorOf(Object.fromEntries(query));
      if (error) throw refused(provider, 'the sign-in', error);
      const code = query.get('code');
      if (!code) throw new ExtauthError('reauth_required', `provider ${provider.id}: the sign-in answer has no code; run link login again`);
      return exchangeCode(provider, code, redirectUri, verifier);
    });
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

async function exchangeCode(provider: ProviderConfig, code: string, redirectUri: string, verifier: string): Promise<Record<string, unknown>> {
  let reply;
  try {
    reply = await postToProvider(provider, provider.tokenUrl, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier });
  } catch (err) {
    if (err instanceof NoAnswerError) throw new ExtauthError('provider_unavailable', `provider ${provider.id}: no answer to the code exchange (${err.message})`);
    throw err;
  }
  const error = oauthErrorOf(reply.fields);
  if (error) throw refused(provider, 'the code exchange', error);
  if (reply.status !== 200 || !reply.fields) {
    throw new ExtauthError('provider_unavailable', `provider ${provider.id}: the token endpoint answered HTTP ${reply.status} without tokens`);
  }
  return reply.fields;
}

type CallbackHandler = (query: URLSearchParams) => Promise<Record<string, unknown>>;

/**
 * The first request to /callback settles the login (whatever it brings: a mismatched state ends it, so a forged
 * redirect cannot be followed by a second try); other paths get 404. The browser is told the outcome.
 */
function waitForCallback(server: Server, provider: ProviderConfig, options: BrowserLoginOptions) {
  return (handle: CallbackHandler) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      let settled = false;
      const finish = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        options.signal.removeEventListener('abort', onAbort);
        outcome();
      };
      const timer = setTimeout(
        () => finish(() => reject(new ExtauthError('reauth_required', `provider ${provider.id}: no sign-in within ${Math.round(options.timeoutMs / 1000)} s; run link login again`))),
        options.timeoutMs,
      );
      const onAbort = () => finish(() => reject(new LoginInterrupted()));
      if (options.signal.aborted) onAbort();
      else options.signal.addEventListener('abort', onAbort, { once: true });
      server.on('request', (req, res) => {
        const url = new URL(req.url ?? '/', 'http://127.0.0.1');
        if (req.method !== 'GET' || url.pathname !== '/callback' || settled) {
          res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
          return;
        }
        settled = true;
        clearTimeout(timer);
        options.signal.removeEventListener('abort', onAbort);
        handle(url.searchParams).then(
          (fields) => {
            res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(`extauth: signed in to ${provider.id}; you can close this tab.\n`);
            resolve(fields);
          },
          (err: unknown) => {
            const reason = err instanceof ExtauthError ? err.reason : 'unexpected error';
            res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' }).end(`extauth: sign-in failed: ${providerText(reason)}\n`);
            reject(err);
          },
        );
      });
    });
}

/** SIGINT/SIGTERM during a login: the listener is closed, nothing stored. */
export class LoginInterrupted extends Error {
  constructor() {
    super('interrupted: the sign-in was abandoned, nothing stored');
  }
}

function listen(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    // Loopback only, ephemeral port (RFC 8252 7.3 and 8.3: never on other interfaces).
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}
