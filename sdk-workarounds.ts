// Every workaround for a problem of the Temporal TypeScript SDK (1.24.0, the newest on npm; its sdk-core) in one
// place: what it works around, how to reproduce it, the upstream report, and when to remove it. Code elsewhere imports
// these names; nothing else in extauth works around the SDK. docs/reliability.md tells the full story of each.
import type { History } from '@temporalio/common/lib/proto-utils.js';
import proto from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root.js';
import type { WorkerOptions } from '@temporalio/worker';
import { createRequire } from 'node:module';

// ---- 1. Local activities: live and replay group their resolutions differently ---------------------------------------
//
// Problem: when a query is answered while a local activity is in flight, sdk-core puts the activity's marker in that
// task and forces a new one, whose activation runs the updates that arrived meanwhile *before* the resolution; on
// replay the resolution comes first. The history then fails every replay ("UpsertWorkflowSearchAttributesMachine does
// not handle HistoryEvent(…, WorkflowExecutionUpdateAccepted)"), with no server involved (docs/reliability.md,
// "Update storms and nondeterminism"). A local activity's retry budget is also dropped when its schedule-to-close
// timeout fires between attempts.
// Workaround: none needed in code: linkWorkflow uses normal activities only (workflows/link.ts; the replay suite
// checks that no recorded history holds a local-activity marker). Nothing else here depends on it.
// Repro: `npm run repro:update-storm` (scripts/upstream/repro-update-storm.ts): its `la` variant puts the local row
// activities back and writes unreplayable histories; the real workflow writes none (with the 1.0 workflow:
// `--rounds 2 --agents 5 --configs 'la:client=hammer,variant=la;real:client=hammer'`: la 1/2, real 0/2).
// Upstream: not filed (no network from the development machines). Report text: docs/reliability.md, "Update storms and
// nondeterminism" → "What happens" and "Upstream" (related: temporalio/sdk-java#2796, temporalio/sdk-rust#1442).
// Remove when: never "removed"; local activities may come back (behind patched(): docs/versioning.md) once the storm
// repro reports 0 unreplayable histories for the `la` variant on a new SDK.

// ---- 2. A timer and an update in one task after a worker kill: histories that never replay -------------------------
//
// Problem: the sticky worker is killed, the next task carries a fired timer *and* an update; the live worker writes
// their commands in one order, every later replay in the other: "Update machine does not handle this event" or
// BadUpdateWorkflowExecutionMessage, and the run's tasks fail for good (docs/reliability.md, "Unreplayable histories
// after a worker kill").
// Repro: `node --import tsx scripts/upstream/repro-timer-update/run.ts --rounds 5` (no extauth code).
// Upstream: not filed; the report draft is scripts/upstream/repro-timer-update/README.md.
// Workaround: a run whose history cannot be replayed fails (below), and the workers' recovery sweep ends a run stuck on
// such a task (worker/recovery-sweep.ts, with the causes below); its next run recovers a rotation it had not saved.
// Remove when: the repro reports 0 broken histories on a new SDK: then UNREPLAYABLE_TASK_FAILURE_CAUSES and the
// sweep's stuck-run pass can go. WORKFLOW_FAILURE_ERROR_TYPES stays: it is also the policy for a change that
// missed its patch (docs/versioning.md).

/** A run whose history cannot be replayed fails instead of retrying its task forever; '*' is linkWorkflow, the only workflow. */
export const WORKFLOW_FAILURE_ERROR_TYPES: WorkerOptions['workflowFailureErrorTypes'] = { '*': ['NondeterminismError'] };

/** Causes of a failing workflow task (TemporalReportedProblems) that mean the history does not replay: the run must end. */
export const UNREPLAYABLE_TASK_FAILURE_CAUSES = ['WorkflowTaskFailedCauseNonDeterministicError', 'WorkflowTaskFailedCauseBadUpdateWorkflowExecutionMessage'];

/**
 * What an update call answers while the run's last workflow task failed or timed out (a slow worker, or 2 above): the
 * server retries the task, so the client retries the call; a run stuck that way is ended by the sweep meanwhile.
 */
export const TASK_FAILING_MESSAGE = /workflow task in failed state|unexpected workflow task failure/i;

// ---- 3. History JSON: the SDK's helpers fail in this dependency tree ------------------------------------------------
//
// Problem: historyToJSON/historyFromJSON of @temporalio/common use their own copy of protobufjs, which the npm tree does
// not share with @temporalio/proto here: "type must be a Type".
// Workaround: the protojson extension of the copy @temporalio/proto was built with, used with its types.
// Repro: `historyFromJSON(JSON.parse(<test/replay/histories/fresh-token.json>))` from '@temporalio/common/lib/proto-utils.js'
// throws "type must be a Type" (`npm ls protobufjs`: 8.8.1 under @temporalio/*, 7.6.6 at the top).
// Upstream: a packaging matter (two protobufjs versions in the tree); not reported.
// Remove when: `npm ls protobufjs` shows one copy and the SDK's helpers round-trip test/replay/histories/*.json.

const requireFromProto = createRequire(createRequire(import.meta.url).resolve('@temporalio/proto'));
const protojson = requireFromProto('protobufjs/ext/protojson') as {
  toJson(type: unknown, message: unknown): unknown;
  fromJson(type: unknown, json: unknown, options?: { ignoreUnknownFields?: boolean }): unknown;
};
const historyType = (patchProtobufRoot(proto) as unknown as { lookupType(name: string): unknown }).lookupType('temporal.api.history.v1.History');
const HistoryMessage = proto.temporal.api.history.v1.History;

/** Proto JSON, the format of `temporal workflow show --output json` and the SDK's historyToJSON. */
export function historyToJSONText(history: History): string {
  return `${JSON.stringify(protojson.toJson(historyType, HistoryMessage.fromObject(history)), null, 1)}\n`;
}

/** The inverse, for Worker.runReplayHistory (which also accepts the JSON, but through the SDK's broken path). */
export function historyFromJSONText(text: string): History {
  const json = JSON.parse(text) as { events?: Record<string, unknown>[] };
  if (!Array.isArray(json?.events)) throw new TypeError('not a history: expected an object with an array of events');
  // Older tools wrote enum names in PascalCase (WorkflowExecutionStarted).
  const events = json.events.map((e) =>
    typeof e.eventType === 'string' && !e.eventType.startsWith('EVENT_TYPE_')
      ? { ...e, eventType: `EVENT_TYPE_${e.eventType.replace(/(?<=.)([A-Z])/g, '_$1').toUpperCase()}` }
      : e,
  );
  return protojson.fromJson(historyType, { ...json, events }, { ignoreUnknownFields: true }) as History;
}

// ---- Removed in 1.0 ---------------------------------------------------------------------------------------------------
//
// - finalIfLocalBudgetSpent (activities/index.ts): made a local activity's retry budget final (sdk-core drops it when it
//   fires between attempts). Gone with local activities (1 above).
// - patched('row-activities-not-local') and the `.activities.json` replay histories: runs recorded with local row
//   activities. Nothing was deployed before 1.0, so the workflow has one version (docs/versioning.md).
