// Determinism under load, without recorded histories: a worker with no workflow cache replays a run's whole
// history on every task, so any command that a replay would order differently fails a workflow task.
// Many agents with a client each (no in-process sharing) on one expired link: updates arrive while
// loadLink, the exchange, persist and validate are in flight, and search attributes are upserted.
import { describe, expect, it } from 'vitest';
import { TunedExtauthClient } from '../../client/tuned-client.js';
import { FAST_TUNING, logLines, uniqueUser, useWorld } from '../support/world.js';

const world = useWorld({ maxCachedWorkflows: 0, provider: { latencyMs: 100 } });

describe('replay on every workflow task', () => {
  it('30 separate clients on one expired link, twice: one exchange each time, no failed workflow task', async () => {
    for (let round = 0; round < 2; round++) {
      const user = uniqueUser('nocache');
      await world.seedLink(user, { expiresInSeconds: -5 });
      world.provider.injectFault('validate', { kind: 'status', status: 502 }, { familyId: user });
      const agents = Array.from({ length: 30 }, () => new TunedExtauthClient(world.temporal, { taskQueue: world.taskQueue }, FAST_TUNING));
      const tokens = await Promise.all(agents.map((agent) => agent.getToken({ provider: world.providerId, user })));
      expect(new Set(tokens.map((t) => t.accessToken)).size).toBe(1);
      expect(world.provider.stats.tokenCallsByFamily.get(user)).toBe(1);
    }
    expect(logLines.filter((line) => /Nondeterminism|Failing workflow task/.test(line))).toEqual([]);
  }, 120_000);
});
