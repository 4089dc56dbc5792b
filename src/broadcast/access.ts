// Who may use the broadcaster's public port: the token (BROADCAST_TOKEN, as ?token= or
// Authorization: Bearer, compared in constant time) for /ws and REST, and the browser Origin
// allowlist (BROADCAST_ALLOWED_ORIGINS) for /ws. Clients that send no Origin (servers, SDKs) pass it.
import { timingSafeEqual } from "node:crypto";
import type { BroadcastConfig } from "./config.ts";

/** Why a request is turned away, as an HTTP status and a sentence. */
interface Refusal {
  readonly status: number;
  readonly message: string;
}

export class ClientAccess {
  private readonly token: Buffer | null;

  constructor(private readonly config: Pick<BroadcastConfig, "token" | "allowedOrigins">) {
    this.token = config.token === undefined ? null : Buffer.from(config.token);
  }

  /** Null when the request may open a WebSocket, else why not. */
  upgradeRefusal(request: Request, url: URL): Refusal | null {
    // Headers are read only when needed: an upgrade storm makes thousands of Headers objects.
    const allowed = this.config.allowedOrigins;
    const origin = allowed.length > 0 ? request.headers.get("origin") : null;
    if (origin !== null && !allowed.includes(origin)) {
      return { status: 403, message: `origin ${origin} is not allowed` };
    }
    return this.authorized(request, url) ? null : TOKEN_REFUSAL;
  }

  /** Null when the request may read REST, else why not. */
  restRefusal(request: Request, url: URL): Refusal | null {
    return this.authorized(request, url) ? null : TOKEN_REFUSAL;
  }

  private authorized(request: Request, url: URL): boolean {
    const token = this.token;
    if (token === null) return true;
    const header = request.headers.get("authorization");
    const given = url.searchParams.get("token") ?? (header?.startsWith("Bearer ") ? header.slice(7) : null);
    if (given === null) return false;
    const presented = Buffer.from(given);
    return presented.length === token.length && timingSafeEqual(presented, token);
  }
}

const TOKEN_REFUSAL: Refusal = { status: 401, message: "missing or wrong token" };
