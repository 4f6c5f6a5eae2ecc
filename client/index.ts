// The agent-facing library: getToken (Update-with-Start), requestRefresh and relinked (signals), status.
import {
  Client,
  defaultGrpcRetryOptions,
  makeGrpcRetryInterceptor,
  WithStartWorkflowOperation,
  WorkflowClient,
  WorkflowNotFoundError,
} from '@temporalio/client';
import { setTimeout as sleep } from 'node:timers/promises';
import type { UpdateDefinition } from '@temporalio/common';
// The workflow's own freshness rule, with this host's clock instead of the run's last task time.
import { fingerprint } from '../core/fingerprint.js';
import { freshEnough } from '../core/freshness.js';
import { linkWorkflowId } from '../core/ids.js';
import type { LinkKey, LinkStatus, TokenGrant } from '../core/types.js';
import {
  cachedTokenQuery,
  deleteLinkUpdate,
  describeUpdate,
  getTokenUpdate,
  getTokenRequestProblem,
  refreshNowUpdate,
  relinkedSignal,
  requestRefreshSignal,
  statusQuery,
  touchedSignal,
  type CachedToken,
  type DeleteLinkResult,
  type GetTokenRequest,
  type LinkWorkflowInput,
  type RefreshRequest,
} from '../workflows/messages.js';
import type { linkWorkflow } from '../workflows/link.js';
import type { RevocationOutcome, revokeGrantWorkflow } from '../workflows/revoke-grant.js';
import { ExtauthError, isClosingRunRace, toExtauthError } from './errors.js';
import { TASK_FAILING_MESSAGE } from '../sdk-workarounds.js';

export { ExtauthError } from './errors.js';
export type { LinkStatus, TokenGrant } from '../core/types.js';

export interface LinkRef {
  provider: string;
  user: string;
}

export interface ExtauthClientOptions {
  taskQueue: string;
  /** How long getToken, refresh and status wait for an answer before giving up with provider_unavailable (default 180 s). */
  requestTimeoutMs?: number;
}

export const DEFAULT_MIN_VALID_SECONDS = 30;
/** Longer than the exchange and validation budgets together: only a run that cannot make progress reaches it. */
const DEFAULT_REQUEST_TIMEOUT_MS = 180_000;
const CLOSING_RUN_RETRIES = 5;
/** The fast path's query answers in milliseconds from a live worker (docs/performance.md, P1). */
const QUERY_PATIENCE_MS = 2_000;
/** How long a request keeps retrying the workflow's in-flight update limit (the refresh's own budgets are shorter). */
const IN_FLIGHT_LIMIT_PATIENCE_MS = 120_000;
const IN_FLIGHT_LIMIT = /in-flight updates/i;
/** The run's last workflow task failed or timed out: the server retries it; so do we (sdk-workarounds.ts, 2). */
const TASK_RETRYING = TASK_FAILING_MESSAGE;

/**
 * gRPC interceptors for the connection behind an ExtauthClient: the SDK's default retries, except that a link
 * workflow's in-flight update limit (10 on a default server: more agents than that asking one link at once) is
 * handed straight back to ExtauthClient. It re-reads the token (the refresh those updates wait for has usually
 * produced it) and retries within tens of milliseconds instead of the SDK's 1 s, 1.7 s, 2.9 s… backoff.
 */
export function extauthGrpcInterceptors() {
  const base = defaultGrpcRetryOptions();
  return [
    makeGrpcRetryInterceptor({
      delayFunction: base.delayFunction,
      retryableDecider: (attempt, status) => !IN_FLIGHT_LIMIT.test(status.details ?? '') && base.retryableDecider(attempt, status),
    }),
  ];
}

