/**
 * A fake GitHub-App-style OAuth2 provider: a rotating refresh-token endpoint
 * (`POST /login/oauth/access_token`) and a token validation endpoint (`GET /user`),
 * with injectable faults so tests can reproduce every awkward provider behaviour.
 * The `flavor` option makes it behave as GitLab, Bitbucket, Microsoft Entra, Google or Atlassian instead (dev/fake-flavors.ts).
 * As GitHub and GitLab document, a refresh ends the access tokens issued before it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEVICE_CODE_GRANT, FakeLoginGrants, type FakeLoginOptions } from './fake-login.js';
import { FLAVORS, quotaHeaders, randomBase62, type FakeFlavor, type FieldValue, type FlavorName } from './fake-flavors.js';

export type FakeFault =
  | { kind: 'status'; status: number; body?: string; contentType?: string }
  | { kind: 'rate_limit'; retryAfterSeconds: number }
  | { kind: 'hang'; ms: number }
  | { kind: 'oauth_error'; error: string; description?: string; status?: number }
  | { kind: 'reset_after_rotate' }
  | { kind: 'omit_refresh_token' }
  /**
   * A broken answer (HTTP 200 unless `status` says otherwise). On the token endpoint `rotate: true` means the
   * provider rotated first and only the answer was mangled (the ambiguous case); default false (a proxy's
   * error page, say). `bytes` sizes the oversized body (default 4 MiB).
   */
  | { kind: 'malformed'; shape: MalformedShape; rotate?: boolean; status?: number; bytes?: number }
  | { kind: 'validate_401' }
  | { kind: 'validate_403' }
  | { kind: 'validate_403_rate_limited'; header: 'retry-after' | 'x-ratelimit-remaining' }
  | { kind: 'validate_429' }
  /** The flavor's own answer to a dead access token (GitHub 401, Google 400 invalid_token, Azure DevOps 401/203, …). */
  | { kind: 'validate_refused' };

export type MalformedShape = 'html_200' | 'truncated_json' | 'oversized' | 'missing_access_token' | 'non_utf8';

/**
 * Okta/Auth0-style refresh-token reuse detection. Presenting a rotated-away refresh token revokes the whole
 * family (every refresh and access token of the grant), unless it is the token rotated away last and that
 * happened at most `graceMs` ago: then the provider answers again with the same new tokens.
 */
export interface ReuseDetection {
  graceMs?: number;
}

export interface FakeProviderOptions {
  /** One latency for both endpoints, or per endpoint. */
  latencyMs?: number | { token?: number; validate?: number };
  /** Reuse detection for every family (override per family with setReuseDetection). Off by default (GitHub-style). */
  reuseDetection?: ReuseDetection;
  accessTokenLifetimeSeconds?: number;
  /** `refresh_token_expires_in` of every refresh token issued (GitHub: about 6 months); presented later, it is refused. */
  refreshTokenLifetimeSeconds?: number;
  clientId?: string;
  clientSecret?: string;
  /** Which provider it behaves as: paths, client auth, rotation, answer and error shapes. Default github. */
  flavor?: FlavorName;
  /** The sign-in grants' timing (device interval and code lifetime); default the flavor's. */
  login?: FakeLoginOptions;
}

export interface Grant {
  familyId: string;
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  refreshTokenExpiresIn: number;
}

export interface FakeProviderStats {
  tokenCalls: number;
  validateCalls: number;
  rotations: number;
  /** Calls answered with an injected fault. */
  faultsServed: number;
  tokenCallsByFamily: Map<string, number>;
  validateCallsByFamily: Map<string, number>;
  /** Families revoked because a rotated-away refresh token was presented outside the grace window. */
  reuseDetections: number;
  trippedFamilies: Set<string>;
  /** Reuses inside the grace window, answered with the same new tokens. */
  graceReplays: number;
  /** Rotations whose answer could not be sent because the client had already gone (a killed worker, say), by family. */
  undeliveredRotations: Map<string, number>;
  /** Calls of the revocation endpoint (link delete --revoke), answered or faulted. */
  revokeCalls: number;
  revokeCallsByFamily: Map<string, number>;
  /** Families whose grant a revocation call ended. */
  revokedFamilies: Set<string>;
}

type Endpoint = 'token' | 'validate' | 'revoke';
type Headers = Record<string, string>;

interface QueuedFault {
  fault: FakeFault;
  familyId: string | undefined;
  remaining: number;
  /** Only from this call number on (the family's count on the endpoint, or the global count when unscoped). */
  atCall: number | undefined;
}

interface RetiredRefreshToken {
  familyId: string;
  retiredAt: number;
  /** The refresh token that replaced it, and the answer that carried it (replayed inside the grace window). */
  successor: string;
  answer: OAuthAnswer['fields'];
}

interface AccessTokenRecord {
  familyId: string;
  expiresAt: number;
  revoked: boolean;
}

