// linux.kernel_modules: the host loads what a container needs before it starts (modprobe, as LXD).
/** Loads each module (already loaded ones are a no-op); throws naming the first that fails. */
export async function loadKernelModules(modules: string[]): Promise<void> {
  for (const module of modules) {
    const proc = Bun.spawn(["modprobe", "-b", module], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
    const [err, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    if (code !== 0) throw new Error(`Failed to load kernel module "${module}": ${err.trim().replace(/^modprobe: /, "") || `modprobe exited ${code}`}`);
  }
}
