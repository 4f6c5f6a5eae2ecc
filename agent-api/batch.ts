// Calls made in one turn of the event loop, run as one: the N agents of a link are answered together (one getToken
// shared by all), so their N key lookups and N audit writes become one query each instead of N queries queued on the
// pool's 10 connections (docs/performance.md, "Where P2 and P3 spend their time").

/** At most this many inputs per query (an audit row takes 6 parameters; Postgres allows 65,535). */
const MAX_BATCH = 500;

interface Call<I, O> {
  input: I;
  resolve: (output: O) => void;
  reject: (err: unknown) => void;
}

/**
 * A function whose calls made in the same turn are handed to `runBatch` together, once the turn is over; `runBatch`
 * answers each input, in order. A batch is run only after each of its calls was made, so it reads nothing older than a
 * call of its own would have. When a batch fails, each of its inputs is run alone: one input's failure (e.g. a row the
 * database refuses) fails only its own call, as without batching.
 */
export function batchedPerTurn<I, O>(runBatch: (inputs: I[]) => Promise<O[]>, maxBatch = MAX_BATCH): (input: I) => Promise<O> {
  let pending: Call<I, O>[] = [];

  const run = async (batch: Call<I, O>[]): Promise<void> => {
    try {
      const outputs = await runBatch(batch.map((c) => c.input));
      if (outputs.length !== batch.length) throw new Error(`a batch of ${batch.length} got ${outputs.length} answers`);
      batch.forEach((c, i) => c.resolve(outputs[i]!));
    } catch (err) {
      if (batch.length === 1) return batch[0]!.reject(err);
      await Promise.all(batch.map((c) => run([c])));
    }
  };

  const flush = () => {
    const calls = pending;
    pending = [];
    for (let i = 0; i < calls.length; i += maxBatch) void run(calls.slice(i, i + maxBatch));
  };

  return (input) =>
    new Promise<O>((resolve, reject) => {
      pending.push({ input, resolve, reject });
      if (pending.length === 1) setImmediate(flush);
    });
}
