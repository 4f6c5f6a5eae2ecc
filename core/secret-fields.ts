// The one list of field names whose values are secrets, shared by the log redaction (config/logger.ts) and the
// codec server's payload redaction (codec/redact.ts). Names match case-insensitively and ignoring "_" and "-",
// so `refresh_token`, `refreshToken` and `REFRESH-TOKEN` are the same name.

const SECRET_FIELD_NAMES = [
  // OAuth tokens (RFC 6749 5.1, OpenID Connect), as providers send them and as extauth names them.
  'access_token',
  'refresh_token',
  'id_token',
  'token',
  'bearer_token',
  // Client credentials and user passwords (git credential `password` carries the access token).
  'client_secret',
  'secret',
  'password',
  'authorization',
  'cookie',
  // Agent keys (`key` in the agent client and `extauth agent-key create --json`), payload, database and worker keys.
  'key',
  'agent_key',
  'api_key',
  'private_key',
  'codec_key',
  'db_key',
  'worker_key',
  'codec_server_token',
  'extauth_agent_key',
  'extauth_codec_key',
  'extauth_codec_decrypt_keys',
  'extauth_db_key',
  'extauth_db_decrypt_keys',
  'extauth_worker_key',
  'extauth_codec_server_token',
  'temporal_api_key',
] as const;

const normalize = (name: string): string => name.toLowerCase().replace(/[-_]/g, '');
const SECRET_NAMES = new Set(SECRET_FIELD_NAMES.map(normalize));

/** Whether a field of this name holds a secret, whatever its case or separators. */
export function isSecretFieldName(name: string): boolean {
  return SECRET_NAMES.has(normalize(name));
}
