import { ApplicationFailure } from '@temporalio/activity';
import { ActivityFailure } from '../core/failures.js';
import type { ProviderConfig } from '../providers/config.js';
import type { ActivityDeps } from './deps.js';

export function requireProvider(deps: ActivityDeps, providerId: string): ProviderConfig {
  const provider = deps.providers.get(providerId);
  if (!provider) {
    throw ApplicationFailure.nonRetryable(
      `provider "${providerId}" is not configured (known: ${deps.providers.ids().join(', ') || 'none'})`,
      ActivityFailure.UnknownProvider,
    );
  }
  return provider;
}
