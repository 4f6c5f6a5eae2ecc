// P2 measured apart: a cold refresh's time cut at the events its run's history records (the server stamps each one),
// plus the client's own send and receive times. The segments add up to the whole call, so extauth and the bare
// workflow of the same shape can be compared segment by segment.
import proto from '@temporalio/proto';
import { summarize, type Summary } from './stats.js';

type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;
const { EventType } = proto.temporal.api.enums.v1;

/** Wall-clock milliseconds with sub-millisecond precision, comparable to the server's event times on the same machine. */
export const wallNow = () => performance.timeOrigin + performance.now();

export const REFRESH_SEGMENTS = [
  'client → run started', // Query (extauth only: finds no run) and the Update-with-Start request reaching the server
  'workflow task dispatch', // scheduled → started, each of the run's workflow tasks
  'workflow task on the worker', // started → completed
  'activity dispatch', // scheduled → started
  'activity 1 (exchange)', // started → completed: the activity's own work and the worker's handling of its result
  'activity 2 (persist)',
  'activity 3 (validate)',
  'server between events', // e.g. an activity completed → the next workflow task scheduled
  'answer → client', // update completed → the client has the answer
] as const;
export type RefreshSegment = (typeof REFRESH_SEGMENTS)[number];

const ACTIVITY_SEGMENTS: RefreshSegment[] = ['activity 1 (exchange)', 'activity 2 (persist)', 'activity 3 (validate)'];

const ms = (e: HistoryEvent) => Number(e.eventTime?.seconds ?? 0) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;

/** Each segment's milliseconds in one call, from `sentAt` to `answeredAt` (wallNow), cut at the history's events. */
export function refreshSegments(events: HistoryEvent[], sentAt: number, answeredAt: number): Record<RefreshSegment, number> {
  const out = Object.fromEntries(REFRESH_SEGMENTS.map((s) => [s, 0])) as Record<RefreshSegment, number>;
  const end = events.findIndex((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED);
  if (end < 0 || events.length === 0) throw new Error('no completed update in the history');
  out['client → run started'] = ms(events[0]!) - sentAt;
  let activity = 0;
  for (let i = 1; i <= end; i++) {
    const gap = ms(events[i]!) - ms(events[i - 1]!);
    switch (events[i]!.eventType) {
      case EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
        out['workflow task dispatch'] += gap;
        break;
      case EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
        out['workflow task on the worker'] += gap;
        break;
      case EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        out['activity dispatch'] += gap;
        break;
      case EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
        out[ACTIVITY_SEGMENTS[Math.min(activity++, ACTIVITY_SEGMENTS.length - 1)]!] += gap;
        break;
      default:
        out['server between events'] += gap;
    }
  }
  out['answer → client'] = answeredAt - ms(events[end]!);
  return out;
}

/** Collects one side's calls; `summary` gives each segment's distribution and the workflow tasks per call. */
export class RefreshTimeline {
  private readonly calls: Record<RefreshSegment, number>[] = [];
  private workflowTasks = 0;

  add(events: HistoryEvent[], sentAt: number, answeredAt: number): void {
    this.calls.push(refreshSegments(events, sentAt, answeredAt));
    const end = events.findIndex((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED);
    this.workflowTasks = events.slice(0, end + 1).filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED).length;
  }

  summary(): Record<RefreshSegment, Summary> & { workflowTasks: number } {
    const out = Object.fromEntries(REFRESH_SEGMENTS.map((s) => [s, summarize(this.calls.map((c) => c[s]))])) as Record<RefreshSegment, Summary>;
    return { ...out, workflowTasks: this.workflowTasks };
  }
}
