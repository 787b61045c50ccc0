/**
 * The headers every page the gateway serves to a browser sends (the console, the playground, the admin UI): its
 * own Content-Security-Policy, and the same rest: no framing by any site (each page acts with the caller's key or
 * admin credentials: clickjacking), no type sniffing (a script or style served with another type is refused), no
 * referrer (URLs carry job ids).
 */
export function browserPageHeaders(contentSecurityPolicy: string): Record<string, string> {
  return {
    'content-security-policy': contentSecurityPolicy,
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  };
}
