// One POST of a sign-in grant to the provider (device authorization, token endpoint), with the provider's client
// authentication. Answers are read as JSON or form-encoded (GitHub answers forms unless asked for JSON); no answer
// (network, 5xx, unreadable) is the caller's to retry or give up on. Nothing here logs or prints a value.
import { getGlobalDispatcher } from 'undici';
import { callProvider, HttpCallError } from '../../activities/http.js';
import type { ProviderConfig } from '../../providers/config.js';
import { parseProviderBody } from '../../providers/classify.js';

/** Each call's deadline: a provider answering a sign-in call slower than this is treated as unavailable. */
const CALL_TIMEOUT_MS = 30_000;

export interface ProviderReply {
  status: number;
  /** The answer's fields; undefined when the body was neither JSON nor a form. */
  fields: Record<string, unknown> | undefined;
}

/** Thrown when no answer came back (connection, timeout, oversized or non-UTF-8 body). */
export class NoAnswerError extends Error {}

/**
 * POSTs `params` with the client's credentials as configured (`clientAuth`: form fields or HTTP Basic). `clientIdOnly`
 * sends client_id alone: the device authorization request of RFC 8628 3.1 authenticates no client.
 */
export async function postToProvider(
  provider: ProviderConfig,
  url: string,
  params: Record<string, string>,
  { clientIdOnly = false }: { clientIdOnly?: boolean } = {},
): Promise<ProviderReply> {
  const form = new URLSearchParams(params);
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
    'user-agent': 'extauth',
  };
  if (clientIdOnly || provider.clientAuth === 'body') form.set('client_id', provider.clientId);
  if (!clientIdOnly && provider.clientAuth === 'body') form.set('client_secret', provider.clientSecret);
  if (!clientIdOnly && provider.clientAuth === 'basic') {
    // RFC 6749 2.3.1: each part form-urlencoded before base64.
    const credentials = `${encodeURIComponent(provider.clientId)}:${encodeURIComponent(provider.clientSecret)}`;
    headers.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
  }
  try {
    const answer = await callProvider(getGlobalDispatcher(), url, { method: 'POST', headers, body: form.toString(), timeoutMs: CALL_TIMEOUT_MS });
    return { status: answer.status, fields: parseProviderBody(answer.headers.get('content-type') ?? '', answer.body) };
  } catch (err) {
    if (err instanceof HttpCallError) throw new NoAnswerError(err.message);
    throw err;
  }
}

/** The provider's error code and description, as strings when present. */
export function oauthErrorOf(fields: Record<string, unknown> | undefined): { error: string; description: string } | undefined {
  if (typeof fields?.error !== 'string') return undefined;
  return { error: fields.error, description: typeof fields.error_description === 'string' ? fields.error_description : '' };
}
