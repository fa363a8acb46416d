// Apollo Client (the real @apollo/client, pinned in tests/node) with its persisted-query
// link against a running server: run by tests/test_apollo_client.py. It lives beside
// tests/node/node_modules so that node resolves the pinned packages by their names.
//   node tests/node/apollo_apq.mjs <graphql url> <api key>
// Prints JSON: what the client got, and each HTTP request it made (method, whether the
// document was sent, the status), so the test can check the APQ negotiation itself.
import { createHash } from "node:crypto";
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";

const [url, key] = process.argv.slice(2);
const requests = [];

async function recordingFetch(input, init) {
  const target = new URL(input);
  const body = init?.body ? JSON.parse(init.body) : null;
  const sentDocument = Boolean(body?.query ?? target.searchParams.get("query"));
  const response = await fetch(input, init);
  requests.push({ method: init?.method ?? "GET", sentDocument, status: response.status });
  return response;
}

const link = new PersistedQueryLink({
  sha256: (document) => createHash("sha256").update(document).digest("hex"),
  useGETForHashedQueries: true,
}).concat(new HttpLink({ uri: url, headers: { "X-API-Key": key }, fetch: recordingFetch }));
const client = new ApolloClient({ link, cache: new InMemoryCache() });

const SERVICES = gql`
  query Services {
    services(first: 5) {
      edges {
        node {
          id
          name
        }
      }
    }
  }
`;
const CREATE = gql`
  mutation Create($name: String!) {
    createService(input: { name: $name }) {
      service {
        id
        name
      }
      userErrors {
        code
      }
    }
  }
`;

const created = [];
for (const name of ["first", "second"]) {
  const { data } = await client.mutate({ mutation: CREATE, variables: { name } });
  created.push(data.createService.service.name);
}
const reads = [];
for (let n = 0; n < 2; n++) {
  const { data } = await client.query({ query: SERVICES, fetchPolicy: "network-only" });
  reads.push(data.services.edges.map((edge) => edge.node.name));
}
console.log(JSON.stringify({ created, reads, requests }));
