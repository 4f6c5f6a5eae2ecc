// Shared by the history recorder (scripts/record-histories.ts) and the replay tests: the fixture payload
// key, the histories folder, and checks on exported history JSON.
import type { History } from '@temporalio/common/lib/proto-utils.js';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { historyFromJSONText } from '../../cli/commands/history.js';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { AesGcmCodec, ENCODING } from '../../codec/aes-gcm-codec.js';
import { makeCodecKeys, parseCodecKey, type CodecKeys } from '../../codec/keys.js';
import { TokenSealer } from '../../codec/seal.js';

export const REPLAY_DIR = fileURLToPath(new URL('.', import.meta.url));
export const HISTORIES_DIR = join(REPLAY_DIR, 'histories');
export const FIXTURE_KEY_FILE = join(REPLAY_DIR, 'fixture-codec-key.txt');
/** The worker key (EXTAUTH_WORKER_KEY) the histories were recorded with: it seals their refresh tokens. */
export const FIXTURE_WORKER_KEY_FILE = join(REPLAY_DIR, 'fixture-worker-key.txt');

/** "<id>:<base64>" from a fixture key file, whose `#` lines say that it is a test fixture and not a secret. */
function fixtureKeyText(file: string): string {
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  if (lines.length !== 1) throw new Error(`${file} must hold exactly one key line`);
  return lines[0]!;
}

export function fixtureCodecKeyText(): string {
  return fixtureKeyText(FIXTURE_KEY_FILE);
}

export function fixtureCodecKeys(): CodecKeys {
  return makeCodecKeys(parseCodecKey(fixtureCodecKeyText(), FIXTURE_KEY_FILE));
}

export function fixtureWorkerKeyText(): string {
  return fixtureKeyText(FIXTURE_WORKER_KEY_FILE);
}

export function fixtureTokenSealer(): TokenSealer {
  return new TokenSealer(makeCodecKeys(parseCodecKey(fixtureWorkerKeyText(), FIXTURE_WORKER_KEY_FILE)));
}

export interface HistoryFile {
  /** File name without `.json`, e.g. `plain-refresh` or `skip-unchecked-validation.old`. */
  name: string;
  path: string;
  text: string;
  history: History;
  /** Histories hold no workflow id; replay gets one derived from the file name. */
  workflowId: string;
}

export function historyFiles(dir = HISTORIES_DIR): HistoryFile[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => readHistoryFile(join(dir, file)));
}

export function readHistoryFile(path: string): HistoryFile {
  const text = readFileSync(path, 'utf8');
  const name = basename(path, '.json');
  return { name, path, text, history: historyFromJSONText(text), workflowId: `replay:${name}` };
}

/** Event type names in order, e.g. EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, from history JSON. */
export function eventTypes(text: string): string[] {
  const json = JSON.parse(text) as { events: { eventType: string }[] };
  return json.events.map((e) => String(e.eventType));
}

/** Activity types the history scheduled (normal activities only; local activities are markers). */
export function scheduledActivities(text: string): string[] {
  const json = JSON.parse(text) as { events: { activityTaskScheduledEventAttributes?: { activityType?: { name?: string } } }[] };
  return json.events.flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType?.name ?? ''] : []));
}

/**
 * Core's own marker metadata, written by sdk-core as json/plain because core reads it back on replay:
 * a local activity's seq, attempt, type and times ("data"), and a patch marker's id ("patch-data").
 * The local activity's result sits next to it under "result", encrypted like every user payload.
 */
const CORE_MARKER_METADATA = /\.markerRecordedEventAttributes\.details\.(data|patch-data)\.payloads\[\d+\]$/;

/**
 * Payloads of the history JSON that are not encrypted by the extauth codec. Search attribute values are
 * plain by design (Temporal must index them), core's marker metadata too (above); every other payload
 * must be ciphertext.
 */
