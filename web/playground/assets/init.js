// init.js boots GraphiQL for pago's playground page. It is loaded as a plain
// external script (no inline script on the page) after React, ReactDOM and
// GraphiQL, and reads its configuration from data-* attributes on #graphiql:
//
//   data-endpoint         GraphQL endpoint for queries/mutations (HTTP POST)
//                         and subscriptions (graphql-ws, same path).
//   data-default-headers  initial content of the headers editor (JSON).
(function () {
  "use strict";

  var root = document.getElementById("graphiql");
  if (!root || !window.React || !window.ReactDOM || !window.GraphiQL) {
    if (root) root.textContent = "pago playground: failed to load GraphiQL assets.";
    return;
  }

  // GraphiQL (via react-remove-scroll) injects a <style> element while a
  // dialog is open; it tags it with __webpack_nonce__ when set, so a
  // nonce-based style-src CSP keeps working.
  var me = document.currentScript;
  if (me && me.nonce) window.__webpack_nonce__ = me.nonce;

  var endpoint = root.getAttribute("data-endpoint") || "/graphql";
  var defaultHeaders = root.getAttribute("data-default-headers") || "";

  // Absolute http(s) URL and same-origin ws(s) URL for the endpoint.
  var httpURL = new URL(endpoint, window.location.href);
  var wsURL = new URL(httpURL.href);
  wsURL.protocol = httpURL.protocol === "https:" ? "wss:" : "ws:";

  var base = GraphiQL.createFetcher({
    url: httpURL.href,
    // graphql-ws is bundled inside graphiql.min.js. The headers from the
    // headers editor are sent as the connection_init payload
    // (connectionParams), e.g. {"Authorization": "Bearer ..."}.
    subscriptionUrl: wsURL.href,
  });

  // Do not send the prefilled placeholder Authorization header: as long as
  // the user has not pasted a real token, requests go out unauthenticated
  // instead of with an obviously invalid bearer token.
  function isPlaceholder(v) {
    return typeof v === "string" && v.indexOf("<") !== -1 && v.indexOf(">") !== -1;
  }
  function fetcher(params, opts) {
    if (opts && opts.headers) {
      var h = {};
      var changed = false;
      Object.keys(opts.headers).forEach(function (k) {
        if (k.toLowerCase() === "authorization" && isPlaceholder(opts.headers[k])) {
          changed = true;
        } else {
          h[k] = opts.headers[k];
        }
      });
      if (changed) opts = Object.assign({}, opts, { headers: h });
    }
    return base(params, opts);
  }

  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultHeaders: defaultHeaders,
      headerEditorEnabled: true,
      // Tokens stay out of localStorage.
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: "headers",
    })
  );
})();
