// HTTP plumbing of the agent endpoint: bounded bodies, JSON answers, the bearer credential.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** docs/agent-api.md: bodies are at most 16 KiB (a token request is ~100 bytes). */
export const MAX_BODY_BYTES = 16 * 1024;

export class BodyTooLargeError extends Error {
  constructor() {
    super(`the request body is larger than ${MAX_BODY_BYTES / 1024} KiB`);
  }
}

/** The body as text, refused past MAX_BODY_BYTES (by content-length at once, or while reading). */
export async function readBody(req: IncomingMessage): Promise<string> {
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) throw new BodyTooLargeError();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new BodyTooLargeError();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The bearer credential of `Authorization: Bearer <key>`, or undefined when there is none. */
export function bearerCredential(req: IncomingMessage): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return match?.[1];
}

export function replyJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  // A token answer must not land in a shared cache.
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
