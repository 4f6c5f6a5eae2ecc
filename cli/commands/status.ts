import { formatStatus } from '../format.js';
import { EXIT, linkOptions, linkSchema, parse, print, validated, withClient, type Command } from './args.js';

function statusLike(path: string, what: string, refresh: boolean): Command {
  return {
    path: [path],
    usage: `${path} --provider P --user U [--json]`,
    summary: what,
    async run(args) {
      const { values } = parse(args, linkOptions);
      const link = validated(linkSchema, values);
      const status = await withClient((c) => (refresh ? c.refresh(link) : c.status(link)));
      print(values.json ? status : formatStatus(status));
      return status.state === 'reauth_required' ? EXIT.reauthRequired : EXIT.ok;
    },
  };
}

export const statusCommand = statusLike('status', 'state, expiry, failure, counters, fingerprints', false);
export const refreshCommand = statusLike('refresh', 'force an exchange now, then status', true);
