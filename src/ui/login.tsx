// The only page an untrusted browser sees. Trust is a TLS client certificate, as for `lxc`:
// the browser imports a .pfx (`lxd ui certificate`), then redeems a join token
// (`lxd config trust add`), which makes the certificate it presents trusted. No password or
// token is kept: signing out only hides the console in this tab until "Sign in" is pressed.
import { useState } from "preact/hooks";
import { api, type Server } from "./api.ts";
import { ErrorText, Field } from "./components.tsx";

const SIGNED_OUT = "lxd-ui-signed-out";

export const signedOut = () => sessionStorage.getItem(SIGNED_OUT) === "1";

export function signOut() {
  sessionStorage.setItem(SIGNED_OUT, "1");
  location.assign("/ui/");
}

export function Login({ server, onTrusted }: { server: Server; onTrusted: () => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const trusted = server.auth === "trusted";

  const signIn = () => {
    sessionStorage.removeItem(SIGNED_OUT);
    onTrusted();
  };

  const redeem = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await api("POST", "/1.0/certificates", { trust_token: token.trim() });
      signIn();
    } catch (err) {
      const msg = (err as Error).message;
      setError(/client certificate is required/.test(msg)
        ? "This browser did not present a client certificate. Import the .pfx file (step 1), restart the browser and reload this page."
        : msg);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" class="login">
      <h1>LXD web console</h1>
      {trusted ? (
        <section aria-labelledby="again">
          <h2 id="again">You signed out</h2>
          <p>This browser's certificate is still trusted by the server. To revoke it, remove it with <code>lxd config trust remove</code>.</p>
          <button type="button" class="primary" onClick={signIn}>Sign in</button>
        </section>
      ) : (
        <>
          <p>This browser is not trusted by the server yet. Access works like the command-line client: with a
            TLS client certificate that the server trusts.</p>
          <section aria-labelledby="step1">
            <h2 id="step1">1. Give this browser a certificate</h2>
            <p>On a machine with <code>lxd</code>, make a certificate with its key in a password-protected file:</p>
            <pre><code>lxd ui certificate lxd-ui.pfx</code></pre>
            <p>Import <code>lxd-ui.pfx</code> into the browser with that password — Chromium: Settings › Privacy and security ›
              Security › Manage certificates › Your certificates › Import; Firefox: Settings › Privacy &amp; Security ›
              Certificates › View Certificates › Your Certificates › Import. Then restart the browser, reload this page and
              choose that certificate when asked.</p>
          </section>
          <section aria-labelledby="step2">
            <h2 id="step2">2. Let the server trust it</h2>
            <p>On the server, issue a token:</p>
            <pre><code>lxd config trust add --name browser</code></pre>
            <form onSubmit={redeem}>
              <Field label="Trust token" value={token} onInput={setToken} required autoFocus
                hint="The token printed by lxd config trust add; it is used once and not stored." />
              <ErrorText error={error} />
              <button type="submit" class="primary" disabled={busy || !token.trim()}>{busy ? "Checking…" : "Trust this browser"}</button>
            </form>
          </section>
        </>
      )}
    </main>
  );
}
