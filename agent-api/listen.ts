// Starts the agent endpoint on a port and stops it: shared by `extauth agent-endpoint` and `extauth dev`.
import type { AddressInfo } from 'node:net';
import { createAgentServer, type AgentServerDeps } from './server.js';

const CLOSE_GRACE_MS = 5_000;

export interface RunningAgentEndpoint {
  /** Base URL agents use (EXTAUTH_AGENT_URL). */
  url: string;
  /** Stops accepting requests, ends idle connections and waits for requests in flight. */
  close(): Promise<void>;
}

export async function listenAgentEndpoint(deps: AgentServerDeps, { port, host }: { port: number; host: string }): Promise<RunningAgentEndpoint> {
  const server = createAgentServer(deps);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${urlHost}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // Requests in flight get a grace period, then their connections are cut (their agents retry elsewhere).
        setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS).unref();
      }),
  };
}
