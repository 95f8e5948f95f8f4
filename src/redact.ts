/**
 * Secrets ride in URLs: `user:password@` before the host and tokens in the query string. Messages show
 * URLs without them.
 */

const URL_IN_TEXT = /\b[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s"'<>`]+/g;

/**
 * A URL for messages: no `user:password@`, no query string, no fragment; with `keepPath: false` (webhooks,
 * whose path is often the secret) not even the path. Text that is not a URL is kept as is.
 *
 * @example
 * redactUrl("http://user:PW@host/hook?token=T") // "http://***@host/hook?…"
 * redactUrl("https://hooks.slack.com/services/T/B/X", { keepPath: false }) // "https://hooks.slack.com/…"
 */
export function redactUrl(url: string, options: { readonly keepPath?: boolean } = {}): string {
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(url)?.[0];
  if (scheme === undefined) return url;
  let rest = url.slice(scheme.length);
  // The last `@` ends the userinfo: a password may hold an unencoded `@` or `/`.
  const at = rest.lastIndexOf("@");
  const userinfo = at >= 0;
  if (userinfo) rest = rest.slice(at + 1);
  const cut = rest.search(/[/?#]/);
  const host = cut < 0 ? rest : rest.slice(0, cut);
  const after = cut < 0 ? "" : rest.slice(cut);
  const pathEnd = after.search(/[?#]/);
  const path = pathEnd < 0 ? after : after.slice(0, pathEnd);
  const tail = pathEnd < 0 ? "" : "?…";
  const shownPath = options.keepPath === false ? (after === "" ? "" : "/…") : `${path}${tail}`;
  return `${scheme}${userinfo ? "***@" : ""}${host}${shownPath}`;
}

/**
 * `text` with every URL in it passed through {@link redactUrl} (paths kept).
 *
 * @example
 * redactUrls("cannot reach http://u:p@h/x?t=1: refused") // "cannot reach http://***@h/x?…: refused"
 */
export function redactUrls(text: string): string {
  return text.replace(URL_IN_TEXT, (url) => redactUrl(url));
}
