// The codec server the Temporal Web UI calls (POST /decode): it decrypts payloads for display and
// replaces every token with its fingerprint, so operators see what happened but never a secret.
import type { Payload } from '@temporalio/common';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { AesGcmCodec } from './aes-gcm-codec.js';
import type { CodecKeys } from './keys.js';
import { isLoopbackUrl } from '../core/urls.js';
import { redactSecrets } from './redact.js';

export interface CodecServerOptions {
  keys: CodecKeys;
  /** When set, requests must carry `Authorization: Bearer <token>`; required to listen off loopback. */
  bearerToken?: string;
  /**
   * Origins (scheme://host[:port]) of the Web UIs allowed to call it. A browser request from any other origin is
   * refused (403): it is a web page the operator happens to visit. No wildcard: "*" is refused.
   */
  allowedOrigins: string[];
  /**
   * Host names (no port) the server answers to; any other Host header is refused (403), so a DNS-rebinding name
   * that resolves to this machine cannot reach it. Default: the loopback names.
   */
  allowedHosts?: string[];
  /** Where refused requests are logged (a payload under an unknown key, a malformed body); never a payload. */
  logger?: Logger;
}

export class CodecServerConfigError extends Error {}

/** The names every loopback listener answers to. */
export const LOOPBACK_HOST_NAMES = ['127.0.0.1', 'localhost', '[::1]'] as const;

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const MAX_BODY_BYTES = 4 * 1024 * 1024;
const JSON_ENCODINGS = new Set(['json/plain', 'json/protobuf']);

export function createCodecServer(options: CodecServerOptions): Server {
  const origins = checkedOrigins(options.allowedOrigins);
  const hosts = new Set((options.allowedHosts ?? LOOPBACK_HOST_NAMES).map(hostName));
  const codec = new AesGcmCodec(options.keys);
  return createServer((req, res) => {
    const refusal = refuseRequest(req, origins, hosts);
    if (refusal) {
      options.logger?.warn({ step: 'codec-server', origin: req.headers.origin, host: req.headers.host, cause: refusal }, 'refused a codec request');
      return reply(res, 403, { error: refusal });
    }
    handle(req, res, options, codec).catch((err) => {
      options.logger?.warn({ step: 'codec-server', path: req.url, cause: (err as Error).message }, 'could not decode payloads for the Web UI');
      reply(res, 400, { error: (err as Error).message });
    });
  });
}

export interface CodecServerListen extends CodecServerOptions {
  /** Address to listen on; default 127.0.0.1. */
  host?: string;
  port: number;
  /** Extra names the server is reached by (a reverse proxy's, a DNS name); the bound address is always accepted. */
  publicHosts?: string[];
}

/**
 * Starts the server after refusing configurations that would expose decryption: listening off loopback
 * without a bearer token. Host names accepted: the loopback names, the bound address, and `publicHosts`.
 */
export async function startCodecServer(options: CodecServerListen): Promise<{ server: Server; url: string }> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopbackHost(host) && !options.bearerToken) {
    throw new CodecServerConfigError(
      `the codec server decrypts payloads: listening on ${host} (off loopback) needs EXTAUTH_CODEC_SERVER_TOKEN set to a bearer token`,
    );
  }
  const wildcard = host === '0.0.0.0' || host === '::';
  const allowedHosts = [...LOOPBACK_HOST_NAMES, ...(wildcard ? [] : [host]), ...(options.publicHosts ?? [])];
  const server = createCodecServer({ ...options, allowedHosts });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://${host.includes(':') ? `[${host}]` : host}:${port}` };
}

/** Whether `host` (a name or an address, IPv6 with or without brackets) is this machine. */
export function isLoopbackHost(host: string): boolean {
  return isLoopbackUrl(new URL(`http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}`));
}

function checkedOrigins(origins: string[]): Set<string> {
  if (origins.length === 0) throw new CodecServerConfigError('at least one Web UI origin is needed (--origin URL)');
  return new Set(
    origins.map((origin) => {
      if (origin === '*') throw new CodecServerConfigError('--origin * would let every web page decrypt payloads: name the Web UI origins');
      let url: URL;
      try {
        url = new URL(origin);
      } catch {
        throw new CodecServerConfigError(`--origin ${origin} is not a URL: give the Web UI's scheme://host[:port]`);
      }
      // Browsers send the serialized origin: no path, no trailing slash, default port omitted.
      return url.origin;
    }),
  );
}

/** The lower-case host name of a Host header or host entry, without port. */
function hostName(host: string): string {
  try {
    return new URL(`http://${host}`).hostname.toLowerCase();
  } catch {
    return '';
  }
}

/**
 * Why a request must be refused before anything is decoded, or undefined. A request without Origin is not a
 * browser's cross-origin call (the Temporal CLI, curl); it still must name a host this server answers to.
 */
function refuseRequest(req: IncomingMessage, origins: Set<string>, hosts: Set<string>): string | undefined {
  const host = req.headers.host;
  if (!host || !hosts.has(hostName(host))) return 'host not allowed';
  const origin = req.headers.origin;
  if (origin !== undefined && !origins.has(origin)) return 'origin not allowed';
  return undefined;
}

async function handle(req: IncomingMessage, res: ServerResponse, options: CodecServerOptions, codec: AesGcmCodec): Promise<void> {
  setCors(req, res);
  // A preflight carries no credentials (Fetch standard), also when the UI passes its access token: answered
  // for allowed origins only (checked above), the token is checked on the POST itself.
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

/** Only called for an allowed origin (refuseRequest ran first). */
function setCors(req: IncomingMessage, res: ServerResponse): void {
  res.setHeader('vary', 'origin');
  const origin = req.headers.origin;
  if (!origin) return;
  res.setHeader('access-control-allow-origin', origin);
  res.setHeader('access-control-allow-credentials', 'true');
  res.setHeader('access-control-allow-methods', 'POST, OPTIONS');
  res.setHeader('access-control-allow-headers', 'content-type, x-namespace, authorization');
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
