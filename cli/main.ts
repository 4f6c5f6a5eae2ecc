// The `extauth` command: finds the command, runs it, maps every failure to its exit code.
import { ZodError } from 'zod';
import { CodecKeyError } from '../codec/keys.js';
import { ConfigError } from '../config/env.js';
import { ProvidersConfigError } from '../providers/config.js';
import { EXIT, print, UsageError, type Command } from './commands/args.js';
import { agentEndpointCommand } from './commands/agent-endpoint.js';
import { agentKeyCreateCommand, agentKeyListCommand, agentKeyRevokeCommand } from './commands/agent-key.js';
import { auditCommand } from './commands/audit.js';
import { codecKeyCommand } from './commands/codec-key.js';
import { codecServerCommand } from './commands/codec-server.js';
import { dbEncryptTokensCommand } from './commands/db.js';
import { gitCredentialCommand } from './commands/git-credential.js';
import { historyExportCommand } from './commands/history.js';
import { linkDeleteCommand } from './commands/link-delete.js';
import { linkLoginCommand } from './commands/link-login.js';
import { linkPutCommand } from './commands/link-put.js';
import { linkResetCommand, linksListCommand } from './commands/links.js';
import { devCommand, migrateCommand, workerCommand } from './commands/processes.js';
import { refreshCommand, statusCommand } from './commands/status.js';
import { setupNamespaceCommand } from './commands/setup-namespace.js';
import { tokenCommand } from './commands/token.js';
import { AgentEndpointError } from '../client/agent-client.js';
import { UnreachableError } from '../client/connect.js';
import { ExtauthError } from '../client/errors.js';

const COMMANDS: Command[] = [
  devCommand,
  workerCommand,
  migrateCommand,
  setupNamespaceCommand,
  codecServerCommand,
  codecKeyCommand,
  linkPutCommand,
  linkLoginCommand,
  linkDeleteCommand,
  tokenCommand,
  statusCommand,
  refreshCommand,
  linksListCommand,
  linkResetCommand,
  historyExportCommand,
  dbEncryptTokensCommand,
  gitCredentialCommand,
  agentEndpointCommand,
  agentKeyCreateCommand,
  agentKeyListCommand,
  agentKeyRevokeCommand,
  auditCommand,
];

function usage(): string {
  return [
    'usage: extauth <command> [options]',
    '',
    ...COMMANDS.flatMap((c) => [`  ${c.usage}`, `      ${c.summary}`]),
    '',
    'exit codes: 0 ok, 1 environment error, 2 usage error, 3 re-authentication required,',
    '            4 provider unavailable, 5 unknown link or provider, 6 forbidden (agent key refused)',
  ].join('\n');
}

function findCommand(argv: string[]): { command: Command; args: string[] } {
  const matches = COMMANDS.filter((c) => c.path.every((word, i) => argv[i] === word));
  const command = matches.sort((a, b) => b.path.length - a.path.length)[0];
  if (!command) throw new UsageError(argv.length ? `unknown command "${argv.slice(0, 2).join(' ')}"` : 'no command given');
  return { command, args: argv.slice(command.path.length) };
}

export async function main(argv: string[]): Promise<number> {
  if (['help', '--help', '-h'].includes(argv[0] ?? '')) {
    print(usage());
    return EXIT.ok;
  }
  const { command, args } = findCommand(argv);
  return command.run(args);
}

/** Maps every failure to its exit code and a message that says what to do. */
export async function run(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  try {
    return await main(argv);
  } catch (err) {
    if (err instanceof ExtauthError) {
      if (json) print(err.toJSON());
      else process.stderr.write(`extauth: ${err.code}: ${err.reason}\n`);
      return err.exitCode;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`extauth: ${err.message}\n\n${usage()}\n`);
      return EXIT.usage;
    }
    if (
      err instanceof ConfigError ||
      err instanceof ProvidersConfigError ||
      err instanceof UnreachableError ||
      err instanceof AgentEndpointError ||
      err instanceof CodecKeyError ||
      err instanceof ZodError
    ) {
      process.stderr.write(`extauth: ${err.message}\n`);
      return EXIT.failure;
    }
    process.stderr.write(`extauth: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT.failure;
  }
}
