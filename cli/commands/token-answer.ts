// `link put --tokens-from FILE|-`: the provider's token endpoint answer (RFC 6749 5.1, JSON), read from a file or
// stdin so that no token is on the command line. Validated with zod; errors name fields, never values.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { UsageError } from './args.js';

/** A token answer is a few KiB at most (an id_token included); more is not a token answer. */
const MAX_ANSWER_BYTES = 64 * 1024;
const TEN_YEARS = 10 * 365 * 86_400;

/** Whole positive seconds, as a JSON number or decimal text (some providers send strings). */
const seconds = z
  .union([z.number(), z.string().regex(/^\s*\d+\s*$/, 'expected a whole number of seconds').transform(Number)])
  .pipe(z.number().int().positive().max(TEN_YEARS));

const tokenAnswerSchema = z.looseObject({
  access_token: z.string().min(1),
  refresh_token: z.string().min(1),
  expires_in: seconds.optional(),
  refresh_token_expires_in: seconds.optional(),
  token_type: z.string().min(1).optional(),
});

export interface TokenAnswerFile {
  accessToken: string;
  refreshToken: string;
  expiresIn: number | undefined;
  refreshTokenExpiresIn: number | undefined;
  tokenType: string | undefined;
  /** Every other field of the answer (id_token, scope...), kept as the worker keeps them after a refresh. */
  extra: Record<string, unknown>;
}

/** `source` is a file path, or "-" for stdin. */
export async function readTokenAnswer(source: string, stdin: NodeJS.ReadableStream = process.stdin): Promise<TokenAnswerFile> {
  const text = source === '-' ? await readBounded(stdin) : await readFileBounded(source);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text around the error: it may be a token.
    throw new UsageError(`--tokens-from ${source === '-' ? '(stdin)' : 'file'}: not JSON; expected the token endpoint's answer, e.g. {"access_token": …, "refresh_token": …, "expires_in": 28800}`);
  }
  const parsed = parseTokenAnswer(json);
  if ('problems' in parsed) throw new UsageError(`--tokens-from: the token answer is not usable: ${parsed.problems}`);
  return parsed.answer;
}

/** A token endpoint answer already read (`link login` gets it from the provider); problems name fields, never values. */
export function parseTokenAnswer(json: unknown): { answer: TokenAnswerFile } | { problems: string } {
  const result = tokenAnswerSchema.safeParse(json);
  if (!result.success) return { problems: result.error.issues.map((i) => `${i.path.join('.') || '(the answer)'}: ${i.message}`).join('; ') };
  const { access_token, refresh_token, expires_in, refresh_token_expires_in, token_type, ...extra } = result.data;
  return { answer: { accessToken: access_token, refreshToken: refresh_token, expiresIn: expires_in, refreshTokenExpiresIn: refresh_token_expires_in, tokenType: token_type, extra } };
}

async function readFileBounded(path: string): Promise<string> {
  const data = await readFile(path).catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`--tokens-from: cannot read ${path} (${err.code ?? err.message})`);
  });
  if (data.length > MAX_ANSWER_BYTES) throw new UsageError(`--tokens-from: ${path} is larger than ${MAX_ANSWER_BYTES} bytes; expected one token answer`);
  return data.toString('utf8');
}

async function readBounded(input: NodeJS.ReadableStream): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buffer.length;
    if (size > MAX_ANSWER_BYTES) throw new UsageError(`--tokens-from -: more than ${MAX_ANSWER_BYTES} bytes on stdin; expected one token answer`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
