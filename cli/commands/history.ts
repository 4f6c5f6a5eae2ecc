// `extauth history export`: writes a link workflow run's history as replayable JSON. Payloads stay as the
// server stores them (AES-256-GCM ciphertext), so the file can be handed to engineers; replaying it needs
// the decrypt key (see docs/versioning.md). Exporting needs no key at all.
import { Connection } from '@temporalio/client';
import type { History } from '@temporalio/common/lib/proto-utils.js';
import { historyToJSONText } from '../../sdk-workarounds.js';
import proto from '@temporalio/proto';
import { z } from 'zod';
import { linkWorkflowId } from '../../core/ids.js';
import { writePrivateFile } from '../../core/private-files.js';
import { UnreachableError } from '../../client/connect.js';
import { ExtauthError } from '../../client/errors.js';
import { endpoints, EXIT, linkOptions, linkSchema, parse, print, validated, type Command } from './args.js';

// History JSON through the protobufjs copy @temporalio/proto was built with (sdk-workarounds.ts, 3).
export { historyFromJSONText, historyToJSONText } from '../../sdk-workarounds.js';

const exportSchema = linkSchema.extend({ output: z.string().min(1), runId: z.string().min(1).optional() });

export const historyExportCommand: Command = {
  path: ['history', 'export'],
  usage: 'history export --provider P --user U -o FILE [--run-id R] [--json]',
  summary: "a run's history as replayable JSON (payloads stay encrypted)",
  async run(args) {
    const { values } = parse(args, { ...linkOptions, output: { type: 'string', short: 'o' }, 'run-id': { type: 'string' } });
    const options = validated(exportSchema, { ...values, runId: values['run-id'] });
    const { temporalAddress, namespace } = endpoints();
    let connection: Connection;
    try {
      connection = await Connection.connect({ address: temporalAddress, connectTimeout: 5_000 });
    } catch (err) {
      throw new UnreachableError(`cannot reach Temporal at ${temporalAddress} (${(err as Error).message}); is \`extauth dev\` or your cluster running?`);
    }
    const workflowId = linkWorkflowId({ providerId: options.provider, userId: options.user });
    try {
      // Raw service calls: nothing is decoded, so no payload key is needed and none is used.
      const service = connection.workflowService;
      const { workflowExecutionInfo } = await service.describeWorkflowExecution({ namespace, execution: { workflowId, runId: options.runId } });
      const runId = workflowExecutionInfo?.execution?.runId ?? options.runId ?? '';
      const events: NonNullable<History['events']> = [];
      let nextPageToken: Uint8Array | undefined;
      do {
        const page = await service.getWorkflowExecutionHistory({ namespace, execution: { workflowId, runId }, nextPageToken });
        events.push(...(page.history?.events ?? []));
        nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
      } while (nextPageToken);
      const text = historyToJSONText({ events });
      if (options.output === '-') process.stdout.write(text);
      else writePrivateFile(options.output, text); // payloads are encrypted, but ids, timings and failure reasons are not
      const summary = { workflowId, runId, status: proto.temporal.api.enums.v1.WorkflowExecutionStatus[workflowExecutionInfo?.status ?? 0], events: events.length, file: options.output };
      if (values.json) print(summary);
      else if (options.output !== '-') {
        print(`wrote ${events.length} events of ${workflowId} run ${runId} to ${options.output}`);
        print('payloads stay encrypted: replaying this history needs the payload key (see docs/versioning.md)');
      }
      return EXIT.ok;
    } catch (err) {
      if ((err as { code?: number }).code === 5 /* NOT_FOUND */) {
        throw new ExtauthError('link_not_found', `no workflow run ${options.runId ?? ''} for ${options.provider}/${options.user} (${workflowId})`.replace('  ', ' '));
      }
      throw err;
    } finally {
      await connection.close();
    }
  },
};
