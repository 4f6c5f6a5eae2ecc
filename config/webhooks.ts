// Webhook endpoints of the worker (docs/webhooks.md): EXTAUTH_WEBHOOK_URL + EXTAUTH_WEBHOOK_SECRET for one endpoint,
// and a `webhooks` list in the providers file for more. Only the worker reads them: workflows name an endpoint, and the
// delivery activity resolves its URL and secret here, so neither ever enters a workflow history.
import { z } from 'zod';
import { LINK_EVENT_TYPES, type LinkEventType } from '../core/webhook-events.js';
import { insecureUrlProblem } from '../core/urls.js';
import { loadProvidersFileWebhooks } from '../providers/config.js';
import { ConfigError } from './env.js';

export interface WebhookEndpoint {
  name: string;
  url: string;
  /** The signing key: the base64 part of the `whsec_…` secret, decoded. */
  key: Buffer;
  /** Event types sent to it; all when absent. */
  events?: LinkEventType[];
}

/** Named in history (the delivery workflow's input) and in logs: plain words, no secret. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** The name of the endpoint given by EXTAUTH_WEBHOOK_URL / EXTAUTH_WEBHOOK_SECRET. */
export const ENV_ENDPOINT_NAME = 'default';
/** Standard Webhooks: symmetric secrets are `whsec_` + base64 of 24 to 64 random bytes. */
const MIN_KEY_BYTES = 24;
const MAX_KEY_BYTES = 64;
const SECRET_ADVICE = 'a Standard Webhooks secret: "whsec_" followed by base64 of 24 to 64 random bytes, e.g. `echo whsec_$(openssl rand -base64 32)`';

/** Why `secret` is not a usable signing secret, or its key. */
export function parseWebhookSecret(secret: string): Buffer | string {
  if (!secret.startsWith('whsec_')) return `must be ${SECRET_ADVICE}`;
  const base64 = secret.slice('whsec_'.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return `is not base64 after "whsec_"; it must be ${SECRET_ADVICE}`;
  const key = Buffer.from(base64, 'base64');
  if (key.length < MIN_KEY_BYTES || key.length > MAX_KEY_BYTES) return `holds ${key.length} bytes; it must be ${SECRET_ADVICE}`;
  return key;
}

/** Receivers get events with a signature made with the secret: https, or plain http only to this machine. */
function urlProblem(url: string): string | undefined {
  const problem = insecureUrlProblem(url);
  return problem && `${problem} (webhook events travel to it signed, and its receiver acts on them)`;
}

const fileEntrySchema = z
  .object({
    name: z.string().regex(NAME, 'letters, digits, ".", "_" or "-", at most 64'),
    url: z.string(),
    /** The secret itself, as `clientSecret` is given in the same file; or `secretEnv`, the variable holding it. */
    secret: z.string().optional(),
    secretEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name').optional(),
    events: z.array(z.enum(LINK_EVENT_TYPES)).min(1).optional(),
  })
  .strict();

/**
 * The endpoints from the environment and the providers file's `webhooks` list (`fileWebhooks`: that list as parsed
 * JSON, undefined when the file has none). Throws a ConfigError naming every problem and what to do.
 */
export function webhookEndpoints(env: NodeJS.ProcessEnv, fileWebhooks?: unknown, source = 'providers file'): WebhookEndpoint[] {
  const endpoints: WebhookEndpoint[] = [];
  const problems: string[] = [];
  const url = env.EXTAUTH_WEBHOOK_URL;
  const secret = env.EXTAUTH_WEBHOOK_SECRET;
  if (url || secret) {
    if (!url) problems.push('EXTAUTH_WEBHOOK_SECRET is set but EXTAUTH_WEBHOOK_URL is not: set both, or neither');
    if (!secret) problems.push('EXTAUTH_WEBHOOK_URL is set but EXTAUTH_WEBHOOK_SECRET is not: set both, or neither');
    const bad = url ? urlProblem(url) : undefined;
    if (bad) problems.push(`EXTAUTH_WEBHOOK_URL ${bad}`);
    const key = secret ? parseWebhookSecret(secret) : undefined;
    if (typeof key === 'string') problems.push(`EXTAUTH_WEBHOOK_SECRET ${key}`);
    if (url && !bad && key instanceof Buffer) endpoints.push({ name: ENV_ENDPOINT_NAME, url, key });
  }
  if (fileWebhooks !== undefined) {
    const parsed = z.array(fileEntrySchema).safeParse(fileWebhooks);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) problems.push(`${source}: webhooks${issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}: ${issue.message}`);
    } else {
      parsed.data.forEach((entry, i) => {
        const at = `${source}: webhooks[${i}] ("${entry.name}")`;
        const bad = urlProblem(entry.url);
        if (bad) problems.push(`${at}.url ${bad}`);
        if ((entry.secret === undefined) === (entry.secretEnv === undefined)) problems.push(`${at}: give exactly one of "secret" and "secretEnv"`);
        const text = entry.secret ?? (entry.secretEnv ? env[entry.secretEnv] : undefined);
        if (entry.secretEnv && text === undefined) problems.push(`${at}.secretEnv: ${entry.secretEnv} is not set`);
        const key = text === undefined ? undefined : parseWebhookSecret(text);
        if (typeof key === 'string') problems.push(`${at}.${entry.secret !== undefined ? 'secret' : 'secretEnv'} ${key}`);
        if (endpoints.some((e) => e.name === entry.name)) problems.push(`${at}: duplicate name (the environment's endpoint is "${ENV_ENDPOINT_NAME}")`);
        if (!bad && key instanceof Buffer) endpoints.push({ name: entry.name, url: entry.url, key, ...(entry.events ? { events: entry.events } : {}) });
      });
    }
  }
  if (problems.length > 0) throw new ConfigError(`invalid webhook configuration:\n  ${problems.join('\n  ')}`);
  return endpoints;
}

/** Lookup by name: the delivery activity's only way to a URL and a secret. */
export class WebhookRegistry {
  private readonly byName: Map<string, WebhookEndpoint>;
  constructor(endpoints: WebhookEndpoint[] = []) {
    this.byName = new Map(endpoints.map((e) => [e.name, e]));
  }
  get(name: string): WebhookEndpoint | undefined {
    return this.byName.get(name);
  }
  /** The endpoints that take events of `type`. */
  namesFor(type: LinkEventType): string[] {
    return [...this.byName.values()].filter((e) => !e.events || e.events.includes(type)).map((e) => e.name);
  }
  names(): string[] {
    return [...this.byName.keys()];
  }
}

/** What a worker process sends to: the environment's endpoint and the providers file's list. */
export function loadWebhookEndpoints(env: NodeJS.ProcessEnv, providersFile: string | undefined): WebhookEndpoint[] {
  return webhookEndpoints(env, providersFile ? loadProvidersFileWebhooks(providersFile) : undefined, providersFile);
}
