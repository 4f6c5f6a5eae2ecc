// The demo's webhook receiver: a loopback HTTP server that checks each event's Standard Webhooks signature and prints
// it (`npm start` shows mallory's link.reauth_required arriving). Kept apart from dev/demo.ts so that demo changes
// merge easily.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WebhookEndpoint } from '../config/webhooks.js';
import { webhookProblem } from '../activities/webhook-signature.js';

/** Starts the receiver on a free loopback port; the endpoint (with a fresh secret) goes to the dev worker. */
export async function startDemoWebhookReceiver(print: (line: string) => void = console.log): Promise<{ endpoint: WebhookEndpoint; close(): Promise<void> }> {
  const key = randomBytes(32);
  const seen = new Set<string>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const problem = webhookProblem(key, req.headers, body);
      if (problem) {
        print(`demo: webhook refused (${problem})`);
        res.writeHead(400).end();
        return;
      }
      const id = String(req.headers['webhook-id']);
      // A retried delivery carries the same webhook-id: printed once.
      if (!seen.has(id)) {
        seen.add(id);
        const event = JSON.parse(body) as { type: string; data: { provider: string; user: string; reason?: string } };
        print(`demo: webhook ${event.type} for ${event.data.provider}/${event.data.user}, signature verified (webhook-id ${id})${event.data.reason ? `: ${event.data.reason}` : ''}`);
      }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: { name: 'demo-receiver', url: `http://127.0.0.1:${port}/webhooks`, key },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
