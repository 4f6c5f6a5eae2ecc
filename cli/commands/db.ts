// `extauth db encrypt-tokens`: brings the stored tokens of existing rows under the current database key.
import { ConfigError } from '../../config/env.js';
import { reencryptStoredTokens } from '../../store/reencrypt.js';
import { tokenCipherForProcess } from '../../store/db-key.js';
import { endpoints, EXIT, parse, print, withPool, type Command } from './args.js';

export const dbEncryptTokensCommand: Command = {
  path: ['db', 'encrypt-tokens'],
  usage: 'db encrypt-tokens [--provider P] [--dry-run] [--json]',
  summary: 'encrypt plaintext tokens, and re-encrypt those under older keys, with EXTAUTH_DB_KEY; row by row, safe next to running workers',
  async run(args) {
    const { values } = parse(args, { provider: { type: 'string' }, 'dry-run': { type: 'boolean' }, json: { type: 'boolean' } });
    const cipher = tokenCipherForProcess(process.env, 'extauth db encrypt-tokens', endpoints().dbKeyFile);
    if (!cipher) {
      throw new ConfigError(
        'db encrypt-tokens needs the key to encrypt with: set EXTAUTH_DB_KEY="<key id>:<base64 of 32 bytes>" ' +
          '(and EXTAUTH_DB_DECRYPT_KEYS to the older keys rows may still be encrypted with); EXTAUTH_DB_PLAINTEXT=allow does not apply here',
      );
    }
    const dryRun = values['dry-run'] ?? false;
    const report = await withPool((pool) => reencryptStoredTokens(pool, cipher, { providerId: values.provider, dryRun }));
    const unknown = Object.entries(report.unknownKeys);
    if (values.json) {
      print({ keyId: cipher.currentKeyId, dryRun, ...report });
    } else {
      const verb = dryRun ? 'would encrypt' : 'encrypted';
      print(
        `${dryRun ? 'dry run: ' : ''}${report.scanned} rows scanned${values.provider ? ` (provider ${values.provider})` : ''}; ` +
          `${verb} ${report.encrypted} plaintext, ${dryRun ? 'would re-encrypt' : 're-encrypted'} ${report.reencrypted} from older keys, ` +
          `${report.current} already under key "${cipher.currentKeyId}"` +
          (report.changedMeanwhile ? `; ${report.changedMeanwhile} changed while being rewritten (run again)` : ''),
      );
    }
    if (unknown.length) {
      const list = unknown.map(([keyId, rows]) => `"${keyId}" (${rows} ${rows === 1 ? 'row' : 'rows'})`).join(', ');
      process.stderr.write(
        `extauth: rows left untouched, encrypted with keys that are not configured or do not decrypt: ${list}; ` +
          'add those keys to EXTAUTH_DB_DECRYPT_KEYS and run again\n',
      );
    }
    if (!dryRun && !unknown.length && !report.changedMeanwhile && !cipher.rejectPlaintext) {
      process.stderr.write('extauth: no plaintext token left in the rows scanned; set EXTAUTH_DB_STRICT=1 on every process to refuse any from now on\n');
    }
    return unknown.length || report.changedMeanwhile ? EXIT.failure : EXIT.ok;
  },
};
