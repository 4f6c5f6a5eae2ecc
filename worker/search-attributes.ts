// The search attributes a worker needs registered on its namespace before any link run upserts them.
import proto from '@temporalio/proto';
import type { NativeConnection } from '@temporalio/worker';
import { EXTAUTH_SEARCH_ATTRIBUTES } from '../workflows/search-attributes.js';

/**
 * Registers extauth's search attributes on the namespace if missing: the workflow upserts them, and an
 * unknown one would fail every workflow task of every link.
 */
export async function ensureSearchAttributes(connection: NativeConnection, namespace: string): Promise<void> {
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  const missing = EXTAUTH_SEARCH_ATTRIBUTES.filter((key) => !customAttributes?.[key.name]);
  if (missing.length === 0) return;
  try {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((key) => [key.name, proto.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD])),
    });
  } catch (err) {
    if (await registered(connection, namespace, missing)) return; // another worker added them meanwhile
    const commands = missing.map((key) => `temporal operator search-attribute create --namespace ${namespace} --name ${key.name} --type Keyword`);
    throw new Error(`search attributes ${missing.map((k) => k.name).join(', ')} are missing and could not be added (${(err as Error).message}); register them:\n  ${commands.join('\n  ')}`);
  }
}

async function registered(connection: NativeConnection, namespace: string, keys: typeof EXTAUTH_SEARCH_ATTRIBUTES): Promise<boolean> {
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  return keys.every((key) => customAttributes?.[key.name]);
}
