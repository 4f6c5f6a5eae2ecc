import { fingerprint } from '../core/fingerprint.js';
import { isSecretFieldName } from '../core/secret-fields.js';

/**
 * Replaces every secret in a decoded JSON value with its fingerprint, including the same value where
 * it appears under another name (a token handed out as git `username`).
 */
export function redactSecrets(value: unknown): unknown {
  const secrets = new Set<string>();
  collect(value, secrets);
  return replace(value, secrets);
}

function collect(value: unknown, secrets: Set<string>): void {
  if (Array.isArray(value)) value.forEach((v) => collect(v, secrets));
  else if (value && typeof value === 'object') {
    for (const [name, v] of Object.entries(value)) {
      if (typeof v === 'string' && v && isSecretFieldName(name)) secrets.add(v);
      else collect(v, secrets);
    }
  }
}

function replace(value: unknown, secrets: Set<string>): unknown {
  if (typeof value === 'string') return secrets.has(value) ? `[sha256:${fingerprint(value)}]` : value;
  if (Array.isArray(value)) return value.map((v) => replace(v, secrets));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replace(v, secrets)]));
  return value;
}
