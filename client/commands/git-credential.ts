// `extauth git-credential --user U [--provider P] get|store|erase`: git's credential helper. git appends the action.
import { isAbsolute } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ConfigError } from '../../config/env.js';
import { loadProvidersFile, type ProviderConfig } from '../../providers/config.js';
import { ExtauthError } from '../errors.js';
import { listsHost, providerForHost } from '../git-credential/hosts.js';
import {
  CredentialProtocolError,
  formatCredentialAnswer,
  MAX_REQUEST_BYTES,
  parseCredentialRequest,
  type CredentialRequest,
} from '../git-credential/protocol.js';
import { endpoints, EXIT, UsageError, validated, withClient, type Command } from './args.js';

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
  summary: "git's credential helper: `get` answers a provider's hosts with a fresh token; store and erase do nothing",
  async run(args) {
    const options = parseOptions(args);
    switch (options.action) {
      case 'get':
        return get(options, await readRequest(process.stdin));
      case 'store':
      case 'erase':
        // extauth owns the tokens: git's store would only hand back what we gave, and erase (after a 401) does not
        // force an exchange either, since git sends it to every helper, also for credentials that never came from us.
        await readRequest(process.stdin);
        return EXIT.ok;
      default:
        return EXIT.ok; // gitcredentials(7): a helper silently ignores operations it does not know
    }
  },
};

function parseOptions(args: string[]) {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { user: { type: 'string' }, provider: { type: 'string' } },
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (parsed.positionals.length > 1) throw new UsageError(`one action expected, got "${parsed.positionals.join(' ')}"`);
  return validated(optionsSchema, { ...parsed.values, action: parsed.positionals[0] ?? '' });
}

async function get(options: z.infer<typeof optionsSchema>, text: string): Promise<number> {
  let request: CredentialRequest;
  try {
    request = parseCredentialRequest(text);
  } catch (err) {
    if (!(err instanceof CredentialProtocolError)) throw err;
    process.stderr.write(`extauth git-credential: ${err.message}\n`);
    return EXIT.usage;
  }
  // Never a token over plain HTTP. No answer means git tries its next helper, then prompts.
  if (request.protocol !== 'https' || !request.host) return EXIT.ok;
  const provider = options.provider
    ? forcedProviderServes(options.provider, request.host) ? options.provider : undefined
    : hostProvider(request.host)?.id;
  if (!provider) return EXIT.ok;

  try {
    const grant = await withClient((c) => c.getToken({ provider, user: options.user, minValidSeconds: GIT_MIN_VALID_SECONDS }));
    process.stdout.write(formatCredentialAnswer(grant));
    return EXIT.ok;
  } catch (err) {
    if (!(err instanceof ExtauthError) || err.code !== 'reauth_required') throw err;
    process.stderr.write(`${reauthMessage(provider, options.user, err.reason)}\n`);
    return EXIT.reauthRequired;
  }
}

/** The provider whose `hosts` lists the host; needs the providers file (EXTAUTH_PROVIDERS or `extauth dev`'s). */
function hostProvider(host: string): ProviderConfig | undefined {
  const file = providersFile();
  if (!file) {
    throw new ConfigError('no providers file to find the provider of a git host: set EXTAUTH_PROVIDERS, or give --provider P');
  }
  return providerForHost(loadProvidersFile(file), host);
}

/**
 * `--provider P` chooses the provider, but when this machine's providers file lists P's hosts, only those hosts get
 * its token. Without the file, or hosts, every https host that asks does: scope the helper to the host in git config.
 */
function forcedProviderServes(providerId: string, host: string): boolean {
  const file = providersFile();
  const provider = file ? loadProvidersFile(file).find((p) => p.id === providerId) : undefined;
  return !provider?.hosts || listsHost(provider, host);
}

/** git runs the helper in the repository: a relative EXTAUTH_PROVIDERS would name a file the repository holds. */
function providersFile(): string | undefined {
  const file = endpoints().providersFile;
  if (file && !isAbsolute(file)) {
    throw new ConfigError(`EXTAUTH_PROVIDERS must be an absolute path for git-credential (got ${file}): git runs it inside repositories`);
  }
  return file;
}

function reauthMessage(provider: string, user: string, reason: string): string {
  return (
    `extauth git-credential: the ${provider} link of user ${user} needs re-authentication (${reason.replace(/\s+/g, ' ').trim()}); ` +
    `the user must sign in to ${provider} again, then store the new tokens with ` +
    `\`extauth link put --provider ${provider} --user ${user} --access-token A --refresh-token R --expires-in S\``
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
