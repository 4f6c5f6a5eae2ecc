// The agent side of the agent endpoint (docs/agent-api.md): an agent holds one scoped key and no Temporal
// address, payload key or database. Answers and refusals map onto the same ExtauthError codes as ExtauthClient.
import { request } from 'undici';
import { z } from 'zod';
import { isAgentErrorCode } from '../core/failures.js';
import type { TokenGrant } from '../core/types.js';
import { insecureUrlProblem } from '../core/urls.js';
import { ExtauthError } from './errors.js';

export interface AgentClientOptions {
  /** The endpoint's base URL (EXTAUTH_AGENT_URL): https, or http to loopback. */
  url: string;
  /** The agent key (EXTAUTH_AGENT_KEY), sent as a bearer token. */
  key: string;
  /** How long one call may take before it fails as provider_unavailable (default 180 s, plus any waitSeconds). */
  requestTimeoutMs?: number;
}

export interface AgentProvider {
  id: string;
  type: string;
  /** The git hosts this provider's token may be sent to; a host not listed gets nothing. */
  hosts: string[];
}

/** The endpoint could not be reached, or answered with something that is not the API: an environment error. */
export class AgentEndpointError extends Error {}

const DEFAULT_REQUEST_TIMEOUT_MS = 180_000;
const MAX_ANSWER_BYTES = 64 * 1024;

const grantSchema = z.object({
  accessToken: z.string().min(1),
  tokenType: z.string(),
  expiresAt: z.string().nullable(),
  username: z.string(),
  password: z.string(),
});
const refusalSchema = z.object({ error: z.string(), reason: z.string().optional() });
const providersSchema = z.object({
  providers: z.array(z.object({ id: z.string(), type: z.string(), hosts: z.array(z.string()) })),
});

export class AgentClient {
  private readonly base: URL;

  constructor(private readonly options: AgentClientOptions) {
    const problem = insecureUrlProblem(options.url);
    // The key is a bearer secret: it never travels in cleartext off this machine.
    if (problem) throw new AgentEndpointError(`EXTAUTH_AGENT_URL ${problem}`);
    if (!options.key) throw new AgentEndpointError('EXTAUTH_AGENT_KEY is empty: ask your operator for a key (`extauth agent-key create`)');
    this.base = new URL(options.url.endsWith('/') ? options.url : `${options.url}/`);
  }

  /**
   * A usable access token for the link the key is scoped to. Rejects with ExtauthError on a refusal.
   * `rejectedFingerprint`: the provider refused (401) the token with this fingerprint (docs/agent-api.md).
   */
  async getToken(input: { provider: string; user: string; minValidSeconds?: number; waitSeconds?: number; rejectedFingerprint?: string }): Promise<TokenGrant> {
    const body = await this.call('POST', 'v1/token', input, (input.waitSeconds ?? 0) * 1000);
    return parseWith(grantSchema, body);
  }

  /** The providers this key may use, with their git hosts. */
  async providers(): Promise<AgentProvider[]> {
    return parseWith(providersSchema, await this.call('GET', 'v1/providers')).providers;
  }

  private async call(method: 'GET' | 'POST', path: string, json?: unknown, extraMs = 0): Promise<unknown> {
    const url = new URL(path, this.base);
    const timeoutMs = (this.options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS) + extraMs;
    let status: number;
    let text: string;
    try {
      const response = await request(url, {
        method,
        headers: { authorization: `Bearer ${this.options.key}`, ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
        body: json === undefined ? undefined : JSON.stringify(json),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: AbortSignal.timeout(timeoutMs),
      });
      status = response.statusCode;
      text = await readLimited(response.body);
    } catch (err) {
      if ((err as Error).name === 'TimeoutError') {
        throw new ExtauthError('provider_unavailable', `the agent endpoint gave no answer within ${Math.round(timeoutMs / 1000)} s`);
      }
      throw new AgentEndpointError(`cannot reach the agent endpoint at ${url.origin} (${(err as Error).message}); check EXTAUTH_AGENT_URL`);
    }
    const body = parseJson(text, url);
    if (status === 200) return body;
    const refusal = refusalSchema.safeParse(body);
    if (refusal.success && isAgentErrorCode(refusal.data.error)) {
      throw new ExtauthError(refusal.data.error, refusal.data.reason ?? refusal.data.error);
    }
    throw new AgentEndpointError(`the agent endpoint at ${url.origin} answered HTTP ${status} without an extauth error; check EXTAUTH_AGENT_URL`);
  }
}

async function readLimited(body: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > MAX_ANSWER_BYTES) throw new Error('answer too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string, url: URL): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new AgentEndpointError(`the agent endpoint at ${url.origin} did not answer JSON; check EXTAUTH_AGENT_URL`);
  }
}

function parseWith<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new AgentEndpointError('the agent endpoint answered in an unexpected shape; is it an extauth agent endpoint of the same version?');
  return parsed.data;
}
