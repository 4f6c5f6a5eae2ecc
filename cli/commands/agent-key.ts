// `extauth agent-key create|list|revoke`: operators issue agents keys scoped to one link (docs/agent-api.md).
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { AgentErrorCode } from '../../core/failures.js';
import { createAgentKey, listAgentKeys, revokeAgentKey, type AgentKeyInfo } from '../../store/agent-keys.js';
import { databaseUrl, durationSeconds, EXIT, linkOptions, linkSchema, parse, print, UsageError, validated, withPool, type Command } from './args.js';

/** A key lives at most a year: an agent needing longer gets a new key (and the old one expires on its own). */
const MAX_TTL_SECONDS = 365 * 86_400;

export const agentKeyCreateCommand: Command = {
  path: ['agent-key', 'create'],
  usage: 'agent-key create --provider P --user U [--name NAME] [--ttl DURATION] [--json]',
  summary: "issue an agent key for one link (printed once: the database keeps only its hash); --ttl e.g. 30d, default: until revoked",
  async run(args) {
    const { values } = parse(args, { ...linkOptions, name: { type: 'string' }, ttl: { type: 'string' } });
    const link = validated(linkSchema, values);
    const { name, ttl } = validated(
      z.object({
        name: z.string().max(200).optional(),
        ttl: durationSeconds.pipe(z.number().min(1, 'at least 1s').max(MAX_TTL_SECONDS, 'at most 365d')).optional(),
      }),
      { name: values.name, ttl: values.ttl },
    );
    const { key, info } = await withPool(
      (pool) => createAgentKey(pool, { providerId: link.provider, userId: link.user, name, ttlSeconds: ttl }),
      databaseUrl(),
    );
    if (values.json) {
      print({ key, id: info.id, provider: info.providerId, user: info.userId, expiresAt: info.expiresAt?.toISOString() ?? null });
    } else {
      print(key);
      process.stderr.write(
        `extauth: agent key ${info.id} for ${info.providerId}/${info.userId}${info.expiresAt ? `, expires ${info.expiresAt.toISOString()}` : ''}; ` +
          'shown this once: give it to the agent as EXTAUTH_AGENT_KEY\n',
      );
    }
    return EXIT.ok;
  },
};

export const agentKeyListCommand: Command = {
  path: ['agent-key', 'list'],
  usage: 'agent-key list [--provider P] [--user U] [--json]',
  summary: 'agent keys with their link, name, expiry and revocation (never a key or its hash)',
  async run(args) {
    const { values } = parse(args, linkOptions);
    const filter = validated(z.object({ provider: z.string().min(1).optional(), user: z.string().min(1).optional() }), values);
    const keys = await withPool((pool) => listAgentKeys(pool, { providerId: filter.provider, userId: filter.user }), databaseUrl());
    const lines = keys.map(toLine);
    if (values.json) print(lines);
    else print(lines.length ? lines.map(formatLine).join('\n') : 'no agent keys');
    return EXIT.ok;
  },
};

export const agentKeyRevokeCommand: Command = {
  path: ['agent-key', 'revoke'],
  usage: 'agent-key revoke ID',
  summary: 'revoke an agent key at once (its next request is refused)',
  async run(args) {
    const { positionals } = parsePositional(args);
    if (positionals.length !== 1) throw new UsageError('one key id expected (from `extauth agent-key list`)');
    const id = positionals[0]!;
    const revoked = await withPool((pool) => revokeAgentKey(pool, id), databaseUrl());
    if (!revoked) {
      process.stderr.write(`extauth: no agent key with id "${id}"; \`extauth agent-key list\` shows the ids\n`);
      return AgentErrorCode.link_not_found; // 5: unknown (link, provider, or here key)
    }
    print(`agent key ${id} revoked`);
    return EXIT.ok;
  },
};

function parsePositional(args: string[]) {
  try {
    return parseArgs({ args, options: {}, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function toLine(k: AgentKeyInfo) {
  const state = k.revokedAt ? 'revoked' : k.expiresAt && k.expiresAt.getTime() <= Date.now() ? 'expired' : 'active';
  return {
    id: k.id,
    name: k.name,
    provider: k.providerId,
    user: k.userId,
    state,
    createdAt: k.createdAt.toISOString(),
    expiresAt: k.expiresAt?.toISOString() ?? null,
    revokedAt: k.revokedAt?.toISOString() ?? null,
  };
}

function formatLine(l: ReturnType<typeof toLine>): string {
  return `${l.id}  ${l.state.padEnd(7)}  ${l.provider}/${l.user}  ${l.name || '-'}  created ${l.createdAt}  expires ${l.expiresAt ?? 'never'}`;
}
