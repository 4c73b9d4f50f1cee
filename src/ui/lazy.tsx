// A component whose code is fetched on first use (its own chunk in the bundle).
import type { ComponentType } from "preact";
import { useEffect, useState } from "preact/hooks";

export function lazy<P extends object>(load: () => Promise<ComponentType<P>>): ComponentType<P> {
  let loaded: ComponentType<P> | undefined;
  let loading: Promise<ComponentType<P>> | undefined;
  return (props: P) => {
    const [C, setC] = useState(() => loaded);
    const [error, setError] = useState<string>();
    useEffect(() => {
      if (C) return;
      (loading ??= load()).then((c) => setC(() => (loaded = c)), (e: Error) => {
        loading = undefined;
        setError(e.message);
      });
    }, []);
    if (error) return <p class="error" role="alert">Could not load this part of the console: {error}</p>;
    return C ? <C {...props} /> : <p aria-busy="true">Loading…</p>;
  };
}
