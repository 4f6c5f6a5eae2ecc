// Text a provider wrote (`error`, `error_description`) is stored in the row, logged, shown in the Web UI and printed
// by the CLI: it enters extauth only through this function, so that it is bounded and cannot drive a terminal.

/** Longest provider text kept, in characters (code points): enough for any real error description. */
export const MAX_PROVIDER_TEXT_CHARS = 300;

// C0 controls (incl. ESC, BEL, CR/LF), DEL, C1 controls (incl. the 8-bit CSI \x9b), and the Unicode bidi
// overrides and isolates that reorder what a terminal or page displays.
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** The provider's text with control characters removed (line breaks and tabs become spaces), cut to `max` characters. */
export function providerText(text: string, max = MAX_PROVIDER_TEXT_CHARS): string {
  const clean = text.replace(/[\t\r\n]+/g, ' ').replace(UNSAFE_CHARS, '').trim();
  const chars = Array.from(clean); // code points: a cut never splits a surrogate pair
  return chars.length <= max ? clean : `${chars.slice(0, max - 1).join('')}…`;
}
