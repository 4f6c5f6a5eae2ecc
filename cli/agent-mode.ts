// Agent mode of the CLI: with EXTAUTH_AGENT_URL set, `token` and `git-credential` ask the agent endpoint with the
// agent's key and read nothing else (no Temporal address, payload key, database, providers file or .extauth/).
import { ConfigError } from '../config/env.js';
import { AgentClient } from '../client/agent-client.js';

/** The agent endpoint's client when EXTAUTH_AGENT_URL (or a key) is set; undefined for direct (operator) mode. */
export function agentClientFromEnv(env: NodeJS.ProcessEnv = process.env): AgentClient | undefined {
  const url = env.EXTAUTH_AGENT_URL;
  const key = env.EXTAUTH_AGENT_KEY;
  if (!url && !key) return undefined;
  if (!url) {
    // Falling back to direct mode would read the operator's configuration from this machine: refuse instead.
    throw new ConfigError('EXTAUTH_AGENT_KEY is set but EXTAUTH_AGENT_URL is not: set EXTAUTH_AGENT_URL to the agent endpoint (`extauth dev` prints it as "agentUrl")');
  }
  if (!key) {
    throw new ConfigError(
      'EXTAUTH_AGENT_URL is set but EXTAUTH_AGENT_KEY is not: ask your operator for an agent key of this link ' +
        '(`extauth agent-key create --provider P --user U`) and export it as EXTAUTH_AGENT_KEY',
    );
  }
  return new AgentClient({ url, key });
}
