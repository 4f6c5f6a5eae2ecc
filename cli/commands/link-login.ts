// `extauth link login --device | --browser`: signs the user in at the provider and stores the link exactly as a
// re-link does (store-link.ts: encrypted with the process's database key, the run told, waiting agents woken).
import { spawn } from 'node:child_process';
import pino from 'pino';
import { z } from 'zod';
import { ConfigError } from '../../config/env.js';
import { createLogger } from '../../config/logger.js';
import { loadProvidersFile, type ProviderConfig } from '../../providers/config.js';
import { ExtauthError } from '../../client/errors.js';
import { browserLogin, LoginInterrupted } from '../login/browser-grant.js';
import { pollForDeviceToken, requestDeviceAuthorization } from '../login/device-grant.js';
import { durationSeconds, endpoints, EXIT, linkOptions, linkSchema, parse, print, UsageError, validated, type Command } from './args.js';
import { storeLink } from './store-link.js';
import { parseTokenAnswer } from './token-answer.js';

const DEFAULT_BROWSER_TIMEOUT_SECONDS = 300;

export const linkLoginCommand: Command = {
  path: ['link', 'login'],
  usage: 'link login --provider P --user U (--device | --browser [--open] [--timeout DURATION]) [--json]',
  summary: 'sign the user in at the provider (device code, or browser with PKCE and a loopback redirect) and store the link',
  async run(args) {
    const { values } = parse(args, {
      ...linkOptions,
      device: { type: 'boolean' },
      browser: { type: 'boolean' },
      open: { type: 'boolean' },
      timeout: { type: 'string' },
    });
    const input = validated(
      linkSchema.extend({ timeout: durationSeconds.pipe(z.number().int().min(1).max(3_600, 'at most 1h')).optional() }),
      { provider: values.provider, user: values.user, timeout: values.timeout },
    );
    if (values.device === values.browser) throw new UsageError('give exactly one of --device or --browser');
    if (values.device && (values.open || values.timeout !== undefined)) throw new UsageError('--open and --timeout go with --browser (the device code has its own lifetime)');
    const provider = providerOf(input.provider);
    const json = values.json === true;
    const log = createLogger(pino.destination({ dest: 2, sync: true })).child({ provider: input.provider, link: `${input.provider}/${input.user}`, step: 'link login' });

    // SIGINT/SIGTERM end the wait (and close the loopback listener) instead of killing the process mid-way.
    const abort = new AbortController();
    const onSignal = () => abort.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      const fields = values.device ? await deviceLogin(provider, json, abort.signal) : await webLogin(provider, json, abort.signal, values.open === true, input.timeout);
      const parsed = parseTokenAnswer(fields);
      if ('problems' in parsed) {
        throw new ExtauthError('provider_unavailable', `provider ${provider.id}: the token answer is not usable (${parsed.problems})${fields.refresh_token === undefined ? '; without a refresh_token extauth cannot keep the link fresh (GitHub: enable expiring user tokens)' : ''}`);
      }
      const { answer } = parsed;
      if (answer.expiresIn === undefined) throw new ExtauthError('provider_unavailable', `provider ${provider.id}: the token answer has no expires_in`);
      const { tokenVersion, notified } = await storeLink(input, answer, { command: 'extauth link login', expiresAt: new Date(Date.now() + answer.expiresIn * 1000) });
      line(json ? { stored: true, tokenVersion, workflowNotified: notified } : `stored link ${input.provider}/${input.user} (version ${tokenVersion})${notified ? '; running workflow told to reload' : ''}`);
      return EXIT.ok;
    } catch (err) {
      const cause = err instanceof ExtauthError ? err.reason : (err as Error)?.message;
      log.warn({ cause, code: err instanceof ExtauthError ? err.code : undefined }, 'link login failed; nothing stored');
      if (err instanceof LoginInterrupted || (err as Error)?.name === 'AbortError') throw new ConfigError('interrupted: the sign-in was abandoned, nothing stored');
      throw err;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};

async function deviceLogin(provider: ProviderConfig, json: boolean, signal: AbortSignal): Promise<Record<string, unknown>> {
  if (!provider.deviceAuthorizationUrl) throw missingEndpoint(provider, 'deviceAuthorizationUrl', '--device', 'github, gitlab, azure-devops and google');
  const authorization = await requestDeviceAuthorization(provider);
  line(
    json
      ? { verificationUri: authorization.verificationUri, userCode: authorization.userCode, expiresIn: authorization.expiresIn }
      : `open ${authorization.verificationUri} and enter the code ${authorization.userCode} (valid ${Math.round(authorization.expiresIn / 60)} min); waiting…`,
  );
  return pollForDeviceToken(provider, authorization, signal);
}

async function webLogin(provider: ProviderConfig, json: boolean, signal: AbortSignal, open: boolean, timeoutSeconds = DEFAULT_BROWSER_TIMEOUT_SECONDS): Promise<Record<string, unknown>> {
  if (!provider.authorizeUrl) throw missingEndpoint(provider, 'authorizeUrl', '--browser', 'every preset but oauth2');
  return browserLogin(provider, {
    timeoutMs: timeoutSeconds * 1000,
    signal,
    onAuthorizationUrl(url) {
      line(json ? { authorizationUrl: url, timeoutSeconds } : `open this address in a browser on this machine to sign in (waiting ${timeoutSeconds} s):\n${url}`);
      if (open) openInBrowser(url);
    },
  });
}

/** xdg-open when present; its absence or failure changes nothing (the address is printed). */
function openInBrowser(url: string): void {
  const child = spawn('xdg-open', [url], { stdio: 'ignore', detached: true });
  child.on('error', () => undefined);
  child.unref();
}

function providerOf(id: string): ProviderConfig {
  const file = endpoints().providersFile;
  if (!file) throw new ConfigError('no providers file: set EXTAUTH_PROVIDERS (link login needs the provider\'s endpoints and client), or start `extauth dev` first');
  const provider = loadProvidersFile(file).find((p) => p.id === id);
  if (!provider) throw new ExtauthError('unknown_provider', `provider ${id} is not in the providers file`);
  return provider;
}

function missingEndpoint(provider: ProviderConfig, field: string, flag: string, presets: string): ConfigError {
  return new ConfigError(`provider ${provider.id} has no ${field}, which ${flag} needs: add it to the providers file (the presets ${presets} set it)`);
}

/** One line on stdout: --json output is one JSON object per line (the prompt first, the result last). */
function line(value: unknown): void {
  if (typeof value === 'string') print(value);
  else process.stdout.write(`${JSON.stringify(value)}\n`);
}
