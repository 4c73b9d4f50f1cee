// By hand: `bun test/vm/run.ts SCRIPT [NAME=HOSTPATH...]` boots the guest, runs SCRIPT in it and
// prints its output, then the timings (the console too with LXD_TEST_VM_CONSOLE=1).
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { runInVm, vmUnavailable } from "./vm.ts";

const [scriptFile, ...rest] = process.argv.slice(2);
if (!scriptFile) {
  console.error("usage: bun test/vm/run.ts SCRIPT [NAME=HOSTPATH | HOSTPATH]...");
  process.exit(2);
}
const why = vmUnavailable();
if (why) {
  console.error(why);
  process.exit(2);
}
const files = Object.fromEntries(rest.map((a) => (a.includes("=") ? (a.split("=", 2) as [string, string]) : [basename(a), a])));
const r = await runInVm({ script: readFileSync(scriptFile, "utf8"), files, timeoutSec: Number(process.env.LXD_TEST_VM_TIMEOUT ?? 600) });
if (process.env.LXD_TEST_VM_CONSOLE) process.stderr.write(`--- console ---\n${r.console}\n`);
process.stdout.write(r.output);
console.error(`[vm] exit ${r.code}; script started ${r.bootSec} s after boot; ${r.wallSec.toFixed(1)} s from QEMU start to exit`);
process.exit(r.code);
