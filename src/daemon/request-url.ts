// A request's path and query, read without `new URL(request.url)`: that throws on a Host header
// such as pylxd's "localhost:None", which LXD ignores, and the daemon reads only path and query.

export function pathOf(request: Request): { pathname: string; search: string } {
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*([^?#]*)(\?[^#]*)?/i.exec(request.url);
  return { pathname: m?.[1] || "/", search: m?.[2] ?? "" };
}

/** The request's path and query on a fixed origin, for URL's parsing of both. */
export function requestUrl(request: Request): URL {
  const { pathname, search } = pathOf(request);
  return new URL(`${pathname}${search}`, "http://localhost");
}
