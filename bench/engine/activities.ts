// Activities that do nothing but wait as long as the fake provider would (0 ms: nothing at all).
import { setTimeout as sleep } from 'node:timers/promises';

export const bareActivities = {
  async bareExchange(latencyMs: number): Promise<{ ok: boolean }> {
    if (latencyMs > 0) await sleep(latencyMs);
    return { ok: true };
  },
  async barePersist(): Promise<void> {},
  async bareValidate(latencyMs: number): Promise<string> {
    if (latencyMs > 0) await sleep(latencyMs);
    return 'valid';
  },
};

export type BareActivities = typeof bareActivities;
