// Instance veth pairs over rtnetlink, in-process (native/lxd-netlink.c in liblxd.so): no namespace
// is entered (the container's end is created in its namespace by pid and comes up as it is made),
// so it is safe from the multithreaded daemon, and a nic costs no `ip`/`nsenter` process.
import { dlopen, FFIType } from "bun:ffi";
import { readFileSync } from "node:fs";
import { SyscallError } from "./ffi.ts";
import { libPath } from "./native.ts";

const { ptr, i32 } = FFIType;

function open() {
  return dlopen(libPath(), {
    lxd_veth_create: { args: [ptr, ptr, ptr, i32, i32, i32, ptr], returns: i32 },
  }).symbols;
}

let lib: ReturnType<typeof open> | undefined;
const cstr = (s: string) => Buffer.from(`${s}\0`);
const STEPS = ["", "create", "set up the host end of"];

export interface VethSpec {
  /** Host end. */
  host: string;
  /** Name of the end inside the container. */
  peer: string;
  mac: string;
  mtu: number;
  /** Bridge the host end joins, if any. */
  master?: string;
  /** An open fd of the target network namespace (the container's). */
  netnsFd: number;
}

/** Creates the pair, both ends up; on failure nothing is left and the error names the step. */
export function createVeth(s: VethSpec): void {
  lib ??= open();
  const master = s.master ? Number(readFileSync(`/sys/class/net/${s.master}/ifindex`, "utf8")) : 0;
  const step = new Int32Array(1);
  const rc = lib.lxd_veth_create(cstr(s.host), cstr(s.peer), cstr(s.mac), s.mtu, master, s.netnsFd, step);
  if (rc < 0) throw new SyscallError(`${STEPS[step[0]] ?? "create"} veth ${s.host}`, -rc);
}
