// The OAuth 2.0 device authorization grant (RFC 8628): ask for a device code, show the user where to enter it, poll
// the token endpoint at the provider's interval until the user approves, denies, or the code expires.
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { providerText } from '../../core/provider-text.js';
import type { ProviderConfig } from '../../providers/config.js';
import { ExtauthError } from '../../client/errors.js';
import { NoAnswerError, oauthErrorOf, postToProvider, type ProviderReply } from './provider-call.js';

export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** RFC 8628 3.2: without `interval` the client waits 5 seconds; 3.5: slow_down adds 5 seconds for good. */
const DEFAULT_INTERVAL_SECONDS = 5;
const SLOW_DOWN_STEP_SECONDS = 5;
/** RFC 8628 3.5: back off when no answer comes; never wait longer than this between polls. */
const MAX_INTERVAL_SECONDS = 60;

/** Whole seconds as a JSON number or decimal text (GitHub's form answers carry text). */
const seconds = z.union([z.number(), z.string().regex(/^\d{1,9}$/).transform(Number)]).pipe(z.number().int().positive().max(86_400));

const deviceAnswerSchema = z.looseObject({
  device_code: z.string().min(1).max(2048),
  user_code: z.string().min(1).max(64),
  verification_uri: z.string().min(1).max(2048).optional(),
  // Google's name for it.
  verification_url: z.string().min(1).max(2048).optional(),
  verification_uri_complete: z.string().min(1).max(2048).optional(),
  expires_in: seconds,
  interval: seconds.optional(),
});

export interface DeviceAuthorization {
  deviceCode: string;
  /** Shown to the user: bounded and stripped of control characters (core/provider-text.ts). */
  userCode: string;
  verificationUri: string;
  expiresIn: number;
  interval: number;
}

/** RFC 8628 3.1: POST client_id (and scope) to the device authorization endpoint. */
export async function requestDeviceAuthorization(provider: ProviderConfig): Promise<DeviceAuthorization> {
  const url = provider.deviceAuthorizationUrl!;
  const params: Record<string, string> = provider.scopes?.length ? { scope: provider.scopes.join(' ') } : {};
  const reply = await answerOrUnavailable(provider, () => postToProvider(provider, url, params, { clientIdOnly: true }));
  const refusal = oauthErrorOf(reply.fields);
  if (refusal) throw refused(provider, 'the device authorization request', refusal);
  const parsed = deviceAnswerSchema.safeParse(reply.fields);
  if (reply.status !== 200 || !parsed.success) {
    throw new ExtauthError('provider_unavailable', `provider ${provider.id}: the device authorization endpoint answered HTTP ${reply.status} without a usable device code`);
  }
  const verificationUri = parsed.data.verification_uri ?? parsed.data.verification_url;
  if (!verificationUri) throw new ExtauthError('provider_unavailable', `provider ${provider.id}: the device authorization answer has no verification_uri`);
  return {
    deviceCode: parsed.data.device_code,
    userCode: providerText(parsed.data.user_code, 64),
    verificationUri: providerText(verificationUri, 300),
    expiresIn: parsed.data.expires_in,
    interval: parsed.data.interval ?? DEFAULT_INTERVAL_SECONDS,
  };
}

/**
 * RFC 8628 3.4/3.5: polls until the token endpoint answers tokens (returned as the answer's fields). access_denied and
 * expired_token (or the code's lifetime passing here) are reauth_required with the provider's reason.
 */
export async function pollForDeviceToken(
  provider: ProviderConfig,
  authorization: DeviceAuthorization,
  signal: AbortSignal,
): Promise<Record<string, unknown>> {
  let intervalSeconds = authorization.interval;
  const deadline = Date.now() + authorization.expiresIn * 1000;
  for (;;) {
    await sleep(intervalSeconds * 1000, undefined, { signal });
    if (Date.now() > deadline + intervalSeconds * 1000) {
      throw new ExtauthError('reauth_required', `provider ${provider.id}: the code ${authorization.userCode} expired (${authorization.expiresIn} s) before it was approved; run link login again`);
    }
    let reply: ProviderReply;
    try {
      reply = await postToProvider(provider, provider.tokenUrl, { grant_type: DEVICE_CODE_GRANT, device_code: authorization.deviceCode });
    } catch (err) {
      if (!(err instanceof NoAnswerError)) throw err;
      intervalSeconds = Math.min(intervalSeconds * 2, MAX_INTERVAL_SECONDS);
      continue;
    }
    const refusal = oauthErrorOf(reply.fields);
    if (!refusal && reply.status >= 200 && reply.status < 300 && reply.fields) return reply.fields;
    switch (refusal?.error) {
      case 'authorization_pending':
        continue;
      case 'slow_down': {
        // GitHub's answer carries the new interval; RFC 8628 says +5 s. Keep whichever is longer.
        const told = Number(reply.fields?.interval);
        intervalSeconds = Math.max(intervalSeconds + SLOW_DOWN_STEP_SECONDS, Number.isFinite(told) && told <= MAX_INTERVAL_SECONDS ? told : 0);
        continue;
      }
      case 'access_denied':
        throw refused(provider, 'the sign-in', refusal, 'the user denied the request');
      case 'expired_token':
        throw refused(provider, 'the sign-in', refusal, `the code ${authorization.userCode} expired before it was approved; run link login again`);
      case undefined:
        if (reply.status === 429 || reply.status >= 500 || reply.fields === undefined) {
          intervalSeconds = Math.min(intervalSeconds * 2, MAX_INTERVAL_SECONDS);
          continue;
        }
        throw new ExtauthError('provider_unavailable', `provider ${provider.id}: the token endpoint answered HTTP ${reply.status} without tokens`);
      default:
        throw refused(provider, 'the sign-in', refusal!);
    }
  }
}

async function answerOrUnavailable(provider: ProviderConfig, call: () => Promise<ProviderReply>): Promise<ProviderReply> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof NoAnswerError) throw new ExtauthError('provider_unavailable', `provider ${provider.id}: no answer (${err.message})`);
    throw err;
  }
}

/** A refusal naming the provider's error code and its description, bounded and stripped (core/provider-text.ts). */
export function refused(provider: ProviderConfig, what: string, refusal: { error: string; description: string }, meaning?: string): ExtauthError {
  const description = refusal.description ? `: ${providerText(refusal.description)}` : '';
  return new ExtauthError('reauth_required', `provider ${provider.id} refused ${what}${meaning ? ` (${meaning})` : ''}: ${providerText(refusal.error, 64)}${description}`);
}
