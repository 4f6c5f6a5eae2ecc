// The preset fields of a providers-file entry (`preset`, `baseUrl`, `tenant`) and their expansion into the
// provider fields they imply. Fields the entry sets explicitly always win over the preset's.
import { z } from 'zod';
import { PRESET_NAMES, PRESETS } from './presets.js';
import { secretCarryingUrl } from './url-field.js';

export const presetFieldsSchema = z
  .object({
    /** github, gitlab, bitbucket, azure-devops, google or oauth2 (docs/providers.md). */
    preset: z.enum(PRESET_NAMES).optional(),
    /** Self-hosted deployments: GitHub Enterprise Server, self-managed GitLab, or the Entra authority. */
    baseUrl: secretCarryingUrl.optional(),
    /** Entra tenant (GUID, domain, `organizations` or `common`) for azure-devops; default `organizations`. */
    tenant: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9.-]{0,99}$/, 'a tenant id, domain, "organizations" or "common"')
      .optional(),
  })
  // The provider fields pass through untouched; the provider schema checks them after the expansion.
  .loose()
  .superRefine((entry, ctx) => {
    for (const field of ['baseUrl', 'tenant'] as const) {
      if (entry[field] === undefined) continue;
      const accepting = PRESET_NAMES.filter((name) => PRESETS[name].accepts.includes(field));
      if (entry.preset === undefined) {
        ctx.addIssue({ code: 'custom', path: [field], message: `${field} is read only with a preset (${accepting.join(', ')})` });
      } else if (!PRESETS[entry.preset].accepts.includes(field)) {
        const hint = field === 'baseUrl' ? 'set tokenUrl and validateUrl instead' : `it is read only by ${accepting.join(', ')}`;
        ctx.addIssue({ code: 'custom', path: [field], message: `the ${entry.preset} preset takes no ${field}: ${hint}` });
      }
    }
  });

type PresetEntry = z.output<typeof presetFieldsSchema>;

/** The entry with its preset's defaults filled in under the fields it sets; without a preset, the entry as is. */
export function expandPreset(entry: PresetEntry): Record<string, unknown> {
  const { preset, baseUrl, tenant, ...explicit } = entry;
  if (preset === undefined) return explicit;
  const defaults = PRESETS[preset].expand({ baseUrl, tenant });
  // A field present but undefined (a spread of optional values) does not erase the preset's value.
  const given = Object.fromEntries(Object.entries(explicit).filter(([, value]) => value !== undefined));
  return { ...defaults, ...given };
}
