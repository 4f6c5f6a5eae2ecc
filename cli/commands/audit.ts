// `extauth audit`: which agent keys got which tokens of a link (fingerprints only), and which requests were refused.
import { z } from 'zod';
import { listAudit, type AuditEntry } from '../../store/audit.js';
import { databaseUrl, durationSeconds, EXIT, linkOptions, linkSchema, parse, print, validated, withPool, type Command } from './args.js';

export const auditCommand: Command = {
  path: ['audit'],
  usage: 'audit --provider P --user U [--since DURATION] [--json]',
  summary: "tokens the agent endpoint handed out for a link (time, agent key id and name, token fingerprint) and refusals, newest first; --since e.g. 1h (default 7d)",
  async run(args) {
    const { values } = parse(args, { ...linkOptions, since: { type: 'string' } });
    const link = validated(linkSchema, values);
    const { since } = validated(z.object({ since: durationSeconds.default(7 * 86_400) }), { since: values.since });
    const entries = await withPool(
      (pool) => listAudit(pool, { providerId: link.provider, userId: link.user, since: new Date(Date.now() - since * 1000) }),
      databaseUrl(),
    );
    const lines = entries.map(toLine);
    if (values.json) print(lines);
    else print(lines.length ? lines.map(formatLine).join('\n') : `no agent requests for ${link.provider}/${link.user} in that time`);
    return EXIT.ok;
  },
};

function toLine(e: AuditEntry) {
  return {
    servedAt: e.servedAt.toISOString(),
    keyId: e.keyId,
    keyName: e.keyName,
    provider: e.providerId,
    user: e.userId,
    tokenFingerprint: e.tokenFingerprint,
    outcome: e.outcome,
  };
}

function formatLine(l: ReturnType<typeof toLine>): string {
  return `${l.servedAt}  ${l.outcome.padEnd(20)}  key ${l.keyId ?? 'none'}${l.keyName ? ` (${l.keyName})` : ''}  token ${l.tokenFingerprint ?? '-'}`;
}
