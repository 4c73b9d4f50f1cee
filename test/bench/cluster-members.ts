// Clusters of real daemons on loopback (each its own LXD_DIR and port, containers without NICs):
// joining a member, a launch through placement beside a standalone launch, `lxd list` across 3
// members holding N instances each beside one standalone daemon holding 3N, the leader's
// heartbeat round and the members listing with 3 and 5 members, and failover as a client sees it
// (leader daemon SIGKILLed -> next committed write through another member).
import { importBusybox, startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { freePort } from "../helpers/net.ts";
import { until } from "../helpers/until.ts";
import { cliOf, timed } from "./timing.ts";

export interface MemberRow { key: string; what: string; times: number[]; floor: number[] }

/** A daemon set up as every member is: a dir pool, the root disk in the default profile, HTTPS. */
async function member(withImage: boolean): Promise<{ d: TestDaemon; address: string }> {
  const d = await startDaemon();
  const address = `127.0.0.1:${freePort()}`;
  const lxd = cliOf(d);
  await lxd("storage", "create", "default", "dir");
  await lxd("profile", "device", "add", "default", "root", "disk", "path=/", "pool=default");
  await lxd("config", "set", "core.https_address", address);
  if (withImage) await importBusybox(d);
  return { d, address };
}

async function join(leader: TestDaemon, d: TestDaemon, name: string, address: string): Promise<void> {
  const token = (await cliOf(leader)("cluster", "add", name)).trim().split("\n").at(-1)!;
  const r = await d.lxdWith({ stdin: `cluster:\n  enabled: true\n  server_name: ${name}\n  server_address: ${address}\n  cluster_token: ${token}\n` }, "init", "--preseed");
  if (r.code !== 0) throw new Error(`join of ${name} failed: ${r.stderr}`);
}

/** `count` stopped instances created through `d`'s API, ten at a time (placement spreads them). */
async function fill(d: TestDaemon, prefix: string, count: number, target?: string): Promise<void> {
  for (let i = 0; i < count; i += 10) {
    await Promise.all(Array.from({ length: Math.min(10, count - i) }, async (_, j) => {
      const r = await d.api("POST", `/1.0/instances${target ? `?target=${target}` : ""}`, { name: `${prefix}${i + j}`, source: { type: "image", alias: "busybox" } });
      const done = await d.wait(r);
      if (done.body.metadata?.status !== "Success") throw new Error(`create ${prefix}${i + j}: ${JSON.stringify(done.body)}`);
    }));
  }
}

/** Median duration of the leader's heartbeat rounds, from its debug log. */
function heartbeatRound(d: TestDaemon): number[] {
  return [...d.log().matchAll(/msg="Heartbeat round" members=\d+ reached=\d+ ms=(\d+)/g)].map((m) => Number(m[1]));
}

export async function clusterMemberTimings(runs: number, perMember: number): Promise<MemberRow[]> {
  const all: TestDaemon[] = [];
  try {
    const first = await member(true);
    const solo = await member(true);
    all.push(first.d, solo.d);
    const m1 = first.d;
    await cliOf(m1)("cluster", "enable", "m1");
    await cliOf(m1)("config", "set", "cluster.offline_threshold", "4");
    const joins: number[] = [];
    const rest: { d: TestDaemon; address: string }[] = [];
    for (const name of ["m2", "m3"]) {
      const next = await member(false);
      all.push(next.d);
      rest.push(next);
      joins.push(await timed(() => join(m1, next.d, name, next.address)));
    }
    const members3 = [m1, ...rest.map((r) => r.d)];
    await until(async () => JSON.parse(await cliOf(m1)("cluster", "list", "-f", "json")).every((x: { roles: string[] }) => x.roles.includes("database")), "three voters", 60_000);

    // A member's first launch fetches the image from the member holding it and unpacks it into its
    // pool (the daemons' first containers are slower too): timed apart, one per member beside the
    // standalone daemon's first, so that the launch row compares launches of the same kind (with
    // 5 runs, 3 of them used to be a member's first launch, 1 standalone).
    const firstLaunch: number[] = [];
    for (const name of ["m1", "m2", "m3"]) firstLaunch.push(await timed(() => cliOf(m1)("launch", "busybox", `first-${name}`, "--target", name)));
    const soloFirst = [await timed(() => cliOf(solo.d)("launch", "busybox", "first"))];

    // Launch: placement (and a forward when another member is picked) beside a standalone launch.
    const launch: number[] = [], soloLaunch: number[] = [];
    for (let i = 0; i < runs; i++) {
      launch.push(await timed(() => cliOf(m1)("launch", "busybox", `l${i}`)));
      soloLaunch.push(await timed(() => cliOf(solo.d)("launch", "busybox", `l${i}`)));
    }
    for (let i = 0; i < runs; i++) {
      await cliOf(m1)("delete", "-f", `l${i}`);
      await cliOf(solo.d)("delete", "-f", `l${i}`);
    }
    for (const name of ["m1", "m2", "m3"]) await cliOf(m1)("delete", "-f", `first-${name}`);
    await cliOf(solo.d)("delete", "-f", "first");

    // `lxd list` of N per member on 3 members vs 3N on one daemon.
    for (const [i, name] of ["m1", "m2", "m3"].entries()) await fill(m1, `${name}-`, perMember, ["m1", "m2", "m3"][i]);
    await fill(solo.d, "s-", perMember * 3);
    const list: number[] = [], soloList: number[] = [];
    for (let i = 0; i < runs; i++) {
      list.push(await timed(() => cliOf(members3[i % 3]!)("list")));
      soloList.push(await timed(() => cliOf(solo.d)("list")));
    }
    const members: number[] = [];
    for (let i = 0; i < runs; i++) members.push(await timed(() => cliOf(m1)("cluster", "list")));
    await Bun.sleep(5000);
    const round3 = heartbeatRound(m1);

    // Five members: two more join; the same member listing and the heartbeat rounds.
    for (const name of ["m4", "m5"]) {
      const next = await member(false);
      all.push(next.d);
      joins.push(await timed(() => join(m1, next.d, name, next.address)));
    }
    const skip = heartbeatRound(m1).length;
    const members5: number[] = [];
    for (let i = 0; i < runs; i++) members5.push(await timed(() => cliOf(m1)("cluster", "list")));
    await Bun.sleep(5000);
    const round5 = heartbeatRound(m1).slice(skip);

    // Failover as a client sees it: SIGKILL the leader's daemon (its dqlite node dies with it),
    // then time the next write that commits through another member.
    const leaderName = JSON.parse(await cliOf(m1)("cluster", "list", "-f", "json")).find((x: { roles: string[] }) => x.roles.includes("database-leader")).server_name;
    const byName = new Map([["m1", m1], ["m2", rest[0]!.d], ["m3", rest[1]!.d]]);
    const victim = byName.get(leaderName)!;
    const survivor = members3.find((d) => d !== victim)!;
    await victim.kill("SIGKILL");
    const t0 = performance.now();
    await cliOf(survivor)("profile", "create", "after-failover");
    const failover = [performance.now() - t0];

    return [
      { key: "cluster-join", what: "join of a member (token + init --preseed), 2nd to 5th", times: joins, floor: [] },
      { key: "cluster-launch-first", what: "a member's first launch, image fetched from another member (floor: standalone's first)", times: firstLaunch, floor: soloFirst },
      { key: "cluster-launch", what: "launch with placement on a 3-member cluster, after each member's first (floor: standalone launch)", times: launch, floor: soloLaunch },
      { key: `cluster-list${perMember * 3}`, what: `lxd list, 3 members x ${perMember} (floor: one daemon with ${perMember * 3})`, times: list, floor: soloList },
      { key: "cluster-members-3", what: "lxd cluster list, 3 members", times: members, floor: [] },
      { key: "cluster-members-5", what: "lxd cluster list, 5 members", times: members5, floor: [] },
      { key: "cluster-heartbeat-3", what: "leader's heartbeat round, 3 members", times: round3, floor: [] },
      { key: "cluster-heartbeat-5", what: "leader's heartbeat round, 5 members", times: round5, floor: [] },
      { key: "cluster-failover", what: "leader daemon SIGKILL -> next committed write via another member", times: failover, floor: [] },
    ];
  } finally {
    // Members stop together: the last ones would otherwise wait for a quorum that is gone.
    await Promise.all(all.map((d) => d.stop().catch(() => {})));
  }
}

