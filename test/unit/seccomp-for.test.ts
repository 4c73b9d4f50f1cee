// seccompFor builds one filter per distinct security.syscalls.* set and hands the same one to
// every instance that shares it (a restarted daemon asks for the filter of every running one).
import { expect, test } from "bun:test";
import { seccompFor } from "../../src/instance/runtime.ts";

test("instances with the same syscall settings share one filter; other settings get their own", () => {
  const plain = seccompFor({});
  expect(plain.length).toBeGreaterThan(0);
  expect(seccompFor({ "limits.memory": "1GiB" })).toBe(plain);
  expect(seccompFor({ "security.syscalls.deny_default": "true" })).toEqual(plain);

  const deny = seccompFor({ "security.syscalls.deny": "mount" });
  expect(deny).not.toEqual(plain);
  expect(seccompFor({ "security.syscalls.deny": "mount" })).toBe(deny);

  const allow = seccompFor({ "security.syscalls.allow": "read write exit_group" });
  expect(allow).not.toEqual(plain);
  expect(allow).not.toEqual(deny);
  expect(seccompFor({ "security.syscalls.deny_default": "false" })).not.toEqual(plain);
});
