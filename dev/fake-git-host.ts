/**
 * A local HTTPS git host for tests: serves the bare repositories under `projectRoot` through git's smart HTTP
 * protocol (git-http-backend, run as CGI for each request) and demands HTTP Basic credentials that `authorize`
 * accepts. Every presented credential is recorded, accepted or not.
 */
import { execFile, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface BasicCredentials {
  username: string;
  password: string;
}

export interface FakeGitHostOptions {
  /** Folder of bare repositories: `https://127.0.0.1:<port>/<name>.git` serves `<projectRoot>/<name>.git`. */
  projectRoot: string;
  tls: { cert: string; key: string };
  authorize(credentials: BasicCredentials): boolean;
}

export class FakeGitHost {
  /** Every credential presented, in order. Requests without credentials get a 401 and are not recorded. */
  readonly attempts: { credentials: BasicCredentials; accepted: boolean }[] = [];
  readonly port: number;
  /** `127.0.0.1:<port>`, as git names the host to credential helpers. */
  readonly host: string;
  readonly url: string;

  static async start(options: FakeGitHostOptions): Promise<FakeGitHost> {
    const { stdout } = await run('git', ['--exec-path']);
    const server = createServer({ cert: options.tls.cert, key: options.tls.key });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return new FakeGitHost(server, options, join(stdout.trim(), 'git-http-backend'));
  }

  private constructor(
    private readonly server: Server,
    private readonly options: FakeGitHostOptions,
    private readonly backend: string,
  ) {
    this.port = (server.address() as AddressInfo).port;
    this.host = `127.0.0.1:${this.port}`;
    this.url = `https://${this.host}`;
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.handle(req, res));
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const credentials = parseBasic(req.headers.authorization);
    const accepted = credentials !== undefined && this.options.authorize(credentials);
    if (credentials) this.attempts.push({ credentials, accepted });
    if (!accepted) {
      req.resume();
      res.writeHead(401, { 'www-authenticate': 'Basic realm="fake-git-host"', 'content-type': 'text/plain' });
      res.end('authentication required\n');
      return;
    }
    this.serveCgi(req, res);
  }

  /** One git-http-backend per request (RFC 3875 CGI): request body on stdin, headers then body on stdout. */
  private serveCgi(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', this.url);
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      GIT_PROJECT_ROOT: this.options.projectRoot,
      GIT_HTTP_EXPORT_ALL: '1',
      GIT_CONFIG_NOSYSTEM: '1',
      HOME: this.options.projectRoot,
      GATEWAY_INTERFACE: 'CGI/1.1',
      SERVER_PROTOCOL: 'HTTP/1.1',
      REQUEST_METHOD: req.method ?? 'GET',
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.slice(1),
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
      REMOTE_USER: 'git-user', // never the presented credential: it may be the token
    };
    if (req.headers['content-length']) env.CONTENT_LENGTH = req.headers['content-length'];
    if (req.headers['content-encoding']) env.HTTP_CONTENT_ENCODING = req.headers['content-encoding'];
    if (typeof req.headers['git-protocol'] === 'string') env.HTTP_GIT_PROTOCOL = req.headers['git-protocol'];

    const child = spawn(this.backend, [], { env, stdio: ['pipe', 'pipe', 'ignore'] });
    const fail = (message: string) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`${message}\n`);
    };
    child.on('error', (err) => fail(`git-http-backend: ${err.message}`));
    child.stdin.on('error', () => {}); // the backend may answer (an error) without reading the whole body
    req.pipe(child.stdin);

    let head = Buffer.alloc(0);
    child.stdout.on('data', (chunk: Buffer) => {
      if (res.headersSent) return void res.write(chunk);
      head = Buffer.concat([head, chunk]);
      const parsed = parseCgiHead(head);
      if (!parsed) return;
      res.writeHead(parsed.status, parsed.headers);
      if (parsed.body.length) res.write(parsed.body);
    });
    child.stdout.on('end', () => (res.headersSent ? res.end() : fail('git-http-backend ended before its headers')));
  }
}

/** CGI response headers up to the blank line; `Status:` gives the HTTP status (default 200). Undefined until complete. */
function parseCgiHead(buffer: Buffer): { status: number; headers: Record<string, string>; body: Buffer } | undefined {
  const crlf = buffer.indexOf('\r\n\r\n');
  const lf = buffer.indexOf('\n\n');
  const end = crlf >= 0 && (lf < 0 || crlf < lf) ? { at: crlf, length: 4 } : lf >= 0 ? { at: lf, length: 2 } : undefined;
  if (!end) return undefined;
  let status = 200;
  const headers: Record<string, string> = {};
  for (const line of buffer.subarray(0, end.at).toString('latin1').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'status') status = Number.parseInt(value, 10) || 500;
    else headers[name] = value;
  }
  return { status, headers, body: buffer.subarray(end.at + end.length) };
}

function parseBasic(header: string | undefined): BasicCredentials | undefined {
  const encoded = /^Basic\s+(\S+)$/i.exec(header ?? '')?.[1];
  if (!encoded) return undefined;
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? { username: decoded, password: '' } : { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** A self-signed certificate for 127.0.0.1 (openssl); pass `certFile` to git as `http.sslCAInfo`. */
export async function selfSignedCertificate(dir: string): Promise<{ certFile: string; keyFile: string }> {
  const certFile = join(dir, 'git-host.crt');
  const keyFile = join(dir, 'git-host.key');
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '2',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
  ]);
  return { certFile, keyFile };
}
