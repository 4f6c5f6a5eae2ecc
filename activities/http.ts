import { errors, request, type Dispatcher } from 'undici';

/** Provider answers larger than this are refused unread: a token answer is a few hundred bytes. */
export const MAX_ANSWER_BYTES = 256 * 1024;

export interface HttpAnswer {
  status: number;
  headers: Headers;
  body: string;
}

/** Thrown when no complete answer came back; `maybeSent` tells whether the provider may have acted on it. */
export class HttpCallError extends Error {
  constructor(
    message: string,
    readonly maybeSent: boolean,
    readonly failureClass: 'timeout' | 'connection' | 'malformed' = 'connection',
  ) {
    super(message);
    this.name = 'HttpCallError';
  }
}

/**
 * One HTTP call with a hard overall deadline (`timeoutMs`) on top of undici's connect, headers and body
 * timeouts, so that callers can keep every attempt strictly inside the activity's start-to-close timeout.
 */
export async function callProvider(
  dispatcher: Dispatcher,
  url: string,
  options: { method: 'GET' | 'POST' | 'DELETE'; headers: Record<string, string>; body?: string; timeoutMs: number },
): Promise<HttpAnswer> {
  let response: Dispatcher.ResponseData;
  try {
    response = await request(url, {
      dispatcher,
      method: options.method,
      headers: options.headers,
      body: options.body,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      signal: AbortSignal.timeout(options.timeoutMs),
    });
  } catch (err) {
    throw toCallError(err);
  }
  try {
    const body = await readLimited(response.body, MAX_ANSWER_BYTES);
    return { status: response.statusCode, headers: toHeaders(response.headers), body };
  } catch (err) {
    response.body.destroy();
    throw err instanceof HttpCallError ? err : toCallError(err);
  }
}

async function readLimited(body: Dispatcher.ResponseData['body'], maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new HttpCallError(`answer larger than ${maxBytes} bytes`, true, 'malformed');
    chunks.push(chunk as Buffer);
  }
  // fatal: a token answer that is not UTF-8 is unreadable, not something to guess at.
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new HttpCallError('answer is not valid UTF-8', true, 'malformed');
  }
}

function toHeaders(raw: Record<string, string | string[] | undefined>): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  return headers;
}

export function toCallError(err: unknown): HttpCallError {
  // Failing to connect means the request never left; anything later may have reached the provider.
  if (err instanceof errors.ConnectTimeoutError) return new HttpCallError('connect timeout', false, 'timeout');
  const code = (err as { code?: string }).code;
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new HttpCallError(`connection failed (${code})`, false);
  if (err instanceof errors.HeadersTimeoutError) return new HttpCallError('timed out waiting for the answer headers', true, 'timeout');
  if (err instanceof errors.BodyTimeoutError) return new HttpCallError('timed out reading the answer body', true, 'timeout');
  if ((err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError') return new HttpCallError('overall deadline exceeded', true, 'timeout');
  if (err instanceof errors.SocketError || code === 'ECONNRESET' || code === 'EPIPE') return new HttpCallError('connection reset', true);
  return new HttpCallError(`request failed: ${(err as Error).message ?? String(err)}`, true);
}
