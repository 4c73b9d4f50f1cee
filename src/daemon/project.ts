// Projects: until they exist this server has one, `default`. A request naming any other must act
// in it or fail, never fall back to default (`lxc delete --project other c1` must not delete
// default's c1). The server checks the `project` query parameter of every request (REST,
// websockets, events) before routing; bodies that name a source project check it here too.
import { ApiError } from "../api/error.ts";

export const PROJECT_NOT_FOUND = "Project not found";

/** The first project named in a request's query that does not exist ("" means default, as in LXD). */
export const unknownProject = (params: URLSearchParams): string | undefined =>
  params.getAll("project").find((p) => !projectExists(p));

export const projectExists = (name: string): boolean => name === "" || name === "default";

/** Throws LXD's 404 for a project named in a body that does not exist. */
export function checkProject(name: string | undefined): void {
  if (name !== undefined && !projectExists(name)) throw new ApiError(404, PROJECT_NOT_FOUND);
}
