/**
 * The fake provider's sign-in grants (dev/fake-provider.ts routes to them): the device authorization grant (RFC 8628)
 * and the authorization code grant with PKCE (RFC 7636, S256 only) and loopback redirects (RFC 8252 7.3), with the
 * shapes of each flavor (dev/fake-flavors.ts `login`). Tests play the user with approveDevice / denyDevice and
 * setAuthorizeDecision; docs/providers.md ("Connecting a link") lists the sources.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { FakeFlavor, Fields, FlavorOAuthAnswer } from './fake-flavors.js';

export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** RFC 8628 3.5: each slow_down adds 5 seconds to the interval, for that and every later request. */
const SLOW_DOWN_STEP_MS = 5_000;
/** Timers may fire a few milliseconds early; a poll this close to the interval still counts as on time. */
const POLL_TOLERANCE_MS = 100;
/** GitHub: "The code will expire after 10 minutes"; RFC 6749 4.1.2 recommends at most 10 minutes. */
const AUTHORIZATION_CODE_LIFETIME_MS = 600_000;

export type DeviceAnswer = 'authorization_pending' | 'slow_down' | 'access_denied' | 'expired_token' | 'invalid_grant' | 'tokens';

export interface DeviceCodeRecord {
  deviceCode: string;
  userCode: string;
  clientId: string;
  scope: string | undefined;
  expiresAt: number;
  /** The interval the client must keep now (grows by 5 s with each slow_down). */
  intervalMs: number;
  decision: 'pending' | 'approved' | 'denied' | 'used';
  familyId: string | undefined;
  /** When each poll arrived (epoch ms) and what it was answered, in order. */
  polls: Array<{ at: number; answer: DeviceAnswer }>;
  /** The next poll is answered slow_down whatever its timing (set by demandSlowDown). */
  slowDownDemanded: boolean;
}

interface AuthorizationCodeRecord {
  clientId: string;
  redirectUri: string;
  challenge: string | undefined;
  expiresAt: number;
  used: boolean;
  familyId: string;
}

export interface LoginStats {
  /** Token requests of the authorization code grant refused for a missing or wrong code_verifier. */
  pkceRefusals: number;
  /** Authorization codes presented a second time (the family they produced is revoked, RFC 6749 4.1.2). */
  codeReplays: number;
  authorizationCodesIssued: number;
}

export interface FakeLoginOptions {
  /** The device grant's `interval` (default the flavor's, e.g. GitHub 5 s). */
  deviceIntervalSeconds?: number;
  /** The device code's `expires_in` (default the flavor's, e.g. GitHub 899 s). */
  deviceCodeLifetimeSeconds?: number;
}

export type AuthorizeRedirect = { status: 302; location: string } | { status: 400; message: string };

export class FakeLoginGrants {
  readonly stats: LoginStats = { pkceRefusals: 0, codeReplays: 0, authorizationCodesIssued: 0 };
  private readonly deviceCodes = new Map<string, DeviceCodeRecord>();
  private readonly authorizationCodes = new Map<string, AuthorizationCodeRecord>();
  private decision: { approve: boolean; familyId?: string } = { approve: true };

  constructor(
    private readonly flavor: FakeFlavor,
    private readonly clientId: string,
    /** Issues a new grant (access + refresh token) in `familyId` and shapes it as the flavor's token answer. */
    private readonly issue: (familyId: string) => Fields,
    /** Revokes every token of a family. */
    private readonly revoke: (familyId: string) => void,
    private readonly options: FakeLoginOptions = {},
  ) {}

  // --- the user's side (test helpers) -----------------------------------------------

  /** Device codes nobody approved or denied yet, newest last. */
  pendingDeviceCodes(): DeviceCodeRecord[] {
    return [...this.deviceCodes.values()].filter((r) => r.decision === 'pending' && Date.now() < r.expiresAt);
  }

  deviceCode(userCode: string): DeviceCodeRecord | undefined {
    return [...this.deviceCodes.values()].find((r) => r.userCode === userCode);
  }

