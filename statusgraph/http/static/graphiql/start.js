// Starts GraphiQL on /graphql. A file, not an inline script: the page's CSP allows
// scripts from this origin only (docs/graphql-over-http.md, "GraphiQL").
(function () {
  "use strict";

  var EXAMPLE_QUERY =
    "# StatusGraph's GraphQL explorer.\n" +
    "#\n" +
    "# Most fields need a credential: open Headers below and add\n" +
    '#   {"Authorization": "Bearer <your API key>"}\n' +
    "# then re-fetch the schema (the circular arrow on the left) for\n" +
    "# completion and the documentation.\n" +
    "#\n" +
    "# Run a query with Ctrl-Enter or the play button.\n" +
    "\n" +
    "{\n" +
    "  viewer {\n" +
    "    id\n" +
    "  }\n" +
    "}\n";

  // The editors' contents live in the URL (q, variables) so a query can be shared.
  // Never the headers: they hold credentials, and URLs end up in logs and histories.
  var parameters = {};
  new URLSearchParams(window.location.search).forEach(function (value, key) {
    parameters[key] = value;
  });

  function updateURL(data) {
    Object.assign(parameters, data);
    var search = new URLSearchParams();
    Object.keys(parameters).forEach(function (key) {
      if (parameters[key]) {
        search.set(key, parameters[key]);
      }
    });
    var query = search.toString();
    history.replaceState(null, "", query ? "?" + query : window.location.pathname);
  }

  var url = window.location.origin + window.location.pathname;
  var socket = new URL(url);
  socket.protocol = socket.protocol === "https:" ? "wss:" : "ws:";

  var fetcher = GraphiQL.createFetcher({
    url: url,
    // Subscriptions over graphql-transport-ws on the same path (graphql-ws is bundled
    // in graphiql's build); anonymous: only @public subscriptions work from here.
    subscriptionUrl: socket.toString(),
  });

  function hasCredential(headers) {
    return Object.keys(headers || {}).some(function (name) {
      var lower = name.toLowerCase();
      return lower === "authorization" || lower === "x-api-key";
    });
  }

  // Anonymous introspection is refused (401); rather than have the browser log that
  // failure on every visit, say what to do until a credential is in the headers.
  function guardedFetcher(params, options) {
    var headers = options && options.headers;
    if (params.operationName === "IntrospectionQuery" && !hasCredential(headers)) {
      return Promise.resolve({
        errors: [
          {
            message:
              "Introspection needs a credential: add an Authorization header " +
              "(Bearer <API key>) under Headers, then re-fetch the schema.",
            extensions: { code: "UNAUTHENTICATED" },
          },
        ],
      });
    }
    return fetcher(params, options);
  }

  function Explorer() {
    var query = React.useState(parameters.q || EXAMPLE_QUERY);
    var variables = React.useState(parameters.variables);
    // Held here so each edit renders GraphiQL again: its schema fetcher reads the
    // headers editor as of the last render, and "re-fetch the schema" must see a key
    // just typed.
    var headers = React.useState("");

    return React.createElement(GraphiQL, {
      fetcher: guardedFetcher,
      defaultEditorToolsVisibility: true,
      query: query[0],
      variables: variables[0],
      onEditQuery: function (value) {
        query[1](value);
        updateURL({ q: value });
      },
      onEditVariables: function (value) {
        variables[1](value);
        updateURL({ variables: value });
      },
      headers: headers[0],
      onEditHeaders: function (value) {
        headers[1](value);
      },
      inputValueDeprecation: true,
      isHeadersEditorEnabled: true,
      // Headers hold API keys: kept for this tab only, never in localStorage.
      shouldPersistHeaders: false,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(Explorer),
  );
})();
