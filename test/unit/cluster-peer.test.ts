// Member-to-member HTTPS (src/cluster/peer.ts): a member is trusted only with the cluster
// certificate, whatever address it is dialled at, and requests to it share one TLS connection.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { peerFetch, peerWebSocket, type ClusterIdentity } from "../../src/cluster/peer.ts";
import { generateCertificate } from "../../src/tls/x509.ts";

let cluster: ClusterIdentity;
let stranger: ClusterIdentity;
let server: ReturnType<typeof Bun.serve>;
/** Client ports the server saw: one per TLS connection. */
const ports = new Set<number>();

beforeAll(async () => {
  const identity = async (host: string): Promise<ClusterIdentity> => {
    const pair = await generateCertificate({ client: false, commonName: `root@${host}`, names: [host, "127.0.0.1", "::1"] });
    return { cert: pair.certificate, key: pair.key, fingerprint: pair.fingerprint };
  };
  cluster = await identity("node1");
  // Same names, another key: what an impostor could present.
  stranger = await identity("node1");
  // 127.0.0.2 is in no certificate: the member is known by the cluster certificate's name.
  server = Bun.serve({
    hostname: "127.0.0.2", port: 0, tls: { cert: cluster.cert, key: cluster.key },
    fetch(req, srv) {
      ports.add(srv.requestIP(req)!.port);
      if (new URL(req.url).pathname === "/ws") return srv.upgrade(req, { data: undefined }) ? undefined : new Response("no upgrade", { status: 400 });
      return new Response("ok");
    },
    websocket: {
      open: (ws) => void ws.send("hello"),
      message() {},
    },
  });
});

afterAll(() => server.stop(true));

test("a member serving the cluster certificate answers, over one connection for several requests", async () => {
  ports.clear();
  for (let i = 0; i < 3; i++) {
    const res = await peerFetch(cluster, `127.0.0.2:${server.port}`, "/x");
    expect(await res.text()).toBe("ok");
  }
  expect(ports.size).toBe(1);
});

test("a server with another certificate is refused", async () => {
  ports.clear();
  await expect(peerFetch(stranger, `127.0.0.2:${server.port}`, "/x")).rejects.toThrow();
  expect(ports.size).toBe(0);
});

test("websockets to members are verified the same way", async () => {
  const first = (identity: ClusterIdentity) => new Promise<string>((resolve) => {
    const ws = peerWebSocket(identity, `127.0.0.2:${server.port}`, "/ws");
    ws.onmessage = (e) => {
      resolve(`message ${e.data}`);
      ws.close();
    };
    ws.onerror = () => resolve("error");
  });
  expect(await first(cluster)).toBe("message hello");
  expect(await first(stranger)).toBe("error");
});

test("a joiner pinned to the token's fingerprint reaches only the server that presents it", async () => {
  // The joiner dials with its own certificate, pinned to the cluster certificate's fingerprint.
  const joiner = await generateCertificate({ client: false, commonName: "root@joiner", names: ["joiner"] });
  const asJoiner = (fingerprint: string): ClusterIdentity => ({ cert: joiner.certificate, key: joiner.key, fingerprint });
  const res = await peerFetch(asJoiner(cluster.fingerprint), `127.0.0.2:${server.port}`, "/x");
  expect(await res.text()).toBe("ok");
  await expect(peerFetch(asJoiner(stranger.fingerprint), `127.0.0.2:${server.port}`, "/x")).rejects.toThrow(/presented certificate/);
});