  /** The user entered the code and approved: the next poll gets tokens of `familyId` (default a new family). */
  approveDevice(userCode: string, familyId = `fam_dev_${randomBytes(6).toString('hex')}`): void {
    const record = this.pendingRecord(userCode);
    record.decision = 'approved';
    record.familyId = familyId;
  }

  /** The user entered the code and clicked Cancel. */
  denyDevice(userCode: string): void {
    this.pendingRecord(userCode).decision = 'denied';
  }

  /** The code's lifetime ends now: the next poll gets expired_token. */
  expireDevice(userCode: string): void {
    this.pendingRecord(userCode).expiresAt = Date.now();
  }

  /** The provider tells the client to slow down on its next poll, as a rate limit counting other traffic would. */
  demandSlowDown(userCode: string): void {
    this.pendingRecord(userCode).slowDownDemanded = true;
  }

  /** What the authorize page does when a browser arrives: approve (tokens of `familyId`, default new) or deny. */
  setAuthorizeDecision(decision: { approve: boolean; familyId?: string }): void {
    this.decision = decision;
  }

  private pendingRecord(userCode: string): DeviceCodeRecord {
    const record = this.deviceCode(userCode);
    if (!record || record.decision !== 'pending') throw new Error(`no pending device code with user code ${userCode}`);
    return record;
  }

  // --- the device grant -----------------------------------------------------------

  /** POST to the device authorization endpoint (RFC 8628 3.1/3.2). */
  deviceAuthorization(form: URLSearchParams): FlavorOAuthAnswer {
    const device = this.flavor.login.device;
    if (!device) return { status: 404, fields: { error: 'not_found' } };
    if (form.get('client_id') !== this.clientId) return this.flavor.invalidClient(false);
    const expiresIn = this.options.deviceCodeLifetimeSeconds ?? device.expiresIn;
    const interval = this.options.deviceIntervalSeconds ?? device.interval;
    const record: DeviceCodeRecord = {
      deviceCode: randomBytes(20).toString('hex'),
      userCode: device.newUserCode(),
      clientId: this.clientId,
      scope: form.get('scope') ?? undefined,
      expiresAt: Date.now() + expiresIn * 1000,
      intervalMs: interval * 1000,
      decision: 'pending',
      familyId: undefined,
      polls: [],
      slowDownDemanded: false,
    };
    this.deviceCodes.set(record.deviceCode, record);
    return {
      status: 200,
      fields: { device_code: record.deviceCode, user_code: record.userCode, [device.verificationField]: device.verificationUri, expires_in: expiresIn, interval },
    };
  }

  /** grant_type=urn:ietf:params:oauth:grant-type:device_code at the token endpoint (RFC 8628 3.4/3.5); client already authenticated. */
  deviceToken(form: URLSearchParams): FlavorOAuthAnswer {
    const device = this.flavor.login.device;
    const record = this.deviceCodes.get(form.get('device_code') ?? '');
    if (!device || !record) return this.flavor.login.badCode();
    const now = Date.now();
    const previous = record.polls.at(-1)?.at;
    const answer = this.deviceAnswer(record, now, previous);
    record.polls.push({ at: now, answer });
    if (answer !== 'tokens') return { status: device.errorStatus, fields: { error: answer, error_description: DEVICE_ERROR_TEXT[answer] } };
    record.decision = 'used';
    return { status: 200, fields: this.issue(record.familyId!) };
  }

  private deviceAnswer(record: DeviceCodeRecord, now: number, previous: number | undefined): DeviceAnswer {
    if (record.decision === 'used') return 'invalid_grant';
    if (now >= record.expiresAt) return 'expired_token';
    if (record.decision === 'denied') return 'access_denied';
    const tooSoon = previous !== undefined && now - previous < record.intervalMs - POLL_TOLERANCE_MS;
    if (tooSoon || record.slowDownDemanded) {
      record.slowDownDemanded = false;
      record.intervalMs += SLOW_DOWN_STEP_MS;
      return 'slow_down';
    }
    return record.decision === 'approved' ? 'tokens' : 'authorization_pending';
  }

