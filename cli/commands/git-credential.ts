// `extauth git-credential --user U [--provider P] get|store|erase`: git's credential helper. git appends the action.
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { isAbsolute } from 'node:path';
import { ConfigError, readEnv, resolveEndpoints, type Endpoints } from '../../config/env.js';
import { fingerprint } from '../../core/fingerprint.js';
import { loadProvidersFile, type ProviderConfig } from '../../providers/config.js';
import type { TokenGrant } from '../../core/types.js';
import { agentClientFromEnv } from '../agent-mode.js';
import { ExtauthError } from '../../client/errors.js';
import { listsHost, providerForHost } from '../git-credential/hosts.js';
import {
  CredentialProtocolError,
  formatCredentialAnswer,
  MAX_REQUEST_BYTES,
  parseCredentialRequest,
  type CredentialRequest,
} from '../git-credential/protocol.js';
import { connectClient } from '../../client/connect.js';
import type { ExtauthClient } from '../../client/index.js';
import { EXIT, parseErrorMessage, UsageError, validated, type Command } from './args.js';

/** A clone or fetch makes several requests with one credential: it must outlive the whole operation. */
const GIT_MIN_VALID_SECONDS = 300;

const optionsSchema = z.object({
  user: z.string().min(1),
  provider: z.string().min(1).optional(),
  action: z.string().min(1, 'the action (get, store or erase) is missing'),
});

export const gitCredentialCommand: Command = {
  path: ['git-credential'],
  usage: 'git-credential --user U [--provider P] get|store|erase',
  summary: "git's credential helper: `get` answers a provider's hosts with a fresh token; `erase` (after a 401) reports the token as rejected; store does nothing",
  async run(args) {
    const options = parseOptions(args);
    switch (options.action) {
      case 'get':
        return get(options, await readRequest(process.stdin));
      case 'erase':
        return erase(options, await readRequest(process.stdin));
      case 'store':
        // extauth owns the tokens: git's store would only hand back what we gave.
        await readRequest(process.stdin);
        return EXIT.ok;
      default:
        return EXIT.ok; // gitcredentials(7): a helper silently ignores operations it does not know
    }
  },
};

function parseOptions(args: string[]) {
  const options = { user: { type: 'string' }, provider: { type: 'string' } } as const;
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError(parseErrorMessage(err, args, options));
  }
  if (parsed.positionals.length > 1) throw new UsageError(`one action expected (get, store or erase), got ${parsed.positionals.length} arguments`);
  return validated(optionsSchema, { ...parsed.values, action: parsed.positionals[0] ?? '' });
}

/** git's request, or undefined after saying on stderr why it cannot be read. */
function readCredentialRequest(text: string): CredentialRequest | undefined {
  try {
    return parseCredentialRequest(text);
  } catch (err) {
    if (!(err instanceof CredentialProtocolError)) throw err;
    process.stderr.write(`extauth git-credential: ${err.message}\n`);
    return undefined;
  }
}

/** Agent mode (EXTAUTH_AGENT_URL): the endpoint decides the hosts and serves the token; nothing local is read. */
function tokenSource(options: z.infer<typeof optionsSchema>): TokenSource {
  const agent = agentClientFromEnv();
  return agent
    ? { providers: () => agent.providers(), getToken: (r) => agent.getToken(r), where: 'agent' }
    : { providers: async () => localProviders(options.provider), getToken: (r) => withHelperClient((c) => c.getToken(r)), where: 'file' };
}

async function get(options: z.infer<typeof optionsSchema>, text: string): Promise<number> {
  const request = readCredentialRequest(text);
  if (!request) return EXIT.usage;
  // Never a token over plain HTTP. No answer means git tries its next helper, then prompts.
  if (request.protocol !== 'https' || !request.host) return EXIT.ok;
  const source = tokenSource(options);
  const provider = await providerServing(source, options.provider, request.host);
  if (!provider) return EXIT.ok;

  try {
    const grant = await source.getToken({ provider, user: options.user, minValidSeconds: GIT_MIN_VALID_SECONDS });
    process.stdout.write(formatCredentialAnswer(grant));
    return EXIT.ok;
  } catch (err) {
    if (!(err instanceof ExtauthError) || err.code !== 'reauth_required') throw err;
    process.stderr.write(`${reauthMessage(provider, options.user, err.reason)}\n`);
    return EXIT.reauthRequired;
  }
}

/**
 * git sends `erase` after a 401, with the credential it was given, to every helper. The token's fingerprint goes to the
 * link's run as a report: if it is the run's current token, the run asks the provider and refreshes only if the provider
 * refuses it too (a 401 can also mean no access to that repository); any other credential (an older token, one a
 * person typed) leaves the run's token alone and costs no provider call. Nothing is written back to git.
 */
