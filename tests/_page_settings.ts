/// <reference lib="dom" />
/**
 * Browser side, shared by the test pages bundled with esbuild (tests/jupyterlab_page.ts,
 * tests/widget_html_manager_page.ts): the `@jupyterlab/services` settings of a page served by
 * the Jupyter server itself, with the server's token from the page's `#token=` hash.
 *
 * @module
 */
import { ServerConnection } from "@jupyterlab/services";

/** Settings for the server this page came from. */
export function pageServerSettings(params: URLSearchParams): ServerConnection.ISettings {
  return ServerConnection.makeSettings({
    baseUrl: `${location.origin}/`,
    wsUrl: `ws://${location.host}/`,
    token: params.get("token") ?? "",
    // Notebook 6 takes a websocket's token from its URL only.
    appendToken: true,
  });
}
