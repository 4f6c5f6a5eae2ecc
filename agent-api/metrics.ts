// The agent endpoint's Prometheus counter: requests by outcome ('served' or the refusal's error code).
import { Counter, type Registry } from 'prom-client';

export type AgentRequestCounter = Counter<'outcome'>;

/** Registers on the given registry: the worker's in `extauth dev`, the endpoint process's own otherwise. */
export function createAgentRequestCounter(registry: Registry): AgentRequestCounter {
  const existing = registry.getSingleMetric('extauth_agent_requests_total');
  if (existing) return existing as AgentRequestCounter;
  return new Counter({
    name: 'extauth_agent_requests_total',
    help: "Agent endpoint requests by outcome: served, or the refusal's error code (forbidden, invalid_request, reauth_required, ...)",
    labelNames: ['outcome'],
    registers: [registry],
  });
}
