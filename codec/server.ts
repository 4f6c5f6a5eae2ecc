// The codec server the Temporal Web UI calls (POST /decode): it decrypts payloads for display and
// replaces every token with its fingerprint, so operators see what happened but never a secret.
import type { Payload } from '@temporalio/common';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { AesGcmCodec } from './aes-gcm-codec.js';
import type { CodecKeys } from './keys.js';
import { redactSecrets } from './redact.js';

export interface CodecServerOptions {
  keys: CodecKeys;
  /** When set, requests must carry `Authorization: Bearer <token>` (production). */
  bearerToken?: string;
  /** Origins allowed by CORS (the Web UI's); '*' allows any. */
  allowedOrigins: string[];
  /** Where refused requests are logged (a payload under an unknown key, a malformed body); never a payload. */
  logger?: Logger;
}

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const MAX_BODY_BYTES = 4 * 1024 * 1024;
const JSON_ENCODINGS = new Set(['json/plain', 'json/protobuf']);

export function createCodecServer(options: CodecServerOptions): Server {
  const codec = new AesGcmCodec(options.keys);
  return createServer((req, res) => {
    handle(req, res, options, codec).catch((err) => {
      options.logger?.warn({ step: 'codec-server', path: req.url, cause: (err as Error).message }, 'could not decode payloads for the Web UI');
      reply(res, 400, { error: (err as Error).message });
    });
  });
}

async function handle(req: IncomingMessage, res: ServerResponse, options: CodecServerOptions, codec: AesGcmCodec): Promise<void> {
  setCors(req, res, options.allowedOrigins);
  if (req.method === 'OPTIONS') return reply(res, 204);
  if (req.method !== 'POST' || req.url?.split('?')[0] !== '/decode') return reply(res, 404, { error: 'POST /decode only' });
  if (options.bearerToken && !bearerMatches(req.headers.authorization, options.bearerToken)) return reply(res, 401, { error: 'unauthorized' });

  const body = JSON.parse(await readBody(req)) as { payloads?: JsonPayload[] };
  if (!Array.isArray(body.payloads)) return reply(res, 400, { error: 'expected {"payloads": [...]}' });
  const decoded = await codec.decode(body.payloads.map(fromJson));
  reply(res, 200, { payloads: decoded.map((p) => toJson(redactPayload(p))) });
}

/** JSON payloads get their secrets replaced by fingerprints; anything else passes as decoded. */
function redactPayload(payload: Payload): Payload {
  const encoding = payload.metadata?.encoding ? Buffer.from(payload.metadata.encoding).toString() : '';
  if (!JSON_ENCODINGS.has(encoding) || !payload.data) return payload;
  const value = JSON.parse(Buffer.from(payload.data).toString('utf8'));
  return { ...payload, data: Buffer.from(JSON.stringify(redactSecrets(value))) };
}

function fromJson(p: JsonPayload): Payload {
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
    data: Buffer.from(p.data ?? '', 'base64'),
  };
}

function toJson(p: Payload): JsonPayload {
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')])),
    data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
  };
}

function setCors(req: IncomingMessage, res: ServerResponse, allowed: string[]): void {
  const origin = req.headers.origin;
  if (!origin) return;
  if (allowed.includes('*') || allowed.includes(origin)) {
    res.setHeader('access-control-allow-origin', origin);
    res.setHeader('access-control-allow-credentials', 'true');
    res.setHeader('access-control-allow-methods', 'POST, OPTIONS');
    res.setHeader('access-control-allow-headers', 'content-type, x-namespace, authorization');
    res.setHeader('vary', 'origin');
  }
}

function bearerMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header?.replace(/^Bearer\s+/i, '') ?? '');
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new Error('request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function reply(res: ServerResponse, status: number, body?: unknown): void {
  res.writeHead(status, body === undefined ? {} : { 'content-type': 'application/json' });
  res.end(body === undefined ? undefined : JSON.stringify(body));
}
