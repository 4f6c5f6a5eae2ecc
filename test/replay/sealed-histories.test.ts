// A Temporal namespace reader holding the client payload key (EXTAUTH_CODEC_KEY) cannot obtain a refresh token
// or an id_token from recorded histories: every payload decoded with the fixture codec key, refresh tokens and
// id_tokens are nowhere, and what carries them is sealed with the worker key. The control: histories recorded
// before sealing existed (kept because open runs look like them) give the tokens away to the same check.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { makeCodecKeys } from '../../codec/keys.js';
import { SealedValueError, TokenSealer } from '../../codec/seal.js';
import type { LinkKey } from '../../core/types.js';
import { decodedPayloads, fixtureCodecKeys, fixtureTokenSealer, historyFiles, readHistoryFile, refreshMaterialIn, sealedValuesIn, type HistoryFile } from './fixture.js';

/**
 * Recorded before the worker key existed (and before 1.0: with local row activities). Not replayed: kept only as this
 * test's control, so that the check below is shown to find refresh tokens where they are readable.
 */
const PRE_SEAL_FIXTURE = fileURLToPath(new URL('./fixtures/pre-seal-plain-refresh.json', import.meta.url));

const clientKeys = fixtureCodecKeys();
const files = historyFiles();

interface Decoded {
  values: unknown[];
  link: LinkKey;
  /** Exchanges answered with new tokens (the exchange activity's results of kind `exchanged`). */
  answeredExchanges: number;
}

async function decode(file: HistoryFile): Promise<Decoded> {
  const payloads = await decodedPayloads(file.text, clientKeys);
  const input = payloads.find((p) => p.path.includes('workflowExecutionStartedEventAttributes.input'))!.value as LinkKey;
  const exchangeEvents = new Set(
    (JSON.parse(file.text) as { events: { eventId: string; activityTaskScheduledEventAttributes?: { activityType?: { name?: string } } }[] }).events
      .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'exchangeRefreshToken')
      .map((e) => String(e.eventId)),
  );
  const events = (JSON.parse(file.text) as { events: { activityTaskCompletedEventAttributes?: { scheduledEventId?: string } }[] }).events;
  const answeredExchanges = payloads.filter((p) => {
    const at = /^\$\.events\[(\d+)\]\.activityTaskCompletedEventAttributes\.result/.exec(p.path);
    return at && exchangeEvents.has(String(events[Number(at[1])]!.activityTaskCompletedEventAttributes!.scheduledEventId)) && (p.value as { kind?: string }).kind === 'exchanged';
  }).length;
  return { values: payloads.map((p) => p.value), link: { providerId: input.providerId, userId: input.userId }, answeredExchanges };
}

/** A sealer that takes the client key for whatever key id a sealed value names: what a client could try. */
function clientKeyAsWorkerKey(sealed: string): TokenSealer {
  const keyId = sealed.split(':')[2]!;
  return new TokenSealer(makeCodecKeys({ id: keyId, key: clientKeys.current.key }));
}

describe('recorded histories: the client payload key yields no refresh token or id_token', () => {
  it.each(files.map((f) => [f.name, f] as const))('%s: no refresh token or id_token; sealed answers open only with the worker key', async (_name, file) => {
    const { values, link, answeredExchanges } = await decode(file);
    expect(refreshMaterialIn(values)).toEqual([]);
    const sealed = sealedValuesIn(values);
    // Each answered exchange's result holds one sealed value, and persist's input carries it on.
    expect(sealed.length).toBeGreaterThanOrEqual(answeredExchanges);
    for (const value of sealed) {
      expect(() => clientKeyAsWorkerKey(value).open(value, link, 'a sealed value')).toThrow(SealedValueError);
      const opened = fixtureTokenSealer().open<{ refreshToken: string }>(value, link, 'a sealed value');
      expect(opened.refreshToken).toMatch(/^ghr_/);
    }
  });

  it('the scenarios that refresh recorded sealed answers (so the check above is not vacuous)', async () => {
    const plain = files.find((f) => f.name === 'plain-refresh')!;
    const { values, answeredExchanges } = await decode(plain);
    expect(answeredExchanges).toBe(1);
    expect(sealedValuesIn(values)).toHaveLength(2); // the exchange's result and persist's input
  });

  it('control: the same check finds the refresh token in a history recorded before sealing', async () => {
    const { values, answeredExchanges } = await decode(readHistoryFile(PRE_SEAL_FIXTURE));
    expect(answeredExchanges).toBe(1);
    expect(sealedValuesIn(values)).toEqual([]);
    expect(refreshMaterialIn(values).length).toBeGreaterThan(0);
  });
});
