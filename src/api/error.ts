// The one error type of the API: thrown by managers and handlers alike, turned into LXD's error
// envelope (HTTP status + message) by the daemon, and into a one-line message by the CLI.

/** Thrown anywhere in a request: becomes an error envelope with HTTP status `status`. */
export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = "ApiError";
  }
}
