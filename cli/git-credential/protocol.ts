// git's credential helper protocol (gitcredentials(7), git-credential(1)): `key=value` lines in, `key=value` lines out.
// Pure functions only; the command reads stdin and writes stdout.
import { z } from 'zod';

/** What git asks about. Keys git may add later (wwwauth[], capability[], …) are kept but not interpreted. */
export interface CredentialRequest {
  /** `https`, `http`, … (lower case). */
  protocol: string | undefined;
  /** `hostname` or `hostname:port`, as git sends it (lower case). */
  host: string | undefined;
  path: string | undefined;
  username: string | undefined;
  /** Only in `erase` (and `store`): the password git was given; a secret, never printed. */
  password?: string | undefined;
}

export class CredentialProtocolError extends Error {}

/** The most a request may hold; git sends a few hundred bytes. */
export const MAX_REQUEST_BYTES = 64 * 1024;

const requestSchema = z.object({
  protocol: z.string().min(1).toLowerCase().optional(),
  host: z.string().min(1).toLowerCase().optional(),
  path: z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  /** Only `git credential fill` accepts `url=`; git itself splits it before asking helpers. Taken for hand-written input. */
  url: z.url().optional(),
});

/**
 * Parses the lines git wrote (up to a blank line or the end). A line without `=` is an error; unknown keys and
 * array keys (`wwwauth[]=…`) are ignored, as the protocol asks of helpers.
 */
export function parseCredentialRequest(text: string): CredentialRequest {
  if (Buffer.byteLength(text) > MAX_REQUEST_BYTES) throw new CredentialProtocolError(`request larger than ${MAX_REQUEST_BYTES} bytes`);
  const fields: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const trimmed = line.replace(/\r$/, '');
    if (trimmed === '') break;
    const eq = trimmed.indexOf('=');
    if (eq <= 0) throw new CredentialProtocolError(`malformed line "${trimmed.slice(0, 40)}": expected key=value`);
    const key = trimmed.slice(0, eq);
    if (!key.endsWith('[]')) fields[key] = trimmed.slice(eq + 1);
  }
  const result = requestSchema.safeParse(fields);
  if (!result.success) {
    throw new CredentialProtocolError(result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  }
  const { url, ...request } = result.data;
  const fromUrl = url ? new URL(url) : undefined;
  return {
    protocol: request.protocol ?? fromUrl?.protocol.replace(/:$/, '').toLowerCase(),
    host: request.host ?? fromUrl?.host.toLowerCase(),
    path: request.path ?? (fromUrl ? fromUrl.pathname.replace(/^\//, '') || undefined : undefined),
    username: request.username ?? (fromUrl?.username ? decodeURIComponent(fromUrl.username) : undefined),
    password: request.password,
  };
}

export interface CredentialAnswer {
  username: string;
  password: string;
  /** When the password stops working; git ≥ 2.41 keeps it out of caches past then (older versions ignore the line). */
  expiresAt?: string | null;
}

/**
 * The lines git reads back. An empty password is written as `password=`: git takes it as given (no prompt) and
 * sends `token:` in HTTP Basic. A value with a newline or NUL would break the protocol and is refused.
 */
export function formatCredentialAnswer(answer: CredentialAnswer): string {
  for (const [key, value] of [['username', answer.username], ['password', answer.password]] as const) {
    if (/[\n\r\0]/.test(value)) throw new CredentialProtocolError(`the ${key} contains a newline or NUL; git cannot take it`);
  }
  const lines = [`username=${answer.username}`, `password=${answer.password}`];
  const expiry = answer.expiresAt ? Date.parse(answer.expiresAt) : NaN;
  if (Number.isFinite(expiry)) lines.push(`password_expiry_utc=${Math.floor(expiry / 1000)}`);
  return `${lines.join('\n')}\n`;
}
