// The agent-facing library: getToken (Update-with-Start), requestRefresh and relinked (signals), status.
import { Client, WithStartWorkflowOperation, WorkflowNotFoundError } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import { linkWorkflowId } from '../core/ids.js';
import type { LinkKey, LinkStatus, TokenGrant } from '../core/types.js';
import {
  describeUpdate,
  getTokenUpdate,
  MAX_MIN_VALID_SECONDS,
  refreshNowUpdate,
  relinkedSignal,
  requestRefreshSignal,
  statusQuery,
  type LinkWorkflowInput,
} from '../workflows/messages.js';
import type { Tuning } from '../workflows/policies.js';
import type { linkWorkflow } from '../workflows/link.js';
import { ExtauthError, isClosingRunRace, toExtauthError } from './errors.js';

export { ExtauthError } from './errors.js';
export type { LinkStatus, TokenGrant } from '../core/types.js';

export interface LinkRef {
  provider: string;
  user: string;
}

export interface ExtauthClientOptions {
  taskQueue: string;
  /** Passed to runs this client starts; tests shorten budgets with it. */
  tuning?: Partial<Tuning>;
}

export const DEFAULT_MIN_VALID_SECONDS = 30;
const CLOSING_RUN_RETRIES = 5;

export class ExtauthClient {
  constructor(
    readonly temporal: Client,
    private readonly options: ExtauthClientOptions,
  ) {}

  /** A usable access token, refreshed if it has less than `minValidSeconds` left. Throws ExtauthError. */
  getToken({ provider, user, minValidSeconds = DEFAULT_MIN_VALID_SECONDS }: LinkRef & { minValidSeconds?: number }): Promise<TokenGrant> {
    if (!Number.isFinite(minValidSeconds) || minValidSeconds < 0 || minValidSeconds > MAX_MIN_VALID_SECONDS) {
      throw new ExtauthError('invalid_request', `minValidSeconds must be between 0 and ${MAX_MIN_VALID_SECONDS}`);
    }
    return this.updateWithStart({ provider, user }, getTokenUpdate, [{ minValidSeconds }]);
  }

  /** Forces an exchange now and waits for it; answers with the status after it. */
  refresh(link: LinkRef): Promise<LinkStatus> {
    return this.updateWithStart(link, refreshNowUpdate, []);
  }

  /** Status of the link, loading it into a run if none is open. */
  status(link: LinkRef): Promise<LinkStatus> {
    return this.updateWithStart(link, describeUpdate, []);
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

  /** Fire-and-forget forced refresh (signal-with-start). */
  async requestRefresh(link: LinkRef): Promise<void> {
    const key = toKey(link);
    await this.temporal.workflow.signalWithStart<typeof linkWorkflow, []>('linkWorkflow', {
      workflowId: linkWorkflowId(key),
      taskQueue: this.options.taskQueue,
      args: [this.workflowInput(key)],
      staticSummary: linkSummary(key),
      signal: requestRefreshSignal,
      signalArgs: [],
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

  private async updateWithStart<R, A extends unknown[]>(link: LinkRef, update: UpdateDefinition<R, A>, args: A): Promise<R> {
    const key = toKey(link);
    for (let attempt = 1; ; attempt++) {
      const startWorkflowOperation = new WithStartWorkflowOperation<typeof linkWorkflow>('linkWorkflow', {
        workflowId: linkWorkflowId(key),
        taskQueue: this.options.taskQueue,
        args: [this.workflowInput(key)],
        workflowIdConflictPolicy: 'USE_EXISTING',
        staticSummary: linkSummary(key),
      });
      try {
        return await this.temporal.workflow.executeUpdateWithStart(update, { args, startWorkflowOperation });
      } catch (err) {
        if (attempt < CLOSING_RUN_RETRIES && isClosingRunRace(err)) continue;
        throw toExtauthError(err);
      }
    }
  }

  private workflowInput(key: LinkKey): LinkWorkflowInput {
    return this.options.tuning ? { ...key, tuning: this.options.tuning } : key;
  }
}

/** What the Web UI shows as the run's summary (encrypted like every payload; the codec server decodes it). */
function linkSummary(key: LinkKey): string {
  return `extauth link ${key.providerId}/${key.userId}`;
}

function toKey(link: LinkRef): LinkKey {
  if (!link.provider || !link.user) throw new ExtauthError('invalid_request', 'provider and user are required');
  return { providerId: link.provider, userId: link.user };
}
