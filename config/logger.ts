import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';
import pino, { type DestinationStream, type Logger } from 'pino';

/**
 * Structured JSON logs. Nothing in extauth passes a token to a logger; the redaction below is a second
 * line of defence for fields that could carry one if a future change slipped.
 */
export function createLogger(destination?: DestinationStream, level = process.env.EXTAUTH_LOG_LEVEL ?? 'info'): Logger {
  return pino(
    {
      level,
      base: { service: 'extauth' },
      redact: {
        paths: ['accessToken', 'refreshToken', 'tokens', '*.accessToken', '*.refreshToken', 'authorization', '*.authorization'],
        censor: '[redacted]',
      },
    },
    destination,
  );
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