async function erase(options: z.infer<typeof optionsSchema>, text: string): Promise<number> {
  const request = readCredentialRequest(text);
  if (!request) return EXIT.usage;
  // GitHub-style mappings carry the token as the user name with an empty password; the others as the password.
  const token = request.password || request.username;
  if (request.protocol !== 'https' || !request.host || !token) return EXIT.ok;
  const source = tokenSource(options);
  const provider = await providerServing(source, options.provider, request.host);
  if (!provider) return EXIT.ok;
  await source.getToken({ provider, user: options.user, minValidSeconds: GIT_MIN_VALID_SECONDS, rejectedFingerprint: fingerprint(token) });
  return EXIT.ok;
}

/** Where the helper learns providers' hosts and gets tokens: the agent endpoint, or the providers file and Temporal. */
interface TokenSource {
  providers(): Promise<readonly HostedProvider[]>;
  getToken(request: { provider: string; user: string; minValidSeconds: number; rejectedFingerprint?: string }): Promise<TokenGrant>;
  where: 'agent' | 'file';
}

type HostedProvider = Pick<ProviderConfig, 'id' | 'hosts'>;

/** The providers file (EXTAUTH_PROVIDERS or `extauth dev`'s): it lists each provider's git hosts. */
function localProviders(forced: string | undefined): ProviderConfig[] {
  const file = helperEndpoints().providersFile;
  if (!file) {
    throw new ConfigError(
      `no providers file to ${forced ? `check which git hosts may get ${forced}'s token` : 'find the provider of a git host'}: ` +
        'set EXTAUTH_PROVIDERS, or use the agent endpoint (EXTAUTH_AGENT_URL and EXTAUTH_AGENT_KEY)',
    );
  }
  return loadProvidersFile(file);
}

/**
 * The provider whose token this host may get, or undefined (the host gets nothing). A token only ever goes to a host
 * its provider lists in `hosts`, also with `--provider P`, which only chooses among providers listing the host.
 */
async function providerServing(source: TokenSource, forced: string | undefined, host: string): Promise<string | undefined> {
  const providers = await source.providers();
  if (!forced) return providerForHost(providers, host)?.id;
  const provider = providers.find((p) => p.id === forced);
  if (!provider) {
    throw source.where === 'agent'
      ? new ExtauthError('forbidden', `the agent key is not for provider ${forced}`)
      : new ExtauthError('unknown_provider', `provider ${forced} is not in the providers file`);
  }
  if (!provider.hosts?.length) throw new ConfigError(noHostsMessage(forced, source.where));
  return listsHost(provider, host) ? provider.id : undefined;
}

function noHostsMessage(provider: string, where: TokenSource['where']): string {
  return (
    `provider ${provider} lists no git hosts, so no host gets its token: ` +
    `${where === 'agent' ? 'ask your operator to add' : 'add'} "hosts": ["<hostname[:port]>"] to its entry in the providers file ` +
    '(the google and oauth2 presets set none)'
  );
}

/**
 * The endpoints from the environment, else from what a running `extauth dev` published (config/env.ts: never the current
 * folder, which is the repository when git runs the helper). A relative EXTAUTH_PROVIDERS would name a file the
 * repository holds, and that file decides which hosts get a token.
 */
function helperEndpoints(): Endpoints {
  const endpoints = resolveEndpoints(readEnv());
  if (endpoints.providersFile && !isAbsolute(endpoints.providersFile)) {
    throw new ConfigError(`EXTAUTH_PROVIDERS must be an absolute path for git-credential (got ${endpoints.providersFile}): git runs it inside repositories`);
  }
  return endpoints;
}

async function withHelperClient<T>(fn: (client: ExtauthClient) => Promise<T>): Promise<T> {
  const { client, close } = await connectClient(helperEndpoints());
  try {
    return await fn(client);
  } finally {
    await close();
  }
}

function reauthMessage(provider: string, user: string, reason: string): string {
  return (
    `extauth git-credential: the ${provider} link of user ${user} needs re-authentication (${reason.replace(/\s+/g, ' ').trim()}); ` +
    `the user must sign in to ${provider} again, then store the new tokens with ` +
    `\`extauth link put --provider ${provider} --user ${user} --tokens-from FILE\` (FILE: the token endpoint's JSON answer, or - for stdin)`
  );
}

/** git's request: lines up to a blank line or the end of input. */
async function readRequest(input: NodeJS.ReadableStream): Promise<string> {
  input.setEncoding('utf8');
  let text = '';
  for await (const chunk of input as AsyncIterable<string>) {
    text += chunk;
    if (/(^|\n)\r?\n/.test(text) || text.length > MAX_REQUEST_BYTES) break;
  }
  return text;
}
