import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { PROVIDER_TYPES } from '../core/git.js';
import { insecureUrlProblem } from '../core/urls.js';
import { expandPreset, presetFieldsSchema } from './preset-fields.js';
import { secretCarryingUrl } from './url-field.js';

/** A login endpoint: the user's consent and, at the token endpoint, codes travel through it, so https except loopback. */
const loginUrl = z.string().superRefine((text, ctx) => {
  const problem = insecureUrlProblem(text);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const providerSchema = z.object({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, ".", "_" or "-", at most 64'),
  /** The family: git credential mapping and how validation answers read (a preset sets it). */
  type: z.enum(PROVIDER_TYPES),
  clientId: z.string().min(1),
  clientSecret: z.string().min(1),
  tokenUrl: secretCarryingUrl,
  validateUrl: secretCarryingUrl.optional(),
  scopes: z.array(z.string().min(1)).optional(),
  /** `link login --browser`: the authorization endpoint (RFC 6749 4.1, with PKCE and a loopback redirect). */
  authorizeUrl: loginUrl.optional(),
  /** `link login --device`: the device authorization endpoint (RFC 8628 3.1). */
  deviceAuthorizationUrl: loginUrl.optional(),
  /**
   * `link delete --revoke`: where the grant is revoked. `revocation` says how: `rfc7009` (the default: POST the refresh
   * token, RFC 7009 2.1) or `github-grant` (GitHub's DELETE /applications/{client_id}/grant with the access token;
   * `{client_id}` in the URL is replaced by the client id). Absent: the provider cannot be asked to revoke.
   */
  revocationUrl: secretCarryingUrl.optional(),
  revocation: z.enum(['rfc7009', 'github-grant']).optional(),
  /** Extra query parameters of the authorization request (Google: access_type=offline, prompt=consent). */
  authorizeParams: z.record(z.string().regex(/^[a-z_]{1,40}$/), z.string().max(200)).optional(),
  /** How client credentials travel: form fields (default) or HTTP Basic, never both (RFC 6749 2.3.1). */
  clientAuth: z.enum(['body', 'basic']).default('body'),
  /** Git hosts (hostname[:port]) whose HTTPS credentials come from this provider (`extauth git-credential`). */
  hosts: z.array(z.string().min(1)).optional(),
  /** The workflow refreshes this long before the access token expires; 0 turns proactive refresh off. */
  refreshAheadSeconds: z.number().int().min(0).max(86_400).default(300),
  /** A link no agent asked for within this window stops refreshing ahead (no provider traffic for abandoned links). */
  activeWindowSeconds: z.number().int().min(1).max(365 * 86_400).default(86_400),
  /** Providers that expire idle refresh tokens: an idle link is still refreshed at least this often; 0 = off. */
  keepAliveSeconds: z.number().int().min(0).max(365 * 86_400).default(0),
  /** Warn (log, metric, ExtauthState) this long before the refresh token itself expires. */
  refreshTokenWarnSeconds: z.number().int().min(0).max(365 * 86_400).default(7 * 86_400),
  /** The provider accepts a rotated-away refresh token again for this long (Okta/Auth0 style); 0 = no grace. */
  reuseGraceSeconds: z.number().int().min(0).max(3_600).default(0),
  /**
   * A refresh ends the access token issued before it (GitHub, GitLab): agents are then told an expiresAt no later than
   * the run's next planned refresh, and the run refreshes no earlier (docs/providers.md). Unknown providers: assumed.
   */
  refreshEndsOldAccessToken: z.boolean().default(true),
});

/** An entry: its preset (if any) is expanded first, then the result must be a complete provider. */
const providerEntrySchema = presetFieldsSchema.transform(expandPreset).pipe(providerSchema);

const providersFileSchema = z
  .array(providerEntrySchema)
  .min(1, 'at least one provider is needed')
  .superRefine((providers, ctx) => {
    const seen = new Set<string>();
    providers.forEach((p, i) => {
      if (seen.has(p.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `duplicate provider id "${p.id}"` });
      seen.add(p.id);
    });
  });

export type ProviderConfig = z.infer<typeof providerSchema>;
/** One providers-file entry as written: with a preset, the fields it fills are optional. */
export type ProviderInput = Partial<z.input<typeof providerSchema>> & z.input<typeof presetFieldsSchema>;

export class ProvidersConfigError extends Error {}

export function parseProviders(value: unknown, source = 'providers'): ProviderConfig[] {
  const result = providersFileSchema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${formatPath(source, issue.path)}: ${issue.message}`);
  throw new ProvidersConfigError(`invalid providers config:\n  ${problems.join('\n  ')}`);
}

/**
 * The providers file: a JSON array of providers, or an object `{ "providers": [...], "webhooks": [...] }` when it also
 * lists webhook endpoints (config/webhooks.ts reads those).
 */
export function loadProvidersFile(path: string): ProviderConfig[] {
  const json = readProvidersJson(path);
  const isObject = typeof json === 'object' && json !== null && !Array.isArray(json);
  return isObject && 'providers' in json ? parseProviders(json.providers, `${path}.providers`) : parseProviders(json, path);
}

/** The providers file's `webhooks` list as written (config/webhooks.ts validates it), or undefined when it has none. */
export function loadProvidersFileWebhooks(path: string): unknown {
  const json = readProvidersJson(path);
  return typeof json === 'object' && json !== null && !Array.isArray(json) && 'webhooks' in json ? json.webhooks : undefined;
}

function readProvidersJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ProvidersConfigError(`cannot read the providers file ${path} (EXTAUTH_PROVIDERS): ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ProvidersConfigError(`the providers file ${path} is not valid JSON: ${(err as Error).message}`);
  }
}

function formatPath(source: string, path: PropertyKey[]): string {
  return path.reduce<string>((acc, part) => (typeof part === 'number' ? `${acc}[${part}]` : `${acc}.${String(part)}`), source);
}

/** Lookup by id; the one place that answers "is this provider configured?". */
export class ProviderRegistry {
  private readonly byId: Map<string, ProviderConfig>;
  constructor(providers: ProviderConfig[]) {
    this.byId = new Map(providers.map((p) => [p.id, p]));
  }
  get(id: string): ProviderConfig | undefined {
    return this.byId.get(id);
  }
  ids(): string[] {
    return [...this.byId.keys()];
  }
}

