// The engine work of a refresh, event by event: the history a cold refresh writes (a run opened by getToken on an
// expired link, counted at its answer) and a forced refresh on an open run (refreshNow), as bench/run.ts P5 counts
// them. Prints each event type (docs/performance.md quotes them) and holds the counts to the floor documented there.
import proto from '@temporalio/proto';
import { describe, expect, it } from 'vitest';
import { linkWorkflowId } from '../core/ids.js';
import { uniqueUser, useWorld } from './support/world.js';

const { EventType } = proto.temporal.api.enums.v1;
type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;

/**
 * The floors with exchange → persist → validate as three normal activities (docs/performance.md, "The floor, event
 * by event"): each activity is scheduled, started and completed, and each completion is a workflow task (scheduled,
 * started, completed). A cold refresh adds the start, its first task, the update's acceptance and completion, the
 * state's search attribute and the idle-finish timer; a forced one the update's task, acceptance and completion.
 */
const COLD_REFRESH_EVENTS = 26;
const FORCED_REFRESH_EVENTS = 23;

// As the bench's provider: GitHub-style, whose refresh keeps no old access token alive (a forced refresh exchanges).
const world = useWorld({ providerConfig: { refreshEndsOldAccessToken: false } });

async function events(user: string): Promise<HistoryEvent[]> {
  const all: HistoryEvent[] = [];
  const workflowId = linkWorkflowId(world.key(user));
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await world.temporal.workflowService.getWorkflowExecutionHistory({ namespace: 'default', execution: { workflowId }, nextPageToken });
    all.push(...(page.history?.events ?? []));
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken);
  return all;
}

/** "ACTIVITY_TASK_SCHEDULED exchangeRefreshToken", "WORKFLOW_TASK_STARTED", … */
function describeEvents(list: HistoryEvent[]): string[] {
  return list.map((e) => {
    const type = EventType[e.eventType ?? 0]!.replace(/^EVENT_TYPE_/, '');
    const activity = e.activityTaskScheduledEventAttributes?.activityType?.name;
    const update = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name;
    return [type, activity ?? update].filter(Boolean).join(' ');
  });
}

describe('history per refresh', () => {
  it('a cold refresh and a forced refresh on an open run write no more than the three-activity floor', async () => {
    const cold = uniqueUser('cold');
    await world.seedLink(cold, { expiresInSeconds: -10 });
    await world.client.getToken({ provider: world.providerId, user: cold, minValidSeconds: 60 });
    const coldEvents = describeEvents(await events(cold));

    const warm = uniqueUser('warm');
    await world.seedLink(warm, { expiresInSeconds: 3_600 });
    await world.client.getToken({ provider: world.providerId, user: warm, minValidSeconds: 60 });
    const before = (await events(warm)).length;
    await world.client.refresh({ provider: world.providerId, user: warm });
    const forcedEvents = describeEvents((await events(warm)).slice(before));

    console.log(JSON.stringify({ historyPerRefresh: { cold: coldEvents.length, forced: forcedEvents.length } }));
    console.log(`cold refresh:\n  ${coldEvents.join('\n  ')}\nforced refresh on an open run:\n  ${forcedEvents.join('\n  ')}`);
    // Both really refreshed: one exchange each.
    expect(world.provider.stats.tokenCallsByFamily.get(cold)).toBe(1);
    expect(world.provider.stats.tokenCallsByFamily.get(warm)).toBe(1);
    expect(coldEvents.filter((e) => e.startsWith('ACTIVITY_TASK_SCHEDULED'))).toEqual([
      expect.stringMatching(/exchangeRefreshToken$/),
      'ACTIVITY_TASK_SCHEDULED persistRotatedTokens',
      'ACTIVITY_TASK_SCHEDULED validateAccessToken',
    ]);
    expect(coldEvents.length).toBeLessThanOrEqual(COLD_REFRESH_EVENTS);
    expect(forcedEvents.length).toBeLessThanOrEqual(FORCED_REFRESH_EVENTS);
  });
});
