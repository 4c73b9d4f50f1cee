// A tiny router over the History API: the console's pages live under /ui/, so a reload or a
// shared link lands on the same page (the daemon answers every /ui/ path with the shell).
import { useEffect, useState } from "preact/hooks";

const BASE = "/ui";
const listeners = new Set<() => void>();

/** The current path below /ui ("/" for the instances list), with its query. */
export const currentPath = () => (location.pathname.slice(BASE.length) || "/") + location.search;

export function navigate(path: string, replace = false) {
  history[replace ? "replaceState" : "pushState"](null, "", BASE + path);
  for (const fn of listeners) fn();
}

addEventListener("popstate", () => {
  for (const fn of listeners) fn();
});

/** Re-renders the caller when the path changes; returns it. */
export function usePath(): string {
  const [path, setPath] = useState(currentPath());
  useEffect(() => {
    const fn = () => setPath(currentPath());
    listeners.add(fn);
    return () => void listeners.delete(fn);
  }, []);
  return path;
}

/** Props for an <a> that navigates inside the console without a reload (ctrl/middle-click still open a tab). */
export const link = (path: string) => ({
  href: BASE + path,
  onClick: (e: MouseEvent) => {
    if (e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(path);
  },
});
