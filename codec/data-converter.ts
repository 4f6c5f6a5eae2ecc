import type { DataConverter } from '@temporalio/common';
import { fileURLToPath } from 'node:url';
import { AesGcmCodec } from './aes-gcm-codec.js';
import type { CodecKeys } from './keys.js';

export const FAILURE_CONVERTER_PATH = fileURLToPath(new URL('./failure-converter.cjs', import.meta.url));

/** The same for clients and workers: encrypted payloads, and failure messages encoded as payloads. */
export function extauthDataConverter(keys: CodecKeys): DataConverter {
  return { payloadCodecs: [new AesGcmCodec(keys)], failureConverterPath: FAILURE_CONVERTER_PATH };
}
