import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';
import pino, { type DestinationStream, type Logger } from 'pino';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { ensurePrivateFile, PRIVATE_DIR_MODE } from '../core/private-files.js';
import { isSecretFieldName } from '../core/secret-fields.js';

/**
 * Structured JSON logs. Nothing in extauth passes a token to a logger; the redaction below is a second
 * line of defence for fields that could carry one if a future change slipped: every string or number under
 * a secret field name (core/secret-fields.ts, any case, any depth) is replaced by "[redacted]".
 */
export function createLogger(destination?: DestinationStream, level = process.env.EXTAUTH_LOG_LEVEL ?? 'info'): Logger {
  return pino(
    {
      level,
      base: { service: 'extauth' },
      // pino's own `redact` matches exact, case-sensitive paths at fixed depths. The finished line is redacted
      // instead, so that child bindings and serialized errors (which skip pino's formatters) are covered too.
      hooks: { streamWrite: redactLogLine },
    },
    destination,
  );
}

export const REDACTED = '[redacted]';
const MAX_REDACT_DEPTH = 16;

/** One serialized JSON line, with secret-named values censored. */
function redactLogLine(line: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return line; // pino writes JSON; anything else has no fields to judge
  }
  return `${JSON.stringify(redactValue(parsed, 0))}\n`;
}

function redactValue(value: unknown, depth: number): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth > MAX_REDACT_DEPTH) return REDACTED; // nothing extauth logs is this deep; do not judge it unread
  if (Array.isArray(value)) return value.map((v) => redactValue(v, depth + 1));
  return Object.fromEntries(
    Object.entries(value).map(([name, v]) => [
      name,
      isSecretFieldName(name) && v !== null && v !== undefined && typeof v !== 'object' ? REDACTED : redactValue(v, depth + 1),
    ]),
  );
}

/**
 * An append-only log file, 0600 (logs name users, links and providers). A missing folder is created 0700; an
 * existing one is the caller's to judge (it may be a folder Postgres must enter).
 */
export function privateLogDestination(file: string): DestinationStream {
  mkdirSync(dirname(file), { recursive: true, mode: PRIVATE_DIR_MODE });
  ensurePrivateFile(file);
  return pino.destination({ dest: file, append: true, sync: false });
}

let installed = false;

/** Routes the Temporal SDK's own logs (worker, workflow `log`, activity context) into the same JSON stream. Once per process. */
export function installTemporalLogging(
  logger: Logger,
  level: LogLevel = 'WARN',
  shutdownSignals?: NodeJS.Signals[],
  /** host:port where the SDK serves its own Prometheus metrics (appended to extauth's /metrics). */
  sdkMetricsAddress?: string,
): void {
  if (installed) return;
  installed = true;
  const methods = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const;
  Runtime.install({
    logger: new DefaultLogger(level, (entry) => {
      logger[methods[entry.level]]({ ...entry.meta, source: 'temporal' }, entry.message);
    }),
    // Core (Rust) logs too: workflow task failures are reported there.
    telemetryOptions: {
      logging: { filter: { core: 'WARN', other: 'WARN' }, forward: {} },
      ...(sdkMetricsAddress ? { metrics: { prometheus: { bindAddress: sdkMetricsAddress } } } : {}),
    },
    ...(shutdownSignals ? { shutdownSignals } : {}),
  });
}
