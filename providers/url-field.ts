// The schema of every provider URL field: a refresh token and the client secret travel to these URLs.
import { z } from 'zod';
import { insecureUrlProblem } from '../core/urls.js';

/** A URL that may carry secrets: https, or plain http only to this machine (the fakes run on 127.0.0.1). */
export const secretCarryingUrl = z.url({ protocol: /^https?$/ }).superRefine((text, ctx) => {
  const problem = insecureUrlProblem(text);
  if (problem) ctx.addIssue({ code: 'custom', message: `${problem}: a network attacker could read the tokens and client secret sent there` });
});
