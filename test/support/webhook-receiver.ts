// A webhook receiver for tests: records every attempt (headers, body, the status it answered) and answers what the
// test's `answer` says, per event. Loopback only, like any receiver extauth may send to over plain http.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedAttempt {
  at: number;
  headers: Record<string, string>;
  body: string;
  /** What the receiver answered. */
  status: number;
  id: string;
  type: string;
  user: string;
}

export interface WebhookReceiver {
  url: string;
  attempts: ReceivedAttempt[];
  /** Attempts answered 2xx. */
  delivered(filter?: (a: ReceivedAttempt) => boolean): ReceivedAttempt[];
  close(): Promise<void>;
}

/** `answer`: the status for an attempt (the parsed event's type and user at hand); 204 by default. */
export async function startWebhookReceiver(answer: (event: { type: string; user: string }) => number = () => 204): Promise<WebhookReceiver> {
  const attempts: ReceivedAttempt[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let event = { type: '?', user: '?' };
      try {
        const parsed = JSON.parse(body) as { type: string; data: { user: string } };
        event = { type: parsed.type, user: parsed.data.user };
      } catch {
        // recorded as it came
      }
      const status = answer(event);
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      attempts.push({ at: Date.now(), headers, body, status, id: headers['webhook-id'] ?? '', ...event });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    attempts,
    delivered: (filter = () => true) => attempts.filter((a) => a.status >= 200 && a.status < 300 && filter(a)),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
