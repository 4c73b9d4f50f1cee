// The web console's entry: checks whether this browser is trusted (GET /1.0 answers "trusted" only
// to a trusted client certificate), then shows either the login page or the console with its
// navigation. Bundled by appliance/build.ts, served by src/daemon/ui.ts.
import "@xterm/xterm/css/xterm.css";
import "./style.css";
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, prefetch, type Server } from "./api.ts";
import { StatusLine } from "./components.tsx";
import { InstanceDetail } from "./instance.tsx";
import { InstancesPage, LIST } from "./instances.tsx";
import { Login, signedOut, signOut } from "./login.tsx";
import { EventsPage, ImagesPage, NetworkPage, NetworksPage, OperationsPage, PoolPage, ProfilesPage, StoragePage, WarningsPage } from "./pages.tsx";
import { currentPath, link, usePath } from "./router.ts";

function routeOf(path: string) {
  const [p] = path.split("?");
  const seg = p.split("/").filter(Boolean).map(decodeURIComponent);
  switch (seg[0] ?? "instances") {
    case "instances": return seg[1] ? <InstanceDetail name={seg[1]} tab={seg[2] ?? "overview"} /> : <InstancesPage />;
    case "images": return <ImagesPage />;
    case "profiles": return <ProfilesPage />;
    case "networks": return seg[1] ? <NetworkPage name={seg[1]} /> : <NetworksPage />;
    case "storage": return seg[1] ? <PoolPage name={seg[1]} /> : <StoragePage />;
    case "operations": return <OperationsPage />;
    case "events": return <EventsPage />;
    case "warnings": return <WarningsPage />;
    default: return <p>No such page.</p>;
  }
}

const NAV = [
  ["/", "Instances", "instances"], ["/images", "Images", "images"], ["/profiles", "Profiles", "profiles"],
  ["/networks", "Networks", "networks"], ["/storage", "Storage", "storage"], ["/operations", "Operations", "operations"],
  ["/events", "Events", "events"], ["/warnings", "Warnings", "warnings"],
] as const;

function Console({ server, warnings }: { server: Server; warnings: boolean }) {
  const path = usePath();
  const section = path.split(/[/?]/).filter(Boolean)[0] ?? "instances";
  // A new page moves focus to its heading, so keyboard and screen-reader users start there.
  useEffect(() => document.getElementById("page-title")?.focus(), [path.split("?")[0]]);
  const host = server.environment?.server_name ?? location.hostname;
  return (
    <>
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <span class="brand">LXD <small>{host}</small></span>
        <button type="button" class="signout" onClick={signOut}>Sign out</button>
      </header>
      <div class="layout">
        <nav aria-label="Main">
          <ul>
            {NAV.filter(([, , s]) => s !== "warnings" || warnings).map(([href, label, s]) => (
              <li key={s}><a {...link(href)} aria-current={section === s ? "page" : undefined}>{label}</a></li>
            ))}
          </ul>
        </nav>
        <main id="main">{routeOf(path)}</main>
      </div>
      <StatusLine />
    </>
  );
}

function App() {
  const [state, setState] = useState<{ server?: Server; trusted?: boolean; error?: string }>({});
  const [warnings, setWarnings] = useState(false);
  const check = async () => {
    try {
      const server = await api<Server>("GET", "/1.0");
      const trusted = server.auth === "trusted" && !signedOut();
      setState({ server, trusted });
      // Warnings appear only where the server has them (GET /1.0/warnings answers); the console
      // does not wait for the answer.
      if (trusted) api("GET", "/1.0/warnings").then(() => setWarnings(true), () => {});
    } catch (e) {
      setState({ error: (e as Error).message });
    }
  };
  useEffect(() => void check(), []);
  if (state.error) return <main id="main" class="center"><h1>Cannot reach the server</h1><p class="error">{state.error}</p></main>;
  if (!state.server) return <main id="main" class="center" aria-busy="true"><p>Loading…</p></main>;
  if (!state.trusted) return <Login server={state.server} onTrusted={check} />;
  return <Console server={state.server} warnings={warnings} />;
}

// The instances list is the usual first page: its data comes in parallel with GET /1.0.
if (currentPath() === "/") prefetch(LIST);
render(<App />, document.getElementById("app")!);
