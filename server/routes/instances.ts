/**
 * The realtime instances the SDK picks from (`GET /realtime-instance/available`): one, "local".
 *
 * @module
 */
import { Hono } from "hono";
import type { AppEnv } from "../_http.ts";
import { LOCAL_CLIENT_ID } from "./_common.ts";

const INSTANCE = {
  client_id: LOCAL_CLIENT_ID,
  preference_rank: 0,
  name: "local",
  region: "local",
  public: true,
};

/** `GET /realtime-instance/available` and `GET /realtime-instance` (public). */
export function instanceRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get("/realtime-instance/available", (c) => c.json([INSTANCE]));
  app.get("/realtime-instance", (c) => c.json([INSTANCE]));
  return app;
}
