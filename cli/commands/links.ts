// Operator commands over many links: list them with their state, reset a stuck run.
import { z } from 'zod';
import { linkWorkflowId } from '../../core/ids.js';
import { ExtauthProvider, ExtauthState } from '../../workflows/search-attributes.js';
import { EXIT, linkOptions, linkSchema, parse, print, UsageError, validated, withClient, withPool, type Command } from './args.js';

/** The states runs publish as ExtauthState (a refresh lasts seconds and is not published: `extauth status` shows it). */
const STATES = ['ok', 'degraded', 'refresh_expiring', 'reauth_required', 'idle'] as const;

interface LinkLine {
  provider: string;
  user: string;
  /** The open run's state; without an open run, `reauth_required` from the row or `idle`. */
  state: (typeof STATES)[number];
  expiresAt: string | null;
  lastRefreshedAt: string | null;
  failureReason: string;
}

export const linksListCommand: Command = {
  path: ['links', 'list'],
  usage: `links list [--state ${STATES.join('|')}] [--provider P] [--json]`,
  summary: 'every link with its state, expiry, last refresh and failure',
  async run(args) {
    const { values } = parse(args, { state: { type: 'string' }, provider: { type: 'string' }, json: { type: 'boolean' } });
    const filter = validated(z.object({ state: z.enum(STATES).optional(), provider: z.string().min(1).optional() }), values);
    const rows = await withPool(async (pool) => {
      const { rows } = await pool.query(
        `SELECT provider_id, user_id, oauth_expiry, last_refreshed_at, oauth_refresh_failure_reason
         FROM external_auth_links WHERE ($1::text IS NULL OR provider_id = $1) ORDER BY provider_id, user_id`,
        [filter.provider ?? null],
      );
      return rows;
    });
    const open = await withClient(async (client) => {
      const states = new Map<string, string>();
      const query = `WorkflowType = 'linkWorkflow' AND ExecutionStatus = 'Running'${filter.provider ? ` AND ${ExtauthProvider.name} = '${filter.provider.replaceAll("'", "")}'` : ''}`;
      for await (const run of client.temporal.workflow.list({ query })) {
        const state = run.typedSearchAttributes.get(ExtauthState);
        if (state) states.set(run.workflowId, state);
      }
      return states;
    });
    const lines: LinkLine[] = rows
      .map((r) => {
        const key = { providerId: r.provider_id as string, userId: r.user_id as string };
        const state = (open.get(linkWorkflowId(key)) ?? (r.oauth_refresh_failure_reason ? 'reauth_required' : 'idle')) as LinkLine['state'];
        return {
          provider: key.providerId,
          user: key.userId,
          state,
          expiresAt: r.oauth_expiry?.toISOString() ?? null,
          lastRefreshedAt: r.last_refreshed_at?.toISOString() ?? null,
          failureReason: r.oauth_refresh_failure_reason,
        };
      })
      .filter((l) => !filter.state || l.state === filter.state);
    if (values.json) print(lines);
    else print(formatTable(lines));
    return EXIT.ok;
  },
};

export const linkResetCommand: Command = {
  path: ['link', 'reset'],
  usage: 'link reset --provider P --user U [--force]',
  summary: "end the link's open run (not while it refreshes, unless --force); the next request rebuilds it from the database",
  async run(args) {
    const { values } = parse(args, { ...linkOptions, force: { type: 'boolean' } });
    const link = validated(linkSchema, values);
    return withClient(async (client) => {
      const status = await client.peekStatus(link);
      if (!status) {
        print(`no open run for ${link.provider}/${link.user}; nothing to reset`);
        return EXIT.ok;
      }
      // Ending a run between the exchange and the write would drop the rotated tokens Temporal holds for us.
      if (status.state === 'refreshing' && !values.force) {
        throw new UsageError(`${link.provider}/${link.user} is refreshing right now; wait for it, or pass --force if the run is stuck`);
      }
      const workflowId = linkWorkflowId({ providerId: link.provider, userId: link.user });
      await client.temporal.workflow.getHandle(workflowId).terminate('extauth link reset by an operator');
      print(`ended the run of ${link.provider}/${link.user} (state was ${status.state}); the next request starts a new one from the database`);
      return EXIT.ok;
    });
  },
};

function formatTable(lines: LinkLine[]): string {
  if (lines.length === 0) return 'no links';
  const header = ['PROVIDER', 'USER', 'STATE', 'EXPIRES', 'LAST REFRESH', 'FAILURE'];
  const cells = lines.map((l) => [l.provider, l.user, l.state, l.expiresAt ?? '-', l.lastRefreshedAt ?? '-', l.failureReason.slice(0, 60) || '-']);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  return [header, ...cells].map((row) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}
