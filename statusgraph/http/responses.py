"""Error bodies in the two shapes we answer with: GraphQL's and the REST shim's."""

from starlette.responses import JSONResponse

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
BEARER_REALM = 'Bearer realm="statusgraph"'


def negotiate(accept: str | None) -> str | None:
    """The GraphQL media type to answer with, or None when Accept allows neither."""
    if not accept:
        return JSON
    offered = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    if GRAPHQL_RESPONSE in offered:
        return GRAPHQL_RESPONSE
    if JSON in offered or "*/*" in offered or "application/*" in offered:
        return JSON
    return None


def graphql_errors(
    status: int,
    message: str,
    code: str,
    *,
    accept: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: object,
) -> JSONResponse:
    body = {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}
    media_type = negotiate(accept) or JSON
    return JSONResponse(body, status_code=status, headers=headers, media_type=media_type)


def rest_error(status: int, message: str, *, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def www_authenticate(error: str | None = None, description: str | None = None) -> dict[str, str]:
    value = BEARER_REALM
    if error:
        value += f', error="{error}"'
    if description:
        value += f', error_description="{description}"'
    return {"WWW-Authenticate": value}