interface OAuthAnswer {
  status: number;
  fields: Record<string, FieldValue>;
  headers?: Headers;
}

interface ClientCredentials {
  id?: string | undefined;
  secret?: string | undefined;
}

const REFRESH_TOKEN_LIFETIME_SECONDS = 15_897_600;
const MAX_BODY_BYTES = 64 * 1024;
const ERROR_URI =
  'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors';
const DOCS_URL = 'https://docs.github.com/rest';

const DEFAULT_OVERSIZED_BYTES = 4 * 1024 * 1024;
const TOKEN_ONLY_FAULTS: ReadonlySet<FakeFault['kind']> = new Set([
  'oauth_error',
  'reset_after_rotate',
  'omit_refresh_token',
]);
const VALIDATE_ONLY_FAULTS: ReadonlySet<FakeFault['kind']> = new Set([
  'validate_401',
  'validate_403',
  'validate_403_rate_limited',
  'validate_429',
  'validate_refused',
]);

const newFamilyId = (): string => `fam_${randomBase62(12)}`;

export class FakeOAuthProvider {
  readonly baseUrl: string;
  readonly tokenUrl: string;
  readonly validateUrl: string;
  /** The authorization endpoint (browser sign-in, PKCE, loopback redirect). */
  readonly authorizeUrl: string;
  /** The device authorization endpoint; undefined for flavors without a documented device flow. */
  readonly deviceAuthorizationUrl: string | undefined;
  /** The revocation endpoint (`revocationUrl` of the providers file) and its style; undefined where the flavor has none. */
  readonly revocationUrl: string | undefined;
  readonly revocation: 'rfc7009' | 'github-grant' | undefined;
  /** The sign-in grants' state and the user's side of them (approve/deny), for tests. */
  readonly login: FakeLoginGrants;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly flavor: FakeFlavor;
  readonly stats: FakeProviderStats = {
    tokenCalls: 0,
    validateCalls: 0,
    rotations: 0,
    faultsServed: 0,
    tokenCallsByFamily: new Map(),
    validateCallsByFamily: new Map(),
    reuseDetections: 0,
    trippedFamilies: new Set(),
    graceReplays: 0,
    undeliveredRotations: new Map(),
    revokeCalls: 0,
    revokeCallsByFamily: new Map(),
    revokedFamilies: new Set(),
  };

  /** Called on every successful refresh, before the answer is sent (the demo arms faults with it). */
  onRotate: ((familyId: string) => void) | undefined;

  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly shutdown = new AbortController();
  private closing: Promise<void> | undefined;
  private readonly accessTokenLifetimeSeconds: number;
  private readonly refreshTokenLifetimeSeconds: number;
  /** Refresh token -> when it expires (epoch ms). */
  private readonly refreshTokenExpiry = new Map<string, number>();
  private readonly latencyMs: Record<Endpoint, number>;
  private readonly faults: Record<Endpoint, QueuedFault[]> = { token: [], validate: [], revoke: [] };
  /** familyId -> the one refresh token currently accepted (absent once revoked). */
  private readonly liveRefreshTokens = new Map<string, string>();
  /** Every refresh token ever issued -> its family, so dead tokens still map to a family for faults and stats. */
  private readonly refreshTokenFamilies = new Map<string, string>();
  private readonly accessTokens = new Map<string, AccessTokenRecord>();
  private readonly issued: string[] = [];
  private readonly defaultReuseDetection: ReuseDetection | undefined;
  private readonly reuseDetectionByFamily = new Map<string, ReuseDetection | false>();
  private readonly retired = new Map<string, RetiredRefreshToken>();
  /** Rotated-away refresh tokens a `rotate-keep-old` flavor (Entra) still accepts while their family lives. */
  private readonly stillAccepted = new Set<string>();

