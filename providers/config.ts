import { readFileSync } from 'node:fs';
import { z } from 'zod';

const providerSchema = z.object({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, ".", "_" or "-", at most 64'),
  type: z.enum(['github', 'gitlab', 'oauth2']),
  clientId: z.string().min(1),
  clientSecret: z.string().min(1),
  tokenUrl: z.url({ protocol: /^https?$/ }),
  validateUrl: z.url({ protocol: /^https?$/ }).optional(),
  scopes: z.array(z.string().min(1)).optional(),
  /** How client credentials travel: form fields (default) or HTTP Basic, never both (RFC 6749 2.3.1). */
  clientAuth: z.enum(['body', 'basic']).default('body'),
});

const providersFileSchema = z
  .array(providerSchema)
  .min(1, 'at least one provider is needed')
  .superRefine((providers, ctx) => {
    const seen = new Set<string>();
    providers.forEach((p, i) => {
      if (seen.has(p.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `duplicate provider id "${p.id}"` });
      seen.add(p.id);
    });
  });

export type ProviderConfig = z.infer<typeof providerSchema>;
export type ProviderInput = z.input<typeof providerSchema>;

export class ProvidersConfigError extends Error {}

export function parseProviders(value: unknown, source = 'providers'): ProviderConfig[] {
  const result = providersFileSchema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${formatPath(source, issue.path)}: ${issue.message}`);
  throw new ProvidersConfigError(`invalid providers config:\n  ${problems.join('\n  ')}`);
}

export function loadProvidersFile(path: string): ProviderConfig[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ProvidersConfigError(`cannot read the providers file ${path} (EXTAUTH_PROVIDERS): ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ProvidersConfigError(`the providers file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  return parseProviders(json, path);
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

