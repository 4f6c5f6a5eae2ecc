// Not part of the agent API: a client whose runs get other timeouts and budgets. Tests, the history recorder, the
// soak and the benchmarks shorten budgets with it; production runs always use DEFAULT_TUNING.
import type { Client } from '@temporalio/client';
import type { LinkKey } from '../core/types.js';
import type { LinkWorkflowInput } from '../workflows/messages.js';
import type { Tuning } from '../workflows/policies.js';
import { ExtauthClient, type ExtauthClientOptions } from './index.js';

export class TunedExtauthClient extends ExtauthClient {
  constructor(temporal: Client, options: ExtauthClientOptions, private readonly tuning: Partial<Tuning> | undefined) {
    super(temporal, options);
  }

  protected override workflowInput(key: LinkKey): LinkWorkflowInput {
    return this.tuning ? { ...key, tuning: this.tuning } : key;
  }
}