  // --- the authorization code grant ------------------------------------------------

  /** GET on the authorization endpoint: the user "signs in" and the browser is redirected back (RFC 6749 4.1.1/4.1.2). */
  authorize(query: URLSearchParams): AuthorizeRedirect {
    // Errors about the client or the redirect URI are shown, never redirected (RFC 6749 4.1.2.1).
    if (query.get('client_id') !== this.clientId) return { status: 400, message: 'unknown client_id' };
    const redirectUri = query.get('redirect_uri') ?? '';
    if (!isLoopbackCallback(redirectUri)) return { status: 400, message: 'redirect_uri does not match the registered loopback callback' };
    const back = new URL(redirectUri);
    const state = query.get('state');
    if (state !== null) back.searchParams.set('state', state);
    const refuse = (error: string, description: string) => {
      back.searchParams.set('error', error);
      back.searchParams.set('error_description', description);
      return { status: 302 as const, location: back.toString() };
    };
    if (query.get('response_type') !== 'code') return refuse('unsupported_response_type', 'response_type must be code');
    const challenge = query.get('code_challenge') ?? undefined;
    if (challenge !== undefined && query.get('code_challenge_method') !== 'S256') return refuse('invalid_request', 'code_challenge_method must be S256');
    if (!this.decision.approve) return refuse('access_denied', 'The user has denied your application access.');
    const code = randomBytes(10).toString('hex');
    this.authorizationCodes.set(code, {
      clientId: this.clientId,
      redirectUri,
      challenge,
      expiresAt: Date.now() + AUTHORIZATION_CODE_LIFETIME_MS,
      used: false,
      familyId: this.decision.familyId ?? `fam_web_${randomBytes(6).toString('hex')}`,
    });
    this.stats.authorizationCodesIssued++;
    back.searchParams.set('code', code);
    return { status: 302, location: back.toString() };
  }

  /** grant_type=authorization_code at the token endpoint; client already authenticated. */
  authorizationCodeToken(form: URLSearchParams): FlavorOAuthAnswer {
    const record = this.authorizationCodes.get(form.get('code') ?? '');
    if (!record || Date.now() >= record.expiresAt) return this.flavor.login.badCode();
    if (record.used) {
      // A code presented twice was stolen or replayed: the grant it produced is revoked (RFC 6749 4.1.2).
      this.stats.codeReplays++;
      this.revoke(record.familyId);
      return this.flavor.login.badCode();
    }
    if (form.get('redirect_uri') !== record.redirectUri) return this.flavor.login.badCode();
    const verifier = form.get('code_verifier');
    if (record.challenge !== undefined || verifier !== null) {
      if (verifier === null || record.challenge === undefined || s256(verifier) !== record.challenge) {
        this.stats.pkceRefusals++;
        return this.flavor.login.badCode();
      }
    }
    record.used = true;
    return { status: 200, fields: this.issue(record.familyId) };
  }
}

const DEVICE_ERROR_TEXT: Record<Exclude<DeviceAnswer, 'tokens'>, string> = {
  authorization_pending: 'The authorization request is still pending.',
  slow_down: 'Too many requests have been made in the same timeframe.',
  access_denied: 'The authorization request was denied.',
  expired_token: 'The device_code has expired.',
  invalid_grant: 'The device_code was already used.',
};

/** RFC 7636 4.2: BASE64URL(SHA256(ASCII(code_verifier))). */
export function s256(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

/** http://127.0.0.1:ANY/callback or http://[::1]:ANY/callback: loopback redirects may use any port (RFC 8252 7.3). */
function isLoopbackCallback(text: string): boolean {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return false;
  }
  return url.protocol === 'http:' && (url.hostname === '127.0.0.1' || url.hostname === '[::1]') && url.pathname === '/callback';
}
