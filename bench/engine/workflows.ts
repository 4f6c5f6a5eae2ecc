// The engine's own floors, measured in the same run as extauth: workflows that do nothing but the shape.
import { condition, defineQuery, defineSignal, defineUpdate, proxyActivities, setHandler } from '@temporalio/workflow';
import type { BareActivities } from './activities.js';

export interface NoopRequest {
  minValidSeconds: number;
}

/** A no-op Update: the cheapest thing an agent can ask a running workflow. */
export const noopUpdate = defineUpdate<{ ok: boolean }, [NoopRequest]>('noop');
/**
 * The refresh's shape with no work inside: exchange, persist, validate, normal activities as in linkWorkflow, whose
 * first step reads the row in the exchange activity (before 4 December 2026: a load activity first, four in all).
 */
export const refreshShapeUpdate = defineUpdate<{ ok: boolean }, [number]>('refreshShape');
export const stopSignal = defineSignal('stop');
/** A no-op Query: the floor of a read that writes no history. */
export const noopQuery = defineQuery<{ ok: boolean }>('noopQuery');

const IDLE = '10 minutes';

export async function floorWorkflow(): Promise<void> {
  let stop = false;
  setHandler(noopUpdate, () => ({ ok: true }));
  setHandler(noopQuery, () => ({ ok: true }));
  setHandler(stopSignal, () => void (stop = true));
  await condition(() => stop, IDLE);
}

export async function refreshShapeWorkflow(): Promise<void> {
  const { bareExchange } = proxyActivities<BareActivities>({ startToCloseTimeout: '15s' });
  const { barePersist, bareValidate } = proxyActivities<BareActivities>({ startToCloseTimeout: '10s' });
  let stop = false;
  setHandler(refreshShapeUpdate, async (providerLatencyMs: number) => {
    await bareExchange(providerLatencyMs);
    await barePersist();
    await bareValidate(providerLatencyMs);
    return { ok: true };
  });
  setHandler(stopSignal, () => void (stop = true));
  await condition(() => stop, IDLE);
}
