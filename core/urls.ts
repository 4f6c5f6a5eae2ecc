// Which URLs may carry a secret: https anywhere, plain http only to this machine (RFC 6749 §3.2 requires TLS).

/** Whether the URL's host is this machine: localhost, 127.0.0.0/8 or [::1]. */
export function isLoopbackUrl(url: URL): boolean {
  const host = url.hostname.toLowerCase();
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** Why `text` may not carry secrets, or undefined when it may: not a URL, or plain http to another host. */
export function insecureUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'is not a URL';
  }
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && isLoopbackUrl(url)) return undefined;
  return `must use https (plain http only to loopback), got ${url.protocol}//${url.host}`;
}
