// Which provider's token a git host gets: the providers file's `hosts` field.
import { ProvidersConfigError, type ProviderConfig } from '../../providers/config.js';

/**
 * The provider whose `hosts` lists `host` (`hostname` or `hostname:port`, exactly, case-insensitive); undefined
 * when none does (a provider without `hosts` never matches). Two providers listing the same host is a
 * configuration error: the token of one would be sent to the other's host.
 */
export function providerForHost<P extends Pick<ProviderConfig, 'id' | 'hosts'>>(providers: readonly P[], host: string): P | undefined {
  const matches = providers.filter((p) => listsHost(p, host));
  if (matches.length > 1) {
    throw new ProvidersConfigError(
      `git host "${host}" is listed in the hosts of several providers (${matches.map((p) => p.id).join(', ')}): ` +
        'keep it in one, or choose with `git-credential --provider P`',
    );
  }
  return matches[0];
}

/** Whether the provider's `hosts` lists `host` (exactly, case-insensitive); false without `hosts`. */
export function listsHost(provider: Pick<ProviderConfig, 'hosts'>, host: string): boolean {
  const wanted = host.toLowerCase();
  return provider.hosts?.some((h) => h.toLowerCase() === wanted) ?? false;
}