export function unencryptedPayloads(text: string): string[] {
  const found: string[] = [];
  const walk = (value: unknown, path: string): void => {
    if (Array.isArray(value)) return value.forEach((v, i) => walk(v, `${path}[${i}]`));
    if (!value || typeof value !== 'object') return;
    const record = value as Record<string, unknown>;
    if (path.endsWith('.searchAttributes.indexedFields')) return;
    const metadata = record.metadata as Record<string, string> | undefined;
    if (metadata && typeof metadata === 'object' && 'encoding' in metadata) {
      const encoding = Buffer.from(String(metadata.encoding), 'base64').toString('utf8');
      if (encoding !== ENCODING && !CORE_MARKER_METADATA.test(path)) found.push(`${path} (${encoding})`);
      return;
    }
    for (const [k, v] of Object.entries(record)) walk(v, `${path}.${k}`);
  };
  walk(JSON.parse(text), '$');
  return found;
}

/** The given secrets that appear in the history JSON, as text or inside any base64 field. */
export function secretsIn(text: string, secrets: string[]): string[] {
  const haystack: string[] = [text];
  const walk = (value: unknown): void => {
    if (typeof value === 'string') haystack.push(Buffer.from(value, 'base64').toString('latin1'));
    else if (value && typeof value === 'object') for (const v of Object.values(value)) walk(v);
  };
  walk(JSON.parse(text));
  const all = haystack.join('\n');
  return secrets.filter((secret) => all.includes(secret));
}

/** Replay tests fail on purpose: keep the SDK's and core's warnings about it out of the test output. */
export function quietReplayRuntime(): void {
  Runtime.install({ logger: new DefaultLogger('ERROR'), telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, forward: {} } } });
}

/** Every payload of the history JSON that the extauth codec encrypted, decoded with `keys` (as a client holding them would). */
export async function decodedPayloads(text: string, keys: CodecKeys): Promise<{ path: string; value: unknown }[]> {
  const found: { path: string; payload: Payload }[] = [];
  const walk = (value: unknown, path: string): void => {
    if (Array.isArray(value)) return value.forEach((v, i) => walk(v, `${path}[${i}]`));
    if (!value || typeof value !== 'object') return;
    const record = value as Record<string, unknown>;
    const metadata = record.metadata as Record<string, string> | undefined;
    if (metadata && typeof metadata === 'object' && Buffer.from(String(metadata.encoding ?? ''), 'base64').toString('utf8') === ENCODING) {
      const bytes = (b64: unknown) => new Uint8Array(Buffer.from(String(b64 ?? ''), 'base64'));
      found.push({ path, payload: { metadata: Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k, bytes(v)])), data: bytes(record.data) } });
      return;
    }
    for (const [k, v] of Object.entries(record)) walk(v, `${path}.${k}`);
  };
  walk(JSON.parse(text), '$');
  const plain = await new AesGcmCodec(keys).decode(found.map((f) => f.payload));
  return found.map((f, i) => ({ path: f.path, value: defaultPayloadConverter.fromPayload(plain[i]!) }));
}

/** Field names whose string values are refresh-token material (never readable with the client key). */
const REFRESH_MATERIAL_FIELD = /^(refresh_?token|id_?token)$/i;
/** The fake provider's GitHub-style refresh tokens (dev/fake-flavors.ts), wherever they appear (a message, a renamed field). */
const FAKE_REFRESH_TOKEN = /ghr_[A-Za-z0-9]{20,}/;

/** Refresh tokens and id_tokens readable in decoded payload values: by field name, by format, or one of `known`. */
export function refreshMaterialIn(values: unknown[], known: string[] = []): string[] {
  const found: string[] = [];
  const walk = (value: unknown, name: string): void => {
    if (typeof value === 'string') {
      if ((REFRESH_MATERIAL_FIELD.test(name) && value !== '') || FAKE_REFRESH_TOKEN.test(value) || known.some((t) => value.includes(t))) found.push(`${name}: ${value.slice(0, 8)}…`);
    } else if (Array.isArray(value)) value.forEach((v) => walk(v, name));
    else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, k);
  };
  values.forEach((v) => walk(v, ''));
  return found;
}

/** Every `sealed` string among decoded payload values (SealedTokenSet.sealed). */
export function sealedValuesIn(values: unknown[]): string[] {
  const found: string[] = [];
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) {
        if (k === 'sealed' && typeof v === 'string') found.push(v);
        else walk(v);
      }
    }
  };
  values.forEach(walk);
  return found;
}
