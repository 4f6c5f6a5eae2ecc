// `extauth link delete`: ends a link through its run (workflows/link-delete.ts). With --revoke the grant is revoked at the
// provider by a workflow of its own that outlives this command; the command waits for its outcome up to --wait.
import { z } from 'zod';
import { ExtauthError } from '../../client/errors.js';
import { durationSeconds, EXIT, linkOptions, linkSchema, parse, print, UsageError, validated, withClient, type Command } from './args.js';

const DEFAULT_WAIT_SECONDS = 30;

/** What --json prints, on one line. `revocation`: not_requested, revoked, nothing_to_revoke, refused or pending. */
interface DeleteLine {
  deleted: true;
  revocation: 'not_requested' | 'revoked' | 'nothing_to_revoke' | 'refused' | 'pending';
  revocationWorkflowId?: string;
  reason?: string;
}

export const linkDeleteCommand: Command = {
  path: ['link', 'delete'],
  usage: 'link delete --provider P --user U [--revoke [--wait DURATION]] [--json]',
  summary:
    "delete the link: its row goes, waiting and later requests get exit 5; --revoke also revokes the grant at the provider " +
    '(retried durably; exit 4 if the provider refuses, the link stays deleted)',
  async run(args) {
    const { values } = parse(args, { ...linkOptions, revoke: { type: 'boolean' }, wait: { type: 'string' } });
    const input = validated(
      linkSchema.extend({ wait: durationSeconds.pipe(z.number().int().min(0).max(3_600, 'at most 1h')).optional() }),
      { provider: values.provider, user: values.user, wait: values.wait },
    );
    const revoke = values.revoke === true;
    if (!revoke && input.wait !== undefined) throw new UsageError('--wait goes with --revoke (it bounds the wait for the revocation)');
    const link = { provider: input.provider, user: input.user };
    const name = `${link.provider}/${link.user}`;
    return withClient(async (client) => {
      const deleted = await client.deleteLink(link, { revoke });
      const workflowId = deleted.revocationWorkflowId;
      if (!workflowId) return report({ deleted: true, revocation: 'not_requested' }, `deleted link ${name}`, values.json);
      const outcome = await client.revocationOutcome(workflowId, (input.wait ?? DEFAULT_WAIT_SECONDS) * 1000);
      if (!outcome) {
        return report(
          { deleted: true, revocation: 'pending', revocationWorkflowId: workflowId },
          `deleted link ${name}; revocation pending at the provider, retried durably (for up to 7 days); check with ` +
            `\`temporal workflow describe --workflow-id '${workflowId}'\` or the Web UI`,
          values.json,
        );
      }
      if (outcome.outcome === 'refused') {
        const line: DeleteLine = { deleted: true, revocation: 'refused', revocationWorkflowId: workflowId, reason: outcome.reason };
        const text =
          `extauth: provider_unavailable: deleted link ${name}, but ${outcome.reason}; the grant may still be live: ` +
          "revoke the app's access in the user's settings at the provider";
        if (values.json) process.stdout.write(`${JSON.stringify({ ...line, error: 'provider_unavailable' })}\n`);
        else process.stderr.write(`${text}\n`);
        return new ExtauthError('provider_unavailable', outcome.reason).exitCode;
      }
      const said = outcome.outcome === 'revoked' ? 'grant revoked at the provider' : 'it held no token, nothing to revoke';
      return report({ deleted: true, revocation: outcome.outcome, revocationWorkflowId: workflowId }, `deleted link ${name}; ${said}`, values.json);
    });
  },
};

function report(line: DeleteLine, text: string, json: boolean | undefined): number {
  if (json) process.stdout.write(`${JSON.stringify(line)}\n`);
  else print(text);
  return EXIT.ok;
}
