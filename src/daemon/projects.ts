// /1.0/projects, /1.0/projects/{name} and /1.0/projects/{name}/state: list, create, show, replace,
// merge, rename, delete, resource usage. A restricted certificate sees only its projects.
import { Elysia } from "elysia";
import { Empty, RecursionQuery, UrlsOr, recursionLevel } from "../api/envelope.ts";
import { Project, ProjectName, ProjectPost, ProjectPut, ProjectsPost, ProjectState } from "../api/project.ts";
import { ApiError } from "../api/error.ts";
import { projectUrl, type ProjectManager, type ProjectRow } from "../project/manager.ts";
import { checkIfMatch, etagOf, sync } from "./response.ts";

export interface ProjectsContext {
  projects: ProjectManager;
  /** The projects a request may see (undefined: all), from its client certificate. */
  allowedProjects?: (request: Request) => string[] | undefined;
}

const etag = (p: ProjectRow) => etagOf({ config: p.config, description: p.description });

export const projectsRoutes = ({ projects, allowedProjects }: ProjectsContext) => {
  /** A restricted client never learns of projects outside its list (LXD: 404), nor changes the list. */
  const visible = (request: Request, name: string) => {
    const allowed = allowedProjects?.(request);
    if (allowed && !allowed.includes(name)) throw new ApiError(404, "Project not found");
    return projects.get(name);
  };
  const unrestricted = (request: Request) => {
    if (allowedProjects?.(request)) throw new ApiError(403, "Certificate is restricted");
  };
  return new Elysia({ name: "projects" })
    .get("/1.0/projects", ({ query, request }) => {
      const allowed = allowedProjects?.(request);
      const rows = projects.list().filter((r) => !allowed || allowed.includes(r.name));
      if (recursionLevel(query) === 0) return sync(rows.map((r) => projectUrl(r.name)));
      return sync(rows.map((r) => projects.toApi(r)));
    }, {
      query: RecursionQuery,
      response: UrlsOr(Project, "Project"),
      detail: { summary: "List projects", tags: ["projects"] },
    })

    .post("/1.0/projects", ({ body, request }) => {
      unrestricted(request);
      const row = projects.create(body);
      return sync({}, { location: projectUrl(row.name) });
    }, {
      body: ProjectsPost,
      response: Empty,
      detail: { summary: "Create a project (features.images, features.profiles and features.storage.volumes default to true)", tags: ["projects"] },
    })

    .get("/1.0/projects/:name", ({ params, request }) => {
      const row = visible(request, params.name);
      return sync(projects.toApi(row), { etag: etag(row) });
    }, {
      params: ProjectName, query: RecursionQuery,
      response: Project,
      detail: { summary: "Show a project", tags: ["projects"] },
    })

    .get("/1.0/projects/:name/state", ({ params, request }) => {
      visible(request, params.name);
      return sync(projects.state(params.name));
    }, {
      params: ProjectName, query: RecursionQuery,
      response: ProjectState,
      detail: { summary: "A project's resource usage against its limits", tags: ["projects"] },
    })

    .put("/1.0/projects/:name", ({ params, body, request }) => {
      unrestricted(request);
      checkIfMatch(request, etag(projects.get(params.name)));
      projects.update(params.name, body, false);
      return sync({});
    }, {
      params: ProjectName, body: ProjectPut,
      response: Empty,
      detail: { summary: "Replace a project's description and config", tags: ["projects"] },
    })

    .patch("/1.0/projects/:name", ({ params, body, request }) => {
      unrestricted(request);
      checkIfMatch(request, etag(projects.get(params.name)));
      projects.update(params.name, body, true);
      return sync({});
    }, {
      params: ProjectName, body: ProjectPut,
      response: Empty,
      detail: { summary: "Merge changes into a project's config", tags: ["projects"] },
    })

    .post("/1.0/projects/:name", ({ params, body, request }) => {
      unrestricted(request);
      projects.rename(params.name, body.name);
      return sync({}, { location: projectUrl(body.name) });
    }, {
      params: ProjectName, body: ProjectPost,
      response: Empty,
      detail: { summary: "Rename an empty project", tags: ["projects"] },
    })

    .delete("/1.0/projects/:name", ({ params, request }) => {
      unrestricted(request);
      projects.delete(params.name);
      return sync({});
    }, {
      params: ProjectName,
      response: Empty,
      detail: { summary: "Delete an empty project (refused for default)", tags: ["projects"] },
    });
};