/** Whether the error, or one of its causes, says `pattern` (the SDK wraps gRPC errors: the detail is often a cause's). */
function saysAnywhere(err: unknown, pattern: RegExp): boolean {
  for (let e = err as { message?: unknown; details?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (pattern.test(String(e.message ?? '')) || pattern.test(String(e.details ?? ''))) return true;
  }
  return false;
}

export class ExtauthClient {
  constructor(
    readonly temporal: Client,
    private readonly options: ExtauthClientOptions,
  ) {
    const wf = temporal.workflow;
    // Fresh reads query the open run only: a closed run would be replayed and could be stale.
    this.reads = new WorkflowClient({
      connection: wf.connection,
      namespace: wf.options.namespace,
      identity: wf.options.identity,
      dataConverter: wf.options.loadedDataConverter,
      interceptors: wf.options.interceptors,
      queryRejectCondition: 'NOT_OPEN',
    });
  }

  private readonly reads: WorkflowClient;
  /** getToken calls in flight in this process, by link and margin: concurrent callers share one. */
  private readonly inflight = new Map<string, Promise<TokenGrant>>();
  /** Links with a `touched` signal on its way. */
  private readonly touching = new Set<string>();

  /**
   * A usable access token, refreshed if it has less than `minValidSeconds` left — except where a refresh would end the
   * token other agents hold before the expiry they were told: then the current token comes back with the life it has.
   * `expiresAt` is always a time until which the token stays usable (docs/providers.md, "What expiresAt means").
   * With `waitSeconds`, a link that needs re-authentication makes the call wait (without polling) until the user
   * re-links or the time is up. `rejectedFingerprint`: the provider refused (401) the token with this fingerprint.
   * Rejects with ExtauthError (never throws synchronously).
   */
  async getToken({
    provider,
    user,
    minValidSeconds = DEFAULT_MIN_VALID_SECONDS,
    waitSeconds = 0,
    rejectedFingerprint,
  }: LinkRef & { minValidSeconds?: number; waitSeconds?: number; rejectedFingerprint?: string }): Promise<TokenGrant> {
    const problem = getTokenRequestProblem({ minValidSeconds, waitSeconds, rejectedFingerprint });
    if (problem) throw new ExtauthError('invalid_request', problem);
    const id = `${linkWorkflowId(toKey({ provider, user }))}|${minValidSeconds}|${waitSeconds}|${rejectedFingerprint ?? ''}`;
    let call = this.inflight.get(id);
    if (!call) {
      const request = { minValidSeconds, waitSeconds, rejectedFingerprint };
      call = this.withRequestDeadline(() => this.fetchToken({ provider, user }, request), waitSeconds * 1000).finally(() =>
        this.inflight.delete(id),
      );
      this.inflight.set(id, call);
    }
    return call;
  }

  /** An agent never waits forever: past the deadline every call gives up and the request fails as unavailable. */
  private async withRequestDeadline<T>(fn: () => Promise<T>, extraMs = 0): Promise<T> {
    const timeoutMs = (this.options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS) + extraMs;
    const deadline = Date.now() + timeoutMs;
    try {
      return await this.temporal.withDeadline(deadline, fn);
    } catch (err) {
      if (err instanceof ExtauthError || Date.now() < deadline) throw err;
      throw new ExtauthError(
        'provider_unavailable',
        `no answer within ${Math.round(timeoutMs / 1000)} s; the link's run may be stuck: see \`extauth status\` and the Web UI`,
      );
    }
  }

  /** The open run's token if it is validated and fresh enough by this host's clock, else the getToken update. */
  private async fetchToken(
    link: LinkRef,
    { minValidSeconds, waitSeconds, rejectedFingerprint }: Omit<GetTokenRequest, 'nowMs'> & { waitSeconds: number },
  ): Promise<TokenGrant> {
    // A cached token serves unless it is the one reported refused (then only the run may decide) or too short.
    const serves = (cached: CachedToken | null): cached is CachedToken =>
      !!cached && (!rejectedFingerprint || fingerprint(cached.grant.accessToken) !== rejectedFingerprint) && goodFor(cached, minValidSeconds, Date.now());
    const cached = await this.cachedToken(link);
    if (serves(cached)) {
      this.touchIfDue(link, cached);
      return cached.grant;
    }
    // Turned away by the in-flight limit: other agents' refresh may have produced the token meanwhile.
    const recheck = async () => {
      const again = await this.cachedToken(link);
      return serves(again) ? again.grant : undefined;
    };
    // The clock is read for each attempt: a request retried after the in-flight limit judges freshness anew.
    const args = (): [GetTokenRequest] => [
      { minValidSeconds, nowMs: Date.now(), ...(waitSeconds ? { waitSeconds } : {}), ...(rejectedFingerprint ? { rejectedFingerprint } : {}) },
    ];
    const grant = await this.updateWithStart(link, getTokenUpdate, args, recheck);
    if (!deadOnArrival(grant, Date.now())) return grant;
    // The run judged the request by the clock it was sent with, but the answer came later than the token's expiry
    // (its worker died or lagged before the run saw the request): ask once more with the clock as it reads now.
    const again = await this.updateWithStart(link, getTokenUpdate, args, recheck);
    if (!deadOnArrival(again, Date.now())) return again;
    throw new ExtauthError('provider_unavailable', 'the link\'s run answered twice with a token already past its expiry; retry, and see `extauth status` if it persists');
  }

  /** Reads through the query leave no trace in the run: tell it now and then that the link is still in use. */
  private touchIfDue(link: LinkRef, cached: CachedToken): void {
    if (!cached.touchAfter || Date.now() < Date.parse(cached.touchAfter)) return;
    const id = linkWorkflowId(toKey(link));
    if (this.touching.has(id)) return;
    this.touching.add(id);
    this.temporal.workflow
      .getHandle(id)
      .signal(touchedSignal)
      .catch(() => undefined) // best effort: the next read tries again
      .finally(() => this.touching.delete(id));
  }

  private async cachedToken(link: LinkRef): Promise<CachedToken | null> {
    try {
      // A query waits for a worker: when the run's worker just died it can take ~30 s to fail. The update path
      // copes with that (its task moves to another worker after the sticky timeout), so the query gets 2 s.
      return await this.temporal.withDeadline(Date.now() + QUERY_PATIENCE_MS, () => this.reads.getHandle(linkWorkflowId(toKey(link))).query(cachedTokenQuery));
    } catch {
      return null; // no open run, a closed one, or an older worker without the query: the update answers
    }
  }

  /**
   * Forces an exchange now and waits for it; answers with the status after it. Where a refresh ends the token agents
   * hold, a token still within its told expiry is first checked at the provider: refused, it is replaced now; accepted,
   * the refresh is deferred to its told expiry (status `nextProactiveRefreshAt`) and the status answers at once.
   */
  refresh(link: LinkRef): Promise<LinkStatus> {
    return this.withRequestDeadline(() => this.updateWithStart(link, refreshNowUpdate, (): [RefreshRequest] => [{ nowMs: Date.now() }]));
  }

  /** Status of the link, loading it into a run if none is open. */
  status(link: LinkRef): Promise<LinkStatus> {
    return this.withRequestDeadline(() => this.updateWithStart(link, describeUpdate, []));
  }

  /** Status from the open run only, without writing history; undefined when no run is open. */
  async peekStatus(link: LinkRef): Promise<LinkStatus | undefined> {
    const handle = this.temporal.workflow.getHandle(linkWorkflowId(toKey(link)));
    try {
      // A closed run still answers queries (by replay): only an open one has a live state.
      if ((await handle.describe()).status.name !== 'RUNNING') return undefined;
      return await handle.query(statusQuery);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError || /not found|completed|closed/i.test(String((err as Error).message))) return undefined;
      throw err;
    }
  }

  /**
   * Deletes the link through its run (Update-with-Start): the row goes, agents waiting on the link and every later request
   * hear link_not_found. With `revoke`, the grant is revoked at the provider by a workflow of its own, named in the answer.
   */
  deleteLink(link: LinkRef, { revoke }: { revoke: boolean }): Promise<DeleteLinkResult> {
    return this.withRequestDeadline(() => this.updateWithStart(link, deleteLinkUpdate, [{ revoke }]));
  }

  /** A revocation's outcome, or undefined while it is still being retried after `waitMs`. */
  async revocationOutcome(workflowId: string, waitMs: number): Promise<RevocationOutcome | undefined> {
    const deadline = Date.now() + waitMs;
    try {
      return await this.temporal.withDeadline(deadline, () => this.temporal.workflow.getHandle<typeof revokeGrantWorkflow>(workflowId).result());
    } catch (err) {
      if (Date.now() >= deadline - 50) return undefined;
      throw err;
    }
  }

  /** Fire-and-forget forced refresh (signal-with-start). */
  async requestRefresh(link: LinkRef): Promise<void> {
    const key = toKey(link);
    await this.temporal.workflow.signalWithStart<typeof linkWorkflow, [RefreshRequest?]>('linkWorkflow', {
      workflowId: linkWorkflowId(key),
      taskQueue: this.options.taskQueue,
      args: [this.workflowInput(key)],
      staticSummary: linkSummary(key),
      signal: requestRefreshSignal,
      signalArgs: [{ nowMs: Date.now() }],
    });
  }

  /** Tells an open run that the row was rewritten by a re-link. Returns false when no run is open (the next one reads the row anyway). */
  async relinked(link: LinkRef): Promise<boolean> {
    try {
      await this.temporal.workflow.getHandle(linkWorkflowId(toKey(link))).signal(relinkedSignal);
      return true;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err;
    }
  }

  private async updateWithStart<R, A extends unknown[]>(
    link: LinkRef,
    update: UpdateDefinition<R, A>,
    args: A | (() => A),
    recheck?: () => Promise<R | undefined>,
  ): Promise<R> {
    const key = toKey(link);
    const patience = Date.now() + IN_FLIGHT_LIMIT_PATIENCE_MS;
    let turnedAway = 0;
    for (let attempt = 1; ; attempt++) {
      const startWorkflowOperation = new WithStartWorkflowOperation<typeof linkWorkflow>('linkWorkflow', {
        workflowId: linkWorkflowId(key),
        taskQueue: this.options.taskQueue,
        args: [this.workflowInput(key)],
        workflowIdConflictPolicy: 'USE_EXISTING',
        staticSummary: linkSummary(key),
      });
      try {
        return await this.temporal.workflow.executeUpdateWithStart(update, { args: typeof args === 'function' ? args() : args, startWorkflowOperation });
      } catch (err) {
        if (saysAnywhere(err, IN_FLIGHT_LIMIT) && Date.now() < patience) {
          attempt--;
          // Watch by Query (no update, no history) before asking for an update slot again: a storm of updates makes the
          // server drop workflow tasks ("task not found"), which evicts and replays the run.
          const until = Date.now() + Math.min(250 * 1.5 ** turnedAway++, 2_000) * (0.5 + Math.random());
          do {
            await sleep(Math.max(0, Math.min(100, until - Date.now())));
            const answer = await recheck?.();
            if (answer !== undefined) return answer;
          } while (Date.now() < until);
          continue;
        }
        if (attempt < CLOSING_RUN_RETRIES && isClosingRunRace(err)) continue;
        if (saysAnywhere(err, TASK_RETRYING)) {
          // Bounded by the request deadline: a run whose tasks keep failing ends as provider_unavailable.
          await sleep(Math.min(100 * 2 ** Math.min(attempt, 5), 2_000) * (0.5 + Math.random()));
          continue;
        }
        throw toExtauthError(err);
      }
    }
  }

  /** The input of runs this client starts (client/tuned-client.ts gives tests other budgets). */
  protected workflowInput(key: LinkKey): LinkWorkflowInput {
    return key;
  }
}

/** What the Web UI shows as the run's summary (encrypted like every payload; the codec server decodes it). */
function linkSummary(key: LinkKey): string {
  return `extauth link ${key.providerId}/${key.userId}`;
}

/**
 * Whether a cached token meets a request: fresh enough by this host's clock, or `firm` (the run will not replace it
 * before its told expiry, so the update would answer the same token) and not yet past that expiry.
 */
function goodFor(cached: CachedToken, minValidSeconds: number, nowMs: number): boolean {
  if (freshEnough(cached, minValidSeconds, nowMs)) return true;
  return !!cached.firm && cached.expiresAt !== null && nowMs < Date.parse(cached.expiresAt);
}

/** A token whose (told) expiry has passed by this host's clock: never handed to an agent. */
function deadOnArrival(grant: TokenGrant, nowMs: number): boolean {
  return grant.expiresAt !== null && Date.parse(grant.expiresAt) <= nowMs;
}

function toKey(link: LinkRef): LinkKey {
  if (!link.provider || !link.user) throw new ExtauthError('invalid_request', 'provider and user are required');
  return { providerId: link.provider, userId: link.user };
}