  static async start(options: FakeProviderOptions = {}): Promise<FakeOAuthProvider> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new FakeOAuthProvider(server, options);
  }

  private constructor(server: Server, options: FakeProviderOptions) {
    this.server = server;
    const { port } = server.address() as AddressInfo;
    this.baseUrl = `http://127.0.0.1:${port}`;
    this.flavor = FLAVORS[options.flavor ?? 'github'];
    this.tokenUrl = this.baseUrl + this.flavor.tokenPath;
    this.validateUrl = this.baseUrl + this.flavor.validatePath;
    this.clientId = options.clientId ?? 'fake-client-id';
    this.clientSecret = options.clientSecret ?? 'fake-client-secret';
    this.authorizeUrl = this.baseUrl + this.flavor.login.authorizePath;
    this.deviceAuthorizationUrl = this.flavor.login.device ? this.baseUrl + this.flavor.login.device.path : undefined;
    this.revocationUrl = this.flavor.revocation ? this.baseUrl + this.flavor.revocation.path : undefined;
    this.revocation = this.flavor.revocation?.style;
    this.login = new FakeLoginGrants(
      this.flavor,
      this.clientId,
      (familyId) => {
        const grant = this.issueGrant({ familyId });
        return this.flavor.tokenAnswer({
          access_token: grant.accessToken,
          expires_in: grant.expiresIn,
          refresh_token: grant.refreshToken,
          refresh_token_expires_in: grant.refreshTokenExpiresIn,
        });
      },
      (familyId) => this.revokeFamily(familyId),
      options.login,
    );
    this.accessTokenLifetimeSeconds =
      options.accessTokenLifetimeSeconds ?? this.flavor.accessTokenLifetimeSeconds;
    this.refreshTokenLifetimeSeconds = options.refreshTokenLifetimeSeconds ?? REFRESH_TOKEN_LIFETIME_SECONDS;
    const latency = typeof options.latencyMs === 'object' ? options.latencyMs : { token: options.latencyMs, validate: options.latencyMs };
    this.latencyMs = { token: nonNegative(latency.token ?? 0, 'latencyMs'), validate: nonNegative(latency.validate ?? 0, 'latencyMs'), revoke: 0 };
    const graceSeconds = this.flavor.oldPairGraceSeconds;
    this.defaultReuseDetection = options.reuseDetection ?? (graceSeconds ? { graceMs: graceSeconds * 1000 } : undefined);

    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      void this.route(req, res);
    });
  }

  issueGrant(opts: { familyId?: string; accessTokenLifetimeSeconds?: number; refreshTokenLifetimeSeconds?: number } = {}): Grant {
    const familyId = opts.familyId ?? newFamilyId();
    const expiresIn = opts.accessTokenLifetimeSeconds ?? this.accessTokenLifetimeSeconds;
    const refreshTokenExpiresIn = opts.refreshTokenLifetimeSeconds ?? this.refreshTokenLifetimeSeconds;
    const accessToken = this.mintAccessToken(familyId, expiresIn);
    const refreshToken = this.mintRefreshToken(familyId, refreshTokenExpiresIn);
    return { familyId, accessToken, refreshToken, expiresIn, refreshTokenExpiresIn };
  }

  liveRefreshToken(familyId: string): string | undefined {
    return this.liveRefreshTokens.get(familyId);
  }

  isAccessTokenValid(accessToken: string): boolean {
    const record = this.accessTokens.get(accessToken);
    return record !== undefined && !record.revoked && Date.now() < record.expiresAt;
  }

  /** The family (link) of an access token the provider accepts now; undefined when unknown, expired or revoked. */
  liveAccessTokenFamily(accessToken: string): string | undefined {
    return this.isAccessTokenValid(accessToken) ? this.accessTokens.get(accessToken)?.familyId : undefined;
  }

  /** When the provider stops accepting this access token on its own (epoch ms), if it knows it. */
  accessTokenExpiresAt(accessToken: string): number | undefined {
    return this.accessTokens.get(accessToken)?.expiresAt;
  }

  /** Ends one access token (a user or an admin revoked it); the grant and its refresh token live on. */
  revokeAccessToken(accessToken: string): void {
    const record = this.accessTokens.get(accessToken);
    if (record) record.revoked = true;
  }

  revokeFamily(familyId: string): void {
    this.liveRefreshTokens.delete(familyId);
    this.revokeAccessTokens(familyId);
  }

  /** Revokes every access token of the family (GitHub and GitLab do it on each refresh), or after `graceMs`. */
  private revokeAccessTokens(familyId: string, graceMs = 0): void {
    for (const record of this.accessTokens.values()) {
      if (record.familyId !== familyId) continue;
      if (graceMs > 0) record.expiresAt = Math.min(record.expiresAt, Date.now() + graceMs);
      else record.revoked = true;
    }
  }

  private stillAcceptedIn(familyId: string, presented: string): boolean {
    return this.liveRefreshTokens.has(familyId) && this.stillAccepted.has(presented);
  }

  /**
   * Queues a fault for the next `times` matching calls (FIFO). `familyId` scopes it to one grant (link);
   * `atCall` (1-based) holds it back until that call number: the family's count of calls on this endpoint,
   * or the provider's total when unscoped. Calls count whether or not they are faulted.
   */
  injectFault(
    endpoint: Endpoint,
    fault: FakeFault,
    opts: { familyId?: string; times?: number; atCall?: number } = {},
  ): void {
    const forbidden = endpoint === 'token' ? VALIDATE_ONLY_FAULTS : TOKEN_ONLY_FAULTS;
    if (forbidden.has(fault.kind) || (endpoint === 'revoke' && VALIDATE_ONLY_FAULTS.has(fault.kind))) {
      throw new TypeError(`fault '${fault.kind}' does not apply to the ${endpoint} endpoint`);
    }
    const times = opts.times ?? 1;
    if (!Number.isInteger(times) || times < 1) {
      throw new RangeError(`times must be a positive integer, got ${times}`);
    }
    if (opts.atCall !== undefined && (!Number.isInteger(opts.atCall) || opts.atCall < 1)) {
      throw new RangeError(`atCall must be a positive integer, got ${opts.atCall}`);
    }
    this.faults[endpoint].push({ fault, familyId: opts.familyId, remaining: times, atCall: opts.atCall });
  }

  /**
   * Scripts one family's calls on an endpoint by call number: `script[i]` answers call i + 1 counted from
   * now (`null` = answer normally). Deterministic however calls interleave with other families.
   */
  scriptFaults(endpoint: Endpoint, familyId: string, script: ReadonlyArray<FakeFault | null>): void {
    const base = this.callsByFamily(endpoint).get(familyId) ?? 0;
    script.forEach((fault, i) => {
      if (fault) this.injectFault(endpoint, fault, { familyId, atCall: base + i + 1 });
    });
  }

  /** Drops queued faults (of one family, or all). */
  clearFaults(familyId?: string): void {
    for (const endpoint of ['token', 'validate', 'revoke'] as const) {
      this.faults[endpoint] = this.faults[endpoint].filter((q) => familyId !== undefined && q.familyId !== familyId);
    }
  }

  /** Reuse detection for one family: settings, or false for none; overrides the provider-wide option. */
  setReuseDetection(familyId: string, detection: ReuseDetection | false): void {
    this.reuseDetectionByFamily.set(familyId, detection);
  }

  private reuseDetectionOf(familyId: string): ReuseDetection | undefined {
    const own = this.reuseDetectionByFamily.get(familyId);
    return own === false ? undefined : (own ?? this.defaultReuseDetection);
  }

  setLatency(endpoint: Endpoint, ms: number): void {
    this.latencyMs[endpoint] = nonNegative(ms, 'latency');
  }

  issuedTokens(): string[] {
    return [...this.issued];
  }

  close(): Promise<void> {
    this.closing ??= this.stop();
    return this.closing;
  }

  private async stop(): Promise<void> {
    // Aborting wakes every pending latency/hang wait, so no handler outlives the server.
    this.shutdown.abort();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.server.closeAllConnections();
    await closed;
  }

  // --- token issuance -------------------------------------------------------

  private mintAccessToken(familyId: string, lifetimeSeconds: number): string {
    const token = this.flavor.newAccessToken();
    this.accessTokens.set(token, {
      familyId,
      expiresAt: Date.now() + lifetimeSeconds * 1000,
      revoked: false,
    });
    this.issued.push(token);
    return token;
  }

  private mintRefreshToken(familyId: string, lifetimeSeconds = this.refreshTokenLifetimeSeconds): string {
    const token = this.flavor.newRefreshToken();
    this.refreshTokenFamilies.set(token, familyId);
    this.refreshTokenExpiry.set(token, Date.now() + lifetimeSeconds * 1000);
    this.liveRefreshTokens.set(familyId, token);
    this.issued.push(token);
    return token;
  }

  /** A successful refresh: new access token and, unless kept, a new refresh token that kills the old one. */
  private rotate(familyId: string, keepRefreshToken: boolean): OAuthAnswer['fields'] {
    const expiresIn = this.accessTokenLifetimeSeconds;
    if (this.flavor.refreshRevokesAccessTokens) this.revokeAccessTokens(familyId, (this.flavor.oldPairGraceSeconds ?? 0) * 1000);
    const accessToken = this.mintAccessToken(familyId, expiresIn);
    this.stats.rotations++;
    this.onRotate?.(familyId);
    const policy = keepRefreshToken ? 'omit' : this.flavor.refreshTokens;
    if (policy === 'omit') return this.flavor.tokenAnswer({ access_token: accessToken, expires_in: expiresIn });
    const previous = this.liveRefreshTokens.get(familyId);
    if (policy === 'same' && previous !== undefined) {
      return this.flavor.tokenAnswer({ access_token: accessToken, expires_in: expiresIn, refresh_token: previous });
    }
    const refreshToken = this.mintRefreshToken(familyId);
    const answer = this.flavor.tokenAnswer({
      access_token: accessToken,
      expires_in: expiresIn,
      refresh_token: refreshToken,
      refresh_token_expires_in: this.refreshTokenLifetimeSeconds,
    });
    if (previous !== undefined && policy === 'rotate-keep-old') {
      this.stillAccepted.add(previous);
    } else if (previous !== undefined) {
      this.retired.set(previous, { familyId, retiredAt: Date.now(), successor: refreshToken, answer });
    }
    return answer;
  }

  /** A known but dead refresh token was presented: GitHub's plain refusal, or reuse detection. */
  private refuseDeadToken(presented: string, familyId: string): OAuthAnswer {
    const detection = this.reuseDetectionOf(familyId);
    const retired = this.retired.get(presented);
    const live = this.liveRefreshTokens.get(familyId);
    if (detection && live === undefined) return oauthError(400, 'invalid_grant', 'The grant was revoked.');
    if (!detection || !retired) {
      // The provider's plain refusal (GitHub: HTTP 200 and an error body).
      return this.flavor.deadRefreshToken();
    }
    const elapsedMs = Date.now() - retired.retiredAt;
    if (live !== undefined && live === retired.successor && elapsedMs <= (detection.graceMs ?? 0)) {
      this.stats.graceReplays++;
      // The same tokens, with the lifetime they have left (rounded down, as a real server would count it).
      const expiresIn = Math.max(0, Number(retired.answer.expires_in) - Math.ceil(elapsedMs / 1000));
      return { status: 200, fields: { ...retired.answer, expires_in: expiresIn } };
    }
    if (live !== undefined) {
      this.stats.reuseDetections++;
      this.stats.trippedFamilies.add(familyId);
      this.revokeFamily(familyId);
    }
    return oauthError(400, 'invalid_grant', 'Refresh token reuse detected; the grant was revoked.');
  }

  // --- request handling -----------------------------------------------------

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const path = new URL(req.url ?? '/', this.baseUrl).pathname;
      if (this.flavor.isTokenPath(path)) {
        if (req.method !== 'POST') return sendMethodNotAllowed(res, 'POST');
        return await this.handleToken(req, res);
      }
      if (this.flavor.login.isAuthorizePath(path)) {
        if (req.method !== 'GET') return sendMethodNotAllowed(res, 'GET');
        const answer = this.login.authorize(new URL(req.url ?? '/', this.baseUrl).searchParams);
        if (answer.status === 302) {
          res.writeHead(302, { location: answer.location, 'content-length': 0 });
          res.end();
          return;
        }
        return send(res, 400, `<!DOCTYPE html><html><body><h1>Bad request</h1><p>${answer.message}</p></body></html>`, 'text/html; charset=utf-8');
      }
      if (this.flavor.login.device?.isPath(path)) {
        if (req.method !== 'POST') return sendMethodNotAllowed(res, 'POST');
        const form = await readForm(req);
        const answer = form ? this.login.deviceAuthorization(form) : oauthError(400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded.');
        return sendOAuth(res, !this.flavor.formUnlessJson || wantsJson(req), answer);
      }
      const revocation = this.flavor.revocation?.match(path);
      if (revocation !== undefined) {
        const method = this.flavor.revocation!.style === 'github-grant' ? 'DELETE' : 'POST';
        if (req.method !== method) return sendMethodNotAllowed(res, method);
        return await this.handleRevoke(req, res, revocation);
      }
      if (this.flavor.isValidatePath(path)) {
        if (!this.flavor.validateMethods.includes(req.method ?? '')) return sendMethodNotAllowed(res, this.flavor.validateMethods.join(', '));
        return await this.handleValidate(req, res);
      }
      sendJson(res, 404, { message: 'Not Found', documentation_url: DOCS_URL });
    } catch (err) {
      if (!res.headersSent) sendJson(res, 500, { message: `fake provider error: ${String(err)}` });
      else res.destroy();
    }
  }

  private async handleToken(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = await readForm(req);
    const presented = form?.get('refresh_token') ?? undefined;
    const familyId = presented === undefined ? undefined : this.refreshTokenFamilies.get(presented);
    this.countCall('token', familyId);
    const fault = this.takeFault('token', familyId);
    if (!(await this.delay('token', fault))) return;

    const json = !this.flavor.formUnlessJson || wantsJson(req);
    if (this.answerCommonFault(res, fault)) return;
    if (fault?.kind === 'oauth_error') {
      const status = fault.status ?? (fault.error === 'bad_refresh_token' ? 200 : 400);
      return sendOAuth(res, json, oauthError(status, fault.error, fault.description));
    }

    if (fault?.kind === 'malformed') {
      // Rotate first only when asked to: then the new tokens exist and the client cannot read them.
      if (fault.rotate) this.exchange(req, form, false);
      return sendMalformed(res, fault);
    }
    const answer = this.exchange(req, form, fault?.kind === 'omit_refresh_token');
    if (fault?.kind === 'reset_after_rotate') {
      // The ambiguous case: the provider rotated, but the client never learns the new tokens.
      req.socket.destroy();
      return;
    }
    if ((res.destroyed || req.socket.destroyed) && familyId !== undefined && 'refresh_token' in answer.fields) {
      this.stats.undeliveredRotations.set(familyId, (this.stats.undeliveredRotations.get(familyId) ?? 0) + 1);
    }
    sendOAuth(res, json, answer);
  }

  private exchange(
    req: IncomingMessage,
    form: URLSearchParams | undefined,
    keepRefreshToken: boolean,
  ): OAuthAnswer {
    if (!form) {
      return oauthError(400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded.');
    }
    const grantType = form.get('grant_type');
    // A public client's device grant comes with client_id alone (GitHub, GitLab, Entra; not Google).
    const publicClient = grantType === DEVICE_CODE_GRANT && this.flavor.login.device?.publicClient === true && !form.has('client_secret') && !req.headers.authorization;
    const clientError = publicClient
      ? form.get('client_id') === this.clientId ? undefined : this.flavor.invalidClient(false)
      : this.authenticateClient(req.headers.authorization, form);
    if (clientError) return clientError;
    if (grantType === DEVICE_CODE_GRANT && this.flavor.login.device) return this.login.deviceToken(form);
    if (grantType === 'authorization_code') return this.login.authorizationCodeToken(form);
    if (grantType !== 'refresh_token') {
      return oauthError(400, 'unsupported_grant_type', 'Only grant_type=refresh_token is supported.');
    }
    const presented = form.get('refresh_token');
    if (!presented) return oauthError(400, 'invalid_request', 'Missing refresh_token.');
    const familyId = this.refreshTokenFamilies.get(presented);
    if (familyId === undefined) return this.flavor.deadRefreshToken();
    if (this.liveRefreshTokens.get(familyId) !== presented && !this.stillAcceptedIn(familyId, presented)) {
      return this.refuseDeadToken(presented, familyId);
    }
    if (Date.now() >= (this.refreshTokenExpiry.get(presented) ?? Infinity)) {
      // GitHub refuses an expired refresh token exactly as a dead one (so does the flavor's provider here).
      return this.flavor.deadRefreshToken();
    }
    return { status: 200, fields: this.rotate(familyId, keepRefreshToken) };
  }

  private authenticateClient(
    authorization: string | undefined,
    form: URLSearchParams,
  ): OAuthAnswer | undefined {
    const basic = parseBasicAuth(authorization);
    const inForm = form.has('client_id') || form.has('client_secret');
    if (basic && inForm) {
      return oauthError(400, 'invalid_request', 'Use only one client authentication method.');
    }
    if (this.flavor.clientAuth === 'basic' && !basic) return this.flavor.invalidClient(false);
    const credentials: ClientCredentials = basic ?? {
      id: form.get('client_id') ?? undefined,
      secret: form.get('client_secret') ?? undefined,
    };
    if (credentials.id === this.clientId && credentials.secret === this.clientSecret) return undefined;
    return this.flavor.invalidClient(basic !== undefined);
  }

  private async handleValidate(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const token = parseBearer(req.headers.authorization);
    const familyId = token === undefined ? undefined : this.accessTokens.get(token)?.familyId;
    this.countCall('validate', familyId);
    const fault = this.takeFault('validate', familyId);
    if (!(await this.delay('validate', fault))) return;

    if (this.answerCommonFault(res, fault)) return;
    switch (fault?.kind) {
      case 'malformed':
        return sendMalformed(res, fault);
      case 'validate_401':
        return sendJson(res, 401, { message: 'Bad credentials', documentation_url: DOCS_URL });
      case 'validate_403':
        return sendJson(res, 403, {
          message: 'Resource not accessible by integration',
          documentation_url: DOCS_URL,
        });
      case 'validate_403_rate_limited':
        return sendJson(res, 403, rateLimitedBody(), rateLimitHeaders(fault.header));
      case 'validate_429':
        return sendJson(res, 429, rateLimitedBody());
    }
    const record = token === undefined ? undefined : this.accessTokens.get(token);
    const context = { clientId: this.clientId, requestHeaders: req.headers };
    const answer =
      fault?.kind !== 'validate_refused' && token !== undefined && record !== undefined && this.isAccessTokenValid(token)
        ? this.flavor.validateOk({ ...context, familyId: record.familyId, remainingSeconds: Math.floor((record.expiresAt - Date.now()) / 1000) })
        : this.flavor.validateRefused(context);
    send(res, answer.status, answer.body, answer.contentType, answer.headers);
  }

  /** Faults that look the same on both endpoints. Returns true when it answered. */
  private answerCommonFault(res: ServerResponse, fault: FakeFault | undefined): boolean {
    if (fault?.kind === 'status') {
      const body = fault.body ?? `<html><body><h1>${fault.status} Fake Provider Error</h1></body></html>`;
      send(res, fault.status, body, fault.contentType ?? 'text/html; charset=utf-8');
      return true;
    }
    if (fault?.kind === 'rate_limit') {
      sendJson(res, 429, rateLimitedBody(), { 'retry-after': String(fault.retryAfterSeconds) });
      return true;
    }
    return false;
  }

  private callsByFamily(endpoint: Endpoint): Map<string, number> {
    return { token: this.stats.tokenCallsByFamily, validate: this.stats.validateCallsByFamily, revoke: this.stats.revokeCallsByFamily }[endpoint];
  }

  private countCall(endpoint: Endpoint, familyId: string | undefined): void {
    const byFamily = this.callsByFamily(endpoint);
    if (endpoint === 'token') this.stats.tokenCalls++;
    else if (endpoint === 'validate') this.stats.validateCalls++;
    else this.stats.revokeCalls++;
    if (familyId !== undefined) byFamily.set(familyId, (byFamily.get(familyId) ?? 0) + 1);
  }

  private callNumber(endpoint: Endpoint, familyId: string | undefined): number {
    if (familyId === undefined) return { token: this.stats.tokenCalls, validate: this.stats.validateCalls, revoke: this.stats.revokeCalls }[endpoint];
    return this.callsByFamily(endpoint).get(familyId) ?? 0;
  }

  /**
   * `link delete --revoke`. RFC 7009 (GitLab, Google): the client authenticates as at the token endpoint; a refresh
   * token ends its grant (2.1: the access tokens of the same grant too), an access token ends itself; an unknown or dead
   * token is answered 200 (2.2; Google: 400 invalid_token). GitHub: HTTP Basic client_id:client_secret, the client id in
   * the path, a valid access token in the JSON body ends the whole grant (204); an invalid one is 422.
   */
  private async handleRevoke(req: IncomingMessage, res: ServerResponse, pathClientId: string): Promise<void> {
    const revocation = this.flavor.revocation!;
    const body = await readBody(req);
    const github = revocation.style === 'github-grant';
    const form = github ? undefined : formOf(req, body);
    const presented = github ? jsonField(body, 'access_token') : (form?.get('token') ?? undefined);
    const familyId = presented === undefined ? undefined : (this.refreshTokenFamilies.get(presented) ?? this.accessTokens.get(presented)?.familyId);
    this.countCall('revoke', familyId);
    const fault = this.takeFault('revoke', familyId);
    if (!(await this.delay('revoke', fault))) return;
    if (this.answerCommonFault(res, fault)) return;

    if (github) {
      const basic = parseBasicAuth(req.headers.authorization);
      if (!basic || basic.id !== this.clientId || basic.secret !== this.clientSecret) return sendJson(res, 401, { message: 'Bad credentials', documentation_url: DOCS_URL });
      if (decodeURIComponent(pathClientId) !== this.clientId) return sendJson(res, 404, { message: 'Not Found', documentation_url: DOCS_URL });
      if (presented === undefined || !this.isAccessTokenValid(presented)) {
        return sendJson(res, 422, { message: 'Validation Failed', errors: [{ resource: 'Authorization', code: 'invalid', field: 'access_token' }], documentation_url: DOCS_URL });
      }
      this.endGrant(familyId!);
      res.writeHead(204);
      res.end();
      return;
    }
    if (!form) return sendJson(res, 400, oauthError(400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded.').fields);
    const clientError = this.authenticateClient(req.headers.authorization, form);
    if (clientError) return sendOAuth(res, true, clientError);
    if (!presented) return sendJson(res, 400, oauthError(400, 'invalid_request', 'Missing token.').fields);
    const hint = form.get('token_type_hint');
    if (hint !== null && hint !== 'refresh_token' && hint !== 'access_token') {
      return sendJson(res, 400, oauthError(400, 'unsupported_token_type', 'The authorization server does not support the revocation of the presented token type.').fields);
    }
    const liveRefresh = familyId !== undefined && this.liveRefreshTokens.get(familyId) === presented;
    if (liveRefresh) this.endGrant(familyId);
    else if (this.isAccessTokenValid(presented)) this.revokeAccessToken(presented);
    else if (revocation.unknownToken) return sendOAuth(res, true, revocation.unknownToken());
    sendJson(res, 200, {});
  }

  /** The grant is gone: its refresh token and every access token it issued are dead. */
  private endGrant(familyId: string): void {
    this.revokeFamily(familyId);
    this.stats.revokedFamilies.add(familyId);
  }

  /** First queued fault (FIFO) that is unscoped or scoped to this family, and due; consumes one of its `times`. */
  private takeFault(endpoint: Endpoint, familyId: string | undefined): FakeFault | undefined {
    const queue = this.faults[endpoint];
    const index = queue.findIndex(
      (q) =>
        (q.familyId === undefined || q.familyId === familyId) &&
        (q.atCall === undefined || this.callNumber(endpoint, q.familyId) >= q.atCall),
    );
    const entry = queue[index];
    if (!entry) return undefined;
    entry.remaining--;
    if (entry.remaining === 0) queue.splice(index, 1);
    this.stats.faultsServed++;
    return entry.fault;
  }

  /** Waits latency (+ hang). Returns false if the provider shut down meanwhile. */
  private async delay(endpoint: Endpoint, fault: FakeFault | undefined): Promise<boolean> {
    const ms = this.latencyMs[endpoint] + (fault?.kind === 'hang' ? fault.ms : 0);
    if (this.shutdown.signal.aborted) return false;
    if (ms <= 0) return true;
    try {
      await sleep(ms, undefined, { signal: this.shutdown.signal });
      return true;
    } catch {
      return false;
    }
  }
}

// --- HTTP helpers -------------------------------------------------------------

function nonNegative(ms: number, name: string): number {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`${name} must be a non-negative number, got ${ms}`);
  return ms;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function formOf(req: IncomingMessage, body: string): URLSearchParams | undefined {
  const contentType = req.headers['content-type'] ?? '';
  return contentType.toLowerCase().startsWith('application/x-www-form-urlencoded') ? new URLSearchParams(body) : undefined;
}

function jsonField(body: string, field: string): string | undefined {
  try {
    const value = (JSON.parse(body) as Record<string, unknown>)?.[field];
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The form body, or undefined when the request is not form-encoded. */
async function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  return formOf(req, await readBody(req));
}

function wantsJson(req: IncomingMessage): boolean {
  return (req.headers.accept ?? '').toLowerCase().includes('application/json');
}

/** Basic credentials are form-urlencoded before base64 (RFC 6749 §2.3.1). Malformed → empty credentials. */
function parseBasicAuth(header: string | undefined): ClientCredentials | undefined {
  const match = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return {};
  try {
    return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    return {};
  }
}

function formDecode(value: string): string {
  return decodeURIComponent(value.replace(/\+/g, ' '));
}

function parseBearer(header: string | undefined): string | undefined {
  return /^(?:Bearer|token)\s+(\S+)$/i.exec(header ?? '')?.[1];
}

function oauthError(status: number, error: string, description?: string): OAuthAnswer {
  const fields: OAuthAnswer['fields'] = { error };
  if (description !== undefined) fields.error_description = description;
  fields.error_uri = ERROR_URI;
  return { status, fields };
}

function rateLimitedBody(): object {
  return { message: 'API rate limit exceeded for user ID 123.', documentation_url: DOCS_URL };
}

function rateLimitHeaders(kind: 'retry-after' | 'x-ratelimit-remaining'): Headers {
  if (kind === 'retry-after') return { 'retry-after': '60' };
  return { ...quotaHeaders(), 'x-ratelimit-remaining': '0', 'x-ratelimit-used': '5000' };
}

/** GitHub's token endpoint answers form-encoded unless the client asks for JSON. */
function sendOAuth(res: ServerResponse, json: boolean, answer: OAuthAnswer): void {
  if (json) return sendJson(res, answer.status, answer.fields, answer.headers);
  const form = new URLSearchParams();
  for (const [key, value] of Object.entries(answer.fields)) form.set(key, String(value));
  send(res, answer.status, form.toString(), 'application/x-www-form-urlencoded; charset=utf-8', answer.headers);
}

/** The broken answers of the `malformed` fault. */
function sendMalformed(res: ServerResponse, fault: Extract<FakeFault, { kind: 'malformed' }>): void {
  const status = fault.status ?? 200;
  switch (fault.shape) {
    case 'html_200':
      return send(res, status, '<!DOCTYPE html><html><body><h1>Service temporarily unavailable</h1><p>Please try again later.</p></body></html>', 'text/html; charset=utf-8');
    case 'truncated_json':
      return send(res, status, '{"access_token":"ghu_', 'application/json; charset=utf-8');
    case 'missing_access_token':
      return sendJson(res, status, { token_type: 'bearer', expires_in: 28800, scope: '' });
    case 'non_utf8': {
      if (res.destroyed) return;
      const body = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x7d]); // {"a":"\xff\xfe\xc3("}
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
      res.end(body);
      return;
    }
    case 'oversized': {
      if (res.destroyed) return;
      const size = fault.bytes ?? DEFAULT_OVERSIZED_BYTES;
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': size + 2 });
      res.write('"');
      // Written in chunks; a client that stops reading closes the socket and the rest is dropped.
      for (let sent = 0; sent < size && !res.destroyed; sent += chunk.length) res.write(chunk.subarray(0, Math.min(chunk.length, size - sent)));
      res.end('"');
      return;
    }
  }
}

function sendJson(res: ServerResponse, status: number, body: object, headers?: Headers): void {
  send(res, status, JSON.stringify(body), 'application/json; charset=utf-8', headers);
}

function sendMethodNotAllowed(res: ServerResponse, allow: string): void {
  sendJson(res, 405, { message: 'Method Not Allowed' }, { allow });
}

function send(res: ServerResponse, status: number, body: string, contentType: string, headers?: Headers): void {
  // The client may have gone away during a hang; the work is done, there is just nobody to tell.
  if (res.destroyed) return;
  res.writeHead(status, { ...headers, 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
