import type { LinkKey } from '../core/types.js';
import { clearReauthRequiredSince } from '../store/links.js';
import type { ActivityDeps } from './deps.js';

export interface AcknowledgeRecoveryInput extends LinkKey {
  /** The snapshot's reauthRequiredSince: only that entry into reauth_required is forgotten, not a newer one. */
  since: string;
}

/** The run announced `link.recovered`: the row forgets the reauth_required it recovered from, so no later run repeats it. */
export function makeAcknowledgeRecovery(deps: ActivityDeps) {
  return async function acknowledgeRecovery(input: AcknowledgeRecoveryInput): Promise<void> {
    await clearReauthRequiredSince(deps.pool, input, new Date(input.since));
  };
}
