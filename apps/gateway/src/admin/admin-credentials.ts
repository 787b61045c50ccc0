/** The realm browsers show in their password prompt; it also groups the credentials they remember. */
export const ADMIN_REALM = 'switchyard admin';

/** The challenge of a 401: browsers cannot set a Bearer header on navigation, so the admin UI asks for Basic. */
export const ADMIN_CHALLENGE = `Basic realm="${ADMIN_REALM}"`;

/**
 * The API key presented to the admin UI: the password of HTTP Basic (the user name is ignored), or a Bearer
 * token for scripts. Null when there is none or the header is malformed.
 */
export function apiKeyFromAdminAuthorization(header: unknown): string | null {
  if (typeof header !== 'string') return null;
  const bearer = /^\s*bearer\s+(\S+)\s*$/i.exec(header);
  if (bearer) return bearer[1]!;
  const basic = /^\s*basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(header);
  if (!basic) return null;
  const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
  // RFC 7617: the user-id cannot contain ':', so the password is everything after the first one.
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  const password = decoded.slice(colon + 1).trim();
  return password && !/\s/.test(password) ? password : null;
}
