// Reads the YAML subset the example manifests under deploy/ are written in (block mappings and sequences, plain or
// double-quoted scalars, flow `[...]` of quoted strings, `{}`), so that a test can check their structure without a
// YAML dependency. Anything outside that subset is an error, not a guess.
type Value = string | number | boolean | null | Value[] | { [key: string]: Value };

interface Line {
  indent: number;
  text: string;
  no: number;
}

export function parseYamlSubset(source: string): Value {
  const lines: Line[] = source
    .split('\n')
    .map((raw, i) => ({ indent: raw.length - raw.trimStart().length, text: raw.trim(), no: i + 1 }))
    .filter((l) => l.text !== '' && !l.text.startsWith('#'));
  let at = 0;

  function block(indent: number): Value {
    const first = lines[at];
    if (!first || first.indent < indent) return null;
    return first.text.startsWith('- ') ? sequence(first.indent) : mapping(first.indent);
  }

  function sequence(indent: number): Value[] {
    const items: Value[] = [];
    while (lines[at] && lines[at]!.indent === indent && lines[at]!.text.startsWith('- ')) {
      const line = lines[at]!;
      const rest = line.text.slice(2);
      if (/^[A-Za-z_][\w./-]*:( |$)/.test(rest)) {
        // "- key: value" opens a mapping whose keys sit two columns further in.
        lines[at] = { indent: indent + 2, text: rest, no: line.no };
        items.push(mapping(indent + 2));
      } else {
        at++;
        items.push(scalar(rest, line.no));
      }
    }
    return items;
  }

  function mapping(indent: number): { [key: string]: Value } {
    const map: { [key: string]: Value } = {};
    while (lines[at] && lines[at]!.indent === indent && !lines[at]!.text.startsWith('- ')) {
      const line = lines[at]!;
      const m = /^([A-Za-z_][\w./-]*):(?: (.*))?$/.exec(line.text);
      if (!m) throw new Error(`line ${line.no}: not "key: value": ${line.text}`);
      if (m[1]! in map) throw new Error(`line ${line.no}: duplicate key ${m[1]}`);
      at++;
      if (m[2] === undefined || m[2] === '') {
        const next = lines[at];
        // A sequence may sit at the same indentation as its key (Kubernetes style).
        map[m[1]!] = next && (next.indent > indent || (next.indent === indent && next.text.startsWith('- '))) ? block(next.indent) : null;
      } else map[m[1]!] = scalar(m[2], line.no);
    }
    if (lines[at] && lines[at]!.indent > indent) throw new Error(`line ${lines[at]!.no}: unexpected indentation`);
    return map;
  }

  const value = block(0);
  if (at < lines.length) throw new Error(`line ${lines[at]!.no}: not understood: ${lines[at]!.text}`);
  return value;
}

function scalar(text: string, no: number): Value {
  const t = text.replace(/\s+#.*$/, '');
  if (t === '{}') return {};
  if (t.startsWith('"') || t.startsWith('[')) {
    try {
      return JSON.parse(t) as Value;
    } catch {
      throw new Error(`line ${no}: not a JSON-style quoted string or flow sequence: ${t}`);
    }
  }
  if (/[{}[\]&*!|>'"%@`]/.test(t[0] ?? '')) throw new Error(`line ${no}: outside the supported subset: ${t}`);
  if (t === 'true' || t === 'false') return t === 'true';
  if (/^0[0-7]+$/.test(t)) return parseInt(t, 8); // YAML 1.1 octal, as Kubernetes reads file modes
  if (/^-?\d+$/.test(t)) return Number(t);
  return t;
}
